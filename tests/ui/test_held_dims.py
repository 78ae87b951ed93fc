"""Data of more than 3 dimensions: the dimensions neither normal to the slice nor in its plane are held at
an index each (`SliceState.held`), chosen by the user, in the readout, the URL, linked panes and exports.
Real HDF5 files with h5py dimension scales, real reads."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcdash.explorer.state import ExplorerState, SliceLoader, SliceState
from tests.ui.hdf5_files import NT, NX, NY, NZ, grid, model_4d, times, write_run, write_run_4d


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write_run_4d(tmp_path / "t1.h5", 1)
    write_run_4d(tmp_path / "t2.h5", 2)
    write_run_4d(tmp_path / "other_names.h5", 3, names=("time", "z", "y", "x"))
    write_run(tmp_path / "cube.h5", 4, 1.0)
    return tmp_path


def _numpy_slice(cube: np.ndarray, dims: tuple[str, ...], axis: str, index: int, held: dict[str, int]):
    at = {axis: index, **held}
    return cube[tuple(at.get(d, slice(None)) for d in dims)]


def test_every_held_index_reads_what_numpy_indexing_of_the_whole_array_gives(runs: Path):
    cube = model_4d(1)
    dims = ("t", "z", "y", "x")
    s = SliceState(str(runs / "t1.h5"), root=str(runs))
    assert s.volume.dims == dims
    for axis in dims:
        s.axis = axis
        held_dims = list(s.held_sizes())
        assert len(held_dims) == 1 and axis not in held_dims
        (dim,) = held_dims
        n = cube.shape[dims.index(dim)]
        for i in sorted({0, 1, n // 2, n - 1}):
            s.held = {dim: i}
            assert s.held == {dim: i} and s.error == ""
            expected = _numpy_slice(cube, dims, axis, s.index, s.held)
            np.testing.assert_array_equal(s.data.values, expected)
    # a held move shows other values than the held index before it
    s.axis = "z"
    s.held = {"t": 0}
    first = s.data.values.copy()
    s.held = {"t": NT - 1}
    assert not np.array_equal(first, s.data.values)


def test_five_dims_hold_two_and_each_moves_on_its_own(tmp_path: Path):
    """Without coordinates (plain h5py dataset): two held dims, numbered like the slice ("slice 2 of 3")."""
    cube = np.random.default_rng(5).random((3, 2, 4, 5, 6)).astype(np.float32)
    with h5py.File(tmp_path / "five.h5", "w") as f:
        f["v"] = cube
    s = SliceState(str(tmp_path / "five.h5"), root=str(tmp_path))
    dims = s.volume.dims
    # the slider scans the volume (the last three dims); the leading two start at their last index
    assert s.axis == "dim_2" and s.held_sizes() == {"dim_0": 3, "dim_1": 2}
    assert s.held == {"dim_0": 2, "dim_1": 1} and s.index == 2
    np.testing.assert_array_equal(s.data.values, cube[2, 1, 2])
    s.axis = "dim_0"
    assert s.held_sizes() == {"dim_1": 2, "dim_2": 4}
    for a, b in itertools.product(range(2), range(4)):
        s.held = {"dim_1": a, "dim_2": b}
        np.testing.assert_array_equal(s.data.values, _numpy_slice(cube, dims, "dim_0", s.index, s.held))
    assert s.readout == "dim_0: slice 3 of 3 · dim_1: slice 2 of 2 · dim_2: slice 4 of 4"


def test_readout_names_each_held_dim_where_it_is_held(runs: Path):
    s = SliceState(str(runs / "t1.h5"), root=str(runs), axis="z")
    s.index = 2
    s.held = {"t": 3}
    z, t = grid()["z"][2], times()[3]
    assert s.readout == f"z = {z:.1f} m (slice 3 of {NZ}) · t = {t:.1f} s (slice 4 of {NT})"
    assert s.readout == "z = -62.5 m (slice 3 of 12) · t = 1.5 s (slice 4 of 4)"
    assert s.held_positions() == {"t": 1.5}


def test_a_read_for_an_older_held_index_is_not_shown(runs: Path):
    """The held indices are part of the request: a slice read for the previous position (a slow read
    the user has moved on from) is dropped, and the loader reads the newest one."""
    s = SliceState(str(runs / "t1.h5"), root=str(runs), axis="z")
    old_key = s.request_key()
    stale = s.load(old_key)
    with s.suspended():  # as a slider move while that read was running
        s.held = {"t": 2}
    assert s.request_key() != old_key
    assert s.apply(stale) is False
    loader = SliceLoader()
    loader.request([s])
    np.testing.assert_array_equal(s.data.values, model_4d(1)[2, s.index])


def test_held_indices_are_kept_in_bounds(runs: Path):
    s = SliceState(str(runs / "t1.h5"), root=str(runs), axis="z")
    s.held = {"t": 99}
    assert s.held == {"t": NT - 1}
    s.held = {"t": -4, "nosuch": 1, "z": 3}  # z is the normal axis, not held
    assert s.held == {"t": 0}
    s.held = {}
    assert s.held == {"t": 0}
    np.testing.assert_array_equal(s.data.values, model_4d(1)[0, s.index])


def test_a_new_axis_keeps_the_place_shown_and_a_new_dataset_starts_like_a_new_file(runs: Path):
    with h5py.File(write_run_4d(runs / "two.h5", 1), "a") as f:  # a second dataset on the same dims
        src = f["/model/conductivity"]
        ds = f.create_dataset("/model/resistivity", data=1 / src[...])
        for i in range(4):
            ds.dims[i].attach_scale(src.dims[i][0])
    s = SliceState(str(runs / "two.h5"), root=str(runs), dataset="/model/conductivity", axis="z", index=5,
                   held={"t": 2})
    assert (s.index, s.held) == (5, {"t": 2})
    shown = s.data.values.copy()
    s.axis = "t"  # the held dim becomes the normal axis at its index; z is held at the slice shown
    assert (s.index, s.held) == (2, {"z": 5})
    np.testing.assert_array_equal(s.data.values, shown)
    s.axis = "x"  # plane z, y; t held where it was
    assert s.held == {"t": 2} and s.data.dims == ("z", "y")
    np.testing.assert_array_equal(s.data.values, model_4d(1)[2, :, :, s.index])
    s.reload()
    assert (s.axis, s.held) == ("x", {"t": 2})  # Reload keeps the view
    # another dataset of the file starts like a new file: cut across z, t at its last step
    s.dataset = "/model/resistivity"
    assert s.axis == "z" and s.held == {"t": NT - 1} and s.index == NZ // 2
    np.testing.assert_array_equal(s.data.values, 1 / model_4d(1)[NT - 1, NZ // 2])


def test_url_round_trip_reopens_the_held_positions(runs: Path):
    ex = ExplorerState(["t1.h5", "t2.h5"], root=str(runs), link=False)
    a, b = ex.panes
    a.axis = "z"
    a.index = 4
    a.held = {"t": 2}
    b.axis = "y"
    b.index = 7
    b.held = {"t": 3}
    q = ex.to_query()
    assert q["slice"] == "5" and q["at.t"] == "3"  # 1-based, like slice=
    assert q["axis2"] == "y" and q["at2.t"] == "4"
    again = ExplorerState(root=str(runs))
    again.apply_query(q)
    a2, b2 = again.panes
    assert (a2.axis, a2.index, a2.held) == ("z", 4, {"t": 2})
    assert (b2.axis, b2.index, b2.held) == ("y", 7, {"t": 3})
    np.testing.assert_array_equal(a2.data.values, a.data.values)
    np.testing.assert_array_equal(b2.data.values, b.data.values)
    assert a2.readout == a.readout and again.to_query() == q
    # 3-D panes write no held items
    assert not any(k.startswith("at") for k in ExplorerState(["cube.h5"], root=str(runs)).to_query())


def test_impossible_held_positions_in_a_link_are_corrected(runs: Path):
    settings = SliceState.settings_from_query(
        {"file": "t1.h5", "axis": "z", "at.t": "99", "at.nosuch": "2", "at.": "3", "at2.t": "2"})
    assert settings["held"] == {"t": 98, "nosuch": 1}  # pane 2's item is not pane 1's
    assert "held" not in SliceState.settings_from_query({"at.t": "two"})
    assert SliceState.settings_from_query({"at.t": "0"})["held"] == {"t": 0}  # clamped, not the last
    ex = ExplorerState(root=str(runs))
    ex.apply_query({"file": "t1.h5", "axis": "z", "at.t": "99", "at.nosuch": "2"})
    (p,) = ex.panes
    assert p.held == {"t": NT - 1} and p.readout.endswith(f"(slice {NT} of {NT})")
    assert ex.to_query()["at.t"] == str(NT) and "at.nosuch" not in ex.to_query()
    ex = ExplorerState(root=str(runs))
    ex.apply_query({"file": "t1.h5", "axis": "t", "at.t": "2"})  # t is the normal axis there
    assert ex.panes[0].held == {"z": NZ // 2}  # a dim of the volume held at its middle, like a slice


def test_linked_panes_hold_a_dim_of_the_same_name_at_the_same_index(runs: Path):
    ex = ExplorerState(["t1.h5", "t2.h5", "other_names.h5", "cube.h5"], root=str(runs), link=True)
    a, b, other, cube = ex.panes
    # each opens cut across z, its time dim held at the last step
    assert a.axis == b.axis == other.axis == cube.axis == "z"
    assert b.held == {"t": NT - 1} and other.held == {"time": NT - 1} and cube.held == {}
    reads = ex.loader.reads
    a.held = {"t": 2}
    assert b.held == {"t": 2} and other.held == {"time": NT - 1}  # another name: left as it is
    np.testing.assert_array_equal(b.data.values, model_4d(2)[2, b.index])
    assert ex.loader.reads - reads == 2  # a and b; the panes holding no t are not read again
    b.held = {"t": 1}  # any linked pane leads
    assert a.held == {"t": 1}
    np.testing.assert_array_equal(a.data.values, model_4d(1)[1, a.index])
    other.held = {"time": 2}
    assert a.held == b.held == {"t": 1}
    # a new axis on the lead: the followers hold what it holds
    a.axis = "t"
    assert (a.index, a.held) == (1, {"z": a.held["z"]}) and b.held == a.held and b.index == a.index
    # unlinked, each pane keeps its own; linking again takes the first pane's
    ex.link = False
    b.held = {"z": 9}
    assert a.held != b.held
    ex.link = True
    assert b.held == a.held
    np.testing.assert_array_equal(b.data.values, model_4d(2)[a.index, a.held["z"]])


def test_comparison_needs_both_runs_at_the_same_held_position(runs: Path):
    ex = ExplorerState(["t1.h5", "t2.h5"], root=str(runs), link=False)
    a, b = ex.panes
    ex.compare = "difference"
    assert a.held == b.held == {"t": NT - 1} and ex.comparison is not None
    b.held = {"t": 2}
    assert ex.comparison is None
    assert ex.comparison_error.startswith("A is at t = 1.5 s and B at t = 1.0 s: a comparison needs")
    a.held = {"t": 3}
    b.held = {"t": 3}
    np.testing.assert_allclose(ex.comparison.values, model_4d(1)[3, a.index] - model_4d(2)[3, b.index], rtol=1e-6)


def test_exports_say_where_the_held_dims_are(runs: Path):
    from PIL import Image

    from hpcdash.explorer.views import SliceView

    s = SliceState(str(runs / "t1.h5"), root=str(runs), axis="z", index=4, held={"t": 2})
    view = SliceView(s)
    assert s.export_stem() == "t1_z5_t3"
    png = view.exports.buttons["png"].callback().getvalue()
    assert Image.open(io.BytesIO(png)).size[0] > 100
    assert s.last_export["filename"] == "t1_z5_t3.png"
    assert s.last_export["held"] == {"t": 2} and s.last_export["index"] == 4
    assert "t = 1.0 s (slice 3 of 4)" in s.last_export["readout"]
    # the provenance record of the download carries them too
    from hpcdash.provenance.state import ProvenanceState

    ex = ExplorerState(root=str(runs))
    prov = ProvenanceState(root=str(runs))
    prov.watch_explorer(ex)
    pane = ex.open("t1.h5", axis="z", index=4, held={"t": 2})
    SliceView(pane).exports.buttons["npy"].callback()
    (event,) = [e for e in prov.events() if e.kind == "export"]
    assert event.details["held"] == {"t": 2} and "t = 1.0 s" in event.details["readout"]
    # ... and so does the view a bundle records (its readout and its URL query)
    prov._record_view(ex, ex.to_query())
    (event,) = [e for e in prov.events() if e.kind == "view"]
    assert "t1.h5: z = -112.5 m (slice 5 of 12) · t = 1.0 s (slice 3 of 4)" in event.summary
    assert event.details["query"]["at.t"] == "3"


def test_one_slider_per_held_dim_only_for_data_of_more_than_three_dims(runs: Path, tmp_path: Path):
    from hpcdash.explorer.views import ExplorerView, SliceView

    ex = ExplorerState(["t1.h5", "t2.h5", "cube.h5"], root=str(runs), link=True)
    view = ExplorerView(ex, sync_url=False)
    va, vb, vc = (view.view_for(p) for p in ex.panes)
    a, b, _ = ex.panes
    assert list(va.held_w) == ["t"] and va.held_row.visible  # axis z: t is held, at its last step
    assert va.held_w["t"].value == NT
    a.axis = "t"
    assert list(va.held_w) == ["z"]  # axis t: z is held, where the slice was
    assert vc.held_w == {} and not vc.held_row.visible
    w = va.held_w["z"]
    # numbered 1 to n, as the readout counts (index + 1)
    assert (w.label, w.start, w.end, w.value) == ("z", 1, NZ, NZ // 2 + 1)
    w.value = 7  # the slider moves the pane, and with Link on the linked pane and its slider
    assert a.held == {"z": 6} and b.held == {"z": 6} and vb.held_w["z"].value == 7
    np.testing.assert_array_equal(a.data.values, model_4d(1)[a.index, 6])
    assert a.readout.endswith(f"z = {grid()['z'][6]:.1f} m (slice 7 of {NZ})")
    a.held = {"z": 2}  # the pane moves the slider
    assert w.value == 3
    w.value = 10 * NZ  # past the end (a stale slider): the last index
    assert a.held == {"z": NZ - 1} and w.value == NZ
    a.axis = "z"  # new sliders for the new held dims
    assert list(va.held_w) == ["t"] and va.held_w["t"].end == NT and va.held_w["t"].value == a.held["t"] + 1
    plain = SliceView(SliceState(str(runs / "cube.h5"), root=str(runs)))
    assert plain.held_w == {} and not plain.held_row.visible
    # a dimension label from the file is shown as text: TeX delimiters are broken (Bokeh typesets
    # them into HTML otherwise)
    with h5py.File(tmp_path / "label.h5", "w") as f:
        ds = f.create_dataset("v", data=np.zeros((2, 3, NY, NX), np.float32))
        ds.dims[0].label = "$$<img src=x onerror=alert(1)>$$"
    odd = SliceView(SliceState(str(tmp_path / "label.h5"), root=str(tmp_path)))
    (name,) = odd.held_w
    assert name == "$$<img src=x onerror=alert(1)>$$"
    assert "$$" not in odd.held_w[name].label and "<img" in odd.held_w[name].label


def test_the_leading_dims_are_held_and_the_last_three_form_the_volume_everywhere(tmp_path: Path):
    """One rule (`split_volume`) for where a dataset opens, which dims start at their last index, which
    form the plane, how new files are chunked and where the value range is sampled: (s, t) lead, (z, y,
    x) is the volume."""
    from hpcdash.data import write_volume
    from hpcdash.data.conventions import split_volume
    from hpcdash.data.write import auto_chunks
    from hpcdash.explorer.state import default_axis, start_of_held

    assert split_volume(("z", "y", "x")) == ((), ("z", "y", "x"))
    assert split_volume(("y", "x")) == ((), ("y", "x"))
    assert split_volume((2, 3, 100, 4, 5)) == ((2, 3), (100, 4, 5))
    cube = np.random.default_rng(7).random((2, 3, 4, 70, 6)).astype(np.float32)
    path = tmp_path / "st.h5"
    write_volume(path, "/m", cube, {d: None for d in ("s", "t", "z", "y", "x")}, chunks=True)
    s = SliceState(str(path))
    dims = list(s.volume.dims)
    assert s.axis == default_axis(dims) == "z" and s.held == {"s": 1, "t": 2}  # the newest of each
    assert start_of_held(dims, {"t": 3, "y": 70}) == {"t": 2, "y": 35}
    assert s.plane_dims() == ["y", "x"] and s.plane_dims("t") == ["y", "x"]
    assert s.volume.chunks == auto_chunks(cube.shape) == (1, 1, 4, 64, 6)
    picked = list(s.volume._sample_blocks())
    assert {b[0].start for b in picked} == {0} and {b[1].start for b in picked} == {0}  # one of each leading
    assert {b[3].start for b in picked} == {0, 64}


@pytest.mark.parametrize("steps", [np.array([1.0, 2.0, 3.0]), np.array([1, 2, 3], dtype=np.int32)],
                         ids=["float", "int"])
def test_a_counted_dim_reads_as_a_whole_number(tmp_path: Path, steps: np.ndarray):
    """Iterations of an inversion (no units, whole-numbered coordinates, float or int in the file) read
    "iteration = 3", not "iteration = 3.0"; a coordinate with units keeps its decimal (z = -62.5 m,
    t = 1.0 s above)."""
    from hpcdash.data import write_volume

    z = np.linspace(-100.0, 0.0, 4)
    coords = {"iteration": steps, "z": z, "y": np.arange(5.0), "x": np.arange(6.0)}
    write_volume(tmp_path / "inv.h5", "model", np.random.default_rng(1).random((3, 4, 5, 6)), coords,
                 {"units": "S/m"}, coord_units={"z": "m", "y": "m", "x": "m"})
    s = SliceState(str(tmp_path / "inv.h5"), root=str(tmp_path), axis="z")
    s.index = 0
    s.held = {"iteration": 2}
    assert s.readout == "z = -100.0 m (slice 1 of 4) · iteration = 3 (slice 3 of 3)"
    s.held = {"iteration": 0}
    assert s.readout.endswith("iteration = 1 (slice 1 of 3)")
