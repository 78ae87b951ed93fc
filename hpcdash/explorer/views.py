"""Panel / HoloViews views of the explorer state (presentation only).

`SliceView` draws one `SliceState`: controls, title, readout, messages, the datashaded slice and the
export buttons. `ExplorerView` lays out many panes (grid or tabs), the link / compare controls, the
difference view, the root-restricted file browser and the URL sync. All reading happens in the state
layer; views only render what it produced.
"""

from __future__ import annotations

import html
import itertools
import os
import re
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import ClassVar, NamedTuple
from urllib.parse import urlencode

import holoviews as hv
import numpy as np
import panel as pn
import param
import xarray as xr
from bokeh.models import CustomJS, WheelZoomTool
from holoviews.plotting.util import process_cmap
from panel.io.state import set_curdoc
from panel.models import HTML as PanelHTML

from hpcdash.access import AccessibleColumn, when_page_ready
from hpcdash.data.paths import HDF5_SUFFIXES
from hpcdash.panes import HTML, Markdown, labelled_checkbox
from hpcdash.sessions import held, in_session, next_tick, run_on
from hpcdash.tabs import KeyboardTabs, KeyboardTabsHost

from . import export
from .state import DIVERGING_CMAP, ExplorerState, SliceLoader, SliceState, SliceStats, escape

#: Worker threads shared by all sessions for slice reads (a resource, not state: each session has its
#: own loader and queue).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hpcdash-slice")
#: Tallest plot (CSS pixels): a slice, its controls and the page header fit a laptop screen, and the
#: browser colour-maps no more pixels than are seen at once.
MAX_PLOT_HEIGHT = 560
#: Lowest plot (CSS pixels); the box standing in for a pane's first plot is as tall.
PLOT_MIN_HEIGHT = 250
#: the dashed lines of a slice's crosshair (the profile's point) and of a profile's mark (the slice shown)
MARK_STYLE = {"line_color": "#d62728", "line_dash": "dashed", "line_width": 1.5}


def add_mark(plot, name: str, dimension: str, location: float | None, visible: bool = True):
    """A dashed line across `plot`'s figure (a Bokeh Span named `name`: "height" a vertical one),
    added to it and returned; the browser tests find the marks by name."""
    from bokeh.models import Span

    mark = Span(location=location, dimension=dimension, visible=visible, name=name, **MARK_STYLE)
    plot.state.add_layout(mark)
    return mark
#: How long the slider rests before its position is written to the URL.
URL_DELAY_MS = 400
#: How often a served page checks whether its panes' files changed on disk and whether the file
#: browser's folder has new entries (one stat each).
CHANGE_CHECK_MS = 3000
#: Width of a plot outside its frame: the y axis, the colour bar and its labels.
PLOT_MARGIN_WIDTH = 170
_CSS_FILE = Path(__file__).resolve().parents[1] / "assets" / "hpcdash.css"
#: Our stylesheet, given to components (Panel renders each one in its own shadow root).
STYLESHEETS = [_CSS_FILE.read_text()] if _CSS_FILE.exists() else []
#: two panes a row where both get at least PANE_MIN_WIDTH px, else one: narrower panes would run into
#: each other (their controls keep their widths). A CSS grid on the panes' Column (see _panes_body).
PANE_MIN_WIDTH = 460
_PANE_GRID_CSS = (
    ":host { display: grid !important; grid-template-columns: repeat(auto-fit, minmax(min(100%, max("
    f"{PANE_MIN_WIDTH}px, calc(50% - 10px))), 1fr)) !important; grid-auto-flow: row !important; }}"
    # Panel's Column draws a scroll button (unused here) among its children: it took a cell of the grid
    " :host > .scroll-button { display: none !important; }")

#: Sets a figure's aspect ratio (outer width / outer height) so that its frame has the data's aspect:
#: width w and height w * ratio, the axes, toolbar and colour bar keeping their size around it.
_EQUAL_ASPECT = """
const w = fig.inner_width, h = fig.inner_height, W = fig.outer_width, H = fig.outer_height;
if (!(w > 0 && h > 0 && W > 0 && H > 0) || !fig.aspect_ratio) return;
const want = W / (w * ratio + (H - h));
if (Math.abs(want - fig.aspect_ratio) > 0.01 * fig.aspect_ratio) fig.aspect_ratio = want;
"""

_EMPTY_HELP = """
### No file open yet

Choose an HDF5 file in the **file browser** in the sidebar (it lists files under `{root}`), or type a path
relative to that folder and press **Open**. Each file opens in its own pane; open several to compare runs
side by side, then use **Link** to move them together and **Compare** for a difference or ratio view.

Other ways in: a link such as `?file=run1.h5&file=run2.h5` opens files directly; in JupyterLab, double-click
an `.h5` file in its file browser; on a machine of your own, `hpcdash serve run1.h5 run2.h5 --root {root}`
from a shell, and `hpcdash demo` writes demo runs to try it with.
"""


def message_pane(kind: str = "warning") -> pn.pane.HTML:
    """A hidden message box ("danger" or "warning") for escaped plain text: set ``object`` and ``visible``.

    Plain HTML styled by our stylesheet, not ``pn.pane.Alert``: that one is Markdown, and parsing
    Markdown (importing its parser on first use) is not needed for one escaped sentence.
    """
    return HTML("", css_classes=["hpcdash-alert", f"hpcdash-alert-{kind}"], visible=False,
                sizing_mode="stretch_width", stylesheets=STYLESHEETS)


def _palette(cmap: str) -> list[str]:
    return process_cmap(cmap, 256)


def plain_text(text: str | None) -> str | None:
    """``text`` (a name or unit read from a file) as plain text for Bokeh to draw: BokehJS reads
    ``$$...$$``, ``\\[...\\]`` and ``\\(...\\)`` in axis and colour-bar labels as TeX. A zero-width space
    breaks the opening delimiter, so the label shows what the file says and nothing in it is typeset
    (pages carry no MathJax, and a file's text is not markup)."""
    if not text:
        return text
    return re.sub(r"\\(?=[(\[])", "\\\\\u200b", re.sub(r"\$(?=\$)", "$\u200b", text))


def _dim(name: str, label: str, unit: str | None) -> hv.Dimension:
    return hv.Dimension(name, label=plain_text(label), unit=plain_text(unit) or None)


class SliceParts(NamedTuple):
    """What a plot needs from one 2-D slice: centres, values (rows = y), dimensions, geometry."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    kdims: list
    vdims: list
    uniform: bool


def shared_names(pane: SliceState, lead: SliceState) -> dict[str, str]:
    """The dimensions of `pane` that `lead` names otherwise (its counterparts, see
    `SliceState.dims_for`), each with lead's name: plots that share zoom and pan draw them under it, as
    Panel links the ranges of plots whose axes have the same dimension name, label and unit."""
    if pane is lead:
        return {}
    return {mine: theirs for theirs, mine in pane.dims_for(lead).items() if mine != theirs}


def _plot_dims(xdim: str, ydim: str, units: dict, names: dict[str, str]) -> tuple[list, dict]:
    """A slice plot's key dimensions, under the `names` (see `shared_names`) of the dims renamed, and
    the options that label its axes and hover with the slice's own names then."""
    kdims = [_dim(names.get(d, d), names.get(d, d), units.get(d)) for d in (xdim, ydim)]
    if not any(d in names for d in (xdim, ydim)):
        return kdims, {}
    own = [_dim(d, d, units.get(d)).pprint_label for d in (xdim, ydim)]
    return kdims, {"xlabel": own[0], "ylabel": own[1]}


def slice_parts(data, state: SliceState, names: dict[str, str] | None = None) -> SliceParts:
    """Coordinates, values and dimensions (with units) of the pane's current slice; `names`: dims
    drawn under another name (see `shared_names`)."""
    vol = state.volume
    if data is None or vol is None:
        return SliceParts(np.arange(2.0), np.arange(2.0), np.full((2, 2), np.nan, np.float32),
                          [_dim("x", "x", None), _dim("y", "y", None)], ["value"], True)
    ydim, xdim = data.dims
    cu = getattr(vol, "coord_units", {}) or {}
    kdims, _ = _plot_dims(str(xdim), str(ydim), cu, names or {})
    x, y, z, uniform = _slice_arrays(data, vol)
    return SliceParts(x, y, z, kdims, [_value_dim(vol)], uniform)


def _value_dim(vol) -> hv.Dimension:
    """The dimension of a volume's values: its long name (else the dataset's) and units."""
    return _dim("value", str(vol.long_name or str(vol.name).rsplit("/", 1)[-1]), vol.units)


def _slice_arrays(data, vol) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """x and y cell centres, the values (rows = y) and whether both axes are uniform."""
    ydim, xdim = data.dims
    x, y = (np.asarray(data.indexes[d] if d in data.indexes else data[d].values, dtype=float) for d in (xdim, ydim))
    z = np.asarray(data.values, dtype=np.float32)
    uniform = all(_is_uniform(vol, d, c) for d, c in ((xdim, x), (ydim, y)))
    # a dimension of one cell (a single layer cut across): two half cells spanning it, as Datashader
    # needs two centres on each axis
    if x.size == 1:
        x, z = _halves(x, _cell_edges(vol, xdim, x)), np.repeat(z, 2, axis=1)
    if y.size == 1:
        y, z = _halves(y, _cell_edges(vol, ydim, y)), np.repeat(z, 2, axis=0)
    return x, y, z, uniform


def _cell_edges(vol, dim, c: np.ndarray) -> tuple[float, float]:
    """The edges of the one cell of `dim` (CF bounds where the file gives them), else half a unit either side."""
    try:
        lo, hi = (float(v) for v in vol.edges(dim)[:2])
    except Exception:  # noqa: BLE001 - a dimension the volume has no coordinates for
        lo, hi = float(c[0]) - 0.5, float(c[0]) + 0.5
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) and hi != lo else (float(c[0]) - 0.5, float(c[0]) + 0.5)


def _halves(c: np.ndarray, edges: tuple[float, float]) -> np.ndarray:
    lo, hi = sorted(edges)
    return np.array([lo + (hi - lo) / 4, hi - (hi - lo) / 4])


