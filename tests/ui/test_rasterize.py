"""The explorer's rasterizing: what reaches the browser is Datashader's picture at canvas size."""

from __future__ import annotations

import dataclasses

import datashader as ds
import numpy as np
import pytest
import xarray as xr

from hpcdash.explorer.views import SliceParts, aggregate_slice


def _raster(z, x, y, agg):
    """What Canvas.raster draws for the same canvas and ranges."""
    h, w = agg.values.shape
    da = xr.DataArray(z, coords={"y": y, "x": x}, dims=("y", "x"), name="v")
    cvs = ds.Canvas(plot_width=w, plot_height=h, x_range=agg.x_range, y_range=agg.y_range)
    return cvs.raster(da, upsample_method="nearest", downsample_method="mean").values.astype(np.float32)


@pytest.mark.parametrize("ny,nx,width,height", [(512, 512, 480, 480), (100, 300, 600, 450), (64, 64, 600, 450),
                                                (1024, 1024, 600, 450), (513, 257, 480, 333), (37, 50, 20, 30)])
def test_whole_slice_in_view_matches_canvas_raster(ny, nx, width, height):
    rng = np.random.default_rng(ny + nx)
    z = rng.random((ny, nx)).astype(np.float32)
    z[rng.random(z.shape) < 0.05] = np.nan
    x, y = -50 + 2.5 * np.arange(nx), 10 + 0.5 * np.arange(ny)
    agg = aggregate_slice(SliceParts(x, y, z, [], [], True), None, None, width, height)
    assert agg.values.shape == (min(height, ny), min(width, nx))  # never more pixels than canvas or cells
    # the same pixels; sums in another order may differ in the last bit
    np.testing.assert_allclose(agg.values, _raster(z, x, y, agg), rtol=1e-6, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_whole_slice_mean_is_datashaders_mean(dtype):
    """Our separable kernel against Datashader's resample_2d: NaN and inf skipped, empty footprints
    NaN, strided views, other dtypes through Datashader itself."""
    from datashader.resampling import resample_2d

    from hpcdash.explorer.views import whole_slice_mean

    rng = np.random.default_rng(3)
    z = (rng.random((301, 517)) * 1000).astype(dtype)
    if z.dtype.kind == "f":
        z[rng.random(z.shape) < 0.1] = np.nan
        z[:40] = np.nan  # whole output rows without a finite value
        z[7, 9], z[100, 3] = np.inf, -np.inf
    for src in (z, z[:, ::2], z[::-1]):
        for h, w in ((123, 200), (src.shape[0], 97), (40, src.shape[1]), (1, 1)):
            ours = whole_slice_mean(src, w, h)
            theirs = resample_2d(src, w, h, ds_method="mean", us_method="nearest", fill_value=np.nan)
            assert ours.shape == (h, w)
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_whole_slice_mean_brings_the_slices_summary(dtype):
    """The summary taken on the resampling pass is the one SliceStats.of takes on a pass of its own:
    NaN and inf left out, every source row counted once (also rows shared by two output rows),
    nothing finite at all, no positive value."""
    from hpcdash.explorer.state import SliceStats
    from hpcdash.explorer.views import whole_slice_mean_stats

    rng = np.random.default_rng(11)
    z = (rng.random((301, 517)) - 0.5).astype(dtype)
    z[rng.random(z.shape) < 0.1] = np.nan
    z[7, 9], z[100, 3] = np.inf, -np.inf
    cases = [z, z[:, ::2], z[::-1], np.full((50, 60), np.nan, dtype), -np.abs(z)]
    for src in cases:
        rows, cols = src.shape
        for h, w in ((min(123, rows - 1), min(200, cols)), (rows - 1, cols), (40, cols), (1, 1)):
            values, stats = whole_slice_mean_stats(src, w, h)
            assert values.shape == (h, w)
            expected = SliceStats.of(src)
            # field by field, NaN (no such value) equal to NaN
            np.testing.assert_equal(dataclasses.astuple(stats), dataclasses.astuple(expected))
    # nothing to resample (the canvas is the slice): no pass, no summary
    assert whole_slice_mean_stats(z, z.shape[1], z.shape[0])[1] is None
    # not asked for: no summary (the pixels are the same)
    values, stats = whole_slice_mean_stats(z, 200, 123, with_stats=False)
    assert stats is None and np.array_equal(values, whole_slice_mean_stats(z, 200, 123)[0], equal_nan=True)


def test_zoomed_and_descending_views_match_canvas_raster():
    rng = np.random.default_rng(5)
    z = rng.random((200, 300)).astype(np.float32)
    x, y = np.arange(300.0), np.arange(200.0)
    zoomed = aggregate_slice(SliceParts(x, y, z, [], [], True), (40.2, 160.7), (10.0, 90.5), 400, 300)
    np.testing.assert_array_equal(zoomed.values, _raster(z, x, y, zoomed))
    # descending axes (depth, latitude): the picture's first row is the bottom of the plot, as ever
    for xs, ys, zs in ((x, y[::-1], z[::-1]), (x[::-1], y, z[:, ::-1]), (x[::-1], y[::-1], z[::-1, ::-1])):
        flipped = aggregate_slice(SliceParts(xs, ys, zs, [], [], True), None, None, 150, 100)
        np.testing.assert_array_equal(flipped.values, _raster(z, x, y, flipped))
        assert flipped.x_range[0] < flipped.x_range[1] and flipped.y_range[0] < flipped.y_range[1]
        nonuniform = aggregate_slice(SliceParts(xs, ys, zs, [], [], False), None, None, 150, 100)
        np.testing.assert_allclose(nonuniform.values, aggregate_slice(SliceParts(x, y, z, [], [], False), None, None,
                                                                      150, 100).values, rtol=1e-6)


@pytest.fixture
def small_run(tmp_path) -> str:
    """An 8 x 40 x 50 volume on index coordinates, as ``write_volume`` writes it."""
    import hpcdash

    path = tmp_path / "run.h5"
    hpcdash.write_volume(path, "model", np.random.default_rng(0).random((8, 40, 50), dtype=np.float32),
                         coords={"z": np.arange(8.0), "y": np.arange(40.0), "x": np.arange(50.0)})
    return str(path)


def test_a_new_plot_rasterizes_its_first_slice_once(small_run, monkeypatch):
    """HoloViews re-runs a DynamicMap with a RangeXY stream right after its first frame (its default
    xlim counts as set); the pane's hook drops that re-run, so a new page rasterizes once."""
    import panel as pn

    import hpcdash
    from hpcdash.explorer import views

    calls = []
    original = views.rasterize_slice
    monkeypatch.setattr(views, "rasterize_slice", lambda *a, **k: calls.append(a[1:]) or original(*a, **k))
    explorer = hpcdash.SliceExplorer(small_run)
    pn.panel(explorer).get_root()
    assert calls == [(None, None, None, None)]
    # later range changes still rasterize: a zoom draws the new range
    view = explorer.view.view_for(explorer.state.panes[0])
    view._range.event(x_range=(10.0, 20.0), y_range=(5.0, 15.0))
    assert calls[1:] == [((10.0, 20.0), (5.0, 15.0), None, None)]


def test_plot_keeps_the_panes_layout_after_holoviews_updates(small_run):
    """HoloViews computes "scale_both" for a responsive plot with an aspect and sets it on its first
    update after the browser reports the plot size; in the pane's column that squashes the plot to its
    minimum height. The figure keeps the pane's layout through such updates."""
    import panel as pn
    from bokeh.models import Plot

    import hpcdash
    from hpcdash.explorer.views import PLOT_MIN_HEIGHT

    explorer = hpcdash.SliceExplorer(small_run)
    root = pn.panel(explorer).get_root()
    (fig,) = root.select({"type": Plot})
    view = explorer.view.view_for(explorer.state.panes[0])
    aspect = fig.aspect_ratio
    assert aspect and (fig.sizing_mode, fig.min_height) == ("stretch_width", PLOT_MIN_HEIGHT)
    view._size.event(width=600, height=450)  # what the browser sends once it has laid the plot out
    assert (fig.sizing_mode, fig.min_height, fig.aspect_ratio) == ("stretch_width", PLOT_MIN_HEIGHT, aspect)


def test_labels_from_the_file_reach_bokeh_as_plain_text(tmp_path):
    """Units and names in a file are text, not TeX: the labels BokehJS draws carry no TeX delimiter
    (BokehJS would typeset them, and pages carry no MathJax), yet read as the file wrote them."""
    import panel as pn
    from bokeh.models import Axis, ColorBar

    import hpcdash

    path = tmp_path / "tex.h5"
    hpcdash.write_volume(path, "model", np.random.default_rng(0).random((4, 6, 8), dtype=np.float32),
                         coords={"z": np.arange(4.0), "y": np.arange(6.0), "x": np.arange(8.0)},
                         units="$$\\sigma$$", long_name="rho \\(x\\) \\[y\\]",
                         coord_units={"z": "m", "y": "m", "x": "$$m$$"})
    root = pn.panel(hpcdash.SliceExplorer(str(path))).get_root()
    labels = [a.axis_label for a in root.select({"type": Axis})] + [c.title for c in root.select({"type": ColorBar})]
    assert len(labels) == 3, labels
    for label in labels:
        assert not any(d in label for d in ("$$", "\\[", "\\(")), label
    shown = sorted(label.replace("\u200b", "") for label in labels)
    assert shown == sorted(["x ($$m$$)", "y (m)", "rho \\(x\\) \\[y\\] [$$\\sigma$$]"]), shown


def test_a_dimension_of_one_cell_is_drawn_as_a_strip_of_its_cell(tmp_path):
    """A single layer stored as (1, ny, nx): cut across y or x, the slice has one row; it is drawn as a
    strip spanning the layer's cell (its CF bounds), with the values of the row (Datashader's quadmesh
    needed two centres per axis: the page was blank)."""
    import h5py
    import panel as pn
    from bokeh.models import GlyphRenderer

    import hpcdash
    from hpcdash.explorer.state import SliceState
    from hpcdash.explorer.views import SliceView, slice_parts

    layer = np.random.default_rng(3).random((1, 30, 40), dtype=np.float32)
    path = tmp_path / "layer.h5"
    hpcdash.write_volume(path, "/sigma", layer, coords={"z": np.array([-5.0]), "y": 10.0 * np.arange(30),
                                                         "x": 10.0 * np.arange(40)}, mode="w")
    with h5py.File(path, "a") as f:  # the layer is 10 m thick: -10 to 0
        f["z_bounds"] = np.array([[-10.0, 0.0]])
        f["z"].attrs["bounds"] = "z_bounds"
    for axis, row in (("y", layer[0, 16]), ("x", layer[0, :, 21])):
        s = SliceState(str(path), root=str(tmp_path), axis=axis, index=16 if axis == "y" else 21)
        assert s.error == "" and s.data.shape == (1, row.size)
        agg = aggregate_slice(slice_parts(s.data, s))
        assert agg.y_range == (-10.0, 0.0)
        np.testing.assert_allclose(agg.values[0], row, rtol=1e-6)
        np.testing.assert_allclose(agg.values[-1], row, rtol=1e-6)
        root = pn.panel(SliceView(s)).get_root()
        assert root.select_one({"type": GlyphRenderer}) is not None


def test_closed_sessions_leave_their_panes_to_the_garbage_collector(small_run):
    """HoloViews keeps every drawn element's options, plot hooks included, in a global table until the
    element is collected; a hook holding its view kept the view, its pane state (open file, shown
    slice) and the element alive for good, so every closed session of a server stayed in memory.
    A real server here, with Bokeh's discarding of unused sessions shortened to a fraction of a second."""
    import gc
    import os
    import time
    from concurrent.futures import ThreadPoolExecutor

    import panel as pn
    from bokeh.client import pull_session

    from hpcdash.app import create_app
    from hpcdash.benchmarks.driver import free_port
    from hpcdash.explorer.state import SliceState

    def alive() -> int:
        gc.collect()
        return sum(isinstance(o, SliceState) and o.file == small_run for o in gc.get_objects())

    root, name = os.path.split(small_run)
    port = free_port()
    server = pn.serve({"/": lambda: create_app([name], root)}, port=port, address="127.0.0.1", show=False,
                      threaded=True, verbose=False, websocket_origin=[f"127.0.0.1:{port}"],
                      check_unused_sessions_milliseconds=200, unused_session_lifetime_milliseconds=200)
    def open_and_close() -> None:
        # in a thread of its own: the client runs an event loop, and other tests may leave one
        # running in this thread
        deadline = time.monotonic() + 60
        while True:  # the server thread needs a moment to listen
            try:
                sessions = [pull_session(url=f"http://127.0.0.1:{port}/") for _ in range(3)]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        opened.append(alive())
        for session in sessions:
            session.close()

    opened: list[int] = []
    try:
        with ThreadPoolExecutor(1) as client:
            client.submit(open_and_close).result(timeout=120)
        assert opened and opened[0] >= 3  # each session had its pane
        deadline = time.monotonic() + 30  # released within ~2 s here
        while alive() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert alive() == 0
    finally:
        server.stop()
        server.join(timeout=30)  # the server's loop shut down and closed here, not during a later test
