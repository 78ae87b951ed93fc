"""Linked panes and Compare match dimensions by their roles (vertical, north, east), not only by
name: one model stored as (z, y, x), as (k, j, i) with CF ``axis`` attributes, with netCDF
``standard_name`` only, and as (depth, northing, easting) links and compares as one. Real files written
by h5py and netCDF4-python, real reads, no browser (but for the plots' linked ranges)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcdash.data.conventions import match_dims
from hpcdash.explorer.state import ExplorerState, compare_slices
from tests.ui.hdf5_files import ORIENT_X, ORIENT_Y, ORIENT_Z, write_ordered, zyx_model

CF_AXES = {"z": {"axis": "Z"}, "y": {"axis": "Y"}, "x": {"axis": "X"}}
KJI = {"z": "k", "y": "j", "x": "i"}
#: the names of z, y, x in each file of `runs` but zyx.h5
COUNTERPARTS = {"kji.h5": ("k", "j", "i"), "cf.nc": ("dim_2", "dim_1", "dim_0"),
                "den.h5": ("depth", "northing", "easting")}


def other_model() -> np.ndarray:
    """(z, y, x) values of another run on the same grid: A - B is known everywhere."""
    return (zyx_model() * 0.5 + 7.0).astype(np.float32)


def write_netcdf_standard_names(path: Path, model: np.ndarray) -> Path:
    """The model stored (x, y, z) by netCDF4-python under dims dim_0, dim_1, dim_2 whose coordinate
    variables say what they are only by CF ``standard_name``."""
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(path, "w") as nc:
        for name, values, standard in (("dim_0", ORIENT_X, "projection_x_coordinate"),
                                       ("dim_1", ORIENT_Y, "projection_y_coordinate"),
                                       ("dim_2", ORIENT_Z, "height")):
            nc.createDimension(name, values.size)
            var = nc.createVariable(name, "f8", (name,))
            var[:] = values
            var.standard_name = standard
            var.units = "m"
        v = nc.createVariable("sigma", "f4", ("dim_0", "dim_1", "dim_2"))
        v.units = "S/m"
        v[:] = model.transpose(2, 1, 0)
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """zyx.h5 (zyx_model), and other_model() as kji.h5 (CF axis attributes, stored (i, j, k)),
    cf.nc (standard names only, dims dim_0..2) and den.h5 (depth, northing, easting)."""
    write_ordered(tmp_path / "zyx.h5", "zyx")
    write_ordered(tmp_path / "kji.h5", "xyz", KJI, CF_AXES, model=other_model())
    write_netcdf_standard_names(tmp_path / "cf.nc", other_model())
    write_ordered(tmp_path / "den.h5", "zyx", {"z": "depth", "y": "northing", "x": "easting"}, model=other_model())
    return tmp_path


def test_dims_are_matched_by_role_then_by_name():
    zyx = ("z", "y", "x"), {"z": "vertical", "y": "north", "x": "east"}
    kji = ("k", "j", "i"), {"k": "vertical", "j": "north", "i": "east"}
    assert match_dims(*kji, *zyx) == {"k": "z", "j": "y", "i": "x"}
    # dims of no role go by name, next to those matched by role
    assert match_dims(("t", "k", "j", "i"), {**kji[1], "t": None}, ("t", "z", "y", "x"), {**zyx[1], "t": None}) \
        == {"t": "t", "k": "z", "j": "y", "i": "x"}
    assert match_dims(("p", "q", "r"), {}, ("r", "q", "p"), {}) == {"p": "p", "q": "q", "r": "r"}
    # two dims of one role: those two go by name (here z finds z, depth nothing), the others by role
    two = ("z", "depth", "x"), {"z": "vertical", "depth": "vertical", "x": "east"}
    assert match_dims(*two, *zyx) == {"z": "z", "x": "x"}
    assert match_dims(*two, *kji) == {"x": "i"}
    assert match_dims(*zyx, *two) == {"z": "z", "x": "x"}
    # a name never stands for a dim of another role, nor for one matched by role already
    assert match_dims(("x", "y"), {"x": "north", "y": "east"}, ("x", "y"), {"x": "east", "y": "north"}) \
        == {"x": "y", "y": "x"}
    assert match_dims(("a", "b"), {"a": "vertical"}, ("b", "c"), {"b": "vertical"}) == {"a": "b"}
    assert match_dims(("x",), {"x": "north"}, ("x",), {"x": "east"}) == {}
    assert match_dims((), {}, ("z",), {}) == {}


@pytest.mark.parametrize("other", ["kji.h5", "cf.nc", "den.h5"])
def test_linked_panes_follow_the_counterparts_of_axis_and_slice(runs: Path, other: str):
    ex = ExplorerState(["zyx.h5", other], root=str(runs), link=True)
    a, b = ex.panes
    assert not a.error and not b.error, (a.error, b.error)
    names = dict(zip("zyx", COUNTERPARTS[other], strict=True))
    assert b.axis == names["z"] and b.index == a.index
    for axis in ("y", "x", "z"):
        a.axis = axis
        assert b.axis == names[axis], axis
        a.index = 2
        assert b.index == 2
        assert b.data.dims == tuple(names[d] for d in a.data.dims)  # drawn the same way round
        np.testing.assert_array_equal(b.data.values, np.take(other_model(), 2, axis="zyx".index(axis)))
        assert a.same_extent(b) and b.same_extent(a)
    # B leads as well: A takes z, y, x for B's names
    b.axis = names["x"]
    assert a.axis == "x"
    b.index = 7
    assert a.index == 7
    np.testing.assert_array_equal(a.data.values, zyx_model()[:, :, 7])


@pytest.mark.parametrize("other", ["kji.h5", "cf.nc", "den.h5"])
def test_compare_of_runs_named_otherwise_gives_their_difference(runs: Path, other: str):
    ex = ExplorerState(["zyx.h5", other], root=str(runs), link=True)
    a, b = ex.panes
    for mode in ("difference", "ratio"):
        ex.compare = mode
        for axis in ("z", "y"):
            a.axis = axis
            a.index = 3
            assert ex.comparison_error == "" and ex.comparison is not None, ex.comparison_error
            assert ex.comparison.dims == a.data.dims
            va, vb = (np.take(m, 3, axis="zyx".index(axis)) for m in (zyx_model(), other_model()))
            if mode == "ratio":
                with np.errstate(divide="ignore"):
                    want = np.log10(va / vb)
                want[~np.isfinite(want)] = np.nan  # A is 0 there: left blank
            else:
                want = va - vb
            np.testing.assert_allclose(ex.comparison.values, want, rtol=1e-5, atol=1e-6)
    # B as A: the comparison is drawn in B's names, the values B - A
    ex.compare, ex.compare_a, ex.compare_b = "difference", 1, 0
    assert ex.comparison is not None and ex.comparison.dims == b.data.dims
    va, vb = (np.take(m, 3, axis=1) for m in (zyx_model(), other_model()))
    np.testing.assert_allclose(ex.comparison.values, vb - va, rtol=1e-5, atol=1e-6)


def test_unlinked_panes_at_other_places_of_counterpart_axes_say_so(runs: Path):
    ex = ExplorerState(["zyx.h5", "kji.h5"], root=str(runs), link=False)
    a, b = ex.panes
    ex.compare = "difference"
    assert ex.comparison is not None
    b.axis = "j"
    assert ex.comparison is None and ex.comparison_error.startswith("A is sliced along z and B along j")
    a.axis = "y"
    a.index, b.index = 1, 2
    assert ex.comparison is None and "same position" in ex.comparison_error
    b.index = 1
    assert ex.comparison is not None and ex.comparison_error == ""


def write_4d(path: Path, names: tuple[str, ...], attrs: dict[str, dict]) -> Path:
    """(t, z, y, x) values, 3 time steps of zyx_model() + 1000 t, under dim `names` with `attrs`."""
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", data=np.stack([zyx_model() + 1000 * k for k in range(3)]))
        for i, (name, c) in enumerate(zip(names, (np.arange(3.0), ORIENT_Z, ORIENT_Y, ORIENT_X), strict=True)):
            f[name] = c
            for k, v in attrs.get(name, {}).items():
                f[name].attrs[k] = v
            f[name].make_scale(name)
            ds.dims[i].attach_scale(f[name])
    return path


def test_held_dimensions_are_held_at_their_counterparts(tmp_path: Path):
    write_4d(tmp_path / "tzyx.h5", ("t", "z", "y", "x"), {})
    write_4d(tmp_path / "tkji.h5", ("t", "k", "j", "i"), {"k": {"axis": "Z"}, "j": {"axis": "Y"}, "i": {"axis": "X"}})
    ex = ExplorerState(["tzyx.h5", "tkji.h5"], root=str(tmp_path), link=True)
    a, b = ex.panes
    assert (b.axis, b.held) == ("k", {"t": 2})
    a.index = 4
    a.axis = "t"  # the vertical dim is held at the slice it showed, in both
    assert (a.held, b.axis, b.held, b.index) == ({"z": 4}, "t", {"k": 4}, a.index)
    a.held = {"z": 1}
    assert b.held == {"k": 1}
    np.testing.assert_array_equal(b.data.values, a.data.values)
    ex.compare = "difference"
    assert ex.comparison is not None and float(np.abs(ex.comparison.values).max()) == 0.0
    b.held = {"k": 3}
    assert a.held == {"z": 3}


def _two_named_and_kji(tmp_path: Path, names: dict[str, str], b_order: str) -> ExplorerState:
    """Linked panes of a.h5 (stored z, y, x) and b.h5 (stored `b_order`, another model) whose dims are
    named `names`, and of kji.h5 (k, j, i with CF axis attributes)."""
    write_ordered(tmp_path / "a.h5", "zyx", names)
    write_ordered(tmp_path / "b.h5", b_order, names, model=other_model())
    write_ordered(tmp_path / "kji.h5", "zyx", KJI, CF_AXES)
    return ExplorerState(["a.h5", "b.h5", "kji.h5"], root=str(tmp_path), link=True)


def test_dims_of_no_role_still_link_by_name(tmp_path: Path):
    """Dims whose names and attributes say nothing: matched by name, as before; beside a run whose
    dims have roles, they match none of its dims (nothing follows, nothing fails)."""
    ex = _two_named_and_kji(tmp_path, {"z": "p", "y": "q", "x": "r"}, "zxy")
    a, b, c = ex.panes
    assert a.axis == b.axis == "p" and c.axis == "k"
    a.axis = "q"
    assert b.axis == "q" and c.axis == "k"
    a.index = 5
    assert b.index == 5
    assert a.data.dims == b.data.dims == ("p", "r")  # the file's order, as before
    np.testing.assert_array_equal(b.data.values, other_model()[:, 5, :])
    diff, note = compare_slices(a, b, "difference")
    assert diff is not None, note
    np.testing.assert_allclose(diff.values, zyx_model()[:, 5, :] - other_model()[:, 5, :], rtol=1e-6)
    assert a.same_extent(b) and not a.same_extent(c)
    c.axis = "j"  # no counterpart in a or b: they stay where they are
    assert a.axis == b.axis == "q"
    assert compare_slices(a, c, "difference")[0] is None


def test_a_file_with_two_vertical_dims_links_them_by_name(tmp_path: Path):
    """Two dims of one role in a file (z and depth): neither is matched by role; they go by name."""
    ex = _two_named_and_kji(tmp_path, {"z": "z", "y": "depth", "x": "x"}, "zyx")
    a, b, c = ex.panes
    a.axis = "depth"
    assert b.axis == "depth"  # by name
    a.axis = "x"
    assert b.axis == "x" and c.axis == "i"  # x is the one east dim of each
    a.index = 3
    assert b.index == c.index == 3
    ex.compare = "difference"
    assert ex.comparison is not None
    assert ex.comparison.dims == ("z", "depth")  # two vertical dims: the file's order
    np.testing.assert_allclose(ex.comparison.values, (zyx_model() - other_model())[:, :, 3], rtol=1e-6)
    ex.compare_b = 2  # z and depth of A have no counterpart in C: said, not raised
    assert ex.comparison is None and "grids differ" in ex.comparison_error


def test_panes_named_otherwise_share_zoom_in_their_plots(runs: Path):
    """The plots of counterparts named otherwise get one dimension name per axis (the first pane's),
    which is what Panel links zoom and pan by; each keeps its own names on its axes and in its hover."""
    import panel as pn
    from bokeh.models import HoverTool
    from bokeh.plotting import figure

    from hpcdash.explorer.views import ExplorerView

    ex = ExplorerState(["zyx.h5", "kji.h5"], root=str(runs), link=True)
    ex.compare, ex.compare_a, ex.compare_b = "difference", 1, 0
    view = ExplorerView(ex, sync_url=False)
    assert all(view._zoom_linked(p) for p in ex.panes)
    assert view.view_for(ex.panes[1]).names == {"k": "z", "j": "y", "i": "x"}
    for axis, up in (("z", "y"), ("y", "z")):
        ex.panes[0].axis = axis
        figs = list(pn.panel(view).get_root().select({"type": figure}))
        assert len(figs) == 3
        assert {tuple(tuple(map(tuple, r.tags[0])) for r in (f.x_range, f.y_range)) for f in figs} \
            == {((("x", "m"),), ((up, "m"),))}
        own = {up: {"y": "j", "z": "k"}[up], "x": "i"}
        labels = sorted((f.xaxis[0].axis_label, f.yaxis[0].axis_label) for f in figs)
        assert labels == sorted([("x (m)", f"{up} (m)"), ("i (m)", f"{own[up]} (m)"), ("i (m)", f"{own[up]} (m)")])
        hovers = [t.tooltips[:2] for f in figs for t in f.tools if isinstance(t, HoverTool)]
        assert sorted(hovers) == sorted([[("x (m)", "$x"), (f"{up} (m)", "$y")]]
                                        + [[("i (m)", "$x"), (f"{own[up]} (m)", "$y")]] * 2)
