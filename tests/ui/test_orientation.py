"""Slices are drawn by their dimensions' roles, not by the order the file stores them in: depth up the
screen, north up and east across a map; CF ``positive="down"`` depth increases downwards. Real files
written by h5py and xarray (h5netcdf), real reads, no browser."""

from __future__ import annotations

import io
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from hpcdash.data import open_volume
from hpcdash.data.conventions import dim_role, plane_order
from hpcdash.explorer import export
from hpcdash.explorer.state import ExplorerState, SliceState, compare_slices, default_axis
from tests.ui.hdf5_files import ORIENT_X, ORIENT_Y, ORIENT_Z, write_ordered, zyx_model

X, Y, Z = ORIENT_X, ORIENT_Y, ORIENT_Z


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    return {o: write_ordered(tmp_path / f"{o}.h5", o) for o in ("zyx", "xyz", "yxz", "zxy")}


@pytest.mark.parametrize("order", ["xyz", "yxz", "zxy"])
def test_any_storage_order_shows_the_picture_of_z_y_x(runs, order):
    ref, other = SliceState(str(runs["zyx"])), SliceState(str(runs[order]))
    # opens cut across depth, like the (z, y, x) file, at the same slice
    assert other.axis == ref.axis == "z" and other.index == ref.index
    for axis in ("z", "y", "x"):
        ref.axis = other.axis = axis
        other.index = ref.index
        assert other.data.dims == ref.data.dims, axis
        np.testing.assert_array_equal(other.data.values, ref.data.values)
        for d in other.data.dims:
            np.testing.assert_array_equal(other.data[d].values, ref.data[d].values)
        assert other.axis_labels() == ref.axis_labels()
        assert other.plane_extent() == ref.plane_extent()
        assert other.same_extent(ref)
    ref.axis = other.axis = "z"
    assert other.data.dims == ("y", "x")  # north up, east across
    ref.axis = other.axis = "y"
    assert other.data.dims == ("z", "x")  # a section: depth up
    np.testing.assert_array_equal(other.data.values, zyx_model()[:, other.index, :])


def test_compare_of_a_transposed_run_is_zero(runs):
    e = ExplorerState(["zyx.h5", "xyz.h5"], root=str(runs["zyx"].parent), link=True)
    a, b = e.panes
    for axis in ("z", "y", "x"):
        a.axis = axis  # linked: B follows
        assert b.axis == axis and b.index == a.index
        diff, note = compare_slices(a, b, "difference")
        assert diff is not None, note
        assert diff.dims == a.data.dims
        np.testing.assert_array_equal(diff.values, 0.0)


def test_compare_aligns_dims_by_name_when_their_roles_are_unknown(tmp_path: Path):
    names = {"z": "p", "y": "q", "x": "r"}
    a = SliceState(str(write_ordered(tmp_path / "a.h5", "zyx", names)))
    b = SliceState(str(write_ordered(tmp_path / "b.h5", "zxy", names)))
    assert a.axis == b.axis == "p"  # no role: the first of the three, as before
    assert a.data.dims == ("q", "r") and b.data.dims == ("r", "q")  # file order, as before
    diff, note = compare_slices(a, b, "difference")
    assert diff is not None, note
    assert diff.dims == ("q", "r")
    np.testing.assert_array_equal(diff.values, 0.0)


def test_roles_from_names_and_cf_attributes():
    assert dim_role("z") == dim_role("Depth") == dim_role("elevation_m") == dim_role("level") == "vertical"
    assert dim_role("lat") == dim_role("Northing") == dim_role("y_centres") == "north"
    assert dim_role("lon") == dim_role("easting") == dim_role("x") == "east"
    assert dim_role("time") is dim_role("dim_0") is dim_role("xy") is dim_role("flat") is None
    assert dim_role("a", {"axis": "Z"}) == dim_role("b", {"positive": "down"}) == "vertical"
    assert dim_role("c", {"standard_name": "latitude"}) == dim_role("d", {"units": "degrees_north"}) == "north"
    assert dim_role("e", {"axis": "X"}) == dim_role("f", {"units": "degrees_east"}) == "east"
    assert dim_role("x", {"axis": "Y"}) == "north"  # the file's attributes come first
    roles = {"z": "vertical", "y": "north", "x": "east", "t": None, "u": None}
    assert plane_order(("x", "z"), roles) == ("z", "x")
    assert plane_order(("x", "y"), roles) == ("y", "x")
    assert plane_order(("y", "z"), roles) == ("z", "y")
    assert plane_order(("x", "t"), roles) == ("t", "x")
    assert plane_order(("u", "t"), roles) == ("u", "t")
    assert default_axis(["t", "x", "y", "z"], {"z": "vertical"}) == "z"
    assert default_axis(["t", "a", "b", "c"], {}) == "a"
    assert default_axis(["y", "x"], {}) is None