def ascending(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slice with both axes' cell centres ascending (views, no copy). Files often store depth or
    latitude descending; Datashader keeps that order in its picture, whose first row the plot draws
    at the bottom: a descending axis came out mirrored."""
    if x.size > 1 and x[-1] < x[0]:
        x, z = x[::-1], z[:, ::-1]
    if y.size > 1 and y[-1] < y[0]:
        y, z = y[::-1], z[::-1]
    return x, y, z

#: Columns of the Bokeh image source HoloViews draws an hv.Image with (what _push_frame replaces).
_IMAGE_KEYS = {"image", "x", "y", "dw", "dh"}
#: ... plus the colour range that comes with the pixels (see _RANGE_WITH_PIXELS).
_RANGE_KEYS = {"low", "high"}

#: Runs in the browser when the image source gets new data, before the image is drawn: takes the colour
#: range sent along with the pixels into the colour mapper without an event of its own. BokehJS maps the
#: whole image to colours again on every mapper change, so setting low, high and the pixels one after the
#: other cost three colour-mapping passes per slice; this way it is one, and the colour bar follows the
#: mapper's new metrics as usual.
_RANGE_WITH_PIXELS = """
const d = cb_obj.data
if (d.low != null && d.low.length) {
  mapper.setv({low: d.low[0], high: d.high[0]}, {silent: true})
  // The mapper draws with a cached copy of its range, refreshed on change events, which a silent set
  // does not send: without a refresh each image and colour bar took the previous slice's range.
  if (typeof mapper.update_data === "function") mapper.update_data()
  else mapper.change.emit()
}
"""


def _served_image(plot) -> bool:
    """True for a HoloViews image plot on a Bokeh server whose source and colour mapper can be set."""
    source = plot.handles.get("source")
    return (getattr(plot, "comm", None) is None and source is not None
            and set(source.data) in (_IMAGE_KEYS, _IMAGE_KEYS | _RANGE_KEYS)
            and plot.handles.get("color_mapper") is not None)


def _quiet_settable(mapper) -> bool:
    return isinstance(getattr(mapper, "_property_values", None), dict)


def _set_range_quietly(mapper, low: float, high: float) -> None:
    """Keep the server's copy of the colour mapper in step with what the browser got with the pixels,
    without sending it again (Bokeh's stored property values)."""
    mapper._property_values["low"], mapper._property_values["high"] = float(low), float(high)


#: Canvas size used before the browser has reported the plot's size (and in notebooks' static output).
DEFAULT_CANVAS = (600, 450)


class Aggregate(NamedTuple):
    """A slice resampled onto the canvas: pixel values (rows = y, bottom row first) and the ranges;
    ``stats``: the finite-value summary of the whole slice when it was taken on the same pass."""

    values: np.ndarray
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    stats: SliceStats | None = None


def aggregate_slice(p: SliceParts, x_range=None, y_range=None, width=None, height=None,
                    with_stats: bool = False) -> Aggregate:
    """Datashader aggregate of a slice on a canvas of the plot's pixel size over the visible range, so
    what reaches the browser is bounded by the canvas, never by the slice. Uniform axes are resampled
    with ``Canvas.raster``; non-uniform ones (tensor meshes with padding) with ``Canvas.quadmesh``."""
    import datashader as ds

    p = p._replace(**dict(zip("xyz", ascending(p.x, p.y, p.z), strict=True)))
    x0, x1 = _extent(p.x)
    y0, y1 = _extent(p.y)
    xr_ = (float(x_range[0]), float(x_range[1])) if x_range and np.all(np.isfinite(x_range)) else (x0, x1)
    yr_ = (float(y_range[0]), float(y_range[1])) if y_range and np.all(np.isfinite(y_range)) else (y0, y1)
    # never more pixels than cells in view: a 64 x 64 slice stays 64 x 64 on a big canvas
    w = max(2, min(int(width or DEFAULT_CANVAS[0]), _cells_in(p.x, xr_)))
    h = max(2, min(int(height or DEFAULT_CANVAS[1]), _cells_in(p.y, yr_)))
    if p.uniform and _whole(p.x, xr_, (x0, x1)) and _whole(p.y, yr_, (y0, y1)):
        # the whole slice in view: the same pixels as Canvas.raster, without building and labelling
        # xarray objects (equality with Canvas.raster is tested); with_stats: the slice's summary too
        values, stats = whole_slice_mean_stats(p.z, w, h, with_stats)
        return Aggregate(np.asarray(values, np.float32), xr_, yr_, stats)
    da = xr.DataArray(p.z, coords={"y": p.y, "x": p.x}, dims=("y", "x"), name="v")
    cvs = ds.Canvas(plot_width=w, plot_height=h, x_range=xr_, y_range=yr_)
    if p.uniform:
        agg = cvs.raster(da, upsample_method="nearest", downsample_method="mean")
    else:
        agg = cvs.quadmesh(da, x="x", y="y", agg=ds.mean("v"))
    return Aggregate(np.asarray(agg.values, np.float32), xr_, yr_)


def whole_slice_mean(z, w: int, h: int) -> np.ndarray:
    """The pixels of :func:`whole_slice_mean_stats` alone."""
    return whole_slice_mean_stats(z, w, h, with_stats=False)[0]


def whole_slice_mean_stats(z, w: int, h: int, with_stats: bool = True) -> tuple[np.ndarray, SliceStats | None]:
    """The whole slice ``z`` resampled onto ``h x w`` pixels (each no more than the slice's cells) by
    area-weighted mean of its finite values: Datashader's ``resample_2d(z, w, h, ds_method="mean")``;
    and, when asked for and our kernel ran, the summary of the slice's finite values taken on the same
    pass (else None).

    Float slices go through a separable kernel of our own (``_slice_kernels``; the same values to
    float rounding, tested). Datashader's kernel is built with ``parallel=True``, so one pane already
    takes both cores of a small machine, and linked panes resampling at once queue behind each other;
    ours runs on one core without the GIL and sums each source row once (512^2 -> 480^2 on 2 cores:
    one slice 1.5 ms against 2.2, four at once 3.4 ms against 9.5).
    """
    z = np.asarray(z)
    if z.shape == (h, w):
        return z, None
    if z.dtype in (np.float32, np.float64) and h <= z.shape[0] and w <= z.shape[1]:
        from ._slice_kernels import downsample_mean_summary

        values, summary = downsample_mean_summary(z, h, w, np.nan, with_stats)
        return values, SliceStats.from_summary(*summary) if with_stats else None
    from datashader.resampling import resample_2d

    return resample_2d(z, w, h, ds_method="mean", us_method="nearest", fill_value=np.nan), None


def rasterize_slice(p: SliceParts, x_range=None, y_range=None, width=None, height=None) -> hv.Image:
    """The slice as an ``hv.Image`` at canvas resolution (see :func:`aggregate_slice`).

    This calls Datashader directly rather than through HoloViews' generic ``rasterize`` operation:
    for one 2-D slice the result is the same ``hv.Image``, at about a third of the server time.
    """
    agg = aggregate_slice(p, x_range, y_range, width, height)
    h, w = agg.values.shape
    (x0, x1), (y0, y1) = agg.x_range, agg.y_range
    xs = x0 + (np.arange(w) + 0.5) * ((x1 - x0) / w)  # pixel centres; row 0 of the values is the bottom
    ys = y0 + (np.arange(h) + 0.5) * ((y1 - y0) / h)
    return hv.Image((xs, ys, agg.values), kdims=p.kdims, vdims=p.vdims)


def _extent(c: np.ndarray) -> tuple[float, float]:
    """Outer cell edges from cell centres (half a cell beyond the first and last centre)."""
    if c.size < 2:
        v = float(c[0]) if c.size else 0.0
        return v - 0.5, v + 0.5
    lo, hi = (c[0], c[-1]) if c[-1] >= c[0] else (c[-1], c[0])
    d0 = abs(c[1] - c[0]) / 2
    d1 = abs(c[-1] - c[-2]) / 2
    return float(lo - d0), float(hi + d1)


def _whole(c: np.ndarray, view: tuple[float, float], extent: tuple[float, float]) -> bool:
    """True if ``view`` is the whole ``extent`` of ascending cell centres ``c`` (to rounding)."""
    tol = 1e-9 * (extent[1] - extent[0])
    return (c.size > 1 and c[1] > c[0] and abs(view[0] - extent[0]) <= tol and abs(view[1] - extent[1]) <= tol)


def _cells_in(c: np.ndarray, rng: tuple[float, float]) -> int:
    lo, hi = min(rng), max(rng)
    return int(np.count_nonzero((c >= lo) & (c <= hi))) or 1


def link_axes_of(pane: pn.pane.HoloViews) -> None:
    """Join the ranges of `pane`'s plot to those of the other linked plots (same axes) on every page
    showing it. Panel links axes when a page is built or a pane changes, but inside a template it does
    so on the template's stand-in root, under which a plot drawn later (a file opened from the browser,
    Compare chosen afterwards) is not registered: that plot kept ranges of its own. A page whose
    websocket is not open yet gets the new plot on its next tick: the ranges are joined after it.

    The ranges are joined under a hold (`held`): a served page then gets the panes' new ranges after
    the message that brings the new plot and defines them (Panel may still hold that message back
    while the websocket is busy; sent straight away, the change reached the page first, which failed
    with "reference ... isn't known")."""
    from panel.io.state import state
    from panel.pane.holoviews import link_axes

    def join(view, root, doc) -> None:
        with set_curdoc(doc), held(doc):
            link_axes(view, root)

    for ref in list(pane._models):
        entry = state._views.get(ref)
        if entry is None:
            continue
        view, root, doc, comm = entry[:4]
        # as Panel decides whether the plot is drawn now or scheduled (`PaneBase._update_pane`)
        if comm or not doc.session_context:
            link_axes(view, root)
        elif state._unblocked(doc):
            join(view, root, doc)
        else:
            with set_curdoc(doc):
                state.execute(partial(join, view, root, doc), schedule=True)


def weak_hook(method: Callable) -> Callable:
    """A HoloViews plot hook that calls the bound ``method`` while its object lives, without keeping it
    alive. HoloViews keeps an element's options (hooks included) in a global table until the element
    is garbage collected (``Store._custom_options``); a hook bound to the view that draws the element
    kept the view, its state (open file, shown slice) and the element itself alive for good: every
    closed session stayed in memory."""
    ref = weakref.WeakMethod(method)

    def hook(plot, element) -> None:
        bound = ref()
        if bound is not None:
            bound(plot, element)

    return hook


def skip_first_range_rerun(plot, element=None) -> None:
    """A plot hook: drop the re-run of a DynamicMap that HoloViews queues right after its first frame.

    A plot with a ``RangeXY`` stream queues that stream for one more trigger once the first frame is
    drawn whenever ``xlim or ylim`` is set, and their default ``(nan, nan)`` counts as set
    (``GenericElementPlot.get_extents``). The re-run rasterizes the whole slice again at the same size
    and pushes it through the plot's update: the same picture, ~70 ms of a new session's page. Our
    frames are rasterized to the whole extent when the range is None, so there is nothing to redo.
    (The re-run also hid a layout problem, now fixed where the plot options are set: see the
    ``plot.sizing_mode`` backend option in ``SliceView._build_plot``.)
    """
    queued = getattr(plot, "_trigger", None)
    if isinstance(queued, list) and not getattr(plot, "drawn", True):
        queued[:] = [s for s in queued if not isinstance(s, hv.streams.RangeXY)]


def style_image(img: hv.Image, cmap: str, clim: tuple[float, float], scale: str) -> hv.Image:
    """Colour options of one frame; log colour only when the whole range is positive."""
    lo, hi = clim
    log = scale == "log" and lo > 0 and hi > 0
    return img.opts(cmap=_palette(cmap), clim=(lo, hi), logz=log)


def _is_uniform(vol, dim, coords) -> bool:
    try:
        return bool(vol.is_uniform(dim))
    except Exception:  # noqa: BLE001
        d = np.diff(coords)
        return d.size == 0 or bool(np.allclose(d, d[0], rtol=1e-6))


def navigation_tools() -> dict:
    """Plot options for zoom and pan, for one plot (a Bokeh tool belongs to one figure). The mouse wheel
    scrolls the page, as everywhere else on it; with Ctrl held it zooms (a page of several panes was
    otherwise zoomed instead of scrolled whenever the pointer crossed a plot). Zooming and panning stop
    at the data's extent."""
    # maintain_focus off: a zoom out that reaches the data's edge on one side goes on to the other
    # edges (on, it stopped short of the whole slice whenever the pointer was off-centre)
    wheel = WheelZoomTool(modifiers={"ctrl": True}, maintain_focus=False)
    return dict(default_tools=["pan", wheel, "box_zoom", "save", "reset"], active_tools=["pan", "wheel_zoom"])


def bound_to_data(plot, element=None, extent: tuple | None = None) -> None:
    """Plot hook: zoom and pan stop at `extent` (x0, x1, y0, y1), the whole slice; by default the
    ranges of the plot's first drawing (a new file or normal axis draws a new plot). HoloViews'
    `apply_hard_bounds` takes the bounds from each drawn element, which here is the rasterized view:
    after a zoom in, the view could not be left."""
    ranges = (plot.state.x_range, plot.state.y_range)
    for i, r in enumerate(ranges):
        lo, hi = (extent[2 * i], extent[2 * i + 1]) if extent is not None else (r.start, r.end)
        if r.bounds is None and all(isinstance(v, (int, float)) and np.isfinite(v) for v in (lo, hi)):
            r.bounds = (min(lo, hi), max(lo, hi))


def whole_extent(p: SliceParts) -> tuple[float, float, float, float]:
    """The whole slice plane of `p`, (x0, x1, y0, y1) to the outer cell edges, as drawn."""
    x, y, _ = ascending(p.x, p.y, p.z)  # as aggregate_slice draws it
    return (*_extent(x), *_extent(y))


def data_aspect(data, same_units: bool) -> float | None:
    """Height over width of a 2-D slice (rows = y) in its coordinates, drawn true to shape when its
    axes share their units (`same_units`); None otherwise, or for a shape too extreme to draw so (the
    plot keeps a readable 4:3 then)."""
    if data is None or not same_units:
        return None
    ydim, xdim = data.dims
    x, y = np.asarray(data[xdim].values, float), np.asarray(data[ydim].values, float)
    if x.size < 2 or y.size < 2:
        return None
    ratio = (np.ptp(y) or 1) / (np.ptp(x) or 1)
    return ratio if 0.2 <= ratio <= 5 else None


def responsive_opts(aspect: float | None) -> dict:
    """Plot options of a slice drawn as wide as its pane: the height follows the width, by the data's
    `aspect` (see `data_aspect`; None: 4:3), at least PLOT_MIN_HEIGHT and at most MAX_PLOT_HEIGHT tall."""
    ratio = (1 / aspect) if aspect is not None else 4 / 3
    return dict(
        responsive=True, aspect=ratio, min_height=PLOT_MIN_HEIGHT,
        # the height follows the width (aspect): cap the width so the plot is at most MAX_PLOT_HEIGHT tall
        max_width=int(MAX_PLOT_HEIGHT * ratio) + PLOT_MARGIN_WIDTH,
        backend_opts={
            # 2-D canvas, not WebGL: one image glyph gains nothing from WebGL, and without a GPU
            # (headless or remote desktops) WebGL is emulated in software: every update ~60 ms slower
            "plot.output_backend": "canvas",
            # The figure keeps the layout the pane gives it (full width, height from the aspect).
            # HoloViews computes "scale_both" for responsive + aspect and sets it again on its first
            # update after the browser reports the plot size: a scale_both figure grows from a zero
            # height in the pane's flex column, i.e. stays squashed at its minimum height (a browser
            # test checks the aspect).
            "plot.sizing_mode": "stretch_width",
        })


def keep_true_to_shape(fig, aspect: float | None, whole: tuple[float, float, float, float] | None) -> None:
    """Keep the frame of a figure drawn with `responsive_opts` true to shape: height over width `aspect`,
    of the `whole` slice (cell edges) where given rather than of its cell centres. Nothing for None."""
    if aspect is not None and whole is not None:
        spans = whole[1] - whole[0], whole[3] - whole[2]
        if spans[0] > 0 and spans[1] > 0:
            aspect = spans[1] / spans[0]
    if aspect is not None and not any(getattr(cb, "name", None) == "hpcdash-equal-aspect"
                                      for cb in fig.js_property_callbacks.get("change:inner_width", [])):
        # The figure's aspect ratio counts its axes, toolbar and colour bar, so the frame
        # itself came out taller than the data (1.3 times for a square slice in a 450 px pane).
        # Once the browser has laid the figure out, its aspect is set so that the frame
        # shows one metre as long across as up.
        fit = CustomJS(name="hpcdash-equal-aspect", args={"fig": fig, "ratio": aspect}, code=_EQUAL_ASPECT)
        fig.js_on_change("inner_width", fit)
        fig.js_on_change("inner_height", fit)


#: The slider handle's ``aria-valuetext``, what a screen reader announces, as the whole slice number
#: ("65", where noUiSlider's default formats "65.00"). Bound once per drawn slider (noUiSlider fires
#: an "update" listener when it is bound, and after its own ARIA listener on every move); a later call
#: returns at once while the slider it bound is still on the page.
_ARIA_WHOLE_NUMBER = """
const bound = slider.__hpcdash_aria
if (bound != null && bound.target != null && bound.target.isConnected)
  return
const view = Bokeh.index.find_one(slider)
const ui = view == null ? null : view._noUiSlider
if (ui == null)
  return
slider.__hpcdash_aria = ui
// the handle's accessible name: the slider's label ("Slice", a held dimension's name)
view.slider_el.querySelectorAll(".noUi-handle").forEach((h) => h.setAttribute("aria-label", slider.title || "Slice"))
ui.on("update.hpcdash-aria", (values, i, unencoded) => {
  const handles = view.slider_el.querySelectorAll(".noUi-handle")
  handles.forEach((h, k) => h.setAttribute("aria-valuetext", String(Math.round(unencoded[k]))))
})
"""

#: When the page is ready: every slice slider drawn, then those of panes added later (their views are
#: built after the layout's children change, without a change of their own to run the hook above).
_ARIA_ALL_SLIDERS = ("const bind_all = () => {\n"
                     "for (const v of Bokeh.index.query((v) => v._noUiSlider != null && "
                     "v.model.css_classes.some((c) => c == 'hpcdash-slice' || c == 'hpcdash-held'))) {\n"
                     "  const slider = v.model\n" + _ARIA_WHOLE_NUMBER.replace("return", "continue") + "}}\n"
                     """bind_all()
for (const doc of Bokeh.documents ?? []) {
  if (doc.__hpcdash_aria)
    continue
  doc.__hpcdash_aria = true
  doc.on_change((event) => {
    if (event.attr === "children" || event.attr === "objects" || event.attr === "tabs")
      for (const ms of [100, 500, 2000])
        setTimeout(bind_all, ms)
  })
}
""")


def whole_slice_numbers(doc) -> None:
    """Once a page (`doc`): when it is ready, the slice sliders announce whole numbers (see
    ``_ARIA_WHOLE_NUMBER``), those drawn with it and those added later."""
    if doc is not None and not getattr(doc, "_hpcdash_aria", False):
        doc._hpcdash_aria = True
        doc.js_on_event("document_ready", CustomJS(code=_ARIA_ALL_SLIDERS))


class SliceSlider(pn.widgets.IntSlider):
    """The "Slice" slider. A move is handled at once, not after Panel's 50 ms window for batching
    browser events (a key press should show its slice as soon as it can). Its moves do not count
    as page-wide busy work (the page has no busy indicator; the pane shows its own loading state),
    which saves Panel's busy bookkeeping on every step."""

    _priority_changes: ClassVar[list[str]] = ["value"]
    _busy__ignore: ClassVar[list[str]] = ["value", "value_throttled"]

    # Its value is the slice number the page shows, 1 to n (index + 1), as the readout and the URL
    # say: the handle's ARIA value, which a screen reader announces, is that number too.
    def fit(self, first: int, last: int, index: int) -> None:
        """Range of indices first..last (two positions at least: a slider needs end > start), at `index`."""
        self.param.update(start=first + 1, end=max(last, first + 1) + 1, value=index + 1)

    def _get_model(self, doc, root=None, parent=None, comm=None):
        model = super()._get_model(doc, root, parent, comm)
        # on the first change of the slider and when the page is ready (a pane drawn later binds it
        # on its first move or new range)
        hook = CustomJS(args={"slider": model}, code=_ARIA_WHOLE_NUMBER)
        for prop in ("value", "start", "end"):
            model.js_on_change(prop, hook)
        whole_slice_numbers(doc)
        return model

    @property
    def index(self) -> int:
        """The index of the slice number shown."""
        return int(self.value) - 1

    def show(self, index: int) -> None:
        """Move the handle to `index`."""
        if self.value != index + 1:
            self.value = index + 1

    def _update_properties(self, *events, doc):
        # Panel's version works out the design's stylesheets for every change and uses them only when
        # the stylesheets themselves change; a value update (a linked pane's slider follows the one
        # moved) costs a fraction without that.
        if any(e.name == "stylesheets" for e in events):
            return super()._update_properties(*events, doc=doc)
        return self._process_param_change({e.name: e.new for e in events})

    @property
    def _linked_properties(self) -> tuple[str, ...]:
        # `value_throttled` (sent after every key press or drag end) is not listened to: nothing here
        # uses it, and handling it cost the UI thread several ms in the middle of the reads of a step.
        # With Panel's throttled mode on, `value` follows it, so it is kept then.
        props = super()._linked_properties
        return props if pn.config.throttled else tuple(p for p in props if p != "value_throttled")


class ReadoutText(pn.widgets.StaticText):
    """Read-only text (escaped HTML) drawn with Panel's HTML model instead of a Bokeh Div.

    A new text in a Bokeh Div makes BokehJS lay out the whole page again (every plot measures its axes
    and tick labels: ~20 ms of each slider step in chromium); Panel's HTML model only replaces the
    element's content. Unlike Panel's HTML pane, an update sends only the new text.
    """

    _widget_type: ClassVar[type] = PanelHTML

    def _process_param_change(self, params):
        props = super()._process_param_change(params)
        if "text" in props:  # the model's text is sent HTML-escaped and decoded in the browser
            props["text"] = html.escape(props["text"])
        props.setdefault("run_scripts", False)
        return props

    def show(self, value: str) -> None:
        """Set the text. On a Bokeh server it goes straight into the drawn models: Panel's update path
        works out the design's style modifiers on every change (about 1 ms a pane and step, on the
        thread that linked panes' images wait for)."""
        models = [model for model, _ in self._models.values()]
        served = models and all(m.document is not None and m.document.session_context is not None for m in models)
        if not served:
            self.value = value
            return
        with param.parameterized.discard_events(self):
            self.value = value
        text = self._process_param_change({"value": value})["text"]  # what Panel's update would send
        for model in models:
            model.text = text


class ExportButtons(pn.viewable.Viewer):
    """The PNG, .npy and .csv download buttons of one picture (a pane's slice, the comparison).

    Each writes what is on screen, ``data()`` (a 2-D xarray.DataArray, or None when nothing is), to
    ``"<stem()>.<format>"``: the PNG with ``png(data)``, the values with their coordinates with
    `export.slice_npy` / `export.slice_csv`; then ``record(format, filename, payload)`` notes it.
    """

    FORMATS: ClassVar[dict[str, str]] = {"png": "PNG", "npy": ".npy", "csv": ".csv"}

    def __init__(self, data: Callable[[], object], stem: Callable[[], str], png: Callable[[object], bytes] | None,
                 record: Callable[[str, str, bytes], None], formats: tuple[str, ...] = ("png", "npy", "csv"),
                 **params):
        """`formats`: the buttons offered, of `FORMATS` (no PNG: `png` may be None)."""
        super().__init__(**params)
        self._data, self._stem, self._png, self._record = data, stem, png, record
        self.buttons = {kind: pn.widgets.FileDownload(callback=partial(self._download, kind), filename=f"slice.{kind}",
                                                      label=self.FORMATS[kind], color="default", width=80, embed=False)
                        for kind in formats}
        #: the buttons in a row (a layout: hidden and shown with its `visible`)
        self.row = pn.Row(HTML("Export:", margin=(12, 5)), *self.buttons.values(),
                          css_classes=["hpcdash-export"])

    def __panel__(self):
        return self.row

    def enable(self, on: bool) -> None:
        """Offer the downloads (True) or grey them out (widgets that do not change send nothing)."""
        for w in self.buttons.values():
            if w.disabled == on:
                w.disabled = not on

    def _download(self, kind: str):
        import io

        data = self._data()
        if data is None:
            return None
        widget = self.buttons[kind]
        widget.filename = f"{self._stem()}.{kind}"
        writers = {"png": self._png, "npy": export.slice_npy, "csv": export.slice_csv}
        payload = writers[kind](data)
        self._record(kind, widget.filename, payload)
        return io.BytesIO(payload)


_PANE_NUMBERS = itertools.count(1)

#: Scrolls the page to the pane whose CSS class `cb_obj.value` names, once its view is drawn (a pane
#: just added is drawn a moment after the layout changed).
_REVEAL_PANE = """
const want = cb_obj.value
if (!want)
  return
let tries = 0
const go = () => {
  const v = Bokeh.index.query_one((v) => v.model.css_classes != null && v.model.css_classes.includes(want))
  if (v != null && v.el.isConnected && v.el.getBoundingClientRect().height > 0) {
    v.el.scrollIntoView({behavior: "smooth", block: "start"})
    return
  }
  if (++tries < 30)
    setTimeout(go, 100)
}
setTimeout(go, 50)
"""


#: The slice slider's least width beside the readout (narrower, the readout goes under it)
SLIDER_MIN_WIDTH = 260


def watch_panes(watched: dict, panes: list[SliceState], watch: Callable[[SliceState], list]) -> None:
    """Keep `watched` ({id(pane): (pane, its watchers)}) in step with `panes`: the watchers of panes
    closed are removed, and `watch(pane)` (returning the watchers it added) is called for new ones."""
    live = {id(p) for p in panes}
    for key in [k for k in watched if k not in live]:
        pane, watchers = watched.pop(key)
        for w in watchers:
            pane.param.unwatch(w)
    for p in panes:
        if id(p) not in watched:
            watched[id(p)] = (p, watch(p))


def probe_point_on(pane: SliceState | None, data) -> tuple[float, float] | None:
    """Where `pane`'s profile point lies on the 2-D `data` drawn (x, y: the centre of its cell), or None
    without one."""
    if pane is None or not pane.probe or data is None:
        return None
    ydim, xdim = data.dims
    at = pane.probe_indices()
    if not isinstance(at, dict) or not {xdim, ydim} <= set(at):
        return None
    return tuple(float(data[d].values[at[d]]) for d in (xdim, ydim))


class _Crosshair:
    """A dashed crosshair on a drawn plane (`plot_pane`) at the point a profile runs through
    (`_probe_xy`), hidden while there is none; `_mark_probe_at_render` is called from a plot hook."""

    _probe_marks: list
    plot_pane: pn.pane.HoloViews

    def _probe_xy(self) -> tuple[float, float] | None:
        raise NotImplementedError

    def _mark_probe_at_render(self, plot) -> None:
        # HoloViews runs the hook again at each redraw of the same figure: its crosshair is made once
        if any(getattr(r, "name", None) == "hpcdash-probe" for r in plot.state.center):
            return
        at = self._probe_xy()
        for i, dimension in enumerate(("height", "width")):
            self._probe_marks.append(add_mark(plot, "hpcdash-probe", dimension, at[i] if at else 0.0,
                                              visible=at is not None))

    def _on_probe(self, *events) -> None:
        if self._probe_marks:  # Bokeh models: in the document's next tick (see `next_tick`)
            next_tick(self._move_probe_marks, shown_by=self.plot_pane)

    def _move_probe_marks(self) -> None:
        at = self._probe_xy()
        for i, mark in enumerate(self._probe_marks):
            mark.update(visible=at is not None, **({"location": at[i % 2]} if at else {}))


class _MarkedPlot(pn.viewable.Viewer):
    """A plot along one dimension (`plot_pane`, drawn by `_element`; another pane, `_drawn_in`) with the
    place on show marked by a dashed line across it (`_position`; each drawn plot's hook calls
    `_mark_at_render`), which follows the slider (`_on_index`, watched by the subclass)."""

    def _element(self) -> hv.Element:
        raise NotImplementedError

    def _position(self) -> float | None:
        raise NotImplementedError

    def _mark_at_render(self, plot, element) -> None:
        self._marks.append(add_mark(plot, "hpcdash-mark", "width" if plot.invert_axes else "height",
                                    self._position()))

    def _on_index(self, *events) -> None:
        if not self._marks or all(mark.location == self._position() for mark in self._marks):
            return
        next_tick(self._move_marks, shown_by=self._drawn_in())  # Bokeh models (see `next_tick`)

    def _drawn_in(self) -> pn.viewable.Viewable:
        """The Panel object drawn with the marked plot (a notebook's changes are pushed through it)."""
        return self.plot_pane

    def _move_marks(self) -> None:
        pos = self._position()
        if pos is None:
            return
        for mark in self._marks:
            if mark.location != pos:
                mark.location = pos


class SliceView(_Crosshair, pn.viewable.Viewer):
    """One pane: title, controls, readout, messages, datashaded slice, export."""

    state = param.ClassSelector(class_=SliceState)
    linked = param.Boolean(default=False, doc="Share zoom and pan with other linked panes (same axis labels and units).")
    names = param.Dict(default={}, doc="With `linked`: the dimensions drawn under the first pane's name of "
                                       "them (see `shared_names`), so that counterparts named otherwise "
                                       "share zoom and pan; axes and hover keep this pane's names.")
    on_close = param.Callable(default=None, doc="When given, a Close button in the title row calls it.")

    def __init__(self, state: SliceState, **params):
        super().__init__(state=state, **params)
        s = state
        #: a CSS class naming this pane on the page (to bring it into view)
        self.anchor = f"hpcdash-pane-{next(_PANE_NUMBERS)}"
        self.dataset_w = pn.widgets.Select.from_param(s.param.dataset, label="Dataset", width=215, css_classes=["hpcdash-dataset"])
        self.axis_w = pn.widgets.Select.from_param(s.param.axis, label="Normal axis", width=100, css_classes=["hpcdash-axis"])
        # the slider shows slice numbers 1 to n, like the readout ("slice 65 of 128"); linked to
        # `index` by hand rather than with from_param: a linked pane's slider follows a move in
        # one plain value change (Panel's generic link updates and re-triggers the widget, and each
        # costs param a pass over the widget's ~40 parameters: ~3 ms a pane on the UI thread)
        self.slice_w = SliceSlider(label="Slice", sizing_mode="stretch_width", css_classes=["hpcdash-slice"])
        self._fit_slider()
        self.slice_w.param.watch(self._on_slider, "value")
        s.param.watch(self._on_index, "index")
        s.param.watch(self._fit_slider, "index", what="bounds")
        # data of more than 3 dims: one slider per held dimension, labelled with its name (empty otherwise)
        self.held_w: dict[str, SliceSlider] = {}
        self._held_sizes: dict[str, int] = {}
        self.held_row = pn.Row(sizing_mode="stretch_width", margin=0, css_classes=["hpcdash-held-row"],
                               visible=False)
        self._sync_held()
        s.param.watch(self._sync_held, ["held", "axis", "dataset", "file"])
        # complex values (frequency-domain fields): amplitude, phase, real or imaginary part
        self.part_w = pn.widgets.Select.from_param(s.param.part, label="Complex part", width=110,
                                                   css_classes=["hpcdash-part"], visible=s.is_complex)
        self.cmap_w = pn.widgets.Select.from_param(s.param.cmap, label="Colormap", width=110, css_classes=["hpcdash-cmap"])
        self.scale_w = pn.widgets.RadioButtonGroup.from_param(s.param.scale, label="Colour scale", width=120, css_classes=["hpcdash-scale"])
        self.sym_w = labelled_checkbox(s, "symmetric", "Symmetric about zero", width=155, margin=(5, 5, 11, 5))
        self.range_w = pn.widgets.Select.from_param(s.param.range_mode, label="Colour range", width=110, css_classes=["hpcdash-range"])
        self.vmin_w = pn.widgets.FloatInput.from_param(s.param.vmin, label="Min", width=100)
        self.vmax_w = pn.widgets.FloatInput.from_param(s.param.vmax, label="Max", width=100)
        # at most two lines, cut with an ellipsis where the pane is narrow; the whole title on hover
        self.title_pane = HTML("", css_classes=["hpcdash-title", "hpcdash-two-lines"],
                               sizing_mode="stretch_width", stylesheets=STYLESHEETS)
        # not an HTML pane: its update sends every property, and a new text in a Bokeh Div lays the
        # whole page out again (a few ms per pane and slice)
        self.readout_pane = ReadoutText(value="", css_classes=["hpcdash-readout"], stylesheets=STYLESHEETS)
        self.error_pane = message_pane("danger")
        self.notice_pane = message_pane("warning")
        # min_height: a plot squeezed by its aspect stays tall enough to read and to carry the loading indicator
        self.plot_pane = pn.pane.HoloViews(None, linked_axes=True, css_classes=["hpcdash-plot"],
                                           sizing_mode="stretch_width", min_height=PLOT_MIN_HEIGHT)
        # before a pane's first slice there is no plot to draw: this says what is happening instead
        # (and carries the loading indicator); it stands where the plot will be
        self.placeholder = HTML("", css_classes=["hpcdash-placeholder"], sizing_mode="stretch_width",
                                min_height=PLOT_MIN_HEIGHT, visible=False, stylesheets=STYLESHEETS)
        # the plot is shown and hidden through a box of its own: a layout parameter set on a HoloViews
        # pane that has drawn a plot reaches the inner Bokeh pane, which copies the figure's stylesheet
        # models into a list of strings and fails (Panel 1.9), so the pane's parameters are never touched
        self.plot_box = pn.Column(self.plot_pane, self.placeholder, sizing_mode="stretch_width", margin=0)
        self.exports = ExportButtons(data=lambda: state.data, stem=state.export_stem, png=self._png,
                                     record=state.exported)
        from .profile import HistoryView, ProfileView

        # a click on the slice: the values along the normal axis through that point, under the slice
        self.profile_view = ProfileView(state)
        # a run that kept its misfit (and more) per iteration: those figures against the iterations
        self.history_view = HistoryView(state)
        self._tap = None
        self._plot_key = None
        self._streams: list[hv.streams.Params] = []
        self._probe_marks: list = []  # the crosshair (two Bokeh Spans) at the profile's point, per drawn plot
        self._range = self._size = None
        self._range_hooks: dict[int, CustomJS] = {}  # image source id -> its colour-range hook
        state.on_loaded = self._prepare_frame
        self._sync_text()
        self._sync_plot()
        s.param.watch(self._on_text, ["title", "readout", "error", "notice", "range_mode", "datasets_info",
                                      "is_complex"])
        s.param.watch(self._on_structure, ["file", "dataset", "data", "clim", "scale"])
        s.param.watch(self._on_probe, ["probe"])
        s.param.watch(self._on_loading, ["loading"])
        s.param.watch(self._sync_exports, ["data"])
        self.param.watch(self._on_link, ["linked", "names"])
        self.reload_w = pn.widgets.Button(label="Reload", width=75, color="default", css_classes=["hpcdash-reload"],
                                          description="Open the file again: shows what a running job wrote since")
        self.reload_w.on_click(lambda event: self.state.reload())
        s.param.watch(self._on_changed, "changed")
        # a running job's file: each step it writes comes into view by itself (checked with the others)
        self.follow_w = labelled_checkbox(s, "follow", "Follow", width=80, css_classes=["hpcdash-follow"],
                                          margin=(12, 5, 5, 5))
        header = [self.title_pane, self.follow_w, self.reload_w]
        if self.on_close is not None:
            self.close_w = pn.widgets.Button(label="Close", width=70, color="default", css_classes=["hpcdash-close"])
            self.close_w.on_click(lambda event: self.on_close())
            header.append(self.close_w)
        # the settings flow into as many lines as the pane's width needs (one on a wide pane), so the
        # slice stands as high on the screen as it can; the slider sits right above it
        settings = pn.FlexBox(self.dataset_w, self.axis_w, self.part_w, self.cmap_w, self.scale_w, self.range_w,
                              self.vmin_w, self.vmax_w, self.sym_w, align_items="flex-end",
                              css_classes=["hpcdash-settings"], sizing_mode="stretch_width", margin=0)
        # the readout goes under the slider where the pane is too narrow for both on one line (a
        # slider squeezed beside a long readout to a few slices' width is hard to step through)
        slider_row = pn.Row(self.slice_w, self.readout_pane, sizing_mode="stretch_width",
                            stylesheets=[":host { flex-wrap: wrap; }"])
        self.slice_w.styles = {"min-width": f"{SLIDER_MIN_WIDTH}px"}
        export_row = self.exports.row
        # a file that could not be opened: its pane shows the message, Reload and Close, not controls
        # that would do nothing
        self._controls = (settings, slider_row, export_row)
        self._layout = pn.Column(
            pn.Row(*header, sizing_mode="stretch_width"),
            settings,
            slider_row,
            self.held_row,
            self.error_pane,
            self.notice_pane,
            self.plot_box,
            export_row,
            self.profile_view,
            self.history_view,
            css_classes=["hpcdash-pane", self.anchor], sizing_mode="stretch_width", stylesheets=STYLESHEETS,
        )
        self._sync_controls()

    def __panel__(self):
        return self._layout

    # -------------------------------------------------------------- text
    def _sync_controls(self) -> None:
        usable = not (self.state.error and self.state.volume is None)
        for box in getattr(self, "_controls", ()):
            if box.visible != usable:
                box.visible = usable
        held = usable and bool(self.held_w)  # only for data of more than 3 dims
        if self.held_row.visible != held:
            self.held_row.visible = held

    def _sync_text(self) -> None:
        self._sync_controls()
        s = self.state
        self.title_pane.object = f'<b title="{escape(s.title)}">{escape(s.title)}</b>' if s.title else ""
        self.readout_pane.value = self._readout_html()
        self.error_pane.param.update(object=escape(s.error), visible=bool(s.error))
        self.notice_pane.param.update(object=escape(s.notice), visible=bool(s.notice))
        fixed = s.range_mode == "fixed"
        self.vmin_w.visible = self.vmax_w.visible = fixed
        self.dataset_w.visible = len(s.param.dataset.objects) > 1
        self.part_w.visible = s.is_complex
        # a 2-D dataset is one plane: no normal axis to choose, no slices to scan
        has_axis = any(o is not None for o in s.param.axis.objects)
        self.axis_w.visible = self.slice_w.visible = has_axis
        self._sync_exports()
        self.plot_box.visible = not s.error and s.data is not None or (not s.error and bool(s.file))

    def _sync_exports(self, *events) -> None:
        # exports write the slice on screen: none while the pane shows a message instead, or before
        # its first slice (widgets that do not change send nothing)
        self.exports.enable(not self.state.error and self.state.data is not None)

    def _readout_html(self) -> str:
        # data of more than 3 dims: each held dimension on a line of its own (on one line, the
        # readout took the width of the "Slice" slider beside it); the text reads as the state's
        lines = self.state.readout.split(" · ")
        return f'<span class="hpcdash-readout-text">{" · <br>".join(escape(line) for line in lines)}</span>'

    def _on_text(self, *events) -> None:
        if all(e.name == "readout" for e in events):
            # a new slice: only the readout changes (each pane or widget update costs Panel a few ms)
            self.readout_pane.show(self._readout_html())
            return
        self._sync_text()

    def _on_slider(self, event) -> None:
        asked = self.slice_w.index
        index = self.state.clamp_index(asked)
        self.state.index = index
        if index != asked:  # past the ends: the slider goes back to the slice shown
            self.slice_w.show(index)

    def _on_index(self, event) -> None:
        # the index as it is now, not as the event says: a read refused at once (the file changed on
        # disk) has set it back meanwhile, and the slider must not move it on again
        self.slice_w.show(self.state.index)

    def _fit_slider(self, *events) -> None:
        """The slider's range and position from the pane's `index` (at start and when its bounds change)."""
        lo, hi = self.state.param.index.bounds
        # a single plane leaves it at one position (and disabled by _sync_text)
        self.slice_w.fit(lo, hi, self.state.index)

    def _sync_held(self, *events) -> None:
        """One slider per held dimension (`SliceState.held`): new sliders when the held dimensions or
        their lengths change (another axis, dataset or file), else the sliders follow `held`."""
        s = self.state
        sizes = s.held_sizes()
        if sizes != self._held_sizes:
            self._held_sizes = sizes
            self.held_w = {}
            for d, n in sizes.items():
                # numbered 1 to n, like the "Slice" slider and the readout; the name comes from the
                # file: Bokeh draws a slider title as text unless it finds TeX in it (plain_text)
                w = SliceSlider(label=plain_text(str(d)), disabled=n < 2, sizing_mode="stretch_width",
                                css_classes=["hpcdash-held"])
                w.fit(0, n - 1, s.held.get(d, 0))
                w.param.watch(partial(self._on_held_slider, d), "value")
                self.held_w[d] = w
            self.held_row.objects = list(self.held_w.values())
            self._sync_controls()
            return
        for d, w in self.held_w.items():
            w.show(s.held.get(d, 0))

    def _on_held_slider(self, dim: str, event) -> None:
        s = self.state
        if dim not in s.held:  # a slider of the held dims before the axis changed
            return
        w = self.held_w[dim]
        value = min(max(w.index, 0), self._held_sizes.get(dim, 1) - 1)
        if s.held.get(dim) != value:
            s.held = {**s.held, dim: value}
        if value != w.index:  # past the end: the slider goes back to the index shown
            w.show(value)

    def _on_changed(self, event) -> None:
        # the file changed on disk: Reload is what to press next
        self.reload_w.color = "primary" if event.new else "default"

    def _on_loading(self, event) -> None:
        # on the placeholder until the first plot is drawn (which clears the placeholder's, _sync_plot)
        (self.placeholder if self.plot_pane.object is None else self.plot_pane).loading = event.new

    # -------------------------------------------------------------- plot
    def _build_plot(self):
        s = self.state
        self._probe_marks = []
        for stream in self._streams:  # the previous plot's streams stop watching the state
            stream.unwatch()
        # Colour map and scale redraw through HoloViews (a log scale needs another colour mapper); a new
        # slice or colour range is pushed straight into the drawn plot by _push_frame.
        # RangeXY / PlotSize make the server rasterize to the visible range at the canvas size.
        stream = hv.streams.Params(s, ["cmap", "scale"]).rename(scale="colour_scale")
        # a zoom from the URL (or kept from before a redraw) is the first view, inside the slice
        z = s.zoom = self._fit_zoom(s.zoom)
        self._range = hv.streams.RangeXY(x_range=(z[0], z[1]), y_range=(z[2], z[3])) if z else hv.streams.RangeXY()
        self._range.add_subscriber(partial(self._on_range, self._range))
        self._size = hv.streams.PlotSize()
        self._streams = [stream]

        xl, yl, cl = s.axis_labels()
        # Panel links the x/y ranges (zoom and pan) of plots whose axes have the same label and unit;
        # only linked panes take part, their dims under the first pane's names
        names = dict(self.names) if self.linked else {}
        opts = dict(colorbar=True, clabel=plain_text(cl), tools=["hover"], title="",
                    shared_axes=self.linked, toolbar="above", **navigation_tools())
        if s.data is not None:
            ydim, xdim = s.data.dims
            opts.update(_plot_dims(str(xdim), str(ydim), getattr(s.volume, "coord_units", {}) or {}, names)[1])
            if "xlabel" in opts:  # the hover names the pane's own dims too
                vlabel = _value_dim(s.volume).pprint_label
                opts["hover_tooltips"] = [(opts["xlabel"], "$x"), (opts["ylabel"], "$y"), (vlabel, "@image")]
        # a depth (CF positive="down") increases downwards: the surface at the top of a section
        opts["invert_yaxis"] = s.depth_down
        # physical aspect when both axes have the same units (and the shape is not extreme)
        opts.update(responsive_opts(self._aspect()))
        # the range hook goes onto the image source while the plot is built: added later, the new
        # CustomJS model makes Bokeh walk the whole document again (~30 ms per pane on the first step)
        opts["hooks"] = [weak_hook(self._hook_at_render)]

        # Options are set on each frame inside the callback: `.opts()` on the DynamicMap itself would wrap
        # it in one more dynamic operation, run on every redraw.
        def element(cmap, colour_scale, x_range=None, y_range=None, width=None, height=None, scale=None):
            img = rasterize_slice(slice_parts(s.data, s, names), x_range, y_range, width, height)
            return style_image(img, cmap, s.clim, colour_scale).opts(**opts)

        dmap = hv.DynamicMap(element, streams=[stream, self._range, self._size])
        # a click on the plot asks for the profile through that point; a stream with the plot as its
        # source only, not one of the DynamicMap's own (a click redraws nothing)
        self._tap = hv.streams.SingleTap(source=dmap)
        self._tap.add_subscriber(partial(self._on_tap, self._tap))
        return dmap

    def _on_tap(self, stream, x=None, y=None, **kwargs) -> None:
        """A click on the drawn slice: the profile through the cell there (`SliceState.probe_at`)."""
        s = self.state
        if stream is not self._tap or s.data is None or s.axis is None or x is None or y is None:
            return
        if not (np.isfinite(x) and np.isfinite(y)):
            return
        ydim, xdim = s.data.dims
        # HoloViews calls this outside the document's lock: the profile is drawn in the next tick
        next_tick(partial(s.probe_at, {str(xdim): float(x), str(ydim): float(y)}))

    def _push_frame(self, image: bool = True) -> None:
        """Show the state's current slice (unless ``image`` is False) and colour range in the drawn plot.

        On a Bokeh server the image source and the colour mapper are updated in place: the same pixels
        HoloViews would send, without rebuilding the element and running the plot's update machinery,
        which costs several times the rasterizing itself. Anywhere else (notebook comms, a plot not drawn
        yet, an unexpected glyph) HoloViews redraws through its stream.
        """
        s = self.state
        plots = self._served_plots()
        if not (plots and s.data is not None):
            for stream in self._streams:
                stream.trigger([stream])
            return
        lo, hi = s.clim
        # a new slice carries its colour range with its pixels (one colour-mapping pass in the browser)
        quiet = image and all(_quiet_settable(plot.handles["color_mapper"]) for plot in plots)
        for plot in plots:
            if quiet:
                self._hook_range(plot)
                _set_range_quietly(plot.handles["color_mapper"], lo, hi)
            else:
                plot.handles["color_mapper"].update(low=lo, high=hi)
        if not image:
            return
        frame = s.shown_extra.get("frame")
        if frame is not None and frame[0] == self._frame_key(s.data):
            agg = frame[1]  # rasterized in the reading thread (see _prepare_frame)
        else:
            agg = aggregate_slice(slice_parts(s.data, s), self._range.x_range, self._range.y_range,
                                  self._size.width, self._size.height)
        (x0, x1), (y0, y1) = agg.x_range, agg.y_range
        colour = {"low": [float(lo)], "high": [float(hi)]} if quiet else {}
        for plot in plots:
            plot.handles["source"].data = {"image": [agg.values], "x": [x0], "y": [y0], "dw": [x1 - x0],
                                           "dh": [y1 - y0], **colour}

    def _hook_at_render(self, plot, element) -> None:
        skip_first_range_rerun(plot)
        whole = self._whole_extent()
        bound_to_data(plot, extent=whole)
        keep_true_to_shape(plot.state, self._aspect(), whole)
        if plot.handles.get("source") is not None and plot.handles.get("color_mapper") is not None:
            self._hook_range(plot)
        self._mark_probe_at_render(plot)

    def _probe_xy(self) -> tuple[float, float] | None:
        return probe_point_on(self.state, self.state.data)

    def _whole_extent(self) -> tuple[float, float, float, float] | None:
        """The whole slice plane shown, (x0, x1, y0, y1) to the outer cell edges (None before a slice)."""
        if self.state.data is None:
            return None
        return whole_extent(slice_parts(self.state.data, self.state))

    def _fit_zoom(self, zoom: tuple | None) -> tuple | None:
        """`zoom` cut to the whole slice; None when it covers the slice or misses it (a hand-made link)."""
        whole = self._whole_extent()
        if zoom is None or whole is None:
            return zoom
        x0, x1 = max(zoom[0], whole[0]), min(zoom[1], whole[1])
        y0, y1 = max(zoom[2], whole[2]), min(zoom[3], whole[3])
        if not (x0 < x1 and y0 < y1):
            return None
        fitted = (x0, x1, y0, y1)
        tol = 1e-6 * max(whole[1] - whole[0], whole[3] - whole[2])
        return None if np.allclose(fitted, whole, rtol=0, atol=tol) else fitted

    def _on_range(self, stream, x_range=None, y_range=None, **kwargs) -> None:
        """Zoom and pan of the drawn plot: the part in view goes into the state (and the URL); the whole
        slice is no zoom. A plot replaced meanwhile (another axis) has no say."""
        if stream is not self._range or self.state.data is None or x_range is None or y_range is None:
            return
        view = (*map(float, x_range), *map(float, y_range))
        if not all(np.isfinite(view)) or view[0] >= view[1] or view[2] >= view[3]:
            return
        zoom = self._fit_zoom(view)
        if zoom != self.state.zoom:
            self.state.zoom = zoom

    def _hook_range(self, plot) -> None:
        """Make sure the plot's image source carries the colour range into its current mapper (the
        mapper object changes when HoloViews redraws for another colour scale)."""
        source, mapper = plot.handles["source"], plot.handles["color_mapper"]
        old = self._range_hooks.get(id(source))
        if old is not None and old.args.get("mapper") is mapper:
            return
        callbacks = [cb for cb in source.js_property_callbacks.get("change:data", []) if cb is not old]
        hook = CustomJS(args={"mapper": mapper}, code=_RANGE_WITH_PIXELS)
        source.js_property_callbacks = {**source.js_property_callbacks, "change:data": [*callbacks, hook]}
        self._range_hooks[id(source)] = hook

    def _frame_key(self, data) -> tuple:
        """What a rasterized frame depends on besides the values: the slice, visible range, canvas size."""
        r, z = self._range, self._size
        return (id(data), r.x_range, r.y_range, z.width, z.height)

    def _prepare_frame(self, result) -> None:
        """In the reading thread (SliceState.on_loaded): rasterize the new slice for the drawn plot, so
        that the UI thread only swaps pixels in, and linked panes rasterize in parallel; the slice's
        summary taken on the same pass goes into the result too."""
        data, vol = result.data, self.state.volume
        if data is None or vol is None or self._range is None or not self._served_plots():
            return
        x, y, z, uniform = _slice_arrays(data, vol)
        key = self._frame_key(data)
        agg = aggregate_slice(SliceParts(x, y, z, [], [], uniform), key[1], key[2], key[3], key[4],
                              with_stats=True)
        result.extra["frame"] = (key, agg)
        if agg.stats is not None and z.dtype == data.dtype:
            # the summary of the very values read (not of a narrower copy): the state need not
            # pass over the slice again
            result.extra["stats"] = agg.stats

    def _served_plots(self) -> list:
        """The drawn HoloViews plots of this pane if all of them can be updated in place (a Bokeh server),
        else []. One plot can be registered under several roots of the page: each is listed once."""
        plots = list({id(plot): plot for plot, _ in list(getattr(self.plot_pane, "_plots", {}).values())}.values())
        return plots if plots and all(_served_image(plot) for plot in plots) else []

    def _aspect(self) -> float | None:
        return data_aspect(self.state.data, self.state.same_units())

    def _sync_plot(self) -> bool:
        """Draw a fresh plot if the plot's dimensions changed; True when it did."""
        s = self.state
        # log <-> linear colour needs another kind of colour mapper, which an existing plot cannot swap
        key = (s.file, s.dataset, None if s.data is None else s.data.dims, self.linked, s.log_active, s.depth_down,
               tuple(sorted(self.names.items())) if self.linked else (), s.complex_part)
        if key == self._plot_key:
            return False
        self._plot_key = key
        if not s.file or s.data is None:
            # nothing to draw yet (the first slice is on its way, or the file failed): the plot is
            # built once its dimensions are known, not first empty and then again (a new session
            # paid for two HoloViews plots before its first image)
            self.plot_pane.object = None
            waiting = bool(s.file) and not s.error
            self.placeholder.param.update(
                object=f"Reading the first slice of {escape(Path(s.file).name)}…" if waiting else "",
                visible=waiting)
            return True
        self.placeholder.param.update(visible=False, loading=False)
        self.plot_pane.object = self._build_plot()
        if self.linked:
            link_axes_of(self.plot_pane)
        return True

    def _on_structure(self, *events) -> None:
        # a new file, dataset or normal axis changes the plot's dimensions: draw a fresh plot;
        # a new slice or colour range of the same shape goes into the drawn plot
        new_slice = any(e.name not in ("clim", "scale") for e in events)
        if self._sync_plot():
            self._sync_text()
        elif self.plot_pane.object is not None:
            self._push_frame(image=new_slice)

    def _on_link(self, event) -> None:
        self._sync_plot()

    def refresh_plot(self) -> None:
        """Rebuild the plot if its dimensions changed (e.g. after the first slice arrived)."""
        self._sync_plot()
        self._sync_text()

    # -------------------------------------------------------------- export
    def _png(self, data) -> bytes:
        s = self.state
        xl, yl, cl = s.axis_labels()
        lo, hi = s.clim
        return export.slice_png(data, _palette(s.cmap), (lo, hi), log=s.scale == "log" and lo > 0,
                                title=f"{s.title}\n{s.readout}", xlabel=xl, ylabel=yl, clabel=cl,
                                equal_aspect=s.same_units(), y_down=s.depth_down)


class ComparisonView(_Crosshair, _MarkedPlot):
    """Difference (A - B) or ratio (log10 A/B) of two panes, diverging colormap, symmetric range; its
    PNG, .npy and .csv exports; after a click on it, the comparison along A's and B's profiles, A's
    slice marked on it."""

    def __init__(self, explorer: ExplorerState, zoom_linked: Callable[[SliceState], bool] | None = None,
                 **params):
        """`zoom_linked(pane)`: whether `pane` shares zoom and pan with the linked panes (see
        `ExplorerView`); the comparison then shares them too when it is A."""
        super().__init__(**params)
        self.explorer = explorer
        self._zoom_linked = zoom_linked or (lambda pane: False)
        self._linked = False  # the plot drawn shares the linked panes' zoom and pan
        self._names: dict[str, str] = {}  # A's dims drawn under the first pane's names (see shared_names)
        self.error_pane = message_pane("warning")
        self.title_pane = HTML("", css_classes=["hpcdash-title"])
        # as wide as the panes' area, like a pane's plot (see SliceView)
        self.plot_pane = pn.pane.HoloViews(None, linked_axes=True, css_classes=["hpcdash-compare-plot"],
                                           sizing_mode="stretch_width", min_height=PLOT_MIN_HEIGHT)
        self.exports = ExportButtons(data=lambda: explorer.comparison, stem=explorer.comparison_stem,
                                     png=self._png, record=explorer.comparison_exported)
        self._key = None
        self._tap = None
        # the point A's profile runs through is marked on the comparison as on A's slice
        self._probe_marks: list = []
        self._probe_at: tuple | None = None  # where the crosshair was last put
        self._watched: dict[int, tuple] = {}  # id(pane) -> (pane, its watchers of `probe` and `profile`)
        explorer.param.watch(self._on_panes, ["panes"])
        self._on_panes()
        explorer.param.watch(self._update, ["comparison", "comparison_error", "compare", "comparison_clim", "link"])
        self.hint = HTML("", css_classes=["hpcdash-compare-hint"], margin=(0, 10), stylesheets=STYLESHEETS)
        # the comparison along A's and B's profiles through the point clicked (in a box of its own: see
        # SliceView.plot_box)
        self.profile_where = HTML("", css_classes=["hpcdash-compare-profile-where"], sizing_mode="stretch_width",
                                  margin=(8, 10, 0, 10))
        self.profile_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", css_classes=["hpcdash-compare-profile"])
        self.profile_box = pn.Column(self.profile_where, self.profile_pane, sizing_mode="stretch_width", margin=0,
                                     visible=False)
        self._profile_key: tuple | None = None
        self._marks: list = []  # the Bokeh Spans marking A's slice on the comparison's profile
        self._layout = pn.Column(self.title_pane, self.error_pane, self.plot_pane, self.exports.row, self.hint,
                                 self.profile_box, css_classes=["hpcdash-compare"], sizing_mode="stretch_width",
                                 stylesheets=STYLESHEETS)
        self._update()

    def __panel__(self):
        return self._layout

    def _parts(self, data) -> SliceParts:
        if data is None:  # the comparison just ended; its plot goes with the next update (zeros: an
            # all-NaN image made HoloViews warn while working out its range)
            return SliceParts(np.arange(2.0), np.arange(2.0), np.zeros((2, 2), np.float32),
                              ["x_cmp", "y_cmp"], ["value"], True)
        ydim, xdim = data.dims
        x = np.asarray(data[xdim].values, dtype=float)
        y = np.asarray(data[ydim].values, dtype=float)
        units = data.attrs.get("units")
        vdim = _dim("value", str(data.name), units)
        d = np.diff(x), np.diff(y)
        uniform = all(v.size and np.allclose(v, v[0], rtol=1e-6) for v in d)
        # the axes are labelled as in the panes ("x (m)"); with A's zoom and pan shared with the linked
        # panes the dimensions are the panes' (Panel links the ranges of plots with the same ones: A's
        # dims under the first pane's names of them), otherwise their names stay apart so that the
        # comparison's zoom is its own
        cu = self._units()
        if self._linked:
            kdims = _plot_dims(str(xdim), str(ydim), cu, self._names)[0]
        else:
            kdims = [_dim(f"{xdim}_cmp", str(xdim), cu.get(xdim)), _dim(f"{ydim}_cmp", str(ydim), cu.get(ydim))]
        return SliceParts(x, y, np.asarray(data.values, np.float32), kdims, [vdim], bool(uniform))

    def _units(self) -> dict:
        e = self.explorer
        vol = e.panes[e.compare_a].volume if 0 <= e.compare_a < len(e.panes) else None
        return getattr(vol, "coord_units", {}) or {}

    def _label_opts(self, data) -> dict:
        """Axis labels and hover of a comparison drawn under the first pane's names (see `_parts`):
        A's own names; {} when none is renamed."""
        if data is None or not self._linked:
            return {}
        ydim, xdim = data.dims
        opts = _plot_dims(str(xdim), str(ydim), self._units(), self._names)[1]
        if opts:
            vlabel = _dim("value", str(data.name), data.attrs.get("units")).pprint_label
            opts["hover_tooltips"] = [(opts["xlabel"], "$x"), (opts["ylabel"], "$y"), (vlabel, "@image")]
        return opts

    def _on_panes(self, *events) -> None:
        watch_panes(self._watched, self.explorer.panes, lambda p: [p.param.watch(self._on_probe, ["probe"]),
                                                                   p.param.watch(self._update_profile, ["profile"]),
                                                                   p.param.watch(self._on_index, ["index"])])

    def _update_profile(self, *events) -> None:
        """Draw the comparison along A's and B's profiles when they (or the comparison's runs or mode)
        changed; hidden without one."""
        e = self.explorer
        line = e.comparison_profile()
        runs = e.comparison_runs()
        key = None if line is None or runs is None else (id(runs[0].profile), id(runs[1].profile), e.compare)
        if key == self._profile_key:
            return
        self._profile_key = key
        self.profile_box.visible = key is not None
        if key is None:
            self.profile_pane.object = None
            return
        from .profile import PROFILE_HEIGHT, profile_opts

        a = runs[0]
        (dim,) = line.dims
        kdim = _dim(str(dim), str(dim), self._units().get(dim))
        vdim = _dim("value", str(line.name), line.attrs.get("units"))
        self.profile_where.object = f"<b>{escape(e.comparison_label(units=False))}</b> along {escape(a.profile_text())}"
        opts = {**profile_opts(a), "logx": False, "logy": False, "height": PROFILE_HEIGHT,
                "hooks": [weak_hook(self._mark_at_render)]}
        self._marks = []  # (those of the plot replaced)
        self.profile_pane.object = hv.Curve((np.asarray(line[dim].values, dtype=float), np.asarray(line.values)),
                                            kdims=[kdim], vdims=[vdim]).opts(color="#7b3294", **opts)

    def _position(self) -> float | None:
        from .profile import profile_position

        runs = self.explorer.comparison_runs()
        return profile_position(runs[0]) if runs else None

    def _drawn_in(self) -> pn.viewable.Viewable:
        return self.profile_pane

    def _probe_xy(self) -> tuple[float, float] | None:
        runs = self.explorer.comparison_runs()
        return probe_point_on(runs[0] if runs else None, self.explorer.comparison)

    def _render_hook(self, plot, element) -> None:
        self._mark_probe_at_render(plot)

    def _on_probe(self, *events) -> None:
        self._probe_at = self._probe_xy()
        super()._on_probe(*events)

    def _on_tap(self, stream, x=None, y=None, **kwargs) -> None:
        """A click on the comparison: the profiles of A and B through the cell there."""
        data = self.explorer.comparison
        if stream is not self._tap or data is None or x is None or y is None or not np.isfinite([x, y]).all():
            return
        ydim, xdim = data.dims
        # HoloViews calls this outside the document's lock: the profiles are drawn in the next tick
        next_tick(partial(self.explorer.probe_compared, {str(xdim): float(x), str(ydim): float(y)}))

    def _png(self, data) -> bytes:
        """The comparison as a PNG: its colour map, symmetric range and colour bar label, the runs and
        the position in the heading, axes labelled as A's pane."""
        e = self.explorer
        a, _ = e.comparison_runs()
        xl, yl, _ = a.axis_labels()
        return export.slice_png(data, _palette(DIVERGING_CMAP), e.comparison_clim, title=e.comparison_heading(),
                                xlabel=xl, ylabel=yl, clabel=e.comparison_label(), equal_aspect=a.same_units(),
                                y_down=a.depth_down)

    def _update(self, *events) -> None:
        e = self.explorer
        self.error_pane.param.update(object=escape(e.comparison_error), visible=bool(e.comparison_error))
        self._layout.visible = e.compare != "none"
        self.exports.enable(e.comparison is not None)
        self._update_profile()
        if e.comparison is None:
            self.plot_pane.object = None
            self.hint.object = ""
            self.title_pane.object = ""  # it named the runs of the last comparison drawn
            self._key = None
            return
        a, b = e.panes[e.compare_a], e.panes[e.compare_b]
        self.title_pane.object = (f"<b>{escape(e.comparison_label(units=False))}</b>: A = {escape(a.title)}; "
                                  f"B = {escape(b.title)} &middot; "
                                  f"<span class='hpcdash-readout-text'>{escape(a.readout)}</span>")
        hint = f"Click the comparison to plot A's and B's values along {escape(a.axis)} through that point." \
            if a.axis else ""
        if self.hint.object != hint:
            self.hint.object = hint
        clabel = plain_text(e.comparison_label())
        linked = bool(self._zoom_linked(a))
        names = shared_names(a, e.panes[0]) if linked else {}
        aspect = data_aspect(e.comparison, a.same_units())
        key = (clabel, aspect, linked, a.depth_down, tuple(sorted(names.items())))
        # the colour bar's label is an option of the plot: a new mode draws anew; so do joining or
        # leaving the linked panes' zoom and pan, and a plane of another shape (another normal axis)
        if self._key != key:
            self._linked, self._names = linked, names
            stream = hv.streams.Params(e, ["comparison", "comparison_clim"])
            # linked, the plot starts from the panes' view: Panel joins shared ranges to the union of
            # theirs, so a plot of the whole slice would zoom the panes out
            z = a.zoom if linked else None
            rng = hv.streams.RangeXY(x_range=(z[0], z[1]), y_range=(z[2], z[3])) if z else hv.streams.RangeXY()

            # sized as the panes' plots are (true to shape where both axes share their units)
            whole = whole_extent(self._parts(e.comparison))
            opts = dict(colorbar=True, tools=["hover"], toolbar="above", clabel=clabel, title="",
                        hooks=[skip_first_range_rerun, bound_to_data,
                               lambda plot, element: keep_true_to_shape(plot.state, aspect, whole),
                               weak_hook(self._render_hook)],
                        shared_axes=linked, invert_yaxis=a.depth_down, **navigation_tools(),
                        **responsive_opts(aspect))

            def element(comparison, comparison_clim, x_range=None, y_range=None, width=None, height=None,
                        scale=None):
                img = rasterize_slice(self._parts(comparison), x_range, y_range, width, height)
                return style_image(img, DIVERGING_CMAP, comparison_clim, "linear").opts(
                    **opts, **self._label_opts(comparison))

            dmap = hv.DynamicMap(element, streams=[stream, rng, hv.streams.PlotSize()])
            # a click: the profiles of A and B through that point (see SliceView._build_plot)
            self._tap = hv.streams.SingleTap(source=dmap)
            self._tap.add_subscriber(partial(self._on_tap, self._tap))
            self._probe_marks = []  # (those of the plot replaced)
            self.plot_pane.object = dmap
            self._key = key
            self._probe_at = self._probe_xy()  # drawn there by the hook
            if linked:
                link_axes_of(self.plot_pane)
        elif self._probe_xy() != self._probe_at:  # another A (or a changed file) in the same plot
            self._on_probe()


class FileBrowser(pn.viewable.Viewer):
    """A file browser that never leaves `root`: lists with `hpcdash.data.list_dir`, opens through
    `ExplorerState.open` (which refuses paths outside root, through '..' or symlinks, with a message)."""

    cwd = param.String(default="", doc="Current folder, relative to root.")

    def __init__(self, explorer: ExplorerState, **params):
        super().__init__(**params)
        self.explorer = explorer
        self.where = HTML("", css_classes=["hpcdash-cwd"], stylesheets=STYLESHEETS)
        # (a list, not a drop-down: without the select's chevron, which Panel's theme draws on both)
        self.listing = pn.widgets.MultiSelect(label="Files", options=[], size=12, sizing_mode="stretch_width",
                                              stylesheets=["select[multiple] { background-image: none; }"])
        self.up_btn = pn.widgets.Button(label="Up", width=60)
        self.enter_btn = pn.widgets.Button(label="Open", color="primary", width=80)
        self.refresh_btn = pn.widgets.Button(label="Refresh", width=80, css_classes=["hpcdash-refresh"])
        self.path_in = pn.widgets.TextInput(label="Path (relative to root)", placeholder="runs/run_01.h5",
                                            sizing_mode="stretch_width")
        self.path_btn = pn.widgets.Button(label="Open path", width=100)
        self.message = message_pane("warning")
        self.up_btn.on_click(lambda e: self._go_up())
        self.refresh_btn.on_click(lambda e: self._refresh(keep_selection=True))
        self.enter_btn.on_click(lambda e: self._open_selected())
        self.path_btn.on_click(lambda e: self._open_path(self.path_in.value))
        self.path_in.param.watch(lambda e: self._open_path(e.new), "enter_pressed") if hasattr(
            self.path_in.param, "enter_pressed") else None
        explorer.param.watch(self._on_message, ["message"])
        explorer.param.watch(self._on_panes, ["panes"])
        self._watch = None  # hpcdash.data.FolderWatch of the folder listed
        #: True once the user moved through folders here; until then the list shows the folder of the
        #: first file opened (by the page's link, a double-click in JupyterLab, the Cluster tab)
        self._navigated = False
        self.cwd = (self._folder_of(explorer.panes[0]) if explorer.panes else None) or ""
        self._refresh()
        self._layout = pn.Column(
            HTML("<b>File browser</b>"), self.where, self.listing,
            pn.Row(self.up_btn, self.enter_btn, self.refresh_btn), self.path_in, self.path_btn, self.message,
            sizing_mode="stretch_width", css_classes=["hpcdash-browser"])

    def __panel__(self):
        return self._layout

    def _on_message(self, event) -> None:
        self._show_message(event.new)

    def _show_message(self, text: str) -> None:
        self.message.param.update(object=escape(text), visible=bool(text))

    def _folder_of(self, pane: SliceState) -> str | None:
        """The folder of `pane`'s file relative to the root ("" for the root itself), or None when it is
        no folder below the root (a file named before it exists, in a folder not made yet)."""
        from hpcdash.data import relative_below

        if not pane.file:
            return None
        folder = os.path.dirname(os.path.abspath(pane.file))
        rel = relative_below(self.explorer.root, folder)
        if rel is None or not os.path.isdir(folder):
            return None
        return "" if rel == "." else rel

    def _on_panes(self, event) -> None:
        if self._navigated or event.old or not event.new:
            return
        folder = self._folder_of(event.new[0])
        if folder is not None and folder != self.cwd:
            self.cwd = folder
            self._refresh()

    def _entries(self, rel: str) -> list[tuple[str, bool]]:
        from hpcdash.data import list_dir

        return [(e.name, e.is_dir) for e in list_dir(self.explorer.root, rel, suffixes=HDF5_SUFFIXES,
                                                     check_signature=False)]

    def check_for_new_files(self) -> bool:
        """List the current folder again if it gained, lost or renamed an entry since it was listed (one
        stat; the selection stays); True when it did."""
        stamp = self._watch.changed() if self._watch is not None else None
        if stamp is None:
            return False
        self._refresh(keep_selection=True, stamp=stamp)
        return True

    def _refresh(self, keep_selection: bool = False, stamp: int | None = None) -> None:
        """List the current folder again (new files of a running job show up)."""
        from hpcdash.data import FolderWatch

        if self._watch is None or (self._watch.root, self._watch.rel) != (self.explorer.root, self.cwd):
            self._watch = FolderWatch(self.explorer.root, self.cwd)
        self._watch.listed(stamp)  # before listing: nothing slips between
        try:
            entries = self._entries(self.cwd)
        except Exception as err:  # noqa: BLE001
            self._show_message(str(err))
            entries = []
        options = {}
        for name, is_dir in sorted(entries, key=lambda e: (not e[1], e[0].lower())):
            options[(name + "/") if is_dir else name] = (name, is_dir)
        kept = [v for v in self.listing.value if v in options.values()] if keep_selection else []
        self.listing.param.update(options=options, value=kept)
        # the root by its name, as a breadcrumb (a full path on a parallel file system fills the
        # sidebar); the full path on hover
        full = os.path.join(self.explorer.root, self.cwd)
        crumb = "/".join(part for part in (Path(self.explorer.root).name, self.cwd.strip("/")) if part) + "/"
        self.where.object = f'<code title="{escape(full)}">{escape(crumb)}</code>'

    def _go_up(self) -> None:
        self._navigated = True
        self.cwd = str(Path(self.cwd).parent) if self.cwd not in ("", ".") else ""
        if self.cwd == ".":
            self.cwd = ""
        self._refresh()

    def _open_selected(self) -> None:
        chosen = list(self.listing.value)
        if len(chosen) == 1 and chosen[0][1]:
            self._navigated = True
            self.cwd = os.path.join(self.cwd, chosen[0][0])
            self._refresh()
            return
        with held():
            for name, is_dir in chosen:
                if not is_dir:
                    self.explorer.open(os.path.join(self.explorer.root, self.cwd, name), background=True, reveal=True)

    def _open_path(self, path: str) -> None:
        """A file opens in a new pane, a folder is listed; a path that names neither gets a message
        here, by the field, and no pane."""
        path = path.strip()
        if not path:
            self._show_message("Type a path relative to the root folder, for example runs/run_01.h5.")
            return
        try:
            real = self.explorer.resolve(path)
        except Exception as err:  # noqa: BLE001 - outside the root, or a broken link
            self._show_message(str(err) or f"{path} cannot be opened.")
            return
        if real.is_dir():
            rel = os.path.relpath(real, os.path.realpath(self.explorer.root))
            self._navigated = True
            self.cwd = "" if rel == "." else rel
            self._refresh()
            self._show_message("")
            return
        if not real.exists():
            self._show_message(f"{path} does not exist in the root folder.")
            return
        self.explorer.open(path, background=True, reveal=True)  # as typed: a link stays a link


class ExplorerView(pn.viewable.Viewer):
    """The Explorer tab: file browser, link / layout / compare controls, the panes and the comparison."""

    def __init__(self, explorer: ExplorerState, sync_url: bool = True, **params):
        super().__init__(**params)
        self.explorer = explorer
        self._views: dict[int, SliceView] = {}
        doc = pn.state.curdoc
        served = in_session()
        if served:
            whole_slice_numbers(doc)  # sliders of panes opened later
            explorer.loader = SliceLoader(pool=_POOL, dispatch=partial(_dispatch, weakref.ref(doc)),
                                          delay_loading=partial(_delay, doc))
        self.browser = FileBrowser(explorer)
        self.link_w = labelled_checkbox(explorer, "link", "Link")
        self.layout_w = pn.widgets.RadioButtonGroup.from_param(explorer.param.layout, label="Layout")
        self.compare_w = pn.widgets.Select.from_param(explorer.param.compare, label="Compare", width=120)
        self.a_w = pn.widgets.Select(label="A", width=200)
        self.b_w = pn.widgets.Select(label="B", width=200)
        self.a_w.param.watch(lambda e: setattr(explorer, "compare_a", e.new) if e.new is not None else None,
                             "value")
        self.b_w.param.watch(lambda e: setattr(explorer, "compare_b", e.new) if e.new is not None else None,
                             "value")
        self.comparison = ComparisonView(explorer, zoom_linked=self._zoom_linked)
        self._active_tab = 0
        self.empty = Markdown(_EMPTY_HELP.format(root=escape(explorer.root)), disable_math=True,
                              css_classes=["hpcdash-empty"], sizing_mode="stretch_width",
                              stylesheets=STYLESHEETS)
        # the runs become keyboard tabs when the layout is switched to tabs, after the page is drawn
        self.main = KeyboardTabsHost(sizing_mode="stretch_width")
        self._box: pn.layout.Panel | None = None  # the panes' grid (a Column) or tabs (_panes_body)
        # the pane a user just opened (file browser, Cluster tab) is scrolled into view: new panes go
        # below the others, off-screen on a page of two panes
        self._reveal = pn.widgets.TextInput(value="", visible=False, css_classes=["hpcdash-reveal"])
        self._reveal.jscallback(value=_REVEAL_PANE)
        explorer.param.watch(self._on_reveal, ["reveal"])
        # wraps onto a second line on a narrow screen (A and B ran off its right edge at 800 px)
        self.controls = pn.FlexBox(self.link_w, self.layout_w, self.compare_w, self.a_w, self.b_w,
                                   flex_wrap="wrap", align_items="flex-start", sizing_mode="stretch_width",
                                   css_classes=["hpcdash-controls"])
        explorer.param.watch(self._on_panes, ["panes", "layout"])
        # A and B matter only while a comparison is shown
        explorer.param.watch(self._show_ab, ["compare"])
        self._show_ab()
        explorer.param.watch(self._on_link, ["link"])
        explorer.param.watch(self._sync_url, ["link", "compare", "compare_a", "compare_b"])
        explorer.param.watch(self._show_runs, ["compare_a", "compare_b"])
        self._sync_url_enabled = sync_url and pn.state.location is not None and served
        if self._sync_url_enabled:
            when_page_ready(doc, "url_in_place", _URL_IN_PLACE)
        self._url_watchers: list = []
        self._url_pending = False
        self._on_panes()
        # the comparison stands above the panes: choosing "difference" shows it where the user looks
        from .profile import ProfilesOverlay

        # with Link on, the profiles of the runs through the point clicked, in one plot, above them too
        self.profiles = ProfilesOverlay(explorer)
        self._layout = AccessibleColumn(self.controls, self.comparison, self.profiles, self.main, self._reveal,
                                        sizing_mode="stretch_width")
        if served:
            # a job writing to a shown file lights the pane's Reload button without a user action
            pn.state.add_periodic_callback(self._check_files, period=CHANGE_CHECK_MS)
            if self._sync_url_enabled:
                # once the page is up, its URL says what it shows: values a link asked for that could
                # not be shown as asked (a slice past the end, an unknown colormap) read as corrected
                pn.state.onload(self._write_url)

    def __panel__(self):
        return self._layout

    def _check_files(self) -> None:
        try:
            self.browser.check_for_new_files()
        except Exception:  # noqa: BLE001 - tried again next period
            pass
        for p in list(self.explorer.panes):
            try:
                if p.appeared():  # named before it was written: open it now
                    self.explorer.open_appeared(p)
                else:
                    p.check_changed()
                    p.follow_changes()  # with Follow on, a changed file (or a failed reopen) is opened again
            except Exception:  # noqa: BLE001 - a check that fails is tried again next period
                pass

    def sidebar(self) -> pn.viewable.Viewable:
        """The file browser, for a template's sidebar."""
        return self.browser

    def _on_reveal(self, event) -> None:
        view = self._views.get(id(event.new)) if event.new is not None else None
        if view is not None:
            self._reveal.value = ""  # the same pane again scrolls again
            self._reveal.value = view.anchor

    def view_for(self, pane: SliceState) -> SliceView:
        """The SliceView drawing `pane`."""
        return self._views[id(pane)]

    def _show_runs(self, *events) -> None:
        """A and B show the runs compared (a link, or a pane closed before them, renumbers them)."""
        e = self.explorer
        for w, i in ((self.a_w, e.compare_a), (self.b_w, e.compare_b)):
            if w.value != i and i in w.options.values():
                w.value = i

    def _show_ab(self, *events) -> None:
        e = self.explorer
        self.a_w.visible = self.b_w.visible = e.compare != "none"
        # link, layout and compare act between panes: with one pane open they would do nothing, but
        # for turning off a comparison a link asked for
        self.controls.visible = len(e.panes) > 1 or e.compare != "none"

    def _zoom_linked(self, pane: SliceState) -> bool:
        """Link's zoom and pan join the panes that show the same place as the first one: a run on
        another mesh keeps its own view (shared, it was a small box inside the first run's range)."""
        e = self.explorer
        if not (e.link and e.panes):
            return False
        return pane is e.panes[0] or pane.same_extent(e.panes[0])

    def _on_link(self, *events) -> None:
        with held():
            for p in self.explorer.panes:
                v = self._views.get(id(p))
                linked = self._zoom_linked(p)
                if linked:
                    self._join_zoom(p)
                if v is not None:  # each change draws the plot anew: leaving first, joining last
                    if v.linked and not linked:
                        v.linked = False
                    names = shared_names(p, self.explorer.panes[0]) if linked else {}
                    if v.names != names:
                        v.names = names
                    if v.linked != linked:
                        v.linked = linked

    def _join_zoom(self, pane: SliceState) -> None:
        """A pane joining the first one's zoom and pan takes its view first (its plot starts from its
        own zoom: drawn in shared axes, the old view's pixels filled part of the new range)."""
        lead = self.explorer.panes[0]
        if pane is not lead and pane.zoom != lead.zoom:
            pane.zoom = lead.zoom

    def _on_panes(self, *events) -> None:
        e = self.explorer
        live = {id(p) for p in e.panes}
        # a pane added to those shown (not the first ones drawn)
        added = bool(self._views) and any(id(p) not in self._views for p in e.panes)
        for key in [k for k in self._views if k not in live]:
            del self._views[key]
        for p in e.panes:
            if id(p) not in self._views:
                linked = self._zoom_linked(p)
                if linked:
                    self._join_zoom(p)
                self._views[id(p)] = SliceView(p, linked=linked, on_close=partial(e.close_pane, p),
                                               names=shared_names(p, e.panes[0]) if linked else {})
                self._watch_for_url(p)
                # a new file or normal axis may change the place the pane shows
                p.param.watch(self._on_link, ["file", "dataset", "axis"])
        self._on_link()  # the first pane may be another one now
        options = {f"{i + 1}: {p.title or Path(p.file).name}": i for i, p in enumerate(e.panes)}
        self.a_w.options = options
        self.b_w.options = options
        if len(options) > 1:
            a = e.compare_a if e.compare_a < len(options) else 0
            # B another run than A (with one pane open, B was that pane too)
            b = e.compare_b if e.compare_b < len(options) and e.compare_b != a else (1 if a == 0 else 0)
            self.a_w.value, self.b_w.value = a, b
        cards = [(f"{i + 1}. {Path(p.file).name}", pn.panel(self._views[id(p)])) for i, p in enumerate(e.panes)]
        body = self._panes_body(cards, added) if cards else self.empty
        self._show_ab()
        if list(self.main.objects) != [body]:
            self.main.objects = [body]
        self._sync_url()

    def _panes_body(self, cards: list[tuple[str, pn.viewable.Viewable]], added: bool) -> pn.layout.Panel:
        """The panes in the layout chosen, in the container they were in before when it has that layout.

        A new container per change made Panel draw every pane again (dropping the old container drops
        its children's drawn models, though they are shown in the new one too), and changes made while
        the page's updates are held (several files opened at once from the browser) then named models of
        a drawing already replaced: the browser refused the whole update, and no new pane showed."""
        e = self.explorer
        if e.layout == "tabs":
            # a file just opened is the tab shown; otherwise the tab the user chose stays
            active = len(cards) - 1 if added else min(self._active_tab, len(cards) - 1)
            self._active_tab = active
            tabs = self._box
            if not isinstance(tabs, KeyboardTabs):
                # the tab labels wrap onto more lines rather than run off the right edge (many runs)
                tabs = self._box = KeyboardTabs(
                    *cards, label="Open files", sizing_mode="stretch_width", dynamic=False, active=active,
                    stylesheets=[".bk-headers-wrapper { flex-wrap: wrap; } .bk-tab { white-space: nowrap; }"])
                tabs.param.watch(lambda ev: setattr(self, "_active_tab", ev.new), "active")
            else:
                tabs[:] = cards
                tabs.active = active
            return tabs
        objects = [c for _, c in cards]
        css = [_PANE_GRID_CSS] if len(objects) > 1 else []  # one pane: the whole width
        grid = self._box
        if isinstance(grid, KeyboardTabs) or grid is None:
            # a Column drawn as a CSS grid: Bokeh's GridBox lost track of its children when they changed
            # (a TypeError in its layout, and the page stopped updating)
            grid = self._box = pn.Column(*objects, sizing_mode="stretch_width", stylesheets=css,
                                                        css_classes=["hpcdash-panes"])
        else:
            grid.param.update(objects=objects, stylesheets=css)
        return grid

    # -------------------------------------------------------------- URL
    def _watch_for_url(self, pane: SliceState) -> None:
        pane.param.watch(self._sync_url, [*SliceState.QUERY_KEYS, "held", "probe"])

    def sync_url(self) -> None:
        """Write the view into the page's URL (when this view keeps it in step): in a served page once the
        browser has reported its own URL (Panel's location takes it from the browser when the page loads,
        which would undo an earlier write), elsewhere at once."""
        doc, loc = pn.state.curdoc, pn.state.location
        if not self._sync_url_enabled or doc is None or doc.session_context is None or loc is None:
            self._sync_url()
            return

        def write() -> None:
            with set_curdoc(doc):
                self._write_url()

        def reported(event) -> None:  # the browser's URL arrived: ours again, after this change is done
            loc.param.unwatch(watcher)
            doc.add_next_tick_callback(write)

        watcher = loc.param.watch(reported, "search")
        pn.state.onload(write)

    def _sync_url(self, *events) -> None:
        """Keep the URL query in step with the view. Slider moves (and zoom and pan) are written once they
        have rested for URL_DELAY_MS: the browser then gets no URL patch (and sends no answer) between slices."""
        if not self._sync_url_enabled:
            return
        doc = pn.state.curdoc
        if events and all(e.name in ("index", "held", "zoom") for e in events) and doc is not None:
            if not self._url_pending:
                self._url_pending = True
                doc.add_timeout_callback(self._flush_url, URL_DELAY_MS)
            return
        self._write_url()

    def _flush_url(self) -> None:
        self._url_pending = False
        self._write_url()

    def _write_url(self) -> None:
        query = self.explorer.to_query()
        search = ("?" + urlencode(query)) if query else ""
        if pn.state.location.search != search:
            pn.state.location.search = search


#: Keeps the view's state in the URL of the history entry the page was opened under. Panel's location
#: pushes a new entry for each write, and nothing reads an entry back but a new page: after scanning
#: twenty slices, Back stepped the address bar through all twenty while the page stayed as it was,
#: and took twenty presses to leave. A push to another path (none on our page) still pushes.
_URL_IN_PLACE = """
if (!window.__hpcdash_url_in_place) {
  window.__hpcdash_url_in_place = true
  const push = history.pushState.bind(history)
  history.pushState = function (state, title, url) {
    const to = url == null ? null : new URL(url, window.location.href)
    if (to != null && to.origin === window.location.origin && to.pathname === window.location.pathname)
      return history.replaceState(state, title, url)
    return push(state, title, url)
  }
}
"""


def _dispatch(doc_ref, fn) -> None:
    doc = doc_ref()
    if doc is not None:
        run_on(doc, fn)


def _delay(doc, fn, ms: int = 250) -> None:
    """Run `fn` after `ms` if still relevant: the loading spinner only shows for slow reads."""
    try:
        doc.add_timeout_callback(fn, ms)
    except Exception:  # noqa: BLE001
        pass
