"""The explorer's parameter models, without a browser: real HDF5 files, real reads."""

from __future__ import annotations

import io
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hpcdash.explorer import export
from hpcdash.explorer.state import ExplorerState, SliceLoader, SliceState, SliceStats, compare_slices
from tests.ui.hdf5_files import NX, NY, NZ, grid, model


def test_open_sets_axes_bounds_and_first_slice(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    assert s.error == ""
    assert s.param.axis.objects == ["z", "y", "x"]
    assert s.axis == "z" and s.param.index.bounds == (0, NZ - 1)
    assert s.data.dims == ("y", "x") and s.data.shape == (NY, NX)
    np.testing.assert_allclose(s.data.values, model(1)[s.index], rtol=1e-6)


def test_readout_in_physical_units(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    s.index = 4
    z = grid()["z"][4]
    assert s.readout == f"z = {z:.1f} m (slice 5 of {NZ})"
    assert s.readout.startswith("z = -112.5 m")
    s.axis = "x"
    assert s.param.index.bounds == (0, NX - 1)
    assert s.data.dims == ("z", "y")
    x = grid()["x"][s.index]
    assert s.readout.startswith(f"x = {x:.1f} m")
    np.testing.assert_allclose(s.data.values, model(1)[:, :, s.index], rtol=1e-6)


def test_title_escaping_is_left_to_views_but_key_attrs_are_listed(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    assert s.title.startswith("a.h5 · /model/conductivity · beta=10.0")
    assert "survey=unit <b>test</b>" in s.title  # plain text here; views html-escape it


def test_dataset_selector_for_files_with_several_volumes(data_root: Path):
    s = SliceState(str(data_root / "multi.h5"))
    assert set(s.param.dataset.objects) == {"/model/conductivity", "/model/resistivity"}
    before = s.data.values.copy()
    s.dataset = "/model/resistivity" if s.dataset == "/model/conductivity" else "/model/conductivity"
    assert s.error == ""
    assert not np.allclose(s.data.values, before)


def test_colour_modes(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    vals = s.data.values
    assert s.clim == pytest.approx((float(np.nanmin(vals)), float(np.nanmax(vals))))
    s.range_mode = "volume"
    vol = model(1)
    lo, hi = s.clim
    assert lo <= float(vals.min()) and hi >= float(vals.max())
    assert lo >= float(vol.min()) - 1e-6 and hi <= float(vol.max()) + 1e-6
    s.param.update(range_mode="fixed", vmin=0.5, vmax=0.1)
    assert s.clim == (0.1, 0.5) and "swapped" in s.notice
    s.param.update(range_mode="auto", symmetric=True)
    lo, hi = s.clim
    assert lo == -hi and hi == pytest.approx(float(vals.max()))


def test_fixed_range_starts_from_the_range_on_screen(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    s.range_mode = "volume"
    lo, hi = s.clim
    s.range_mode = "fixed"
    # rounded outwards to three significant digits of the span: the colours barely move
    assert s.vmin <= lo < s.vmin + (hi - lo) / 50 and s.vmax - (hi - lo) / 50 < hi <= s.vmax
    assert s.clim == (s.vmin, s.vmax)
    s.param.update(range_mode="auto", vmin=0.25, vmax=None)
    s.range_mode = "fixed"
    assert s.vmin == 0.25 and s.vmax >= float(np.nanmax(s.data.values))  # what was typed stays


def test_log_scale_needs_positive_values(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    s.scale = "log"
    assert s.log_active and s.notice == ""
    s.param.update(range_mode="fixed", vmin=-1.0, vmax=0.0)
    assert not s.log_active
    assert "Log colour needs positive values" in s.notice


@pytest.mark.parametrize("name, words", [
    ("notes.h5", "not an HDF5 file"),
    ("truncated.h5", "truncated"),
    ("one_d.h5", "2"),
    ("strings.h5", "string"),
    ("broken_link.h5", "link"),
    ("unknown_filter.h5", "hdf5plugin"),
])
def test_bad_files_give_a_clear_message(data_root: Path, name: str, words: str):
    s = SliceState(str(data_root / "bad" / name))
    assert s.data is None
    assert s.error, name
    assert words.lower() in s.error.lower(), s.error


def test_all_nan_and_constant_slices_keep_a_usable_range(data_root: Path):
    s = SliceState(str(data_root / "bad" / "all_nan.h5"))
    assert s.error == "" and s.clim[0] < s.clim[1]
    assert "no finite values" in s.notice
    c = SliceState(str(data_root / "bad" / "constant.h5"))
    assert c.clim[0] < 3.0 < c.clim[1]
    assert "constant" in c.notice
    c.scale = "log"
    assert c.clim[0] > 0


def test_file_deleted_while_open_gives_a_message(data_root: Path, tmp_path: Path):
    import shutil

    path = tmp_path / "gone.h5"
    shutil.copy(data_root / "a.h5", path)
    s = SliceState(str(path))
    assert s.error == ""
    path.unlink()
    assert s.check_changed() and "was deleted or moved" in s.notice and s.data is not None
    s.axis = "x"
    assert s.data is None and "deleted" in s.error
    with open(path, "wb") as fh:  # replaced by something else
        fh.write(b"not hdf5 any more")
    s.index = 1
    assert s.data is None and s.error
    s.open(str(data_root / "a.h5"))  # the pane recovers when a good file is opened
    assert s.error == "" and s.data is not None


def test_explorer_refuses_paths_outside_root(data_root: Path):
    ex = ExplorerState(root=str(data_root))
    for bad in ["../outside/secret.h5", "link_out.h5", "dir_out/secret.h5", str(data_root.parent / "outside/secret.h5")]:
        assert ex.open(bad) is None, bad
        assert "outside" in ex.message.lower(), ex.message
    assert ex.panes == []
    assert ex.open("a.h5") is not None and len(ex.panes) == 1


def test_linked_panes_follow_axis_slice_and_colour(data_root: Path):
    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True)
    a, b = ex.panes
    a.index = 3
    assert b.index == 3 and b.data is not None
    np.testing.assert_allclose(b.data.values, model(2)[3], rtol=1e-6)
    a.axis = "y"
    assert b.axis == "y" and b.index == a.index
    np.testing.assert_allclose(b.data.values, model(2)[:, a.index, :], rtol=1e-6)
    a.cmap = "gray"
    assert b.cmap == "gray"
    # one colour range for linked panes, covering both
    assert a.clim == b.clim
    lo = min(float(model(1)[:, a.index].min()), float(model(2)[:, a.index].min()))
    assert a.clim[0] == pytest.approx(lo)
    ex.link = False
    b_before = b.index
    a.index = b_before - 1
    assert b.index == b_before
    b.index = 1
    assert a.index == b_before - 1


def test_linked_panes_share_a_colour_range_per_quantity(data_root: Path):
    """Runs of one quantity share one colour range; a pane of another quantity (other units), linked
    for its slice, keeps a range of its own (one scale across S/m and ohm m would wash out both)."""
    ex = ExplorerState(root=str(data_root), link=True)
    a, b = ex.open("a.h5"), ex.open("b.h5")
    r = ex.open("multi.h5", dataset="/model/resistivity")
    assert a.quantity == b.quantity == "S/m" and r.quantity == "ohm m"
    assert a.index == b.index == r.index
    assert a.clim == b.clim == ex.shared_clim(a)
    assert a.clim[0] <= min(a.own_clim[0], b.own_clim[0]) and a.clim[1] >= max(a.own_clim[1], b.own_clim[1])
    assert r.clim == r.own_clim == ex.shared_clim(r) and r.clim != a.clim
    a.index = 3  # a linked step: each quantity's range follows its own panes' new slices
    assert r.index == 3 and r.clim == r.own_clim and a.clim == b.clim
    np.testing.assert_allclose(r.data.values, 1 / model(4)[3], rtol=1e-6)
    # a fixed range set on one run goes to the runs of its quantity only; the colormap goes to all
    a.param.update(range_mode="fixed", vmin=0.5, vmax=2.0, cmap="magma")
    assert (b.range_mode, b.vmin, b.vmax, b.clim) == ("fixed", 0.5, 2.0, (0.5, 2.0))
    assert r.range_mode == "auto" and r.clim == r.own_clim and r.cmap == "magma"
    ex.link = False
    assert a.clim == a.own_clim and b.clim == b.own_clim


def test_linked_reads_run_concurrently_in_one_batch(data_root: Path):
    ex = ExplorerState(["a.h5", "b.h5", "c.h5"], root=str(data_root), link=True)
    pool = ThreadPoolExecutor(4)
    calls = []

    def dispatch(fn):  # stands in for doc.add_next_tick_callback: runs at once, records it
        calls.append(fn)
        fn()

    ex.loader = SliceLoader(pool=pool, dispatch=dispatch)
    heard = []  # what watchers of the other panes' index (their sliders, the URL) are told
    for p in ex.panes[1:]:
        p.param.watch(lambda e: heard.append((e.obj, e.new, len(calls))), "index")
    ex.panes[0].index = 2
    pool.shutdown(wait=True)
    # one batch of reads; on the UI thread: showing the slices, then announcing the linked moves
    assert ex.loader.batches == 1 and len(calls) == 2
    assert [p.index for p in ex.panes] == [2, 2, 2]
    assert sorted(id(o) for o, _, _ in heard) == sorted(id(p) for p in ex.panes[1:])
    assert all(new == 2 and n_calls == 2 for _, new, n_calls in heard)
    assert all(p.readout.endswith(f"(slice 3 of {NZ})") for p in ex.panes)


def test_loader_is_latest_only(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    pending = []
    loader = SliceLoader(pool=ThreadPoolExecutor(1), dispatch=pending.append)
    s._on_request = lambda pane, reason: loader.request([pane])
    for i in range(1, 8):  # a fast drag: seven requests while the first read is in flight
        s.index = i
    deadline = time.monotonic() + 30
    while loader._busy and time.monotonic() < deadline:  # play the UI thread: run what was dispatched
        if pending:
            pending.pop(0)()
        else:
            time.sleep(0.01)
    assert not loader._busy
    assert loader.batches == 2  # the first request, then straight to the newest one
    assert s.index == 7 and s.readout.startswith(f"z = {grid()['z'][7]:.1f} m")
    np.testing.assert_allclose(s.data.values, model(1)[7], rtol=1e-6)


def test_difference_and_ratio_on_same_grid(data_root: Path):
    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True)
    ex.compare = "difference"
    a, b = ex.panes
    np.testing.assert_allclose(ex.comparison.values, model(1)[a.index] - model(2)[a.index], rtol=1e-5, atol=1e-7)
    lo, hi = ex.comparison_clim
    assert lo == -hi and hi == pytest.approx(float(np.abs(ex.comparison.values).max()))
    ex.compare = "ratio"
    np.testing.assert_allclose(ex.comparison.values, np.log10(model(1)[a.index] / model(2)[a.index]), rtol=1e-4)
    a.index = 5  # follows the slice
    np.testing.assert_allclose(ex.comparison.values, np.log10(model(1)[5] / model(2)[5]), rtol=1e-4)


def test_a_comparison_keeps_its_runs_when_panes_close(data_root: Path):
    """Closing a run before A and B renumbers them, so the same two runs are compared; closing A or B
    ends the comparison rather than going on between other runs; so does leaving one run open (the
    Compare control is not shown then, and could not be turned off)."""
    ex = ExplorerState(["multi.h5", "a.h5", "b.h5"], root=str(data_root), link=True)
    first, a, b = ex.panes
    ex.param.update(compare="difference", compare_a=1, compare_b=2)
    i = a.index
    np.testing.assert_allclose(ex.comparison.values, model(1)[i] - model(2)[i], rtol=1e-5, atol=1e-7)
    ex.close_pane(first)
    assert (ex.compare, ex.compare_a, ex.compare_b) == ("difference", 0, 1)
    np.testing.assert_allclose(ex.comparison.values, model(1)[i] - model(2)[i], rtol=1e-5, atol=1e-7)

    ex.open(data_root / "multi.h5")
    ex.close_pane(a)  # run A itself
    assert ex.compare == "none" and ex.comparison is None and ex.comparison_error == ""
    assert ex.compare_b == 0 and ex.panes[ex.compare_b] is b  # B is still the run it was
    assert ex.compare_a == 1  # A another run than B, ready for the next comparison

    ex.param.update(compare="ratio", compare_a=1, compare_b=0)
    assert ex.comparison is not None
    ex.close_pane(ex.panes[1])
    assert ex.compare == "none" and ex.comparison is None and ex.comparison_error == ""
    assert ex.panes == [b]


def test_difference_refuses_different_grids(data_root: Path):
    ex = ExplorerState(["a.h5", "c.h5"], root=str(data_root))
    ex.compare = "difference"
    assert ex.comparison is None
    assert "grids differ" in ex.comparison_error


def test_comparison_of_two_normal_axes_says_to_choose_one(data_root: Path):
    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=False)
    ex.compare = "difference"
    assert ex.comparison is not None
    ex.panes[1].axis = ex.panes[1].param.axis.objects[1]
    assert ex.comparison is None
    assert ex.comparison_error == (f"A is sliced along {ex.panes[0].axis} and B along {ex.panes[1].axis}: "
                                   "choose the same normal axis in both panes (Link does it for all panes).")


def test_comparison_of_two_positions_says_so(data_root: Path):
    """Unlinked panes at different depths are not subtracted: the comparison says where each is."""
    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=False)
    ex.compare = "difference"
    assert ex.comparison is not None
    a, b = ex.panes
    a.index += 1
    assert ex.comparison is None
    assert ex.comparison_error == (f"A is at {a.readout.split(' (slice')[0]} and B at {b.readout.split(' (slice')[0]}: "
                                   "a comparison needs both runs at the same position (Link keeps them together).")
    b.index = a.index
    assert ex.comparison is not None and ex.comparison_error == ""
    ex.compare_b = 0
    assert ex.comparison is None and ex.comparison_error == "A and B are the same run: choose another for B."


def test_comparison_colour_bar_follows_the_mode(data_root: Path):
    """The colour bar names what is drawn, with units, after every change of mode."""
    import panel as pn
    from bokeh.models import ColorBar

    from hpcdash.explorer.views import ComparisonView

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True)
    view = ComparisonView(ex)

    def titles():
        return [bar.title for bar in pn.panel(view).get_root().select({"type": ColorBar})]

    for mode, title in [("difference", "A - B (S/m)"), ("ratio", "log10(A / B)"), ("difference", "A - B (S/m)")]:
        ex.compare = mode
        assert titles() == [title], mode


def test_difference_refuses_two_quantities_and_ratio_says_so(data_root: Path):
    ex = ExplorerState(root=str(data_root), link=True)
    ex.open("a.h5")
    ex.open("multi.h5", dataset="/model/resistivity")
    ex.compare = "difference"
    assert ex.comparison is None
    assert ex.comparison_error.startswith("A is in S/m and B in ohm m: a difference needs")
    ex.compare = "ratio"
    assert ex.comparison is not None and ex.comparison_error == "A is in S/m and B in ohm m."
    i = ex.panes[0].index
    np.testing.assert_allclose(ex.comparison.values, np.log10(model(1)[i] * model(4)[i]), rtol=1e-5)


@pytest.mark.parametrize(("dataset", "units"), [("/model/log10_conductivity", None), ("/model/sigma", "log10(S/m)")])
def test_ratio_of_logarithms_is_refused_and_the_difference_offered(tmp_path: Path, dataset, units):
    """Inversions often store log10 conductivity: the ratio of two such values means nothing (and its
    sign is reversed), the difference is already the log of the ratio."""
    from hpcdash import write_volume

    for seed, name in ((1, "a.h5"), (2, "b.h5")):
        write_volume(tmp_path / name, dataset, np.log10(model(seed)), grid(), units=units,
                     coord_units={"z": "m", "y": "m", "x": "m"}, mode="w")
    ex = ExplorerState(["a.h5", "b.h5"], root=str(tmp_path), link=True)
    ex.compare = "ratio"
    assert ex.comparison is None
    assert ex.comparison_error.startswith("A and B hold logarithms")
    assert "difference A - B" in ex.comparison_error
    ex.compare = "difference"
    i = ex.panes[0].index
    np.testing.assert_allclose(ex.comparison.values, np.log10(model(1)[i] / model(2)[i]), rtol=1e-4, atol=1e-6)


def test_a_new_normal_axis_starts_in_the_middle_and_an_axis_shown_before_where_it_was(data_root: Path):
    s = SliceState(str(data_root / "a.h5"), axis="z", index=3)
    s.axis = "x"
    assert s.index == NX // 2  # not slice 4 of x: the number meant a place along z
    s.index = 2
    s.axis = "z"
    assert s.index == 3
    s.axis = "y"
    assert s.index == NY // 2
    s.axis = "x"
    assert s.index == 2
    s.dataset = s.dataset  # (the same dataset: nothing forgotten)
    assert s.index == 2


def test_zoom_goes_into_the_url_and_a_new_plane_forgets_it(data_root: Path):
    s = SliceState(str(data_root / "a.h5"), axis="z")
    assert "zoom" not in s.to_query()
    s.zoom = (-50.0, 60.5, 10.0, 100.0)
    q = s.to_query()
    assert q["zoom"] == "-50,60.5,10,100"
    assert SliceState.settings_from_query(q)["zoom"] == (-50.0, 60.5, 10.0, 100.0)
    for bad in ("1,2,3", "1,2,3,x", "nan,1,2,3", "5,1,2,3", "1,5,3,2"):
        assert "zoom" not in SliceState.settings_from_query({"file": "a.h5", "zoom": bad}), bad
    other = SliceState(str(data_root / "a.h5"))
    other.apply_settings(SliceState.settings_from_query(q))
    assert other.zoom == (-50.0, 60.5, 10.0, 100.0)
    s.axis = "x"  # another plane: the zoom meant a place in the old one
    assert s.zoom is None


def test_compare_slices_checks_coordinates(data_root: Path):
    a = SliceState(str(data_root / "a.h5"))
    b = SliceState(str(data_root / "b.h5"))
    b.data = b.data.assign_coords(x=b.data.x + 1.0)
    result, msg = compare_slices(a, b, "difference")
    assert result is None and "along x" in msg


def test_the_runs_compared_are_in_the_url(data_root: Path):
    """A link reopens a comparison between the runs it was between (numbered 1 to n, as the page
    numbers them); runs 1 and 2 need no words; a number of no run open is left out."""
    ex = ExplorerState(["multi.h5", "a.h5", "b.h5"], root=str(data_root), link=True)
    ex.param.update(compare="difference", compare_a=2, compare_b=1)
    query = ex.to_query()
    assert (query["compare"], query["a"], query["b"]) == ("difference", "3", "2")
    again = ExplorerState(root=str(data_root))
    again.apply_query(query)
    assert (again.compare_a, again.compare_b) == (2, 1) and again.to_query() == query
    i = again.panes[0].index
    np.testing.assert_allclose(again.comparison.values, model(2)[i] - model(1)[i], rtol=1e-5, atol=1e-7)
    ex.param.update(compare_a=0, compare_b=1)
    assert "a" not in ex.to_query() and "b" not in ex.to_query()
    odd = ExplorerState(root=str(data_root))
    odd.apply_query({**query, "a": "9", "b": "x"})
    assert (odd.compare_a, odd.compare_b) == (0, 1) and odd.comparison is not None


def test_url_query_round_trip(data_root: Path):
    ex = ExplorerState(["a.h5", "multi.h5"], root=str(data_root), link=False, layout="tabs")
    a, m = ex.panes
    a.param.update(axis="y", cmap="gray", range_mode="fixed", vmin=0.01, vmax=0.2, scale="log")
    a.index = 7
    m.dataset = "/model/resistivity"
    m.param.update(axis="x", symmetric=True)
    query = ex.to_query()
    assert query["file"] == "a.h5" and query["axis"] == "y" and query["slice"] == "8"  # the number shown, 1 to n
    assert query["file2"] == "multi.h5" and query["dataset2"] == "/model/resistivity"
    again = ExplorerState(root=str(data_root))
    again.apply_query(query)
    assert again.to_query() == query
    a2, m2 = again.panes
    assert (a2.axis, a2.index, a2.cmap, a2.scale, a2.vmin, a2.vmax) == ("y", 7, "gray", "log", 0.01, 0.2)
    assert a2.readout == a.readout
    assert (m2.dataset, m2.axis, m2.symmetric) == ("/model/resistivity", "x", True)
    assert again.layout == "tabs" and again.link is False


def test_url_query_cannot_escape_root(data_root: Path):
    ex = ExplorerState(root=str(data_root))
    ex.apply_query({"file": "../outside/secret.h5", "slice": "2"})
    assert ex.panes == [] and "outside" in ex.message


def test_png_export_has_axes_and_colourbar(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    png = export.slice_png(s.data, ["#000000", "#ffffff"], s.clim, title=s.title, xlabel="x [m]",
                           ylabel="y [m]", clabel="sigma [S/m]")
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width > 500
    arr = np.asarray(img.convert("RGB"))
    assert (arr == 0).all(axis=2).sum() > 1000  # frame, ticks, text and the dark end of the image
    assert len(np.unique(arr.reshape(-1, 3), axis=0)) > 50  # a grey ramp, not a blank canvas


def test_png_export_says_where_the_slice_lies(data_root: Path):
    """The PNG's heading has two lines, the run and the slice's position, each cut to the picture's
    width (a long title pushed the position off the picture)."""
    s = SliceState(str(data_root / "a.h5"))

    def heading_rows(title):
        arr = np.asarray(Image.open(io.BytesIO(export.slice_png(s.data, ["#000000", "#ffffff"], s.clim,
                                                                  title=title))).convert("RGB"))
        ink = (arr < 128).all(axis=2)
        return arr.shape, {r for r in range(0, 60) if ink[r, 80:].any()}

    (h1, w1, _), one = heading_rows("run " * 60)
    (h2, w2, _), two = heading_rows("run " * 60 + "\n" + s.readout)
    assert w1 == w2 and h2 == h1 + 22  # the same picture, one line lower
    assert not one & set(range(30, 38))  # one line of heading, then the frame at row 39
    assert two & set(range(33, 50)) and not two & set(range(55, 60))  # a second line, then the frame at 61


def test_npy_and_csv_export(data_root: Path, tmp_path: Path):
    s = SliceState(str(data_root / "a.h5"))
    arr = np.load(io.BytesIO(export.slice_npy(s.data)))
    np.testing.assert_array_equal(arr, s.data.values)
    text = export.slice_csv(s.data).decode()
    lines = text.splitlines()
    assert lines[0] == "y,x,conductivity"
    assert len(lines) == 1 + NY * NX
    y, x, v = (float(t) for t in lines[1].split(","))
    assert (y, x) == (float(s.data.y[0]), pytest.approx(float(s.data.x[0])))
    assert v == pytest.approx(float(s.data.values[0, 0]), rel=1e-6)


def test_close_releases_the_file(data_root: Path):
    s = SliceState(str(data_root / "a.h5"))
    vol = s.volume
    s.close()
    assert vol.closed and s.volume is None
    assert os.path.exists(data_root / "a.h5")


def _loader_by_hand(ex: ExplorerState) -> tuple[list, list]:
    """A loader whose UI-thread callbacks (`pending`) and spinner delays (`delayed`) the test runs itself."""
    pending, delayed = [], []
    ex.loader = SliceLoader(pool=ThreadPoolExecutor(1), dispatch=pending.append, delay_loading=delayed.append)
    return pending, delayed


def _finish_reads(ex: ExplorerState, pending: list) -> None:
    deadline = time.monotonic() + 30
    while ex.loader._busy and time.monotonic() < deadline:
        if pending:
            pending.pop(0)()
        else:
            time.sleep(0.01)


def test_loading_flag_only_while_a_slow_read_is_pending(data_root: Path):
    ex = ExplorerState(["a.h5"], root=str(data_root))
    pane = ex.panes[0]
    pending, delayed = _loader_by_hand(ex)
    pane.index = 2
    assert len(delayed) == 1 and pane.loading is False
    delayed.pop()()  # the delay ran out while the read was still pending: show the spinner
    assert pane.loading is True
    _finish_reads(ex, pending)
    assert pane.loading is False
    assert pane.readout.endswith(f"(slice 3 of {NZ})")


def test_loading_delay_of_a_finished_read_does_not_flag_the_next_one(data_root: Path):
    """Steps a bit faster than the spinner's delay: the delay of step 1 runs out while step 2 is read.
    That read is not slow, so no spinner (it flickered on and off with every step)."""
    ex = ExplorerState(["a.h5"], root=str(data_root))
    pane = ex.panes[0]
    pending, delayed = _loader_by_hand(ex)
    pane.index = 2
    _finish_reads(ex, pending)
    pane.index = 3  # the next step is being read when the first step's delay runs out
    assert len(delayed) == 2 and ex.loader._busy
    delayed.pop(0)()
    assert pane.loading is False
    delayed.pop(0)()  # the running read's own delay does show it
    assert pane.loading is True
    _finish_reads(ex, pending)
    assert pane.loading is False and pane.readout.endswith(f"(slice 4 of {NZ})")


def test_a_pane_opened_while_linked_shows_the_slice_its_slider_names(data_root: Path):
    """A run opened next to linked panes takes their axis and slice; the slice it shows is that one,
    not the one it was opened at (the first slice used to be read before the pane joined)."""
    ex = ExplorerState(root=str(data_root), link=True)
    a = ex.open("a.h5", axis="y", index=2)
    b = ex.open("b.h5", axis="z", index=5)
    assert (b.axis, b.index) == ("y", 2)
    np.testing.assert_allclose(b.data.values, model(2)[:, 2, :], rtol=1e-6)
    assert b.readout == a.readout and b.readout.endswith(f"(slice 3 of {NY})")
    assert a.clim == b.clim


def test_open_in_the_background_shows_the_loading_state_then_the_slice(data_root: Path):
    """A file opened from the UI (`background=True`) is read by the loader: the pane exists at once,
    with its title and slider but no slice yet; the slice and the shared colour range come with the read."""
    ex = ExplorerState(["a.h5"], root=str(data_root), link=True)
    a = ex.panes[0]
    pending, delayed = _loader_by_hand(ex)
    b = ex.open("b.h5", background=True)
    assert b in ex.panes and b.error == "" and b.data is None and b.title.startswith("b.h5")
    assert b.index == a.index and len(delayed) == 1
    delayed.pop()()  # a slow read: the pane shows its loading state
    assert b.loading is True
    _finish_reads(ex, pending)
    assert b.loading is False and b.data is not None
    np.testing.assert_allclose(b.data.values, model(2)[a.index], rtol=1e-6)
    assert a.clim == b.clim and b.clim[1] >= float(model(2)[a.index].max()) - 1e-6
    # a file that cannot be opened says so at once and asks the loader for nothing
    bad = ex.open("bad/notes.h5", background=True)
    assert "is not an HDF5 file" in bad.error and not ex.loader._busy and pending == []


def test_csv_header_cannot_smuggle_formulas():
    import xarray as xr

    da = xr.DataArray(np.zeros((2, 2)), dims=("=y", "x,1"), coords={"=y": [0.0, 1.0], "x,1": [0.0, 1.0]},
                      name="=HYPERLINK(1)")
    header = export.slice_csv(da).decode().splitlines()[0]
    assert header == "'=y,x_1,'=HYPERLINK(1)"


def test_two_d_and_four_d_datasets(tmp_path: Path):
    from hpcdash.data import write_volume

    flat = np.arange(30, dtype=np.float32).reshape(5, 6)
    write_volume(tmp_path / "flat.h5", "/v", flat, {"y": np.arange(5.0), "x": np.arange(6.0)}, mode="w")
    s = SliceState(str(tmp_path / "flat.h5"))
    assert s.error == "" and s.axis is None and s.readout == ""
    np.testing.assert_array_equal(s.data.values, flat)
    cube = np.random.default_rng(0).random((3, 4, 5, 6)).astype(np.float32)
    write_volume(tmp_path / "nd.h5", "/v", cube, {d: np.arange(float(n)) for d, n in zip("tzyx", cube.shape, strict=True)},
                 mode="w")
    s = SliceState(str(tmp_path / "nd.h5"))
    assert s.param.axis.objects == ["t", "z", "y", "x"]
    # the slider scans the volume at the last time step
    assert (s.axis, s.index, s.held) == ("z", 2, {"t": 2})
    s.axis = "t"  # z, the axis until now, is held at the slice it showed
    assert s.held == {"z": 2} and s.index == 2
    s.axis = "z"
    s.held = {"t": 1}
    s.index = 2
    assert s.data.dims == ("y", "x")
    np.testing.assert_array_equal(s.data.values, cube[1, 2])


def test_close_pane_updates_query_and_comparison(data_root: Path):
    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root))
    ex.compare = "difference"
    assert ex.comparison is not None
    a, b = ex.panes
    ex.close_pane(a)
    assert ex.panes == [b] and a.volume is None
    assert ex.comparison is None and ex.comparison_error == "" and ex.compare == "none"
    q = ex.to_query()
    assert q["file"] == "b.h5" and "file2" not in q and "compare" not in q
    b.index = 1  # the remaining pane still reads
    assert b.readout.endswith("(slice 2 of 12)")


def test_external_link_out_of_root_is_refused(data_root: Path, tmp_path: Path):
    import h5py

    # a file inside the root whose dataset is an external link to a file outside it
    with h5py.File(data_root / "bad" / "sneaky.h5", "w") as f:
        f["model"] = h5py.ExternalLink(str(data_root.parent / "outside" / "secret.h5"), "/model/conductivity")
    ex = ExplorerState(["bad/sneaky.h5"], root=str(data_root))
    (pane,) = ex.panes
    assert pane.data is None and pane.error
    assert "contains no numeric dataset" in pane.error, pane.error  # the link is not offered at all
    from hpcdash.data import PathOutsideRootError

    with pytest.raises(PathOutsideRootError):  # the pane passes its root to the data layer
        SliceState(root=str(data_root))._open_volume(str(data_root / "bad" / "sneaky.h5"), "/model")
    # the same file opened without a root (notebook use on one's own files) may follow the link
    free = SliceState(str(data_root / "bad" / "sneaky.h5"))
    assert free.error == "" and free.data is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_slice_stats_summarise_the_finite_values(dtype):
    rng = np.random.default_rng(11)
    z = (rng.random((64, 48)) * 200 - 100).astype(dtype)
    if z.dtype.kind == "f":
        z[rng.random(z.shape) < 0.2] = np.nan
        z[3, 4], z[9, 1] = np.inf, -np.inf
    finite = z[np.isfinite(z)]
    stats = SliceStats.of(z[:, ::2])  # a strided view too
    part = z[:, ::2][np.isfinite(z[:, ::2])]
    assert stats == SliceStats(part.size, float(part.min()), float(part.max()), float(part[part > 0].min()))
    assert SliceStats.of(z).count == finite.size
    negative = -np.abs(z)
    assert np.isnan(SliceStats.of(negative).min_positive) and SliceStats.of(negative).hi <= 0
    assert SliceStats.of(np.full((4, 4), np.nan)) == SliceStats(0)
    assert SliceStats.of(np.zeros((0, 3))) == SliceStats(0)


def test_load_keeps_the_summary_taken_while_rasterizing(data_root: Path, monkeypatch):
    """A view that rasterizes in the reading thread hands the slice's summary over (one pass over the
    values, not two); without one, load takes its own."""
    from hpcdash.explorer.views import SliceParts, aggregate_slice

    s = SliceState(str(data_root / "a.h5"))
    s.index = s.index + 1

    def rasterize(result):
        z = np.asarray(result.data.values)
        agg = aggregate_slice(SliceParts(np.arange(z.shape[1]), np.arange(z.shape[0]), z, [], [], True),
                              None, None, z.shape[1] - 1, z.shape[0] - 1, with_stats=True)
        result.extra["stats"] = agg.stats

    calls = []
    own = SliceStats.of
    monkeypatch.setattr(SliceStats, "of", classmethod(lambda cls, data: calls.append(1) or own(data)))
    s.on_loaded = rasterize
    handed = s.load()
    assert calls == [] and handed.extra["stats"] == own(handed.data)
    s.on_loaded = None
    assert s.load().extra["stats"] == handed.extra["stats"] and calls == [1]


def test_reload_shows_what_a_job_wrote_and_keeps_the_view(tmp_path: Path):
    """After a job added a dataset to the open file, the pane says the file changed; a step opens it
    again (the new dataset listed) and so does Reload, with the same dataset, axis, slice and colours."""
    import subprocess
    import sys

    import hpcdash

    path = tmp_path / "inv.h5"
    hpcdash.write_volume(path, "/iter_01", model(1), grid(), mode="w")
    s = SliceState(str(path))
    s.param.update(axis="y", cmap="magma", scale="log")
    s.index = 3
    assert not s.check_changed() and not s.changed
    assert s.param.dataset.objects == ["/iter_01"]
    job = ("import sys, hpcdash\n"
           "from tests.ui.hdf5_files import grid, model\n"
           "hpcdash.write_volume(sys.argv[1], '/iter_02', model(2), grid(), mode='a')\n")
    done = subprocess.run([sys.executable, "-c", job, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-500:]
    assert s.check_changed() and s.changed and "Reload" in s.notice  # noticed before any read
    assert s.data is not None and s.error == ""                      # the shown slice stays
    s.index = 4  # a step: the file is opened again and the slice asked for read from it
    assert s.error == "" and not s.changed and "opened again" in s.notice and s.index == 4
    assert s.param.dataset.objects == ["/iter_01", "/iter_02"] and "slice 5 of" in s.readout
    np.testing.assert_allclose(s.data.values, model(1)[:, 4, :], rtol=1e-6)
    s.index = 3
    subprocess.run([sys.executable, "-c", job.replace("iter_02", "iter_03"), str(path)], check=True, timeout=120,
                   cwd=Path(__file__).resolve().parents[2])
    assert s.check_changed() and s.reload()
    assert s.error == "" and not s.changed and s.param.dataset.objects == ["/iter_01", "/iter_02", "/iter_03"]
    assert (s.dataset, s.axis, s.index, s.cmap, s.scale) == ("/iter_01", "y", 3, "magma", "log")
    np.testing.assert_allclose(s.data.values, model(1)[:, 3, :], rtol=1e-6)
    s.index = 4
    np.testing.assert_allclose(s.data.values, model(1)[:, 4, :], rtol=1e-6)


def test_reload_in_a_served_pane_reads_in_the_background(tmp_path: Path):
    """Reload asks the pane's loader for the slice (in a server: a reading thread, the loading
    indicator after a moment); the slice shown stays until the new one has been read."""
    import subprocess
    import sys

    import hpcdash

    path = tmp_path / "inv.h5"
    hpcdash.write_volume(path, "/iter_01", model(1), grid(), mode="w")
    ex = ExplorerState([path], root=str(tmp_path))
    pane = ex.panes[0]
    shown = pane.data
    job = ("import sys, h5py\n"
           "from tests.ui.hdf5_files import model\n"
           "i = int(sys.argv[2])\n"
           "with h5py.File(sys.argv[1], 'r+') as f:\n"
           "    f['/iter_01'][i] = model(2)[i]\n")  # a job rewrites the shown plane
    done = subprocess.run([sys.executable, "-c", job, str(path), str(pane.index)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-500:]
    pending, delayed = _loader_by_hand(ex)
    assert pane.reload()
    assert pane.data is shown and ex.loader._busy and len(delayed) == 1
    _finish_reads(ex, pending)
    assert pane.data is not shown and not pane.changed
    np.testing.assert_allclose(pane.data.values, model(2)[pane.index], rtol=1e-6)


def test_open_with_a_wait_shows_a_quick_read_at_once_and_leaves_a_slow_one_to_the_loader(data_root: Path,
                                                                                         monkeypatch):
    """`open(..., deadline=t)` (a new page): a slice read by `t` is shown before `open` returns; a
    slower one is shown by the loader when done, on the UI thread, exactly once."""
    ex = ExplorerState(root=str(data_root))
    pending, _ = _loader_by_hand(ex)
    quick = ex.open("a.h5", deadline=time.monotonic() + 30.0)
    assert quick.data is not None and pending == []
    release = threading.Event()
    real_load = SliceState.load

    def held_load(self, key=None):
        release.wait(30)
        return real_load(self, key)

    monkeypatch.setattr(SliceState, "load", held_load)
    t0 = time.monotonic()
    slow = ex.open("b.h5", deadline=time.monotonic() + 0.2)
    assert 0.15 <= time.monotonic() - t0 < 10
    assert slow.data is None and not slow.error  # the pane is there, its slice on the way
    release.set()
    _finish_reads(ex, pending)
    assert slow.data is not None and slow.readout.endswith(f"(slice {slow.index + 1} of {NZ})")
    assert pending == [] and ex.loader.batches == 2


def test_one_slice_number_in_readout_url_and_export_names(tmp_path: Path):
    """The page counts slices 1 to n: the readout, the URL and the export names say the same number
    (a file without coordinates reads "dim_0: slice 9 of 16", not "dim_0 = 8 (slice 9 of 16)")."""
    import h5py

    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f["v"] = np.random.default_rng(0).random((16, 5, 6))
    s = SliceState(str(tmp_path / "bare.h5"), root=str(tmp_path))
    s.index = 8
    assert s.readout == "dim_0: slice 9 of 16"
    assert s.to_query(root=str(tmp_path))["slice"] == "9"
    assert SliceState.settings_from_query({"slice": "9"})["index"] == 8
    assert SliceState.settings_from_query({"slice": "0"})["index"] == 0  # clamped, not the last slice
    assert s.export_stem() == "bare_dim_09"
    odd = tmp_path / "run 1 <b>.h5"
    (tmp_path / "bare.h5").rename(odd)
    assert SliceState(str(odd), root=str(tmp_path)).export_stem() == "run-1-b_dim_09"


def test_titles_name_first_what_tells_the_open_runs_apart(tmp_path: Path):
    """Runs of one sweep share most attributes: the one swept comes first in every title, and the
    runs' bookkeeping (host, process, timings) never does."""
    import hpcdash

    for i, x in enumerate((-100.0, 100.0)):
        hpcdash.write_volume(tmp_path / f"run_{i:03d}.h5", "/dc/potential", model(i), grid(), mode="w",
                             attrs={"block_depth": 40.0, "block_size": 60.0, "block_separation": 120.0,
                                    "source_x": x, "pid": 1000 + i, "solve_seconds": 0.3 + i})
    ex = ExplorerState(root=str(tmp_path))
    ex.open("run_000.h5")
    assert ex.panes[0].title == "run_000.h5 · /dc/potential · block_depth=40.0 · block_separation=120.0 · block_size=60.0"
    ex.open("run_001.h5")
    assert [p.title for p in ex.panes] == [
        "run_000.h5 · /dc/potential · source_x=-100.0 · block_depth=40.0 · block_separation=120.0",
        "run_001.h5 · /dc/potential · source_x=100.0 · block_depth=40.0 · block_separation=120.0"]
    ex.close_pane(ex.panes[1])
    assert ex.panes[0].title.startswith("run_000.h5 · /dc/potential · block_depth=40.0")


def test_a_dimension_neither_normal_nor_in_the_plane_is_named_in_the_readout(tmp_path: Path):
    import h5py

    with h5py.File(tmp_path / "fourd.h5", "w") as f:
        f["v"] = np.arange(3 * 4 * 5 * 6, dtype=np.float32).reshape(3, 4, 5, 6)
    s = SliceState(str(tmp_path / "fourd.h5"), root=str(tmp_path), axis="dim_0", held={"dim_1": 0})
    assert s.axis == "dim_0" and s.data.dims == ("dim_2", "dim_3")
    assert s.readout == "dim_0: slice 2 of 3 · dim_1: slice 1 of 4"
    np.testing.assert_array_equal(s.data.values, np.arange(360, dtype=np.float32).reshape(3, 4, 5, 6)[1, 0])
    s.axis = "dim_3"  # dim_0 is held now, at the slice it showed
    assert s.readout.endswith(" · dim_0: slice 2 of 3")


def test_link_moves_runs_on_other_meshes_to_the_same_place(tmp_path: Path):
    """Linked panes follow a slice by place, not by number: a run whose z cells are twice as fine
    goes to the cell nearest the depth the leading pane shows; runs on the same grid share the index."""
    import hpcdash

    coarse = grid()
    fine = {**grid(nz=2 * NZ), "z": -np.arange(2 * NZ, dtype=float) * 12.5 - 6.25}
    hpcdash.write_volume(tmp_path / "coarse.h5", "/m", model(1), coarse, mode="w")
    hpcdash.write_volume(tmp_path / "twin.h5", "/m", model(2), coarse, mode="w")
    hpcdash.write_volume(tmp_path / "fine.h5", "/m", model(3, shape=(2 * NZ, NY, NX)), fine, mode="w")
    ex = ExplorerState(["coarse.h5", "twin.h5", "fine.h5"], root=str(tmp_path), link=True)
    lead, twin, other = ex.panes
    for i in (2, 7, NZ - 1):
        lead.index = i
        assert twin.index == i
        depth = coarse["z"][i]
        assert other.index == int(np.abs(fine["z"] - depth).argmin())
        assert abs(fine["z"][other.index] - depth) <= 6.25
    other.index = 0  # the finer run leads: the others go to the cell nearest its depth
    assert lead.index == twin.index == 0


def test_slice_positions_read_in_one_format():
    from hpcdash.explorer.state import _fmt_position

    assert [_fmt_position(v) for v in (-635.0, -1764.98, 12.5, 0.0, -95.04, 0.00123, 2.5e6)] == [
        "-635.0", "-1765.0", "12.5", "0.0", "-95.0", "0.00123", "2.5e+06"]


def test_opening_a_file_twice_is_said(data_root: Path):
    ex = ExplorerState(root=str(data_root))
    ex.open("a.h5")
    ex.open("b.h5")
    assert ex.message == ""
    ex.open("a.h5")
    assert len(ex.panes) == 3 and ex.message == "a.h5 was already open in pane 1; pane 3 shows it too."


def test_a_link_to_a_dataset_the_file_cannot_show_says_why_and_what_it_shows(tmp_path: Path):
    """A shared link names a dataset that was renamed, is a dangling link or leads out of the root:
    the pane shows the file's default dataset, and the page says why, in the data layer's words."""
    import h5py

    (tmp_path / "outside").mkdir()
    with h5py.File(tmp_path / "outside" / "secret.h5", "w") as f:
        f["data"] = np.zeros((3, 4, 5))
    root = tmp_path / "root"
    root.mkdir()
    with h5py.File(root / "links.h5", "w") as f:
        f["real"] = np.random.default_rng(0).random((4, 5, 6))
        f["soft"] = h5py.SoftLink("/real")
        f["dangling"] = h5py.SoftLink("/nope")
        f["ext"] = h5py.ExternalLink(str(tmp_path / "outside" / "secret.h5"), "/data")
    cases = {"/dangling": "'/dangling' in 'links.h5' is a link to '/nope', which does not exist.",
             "/ext": "goes through an external link to a file outside the allowed folder",
             "/renamed": "There is no dataset '/renamed' in 'links.h5'."}
    for asked, why in cases.items():
        ex = ExplorerState(root=str(root))
        ex.apply_query({"file": "links.h5", "dataset": asked})
        assert ex.panes[0].dataset == "/real" and ex.panes[0].data is not None
        assert why in ex.message and ex.message.endswith("links.h5 shows /real instead."), ex.message
    ex = ExplorerState(root=str(root))  # another name of the dataset shown: nothing to say
    ex.apply_query({"file": "links.h5", "dataset": "/soft", "file2": "links.h5", "dataset2": "/nope"})
    assert [p.dataset for p in ex.panes] == ["/real", "/real"]
    assert "There is no dataset '/nope'" in ex.message and "soft" not in ex.message


def test_reload_refuses_a_file_that_became_a_symlink_out_of_the_root(tmp_path: Path):
    """A file shown, then replaced by a symlink to a file outside the root: Reload says it is outside,
    as a new page does, and never opens it."""
    import h5py

    (tmp_path / "outside").mkdir()
    root = tmp_path / "root"
    root.mkdir()
    for path in (root / "run.h5", tmp_path / "outside" / "secret.h5"):
        with h5py.File(path, "w") as f:
            f["data"] = np.ones((3, 4, 5))
    ex = ExplorerState(["run.h5"], root=str(root))
    pane = ex.panes[0]
    assert pane.data is not None and not pane.error
    (root / "run.h5").unlink()
    (root / "run.h5").symlink_to(tmp_path / "outside" / "secret.h5")
    assert not pane.reload()
    assert pane.error == "'run.h5' is outside the root folder." and pane.data is None and pane.volume is None


def _repoint(link: Path, target: str) -> None:
    """Point the symlink `link` at `target` atomically, as a job that wrote new results does."""
    tmp = link.with_name(link.name + ".new")
    tmp.symlink_to(target)
    os.replace(tmp, link)


def test_a_symlink_is_kept_by_its_name_and_reload_follows_it_when_re_pointed(tmp_path: Path):
    """latest.h5 -> run_0042.h5, re-pointed by a job to run_0043.h5: the pane opened from the link (a
    URL, the Path field) keeps the link's name in its file, title and URL; the re-pointed link is a
    changed file (noticed, Reload asked for), and Reload opens the link again: the new run, at the same
    slice, the URL still naming the link."""
    from hpcdash.explorer.views import FileBrowser
    from tests.ui.hdf5_files import write_run

    root = tmp_path / "root"
    root.mkdir()
    write_run(root / "run_0042.h5", 1, 10.0)
    write_run(root / "run_0043.h5", 2, 100.0)
    link = root / "latest.h5"
    link.symlink_to("run_0042.h5")
    real = root.resolve()
    ex = ExplorerState(root=str(root))
    ex.apply_query({"file": "sub/../latest.h5", "axis": "y", "slice": "4"})
    fb = FileBrowser(ex)
    fb._open_path("latest.h5")
    for pane in ex.panes:
        assert pane.error == "" and pane.file == str(real / "latest.h5")
        assert pane.target == str(real / "run_0042.h5") and pane.opened_as == pane.file
        assert pane.title.startswith("latest.h5 → run_0042.h5 · /model/conductivity · beta=10.0")
    pane = ex.panes[0]
    np.testing.assert_allclose(pane.data.values, model(1)[:, 3, :], rtol=1e-6)
    assert ex.to_query()["file"] == "latest.h5" and ex.to_query()["file2"] == "latest.h5"
    assert ex.to_query(targets=True)["file"] == "run_0042.h5"

    _repoint(link, "run_0043.h5")
    assert pane.check_changed() and pane.changed
    assert pane.notice == ("latest.h5 now leads to run_0043.h5 (it led to run_0042.h5 when opened): "
                           "Reload opens it.")
    assert pane.reload()
    assert pane.error == "" and not pane.changed and pane.target == str(real / "run_0043.h5")
    assert pane.title.startswith("latest.h5 → run_0043.h5 · /model/conductivity · beta=100.0")
    assert (pane.axis, pane.index) == ("y", 3)
    np.testing.assert_allclose(pane.data.values, model(2)[:, 3, :], rtol=1e-6)
    assert ex.to_query()["file"] == "latest.h5" and ex.to_query(targets=True)["file"] == "run_0043.h5"

    # a step on the other pane, still showing run_0042.h5: it opens the link again, and says so
    other = ex.panes[1]
    other.index = other.index + 1
    assert other.target == str(real / "run_0043.h5") and other.error == ""
    assert other.notice.startswith("latest.h5 now leads to run_0043.h5: opened again")

    # re-pointed out of the root: refused on Reload, as a new page refuses it
    write_run(tmp_path / "secret.h5", 3, 1.0)
    _repoint(link, str(tmp_path / "secret.h5"))
    assert pane.check_changed()
    assert not pane.reload()
    assert pane.error == "'latest.h5' is outside the root folder." and pane.volume is None and pane.target == ""
    ex.open("latest.h5")
    assert ex.message == "'latest.h5' is outside the root folder." and len(ex.panes) == 2


def test_a_link_opens_at_most_max_panes_and_says_so(tmp_path: Path):
    from hpcdash.explorer.state import MAX_PANES_FROM_LINK
    from tests.ui.hdf5_files import write_run

    write_run(tmp_path / "a.h5", 1, 1.0)
    n = MAX_PANES_FROM_LINK + 3
    query = {"file" if k == 0 else f"file{k + 1}": "a.h5" for k in range(n)}
    ex = ExplorerState(root=str(tmp_path))
    ex.apply_query(query)
    assert len(ex.panes) == MAX_PANES_FROM_LINK
    assert f"This link names 3 more files: a page opens the first {MAX_PANES_FROM_LINK}" in ex.message