def test_cf_attributes_of_an_xarray_file_give_the_roles(tmp_path: Path):
    """Dimension names that say nothing, CF `axis` attributes written by xarray (h5netcdf): stored
    (east, north, up), drawn like (up, north, east)."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    values = zyx_model().transpose(2, 1, 0)
    da = xr.DataArray(values, dims=("i", "j", "k"), name="sigma", attrs={"units": "S/m"},
                      coords={"i": ("i", X, {"axis": "X", "units": "m"}),
                              "j": ("j", Y, {"axis": "Y", "units": "m"}),
                              "k": ("k", Z, {"axis": "Z", "units": "m"})})
    path = tmp_path / "cf.nc"
    da.to_netcdf(path, engine="h5netcdf")
    s = SliceState(str(path), dataset="/sigma")
    assert s.axis == "k" and s.data.dims == ("j", "i")
    np.testing.assert_array_equal(s.data.values, zyx_model()[s.index])
    s.axis = "i"
    assert s.data.dims == ("k", "j")
    np.testing.assert_array_equal(s.data.values, zyx_model()[:, :, s.index])


def test_a_two_d_map_stored_x_y_is_drawn_north_up(tmp_path: Path):
    path = tmp_path / "map.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("m", data=zyx_model()[0].T)  # (x, y)
        for i, (name, c) in enumerate((("lon", X), ("lat", Y))):
            f[name] = c
            f[name].make_scale(name)
            ds.dims[i].attach_scale(f[name])
    s = SliceState(str(path))
    assert s.axis is None and s.data.dims == ("lat", "lon")
    np.testing.assert_array_equal(s.data.values, zyx_model()[0])
    # the data layer keeps file order in `slice`, and gives the drawn order in `display_slice`
    with open_volume(path) as vol:
        assert vol.slice(0, 0).dims == ("lon", "lat")
        assert vol.display_slice(0, 0).dims == ("lat", "lon")
        assert vol.display_slice(0, 0).values.flags.c_contiguous


def test_an_n_d_run_stored_t_x_y_z_opens_on_depth_with_time_held(tmp_path: Path):
    path = tmp_path / "txyz.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", data=np.stack([zyx_model().transpose(2, 1, 0) + 1000 * k for k in range(3)]))
        for i, (name, c) in enumerate((("t", np.arange(3.0)), ("x", X), ("y", Y), ("z", Z))):
            f[name] = c
            f[name].make_scale(name)
            ds.dims[i].attach_scale(f[name])
    s = SliceState(str(path))
    assert s.axis == "z" and s.held == {"t": 2}
    assert s.data.dims == ("y", "x")
    np.testing.assert_array_equal(s.data.values, zyx_model()[s.index] + 2000)
    # time as the normal axis: the map stays, z held at the slice it showed (not x at the model's edge)
    s.index = 5
    s.axis = "t"
    assert s.held == {"z": 5} and s.index == 2 and s.data.dims == ("y", "x")
    np.testing.assert_array_equal(s.data.values, zyx_model()[5] + 2000)
    assert s.readout.endswith(f"(slice 6 of {Z.size})") and " · z = " in s.readout
    # ... as the same run stored (t, z, y, x) does: linked, they show one place, and compare to zero
    other = tmp_path / "tzyx.h5"
    with h5py.File(other, "w") as f:
        ds = f.create_dataset("v", data=np.stack([zyx_model() + 1000 * k for k in range(3)]))
        for i, (name, c) in enumerate((("t", np.arange(3.0)), ("z", Z), ("y", Y), ("x", X))):
            f[name] = c
            f[name].make_scale(name)
            ds.dims[i].attach_scale(f[name])
    ex = ExplorerState(["txyz.h5", "tzyx.h5"], root=str(tmp_path), link=True)
    a, b = ex.panes
    a.index = 5
    a.axis = "t"
    assert (b.axis, b.held) == ("t", {"z": 5}) and a.same_extent(b)
    ex.compare = "difference"
    assert ex.comparison is not None and float(np.abs(ex.comparison.values).max()) == 0.0


def test_positive_down_depth_increases_downwards(tmp_path: Path):
    depth = -Z  # 5 .. 55 m
    path = write_ordered(tmp_path / "depth.h5", "zyx", {"z": "depth"}, {"z": {"positive": "down"}}, z=depth)
    s = SliceState(str(path))
    assert s.axis == "depth" and not s.depth_down  # a map: no depth axis on screen
    s.axis = "y"
    assert s.data.dims == ("depth", "x") and s.depth_down
    np.testing.assert_array_equal(s.data["depth"].values, depth)  # the readout and hover keep depth
    # positive="up" (or none): drawn upwards, as before
    up = SliceState(str(write_ordered(tmp_path / "up.h5", "xyz", attrs={"z": {"positive": "up"}})))
    up.axis = "y"
    assert up.data.dims == ("z", "x") and not up.depth_down
    # the PNG export draws the surface at the top too: the shallowest row (lowest values) on top
    s.range_mode = "fixed"
    s.param.update(vmin=0.0, vmax=float(zyx_model().max()))
    greys = [f"#{v:02x}{v:02x}{v:02x}" for v in range(256)]
    png = Image.open(io.BytesIO(export.slice_png(s.data, greys, s.clim, y_down=True)))
    plain = Image.open(io.BytesIO(export.slice_png(s.data, greys, s.clim)))
    g, h = np.asarray(png.convert("L"), float), np.asarray(plain.convert("L"), float)
    col = 80 + 200  # a column inside the picture (the frame starts 80 px in)
    rows = [r for r in range(g.shape[0]) if 0 < g[r, col] < 255]  # inside the frame (black on white)
    top, bottom = rows[0] + 3, rows[-1] - 3
    assert g[top, col] < g[bottom, col]  # shallow (small values, dark) at the top
    assert h[top, col] > h[bottom, col]  # drawn upwards: deep at the top
    assert g[top, col] == pytest.approx(h[bottom, col], abs=2)


def test_depth_down_is_worked_out_once_per_file_dataset_and_axis(tmp_path: Path):
    """Asked on every redraw, `depth_down` reads the volume's roles once per file, dataset and normal
    axis; another axis, and the file written again with positive="up" and reloaded, are told apart."""
    depth = -Z
    path = write_ordered(tmp_path / "depth.h5", "zyx", {"z": "depth"}, {"z": {"positive": "down"}}, z=depth)
    s = SliceState(str(path))
    s.axis = "y"
    asked = []

    def counting(vol):
        drawn = vol.plane_order
        vol.plane_order = lambda dims: asked.append(tuple(dims)) or drawn(dims)

    counting(s.volume)
    assert s.depth_down and [s.depth_down for _ in range(5)] == [True] * 5
    assert len(asked) <= 1
    s.axis = "depth"
    assert not s.depth_down
    s.axis = "y"
    assert s.depth_down
    new = write_ordered(tmp_path / "depth-new.h5", "zyx", {"z": "depth"}, {"z": {"positive": "up"}}, z=depth)
    os.replace(new, path)  # the run written again, as a job replaces its output
    assert s.reload() and s.axis == "y" and not s.depth_down
    counting(s.volume)
    asked.clear()
    assert [s.depth_down for _ in range(5)] == [False] * 5 and asked == []


def test_a_depth_without_positive_is_drawn_downwards(tmp_path: Path):
    """A depth the file does not mark: by CF standard_name "depth" (whatever the dim is called) or by
    its name, it counts downwards; a "depth" stored as negative numbers, or an unmarked z, does not."""
    depth = -Z  # 5 .. 55 m
    cases = {
        "named.h5": ({"z": "depth"}, {}, depth, True),
        "named_m.h5": ({"z": "depth_m"}, {}, depth, True),
        "standard.h5": ({"z": "k"}, {"z": {"standard_name": "depth"}}, depth, True),
        "negative.h5": ({"z": "depth"}, {}, Z, False),
        "elevation.h5": ({}, {}, Z, False),
        "marked_up.h5": ({"z": "depth"}, {"z": {"positive": "up"}}, depth, False),
    }
    for name, (names, attrs, values, down) in cases.items():
        s = SliceState(str(write_ordered(tmp_path / name, "zyx", names, attrs, z=values)))
        s.axis = "y"
        assert s.depth_down is down, name
        assert (open_volume(tmp_path / name).positive_down == {names.get("z", "z")}) is down, name


def test_linked_panes_drawn_the_other_way_up_keep_their_own_ranges(tmp_path: Path):
    """Two runs on one grid, one with a depth marked positive="down": each is drawn its own way up,
    whichever comes first, so Link does not share their ranges (the first pane's direction won)."""
    from hpcdash.explorer.views import ExplorerView

    depth = -Z
    write_ordered(tmp_path / "down.h5", "zyx", {"z": "depth"}, {"z": {"positive": "down"}}, z=depth)
    write_ordered(tmp_path / "plain.h5", "zyx", {"z": "depth"}, {"z": {"positive": "up"}}, z=depth)
    write_ordered(tmp_path / "down2.h5", "zyx", {"z": "depth"}, {"z": {"positive": "down"}}, z=depth)
    for files in (["plain.h5", "down.h5", "down2.h5"], ["down.h5", "plain.h5", "down2.h5"]):
        ex = ExplorerState(files, root=str(tmp_path), link=True)
        for p in ex.panes:
            p.axis = "y"
        first, second, third = ex.panes
        assert [p.depth_down for p in ex.panes] == ["down" in f for f in files]
        view = ExplorerView(ex, sync_url=False)
        assert not view._zoom_linked(second) and not first.same_extent(second)
        # panes drawn the same way up still share (the two marked ones when one of them comes first)
        assert third.same_extent(ex.panes[[p.depth_down for p in ex.panes].index(True)])
