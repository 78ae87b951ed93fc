"""Parameter models of the slice explorer: what the user chose, and the slices that follow from it.

No Panel or HoloViews import here: these classes are driven by widgets in `views.py`, by notebooks and
by tests alike. `SliceState` is one pane (one file, one dataset); `ExplorerState` holds many panes, the
link between them, the layout and the difference / ratio comparison.

Reading is split in two so that several panes can read concurrently and only the newest request is ever
rendered: `SliceState.load()` is pure I/O (safe in a worker thread; it returns a `SliceResult`), and
`SliceState.apply(result)` sets the output parameters (on the thread that owns the UI). `SliceLoader`
runs loads in a thread pool, latest-only: while a read is in flight, further requests only mark the pane
as stale, and when the read finishes the newest request is read next; intermediate slider positions are
never read at all.
"""

from __future__ import annotations

import html
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import param

from hpcdash.data.conventions import COMPLEX_PARTS
from hpcdash.words import plural

#: Colormaps offered in the "Colormap" selector (names understood by HoloViews / colorcet / bokeh).
#: colorwheel (colorcet) is cyclic: its ends meet, as a phase of -180 and 180 degrees does
CMAPS = ["viridis", "cividis", "magma", "inferno", "plasma", "gray", "fire", "kbc", "coolwarm", "RdBu_r",
         "Spectral_r", "colorwheel"]
#: A link (URL) opens at most this many panes: each is read and drawn when the page opens
MAX_PANES_FROM_LINK = 16
#: With `SliceState.follow`, a changed file is opened again once it has not been written for this long
#: (a job's write of a step takes well under a second; one caught half-way would not open).
FOLLOW_QUIET_S = 1.0
#: A move of at most this many slices counts as stepping (read-ahead starts); a longer one is a jump.
READ_AHEAD_STEP = 8
#: Diverging colormap used for difference and ratio views.
DIVERGING_CMAP = "coolwarm"
#: What each comparison mode draws (its colour bar's label) and its word in export file names.
_COMPARE_LABELS = {"difference": "A - B", "ratio": "log10(A / B)"}
_COMPARE_FILE_WORDS = {"difference": "minus", "ratio": "log10ratio"}
#: Attribute names that describe encoding, not the run; never shown as "key attributes" in a title.
_PLUMBING_ATTRS = {
    "units", "long_name", "standard_name", "_FillValue", "missing_value", "valid_min", "valid_max",
    "valid_range", "scale_factor", "add_offset", "bounds", "DIMENSION_LIST", "REFERENCE_LIST", "CLASS",
    "NAME", "_Netcdf4Dimid", "_Netcdf4Coordinates", "_nc3_strict", "coordinates", "grid_mapping",
    "signal", "axes", "NX_class", "interpretation", "description",
}


#: attributes that say how a run was computed rather than what it is (they differ between any two runs)
_BOOKKEEPING_ATTRS = {
    "hostname", "host", "pid", "run_index", "n_runs", "sweep", "solve_seconds", "solve_cpu_seconds",
    "date", "time", "timestamp", "created", "creator", "history", "uuid",
}


def _fmt(value: float) -> str:
    """Compact number for readouts: -125.0, 12.5, 0.00123, 1.5e+06."""
    if value is None or not np.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{value:.1f}"
    return f"{value:.4g}"


def _fmt_position(value: float) -> str:
    """A slice position: one decimal from 0.1 up to a million (-635.0, -1765.0, 12.5: one format
    across slices, where 4 significant digits gave -635.0 beside -1765), else 4 significant digits."""
    if value is None or not np.isfinite(value):
        return str(value)
    if value == 0 or 0.1 <= abs(value) < 1e6:
        return f"{value:.1f}"
    return f"{value:.4g}"


def _label(name: str, units: str | None) -> str:
    return f"{name} [{units}]" if units else name


#: An index past any end: opening a file clamps it to the last (see `SliceState._newest_kept`).
_LAST = 10**12


def default_axis(dims: list[str], roles: dict[str, str | None] | None = None) -> str | None:
    """The normal axis a dataset opens on: the vertical one of its last three dimensions (by their
    `roles`, see `hpcdash.data.conventions.dim_role`), else the first of them, so that a 3-D volume
    is cut across depth whether stored (z, y, x) or (x, y, z), and the leading dimensions of N-D data
    (time steps, iterations, frequencies of (t, z, y, x)) are held while the slider scans the volume;
    None for 2-D data (the dataset is the image)."""
    if len(dims) < 3:
        return None
    from hpcdash.data.conventions import split_volume

    volume = split_volume(dims)[1]
    return next((d for d in volume if (roles or {}).get(d) == "vertical"), volume[0])


def start_of_held(dims: list[str], held: dict[str, int]) -> dict[str, int]:
    """Where the dimensions `held` (name -> length) of a newly opened dataset start: a leading
    dimension (before the last three: time steps, iterations) at its last index, the newest of a run
    that is still writing; one of the volume's own three (held when a leading one is the normal axis)
    at its middle, like the slice of a 3-D volume."""
    from hpcdash.data.conventions import split_volume

    volume = set(split_volume(dims)[1])
    return {d: (n // 2 if d in volume else n - 1) for d, n in held.items()}


def _export_record(kind: str, filename: str, payload: bytes) -> dict[str, Any]:
    """What the record of any export holds: its format, file name, size and SHA-256 (hex) of the
    bytes written."""
    import hashlib

    return {"format": kind, "filename": filename, "bytes": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest()}


@dataclass
class SliceResult:
    """What one `SliceState.load()` produced: the request it answers and the 2-D slice or a message."""

    key: tuple
    data: Any = None            # xarray.DataArray (2-D) or None
    error: str = ""             # user-facing sentence, plain text (views escape it)
    changed: bool = False       # the error is that the file changed on disk since it was opened
    volume_range: tuple | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SliceStats:
    """Finite-value summary of one slice, computed once (in the reading thread) for the colour range."""

    count: int                  # finite values
    lo: float = float("nan")    # finite min
    hi: float = float("nan")    # finite max
    min_positive: float = float("nan")

    @classmethod
    def of(cls, data: Any) -> SliceStats:
        values = np.asarray(getattr(data, "values", data))
        if values.dtype.kind != "f":
            values = values.astype(float)
        if not values.size:
            return cls(0)
        from ._slice_kernels import finite_stats

        # one compiled pass, one release of the GIL (see _slice_kernels)
        return cls.from_summary(*finite_stats(np.ascontiguousarray(values).reshape(-1)))

    @classmethod
    def from_summary(cls, count: float, lo: float, hi: float, min_positive: float) -> SliceStats:
        """From the kernels' summary (count, min, max, smallest positive; inf where there is none)."""
        if not count:
            return cls(0)
        return cls(int(count), float(lo), float(hi), float(min_positive) if np.isfinite(min_positive) else float("nan"))


class SliceState(param.Parameterized):
    """One pane: a file, a dataset in it, the normal axis, the slice index and the colour settings.

    Inputs are set by widgets, notebooks or the URL; `data`, `error`, `notice`, `clim`, `readout` and
    `title` are outputs kept consistent by `apply()`. The HDF5 file stays open while the pane lives
    (`close()` releases it), so consecutive slices profit from the data layer's cache.
    """

    file = param.String(default="", doc="Path of the HDF5 file as it was opened, a symlink kept ('' before any "
                                        "file is open): Reload opens it again, following a link re-pointed since.")
    root = param.String(default=None, allow_None=True,
                        doc="When set, data stored outside this folder (external links, external storage, "
                            "virtual datasets) is refused.")
    dataset = param.Selector(default=None, objects=[], allow_None=True, doc="Dataset path in the file.")
    axis = param.Selector(default=None, objects=[], allow_None=True, label="Normal axis",
                          doc="Dimension normal to the slice plane.")
    index = param.Integer(default=0, bounds=(0, 0), label="Slice", doc="Index along the normal axis.")
    held = param.Dict(default={}, doc="Data of more than 3 dimensions: the index of each dimension that is "
                                      "neither the normal axis nor in the slice plane (dim name -> index, "
                                      "see `held_sizes`); {} for 2-D and 3-D data.")
    part = param.Selector(default=COMPLEX_PARTS[0], objects=list(COMPLEX_PARTS), label="Complex part",
                          doc="What of complex values is shown: their amplitude, phase (degrees), real or "
                              "imaginary part (`is_complex`); real data ignores it.")
    cmap = param.Selector(default="viridis", objects=CMAPS, label="Colormap")
    scale = param.Selector(default="linear", objects=["linear", "log"], label="Colour scale")
    symmetric = param.Boolean(default=False, label="Symmetric about zero")
    range_mode = param.Selector(default="auto", objects=["auto", "volume", "fixed"], label="Colour range",
                                doc="auto: per slice; volume: whole-volume range (computed once, sampled); "
                                    "fixed: Min and Max.")
    vmin = param.Number(default=None, allow_None=True, label="Min")
    vmax = param.Number(default=None, allow_None=True, label="Max")
    zoom = param.NumericTuple(default=None, length=4, allow_None=True, doc="""
        The part of the slice plane in view, (x0, x1, y0, y1) in its coordinates; None: the whole
        slice. Set by the drawn plot (zoom and pan), forgotten with a new file, dataset or normal axis.""")

    # outputs
    datasets_info = param.List(default=[], doc="VolumeInfo of every plottable dataset in the file.")
    data = param.Parameter(default=None, doc="The current 2-D slice (xarray.DataArray) or None.")
    error = param.String(default="", doc="Why nothing can be shown (plain text; escape before HTML).")
    notice = param.String(default="", doc="A non-fatal note about the colour range (plain text).")
    clim = param.Tuple(default=(0.0, 1.0), length=2, doc="Colour range actually used.")
    readout = param.String(default="", doc="Slice position in physical units, e.g. 'z = -125.0 m'.")
    title = param.String(default="", doc="File name, dataset and key attributes (plain text).")
    target = param.String(default="", doc="The file read: `file` with its symlinks resolved, as it was when the "
                                          "dataset was opened (a link's target); '' while none is open.")
    loading = param.Boolean(default=False, doc="True while a requested slice is on its way.")
    is_complex = param.Boolean(default=False, doc="The dataset holds complex values: `part` says what shows.")
    changed = param.Boolean(default=False, doc="The file changed on disk since it was opened: `reload()` "
                                               "shows the new contents.")
    follow = param.Boolean(default=False, label="Follow",
                           doc="Open the file again by itself when a job writes to it, as Reload would: the "
                               "newest step of a running inversion comes into view (see `follow_changes`).")
    probe = param.Dict(default=None, allow_None=True, doc="""
        A point of the slice plane (clicked on the plot) to draw the values along the normal axis through:
        {dim: coordinate} of the plane's two dims, in their units; None for none. Another normal axis,
        dataset or file clears it.""")
    profile = param.Parameter(default=None, doc="The values along the normal axis through `probe` at the held "
                              "indices (1-D xarray.DataArray), or None.")
    profile_error = param.String(default="", doc="Why there is no profile at `probe` (plain text).")
    history = param.Dict(default={}, doc="""
        What the run kept per step of a leading dimension (the data misfit, beta... per iteration of an
        inversion, `Volume.series`): {dim: {name: 1-D xarray.DataArray}}; read again with the file.""")
    last_export = param.Dict(default=None, allow_None=True,
                             doc="The last slice exported from this pane: format, filename, bytes, sha256, "
                                 "axis, index, held (see `exported`).")

    def __init__(self, file: str | os.PathLike | None = None, *, opener: Callable | None = None,
                 finder: Callable | None = None, **params):
        init_file = params.pop("file", None) or file
        # a slice and held indices mean something once the file is open (bounds): `open` sets them
        index, held = params.pop("index", None), params.pop("held", None)
        super().__init__(**params)
        self._vol = None
        self._vol_key: tuple | None = None
        self._vrange: dict[tuple, tuple] = {}
        self._stats: SliceStats | None = None  # summary of the shown slice (data)
        self._lock = threading.RLock()
        self._last_index: int | None = None
        self._index_axis: str | None = None  # the axis `index` and its bounds were last fitted to
        self._axis_places: dict[str, int] = {}  # the slice last shown along each axis of this dataset
        self._absent = False  # the file could not be opened because it did not exist (see `appeared`)
        self._shown_at: tuple | None = None  # (axis, index, held) of the slice on screen
        self._asked: dict[str, Any] = {}  # what the last `open` asked for (a Reload after it failed)
        self._reopened_for: tuple | None = None  # the request read after opening a changed file again
        self._reopen_note = ""  # said with the next slice shown
        #: why the dataset asked for in the last `open` is not the one shown ("" when it is)
        self.dataset_note = ""
        self._follow_failed: tuple | None = None  # the file's (mtime, size) when following it last failed
        self._opener = opener
        self._finder = finder
        self._suspend = False
        self.own_clim: tuple[float, float] = (0.0, 1.0)  # this pane's range before linking
        self._on_request: Callable[[SliceState, str], None] | None = None
        #: Called in the reading thread with every slice read (a view prepares its frame there, so
        #: linked panes rasterize in parallel; it may leave the slice's `SliceStats` in
        #: ``result.extra["stats"]``, else `load` computes them); its errors are ignored.
        self.on_loaded: Callable[[SliceResult], None] | None = None
        #: `extra` of the result on show (what `on_loaded` added to it).
        self.shown_extra: dict = {}
        self._title_first: tuple[str, ...] = ()  # attributes named first in the title
        self._depth_down: tuple[tuple, bool] | None = None  # ((file, dataset), axis) -> depth_down
        self._same_grid: dict = {}  # (id of own coords, id of a lead's) -> same coordinates
        self._profile_key: tuple | None = None  # what `profile` was read for
        if init_file:
            self.open(str(init_file), dataset=params.get("dataset"), axis=params.get("axis"),
                      index=index, held=held)

    # ------------------------------------------------------------------ data layer access
    def _data(self):
        import hpcdash.data as data  # imported late: keeps `import hpcdash.explorer.state` cheap
        return data

    def _open_volume(self, path: str, dataset: str | None):
        if self._opener is not None:
            return self._opener(path, dataset)
        return self._data().open_volume(path, dataset, root=self.root)

    def _find_volumes(self, path: str):
        if self._finder is not None:
            return self._finder(path)
        return self._data().find_volumes(path, root=self.root)

    # ------------------------------------------------------------------ opening files
    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Parameters set inside do not start this pane's own reactions (reads, new index bounds):
        the caller sets everything that belongs together, then asks for what it needs."""
        self._suspend = True
        try:
            yield
        finally:
            self._suspend = False

    def fit_index_bounds(self) -> int:
        """Set the bounds of `index` to the length of the current normal axis; returns that length."""
        n = self._vol.shape[list(self._vol.dims).index(self.axis)]
        self.param.index.bounds = (0, n - 1)
        self._index_axis = self.axis
        return n

    def follow_axis(self) -> None:
        """After a change of `axis`: fit the bounds of `index`, then `index` and `held` to the new axis,
        keeping the place shown where it can. A dimension that was held becomes the normal axis at its
        held index and the old normal axis is held at the slice it showed (data of more than 3 dims);
        an axis shown before (same dataset) comes back at the slice it showed then, as each axis had its
        own slider; else the middle slice (slice 68 of z is no place along x)."""
        old = self._index_axis
        if old is not None and old != self.axis and self.index is not None:
            self._axis_places[old] = self.index
        known = {**self._axis_places, **self.held}
        n = self.fit_index_bounds()
        self.index = self.clamp_index(known.get(self.axis, n // 2))
        self.zoom = None  # another plane
        self.probe = None  # a point of the old plane is a line across the new one
        self.held = self.fit_held(known)
        self._last_index = None

    def plane_dims(self, axis: str | None = None) -> list[str]:
        """The two dimensions of the slice plane when slicing along `axis` (default: the current axis),
        in file order: of the volume's own three (the last three dims), the two that are not the normal
        axis; when a leading dimension (time, iteration) is the normal axis, the two that are not
        vertical, a map (by the dims' roles; the last two where no role is known)."""
        vol, axis = self._vol, axis or self.axis
        if vol is None:
            return []
        dims = list(vol.dims)
        if axis is None:  # 2-D data: the dataset is the plane
            return dims if len(dims) == 2 else []
        others = [d for d in dims if d != axis]
        if len(others) <= 2:
            return others
        from hpcdash.data.conventions import split_volume

        volume = list(split_volume(dims)[1])
        if axis in volume:
            return [d for d in volume if d != axis]
        vertical = getattr(vol, "vertical_dim", lambda ds: None)(volume)
        return [d for d in volume if d != vertical][-2:] if vertical is not None else volume[-2:]

    def held_sizes(self, axis: str | None = None) -> dict[str, int]:
        """The dimensions held at one index while slicing along `axis` (default: the current axis), each
        with its length, in file order: for data of more than 3 dims, those neither the normal axis nor
        in the slice plane (`plane_dims`); {} for 2-D and 3-D data."""
        vol, axis = self._vol, axis or self.axis
        if vol is None or axis is None:
            return {}
        dims, plane = list(vol.dims), self.plane_dims(axis)
        return {d: int(vol.shape[dims.index(d)]) for d in dims if d != axis and d not in plane}

    def fit_held(self, positions: dict[str, Any], axis: str | None = None) -> dict[str, int]:
        """A value for `held` at `axis` (default: the current axis): each held dimension at its index in
        `positions` moved inside its length, at 0 where `positions` has none (or no integer); names
        that are not held are dropped."""
        out = {}
        for d, n in self.held_sizes(axis).items():
            try:
                i = int(positions.get(d, 0))
            except (TypeError, ValueError):
                i = 0
            out[d] = min(max(i, 0), n - 1)
        return out

    def clamp_index(self, index: int) -> int:
        """`index` moved inside the current bounds of `index`."""
        lo, hi = self.param.index.bounds
        return int(min(max(index, lo), hi))

    def index_for(self, lead: SliceState, index: int) -> int:
        """This pane's slice at the place where `lead` shows its slice `index`: the same index on the
        same grid, the nearest cell centre where the two runs' coordinates along the axis differ (a
        run on another mesh), the same index (kept in bounds) where either has none."""
        mine, theirs = self._axis_coords(), lead._axis_coords()
        if mine is None or theirs is None or mine is theirs or not 0 <= index < len(theirs):
            return self.clamp_index(index)
        key = (id(mine), id(theirs))
        same = self._same_grid.get(key)
        if same is None:
            same = len(mine) == len(theirs) and bool(np.allclose(mine, theirs, rtol=1e-6, atol=0.0))
            self._same_grid = {key: same}  # one partner at a time is the common case
        if same:
            return self.clamp_index(index)
        return self.clamp_index(int(np.abs(mine - theirs[index]).argmin()))

    def dims_for(self, other: SliceState) -> dict[str, str]:
        """Which dimension of this pane each dimension of `other` is (other's name -> this pane's), for
        linking and comparing: by their roles where each pane has one dimension of that role, else by
        name (see `hpcdash.data.conventions.match_dims`); {} while either has no file open."""
        mine, theirs = self._vol, other._vol
        if mine is None or theirs is None:
            return {}
        from hpcdash.data.conventions import match_dims

        return match_dims(tuple(theirs.dims), getattr(theirs, "dim_roles", None) or {},
                          tuple(mine.dims), getattr(mine, "dim_roles", None) or {})

    def dim_for(self, other: SliceState, dim: str | None) -> str | None:
        """This pane's dimension that is `other`'s dimension `dim` (see `dims_for`); None for no dim
        or one this pane has no counterpart of."""
        return None if dim is None else self.dims_for(other).get(dim)

    def _axis_coords(self) -> np.ndarray | None:
        """The cell centres along the normal axis; None without an axis, or where the file gives it
        no coordinates (the readout, the position compared and Link's mapping all ask this)."""
        return self._coords_of(self.axis)

    def _coords_of(self, dim: str | None) -> np.ndarray | None:
        """The cell centres along `dim`; None for no dim, or one the file gives no coordinates."""
        vol = self._vol
        if vol is None or dim is None or dim not in vol.dims or dim in getattr(vol, "index_dims", ()):
            return None
        coords = vol.coords.get(dim)
        n = vol.shape[list(vol.dims).index(dim)]
        return coords if coords is not None and len(coords) == n else None

    def open(self, path: str | os.PathLike, dataset: str | None = None, axis: str | None = None,
             index: int | None = None, read: bool = True, held: dict[str, int] | None = None) -> bool:
        """Open `path` (and `dataset`, default pick if None) in this pane and read the first slice
        (with ``read=False`` the caller asks for it: `refresh()`, or a loader that reads it in the
        background). `held`: indices of the held dimensions (see `held`; default 0).

        Returns False, with `error` set to a clear sentence, when the file cannot be shown.
        """
        path = str(path)
        self.dataset_note = ""
        # what was asked for, until the file opens: a Reload after a failed open asks for it again
        self._asked = {"dataset": dataset, "axis": axis, "index": index, "held": held}
        with self.suspended():
            self._close_volume()
            try:
                if self.root:  # also for a file opened before: it may be a symlink out of the root now
                    self._data().safe_path(self.root, self._below_root(path))
                infos = list(self._find_volumes(path))
            except Exception as err:  # noqa: BLE001 - every failure becomes a message in this pane
                self._fail(path, err)
                return False
            if not infos:
                self._fail(path, f"{Path(path).name!s} contains no dataset with 2 or more dimensions.")
                return False
            names = [i.name for i in infos]
            if dataset not in names:
                asked = dataset
                dataset = next((i.name for i in infos if getattr(i, "is_default", False)), names[0])
                if asked:  # named by a link or a notebook: say why another one is shown
                    self.dataset_note = self._not_shown(path, asked, dataset)
            self.param.dataset.objects = names
            self.param.update(file=path, datasets_info=infos, dataset=dataset, error="")
            ok = self._select_dataset(dataset, axis=axis, index=index, held=held)
        if ok and read:
            self.refresh()
        return ok

    def _below_root(self, path: str) -> str:
        """`path` as the user knows it: relative to the root when it is below it, else as it is."""
        if not self.root:
            return path
        rel = self._data().relative_below(self.root, path)
        return path if rel is None else rel

    def _not_shown(self, path: str, asked: str, shown: str) -> str:
        """Why dataset `asked` of `path` is not shown (the reason the data layer gives), and what is
        shown instead; "" when it opens after all (another name of a dataset listed, e.g. a soft link)."""
        try:
            self._open_volume(path, asked).close()
        except Exception as err:  # noqa: BLE001 - the reason is the message
            reason = str(err) or f"{asked} cannot be shown ({type(err).__name__})."
            return f"{reason} {Path(path).name} shows {shown} instead."
        return ""

    def reload(self) -> bool:
        """Open the pane's file again, keeping dataset, axis, slice and colours: shows what a running
        job wrote since (new datasets, new values; a file changed on disk is refused until then).
        The slice is asked for like any other (in a served pane: read in the background, with the
        loading indicator, while the last slice stays on screen)."""
        if not self.file:
            return False
        if self._vol is None:  # the file did not open: what was asked for then (a link's slice)
            ok = self.open(self.file, **self._asked, read=False)
        else:
            at_end = self.index == self.param.index.bounds[1] and self.axis is not None
            ok = self.open(self.file, dataset=self.dataset, axis=self.axis, index=_LAST if at_end else self.index,
                           held=self._newest_kept(), read=False)
        if ok:
            self._request()
        return ok

    def _reopen_for_step(self) -> bool:
        """A step asked for a slice of a file that changed on disk since it was opened (a job writing
        it): open it again at the place asked for and read it from what is on disk now (once per
        place: if it changes again meanwhile, the slice on screen stays). False if it cannot be opened."""
        before = self.target
        if not self.open(self.file, dataset=self.dataset, axis=self.axis, index=self.index, held=self._newest_kept(),
                         read=False):
            return False
        self._reopened_for = self.request_key()
        what = (f"now leads to {Path(self.target).name}" if Path(self.target).name != Path(before).name
                else "changed on disk")
        self._reopen_note = f"{Path(self.file).name} {what}: opened again, this slice is what it holds now."
        self._request("reopened")  # this pane alone, also while linked panes are being shown
        return True

    def _newest_kept(self) -> dict[str, int]:
        """`held` for opening the file again: a dimension held at its last index stays at the last (a
        job that appended an iteration: the newest is shown, as when the file is first opened)."""
        sizes = self.held_sizes()
        return {d: (_LAST if i == sizes.get(d, 0) - 1 else i) for d, i in self.held.items()}

    def follow_changes(self) -> bool:
        """With `follow` on: open the file again (`reload`) when it changed on disk and has not been
        written for `FOLLOW_QUIET_S`; True when it did. A file caught while a job writes it is tried at
        the next check, the slice on screen staying; one that failed to open is tried again once it is
        written again."""
        if not (self.follow and self.file and (self.changed or (self._vol is None and self.error))):
            return False
        try:
            st = os.stat(self.file)
        except OSError:
            return False  # replaced by a rename this very moment, or deleted: the next check sees
        version = (st.st_mtime_ns, st.st_size)
        if time.time() - st.st_mtime < FOLLOW_QUIET_S or version == self._follow_failed:
            return False
        ok = self.reload()
        self._follow_failed = None if ok else version
        return ok

    def check_changed(self) -> bool:
        """Note (in `changed` and `notice`) that the open file was written, replaced or deleted since it
        was opened, before any read runs into it; True when it was. Cheap: one stat of the file."""
        vol = self._vol
        if self.changed or vol is None or not hasattr(vol, "changed_on_disk") or not vol.changed_on_disk():
            return self.changed
        self.param.update(changed=True, notice=self._changed_notice())
        return True

    def _changed_notice(self) -> str:
        name = Path(self.file).name
        if os.path.exists(self.file):
            now = Path(os.path.realpath(self.file)).name
            if self.target and now != Path(self.target).name:  # a link re-pointed: another run now
                return f"{name} now leads to {now} (it led to {Path(self.target).name} when opened): Reload opens it."
            return f"{name} changed on disk since it was opened: Reload shows what was written."
        return f"{name} was deleted or moved since it was opened: the slice shown is the last one read."

    def _fail(self, path: str, err: Exception | str) -> None:
        msg = str(err) if str(err) else f"{Path(path).name} could not be read ({type(err).__name__})."
        self._absent = not os.path.exists(path)  # a file a job has yet to write
        from hpcdash.data.errors import MissingFileError

        if self._absent and isinstance(err, MissingFileError):
            msg = f"'{self._below_root(path)}' does not exist (yet): this pane opens it when it appears."
        self.param.update(file=path, data=None, error=msg, notice="", readout="",
                          title=Path(path).name, datasets_info=[], changed=False, history={})

    def appeared(self) -> bool:
        """True when the pane could not open its file because it did not exist, and it does now (a
        file named before the job wrote it). Cheap: one stat."""
        return bool(self._absent and self._vol is None and self.file
                    and os.path.isfile(self.file))

    def _select_dataset(self, dataset: str, axis: str | None = None, index: int | None = None,
                        held: dict[str, int] | None = None) -> bool:
        """Open `dataset` of the current file and set axis choices, slice bounds and held indices."""
        try:
            vol = self._open_volume(self.file, dataset)
        except Exception as err:  # noqa: BLE001
            self._fail(self.file, err)
            return False
        with self._lock:
            old, self._vol = self._vol, vol
            self._vol_key = (self.file, dataset)
        self._depth_down = None  # the file may have been written since (Reload)
        if old is not None and old is not vol:
            _safe_close(old)
        self.target = str(getattr(vol, "real_path", None) or os.path.realpath(self.file))
        self.is_complex = bool(getattr(vol, "is_complex", False))
        self.sync_part()
        dims = list(vol.dims)
        # 3-D and N-D: any dim can be the normal axis (the extra dims of N-D data are held at an
        # index each, `held`); 2-D: the dataset is the image, there is no normal axis
        axes = dims if len(dims) >= 3 else []
        self.param.axis.objects = axes
        axis = axis if axis in axes else default_axis(dims, getattr(vol, "dim_roles", None))
        n = vol.shape[dims.index(axis)] if axis else 1
        if index is None:
            index = n // 2
        index = int(min(max(index, 0), n - 1))
        self.param.index.bounds = (0, max(n - 1, 0))
        self._index_axis = axis
        self._axis_places = {}
        self.zoom = None
        start = start_of_held(dims, self.held_sizes(axis))
        self.param.update(axis=axis, index=index, held=self.fit_held({**start, **(held or {})}, axis), error="")
        self.title = self._make_title(vol)
        self.history = self._read_history(vol)
        return True

    @staticmethod
    def _read_history(vol) -> dict[str, dict]:
        """`history` of `vol`: the series along its leading dims (those before the last three)."""
        out = {}
        for dim in list(getattr(vol, "dims", ()))[:-3]:
            try:
                series = vol.series(dim)
            except Exception:  # noqa: BLE001 - figures beside the model; the model shows without them
                continue
            if series:
                out[dim] = series
        return out

    def title_attrs(self) -> dict[str, str]:
        """The dataset's attributes that may describe the run in its title, as shown (name -> text):
        short numbers and strings, none of the conventions' own or of the run's bookkeeping."""
        attrs = getattr(self._vol, "attrs", {}) or {}
        out = {}
        for k, v in attrs.items():
            if (k in _PLUMBING_ATTRS or k in _BOOKKEEPING_ATTRS or str(k).startswith("_")
                    or not isinstance(v, (str, int, float, np.integer, np.floating)) or len(str(v)) > 40):
                continue
            out[str(k)] = _fmt(float(v)) if isinstance(v, (float, np.floating)) else str(v)
        return out

    def prefer_in_title(self, names: Iterator[str] | list[str]) -> None:
        """Name these attributes first in the title (those that tell the open runs apart)."""
        names = tuple(names)
        if names != self._title_first:
            self._title_first = names
            if self._vol is not None:
                self.title = self._make_title(self._vol)

    @property
    def opened_as(self) -> str:
        """`file` when the file read (`target`) is reached through a symlink (the file is one, or lies in
        a linked folder), else ''."""
        return self.file if self.target and os.path.abspath(self.file) != self.target else ""

    def file_label(self) -> str:
        """The file as this pane names it (plain text): its name, then the name of the file read where
        that differs (a link: "latest.h5 → run_0042.h5")."""
        name = Path(self.file).name
        read = Path(self.target).name if self.target else name
        return name if read == name else f"{name} → {read}"

    def _make_title(self, vol) -> str:
        parts = [self.file_label(), str(vol.name)]
        attrs = getattr(vol, "attrs", {}) or {}
        shown = self.title_attrs()
        keys = list(shown)
        # the attributes that tell the open runs apart first, then numbers (beta=10, iteration=12 tell
        # runs apart better than shared strings)
        first = [k for k in self._title_first if k in shown]
        keys.sort(key=lambda k: not isinstance(attrs[k], (int, float, np.integer, np.floating)))
        keys = first + [k for k in keys if k not in first]
        parts += [f"{k}={shown[k]}" for k in keys[:3]]
        return " · ".join(parts)

    @property
    def volume(self):
        """The open `hpcdash.data.Volume` of this pane (None before a file is open)."""
        return self._vol

    def close(self) -> None:
        """Release the HDF5 file of this pane."""
        self._close_volume()

    def _close_volume(self) -> None:
        with self._lock:
            vol, self._vol, self._vol_key = self._vol, None, None
        self._depth_down = None
        self.target = ""
        if vol is not None:
            _safe_close(vol)

    # ------------------------------------------------------------------ watchers: keep params consistent
    @param.depends("dataset", watch=True)
    def _dataset_changed(self):
        if self._suspend or not self.file or self._vol_key == (self.file, self.dataset):
            return
        with self.suspended():
            ok = self._select_dataset(self.dataset)
        if ok:
            self._request()

    @param.depends("axis", watch=True)
    def _axis_changed(self):
        if self._suspend or self._vol is None or self.axis is None:
            return
        with self.suspended():
            self.follow_axis()
        self._request("axis")

    @param.depends("index", watch=True)
    def _index_changed(self):
        if not self._suspend:
            self._request("index")

    @param.depends("held", watch=True)
    def _held_changed(self):
        if self._suspend:
            return
        fitted = self.fit_held(self.held)
        if fitted != self.held:  # a notebook or a stale widget asked for what is not there
            with self.suspended():
                self.held = fitted
        self._request("held")

    @param.depends("part", watch=True)
    def _part_changed(self):
        if self._suspend or not self.is_complex:
            return
        self.sync_part()
        self._request("part")

    @param.depends("probe", "data", watch=True)
    def _update_profile(self) -> None:
        """Read the profile at `probe` when what it depends on changed: the point, the held indices,
        the complex part, the file opened again (a new iteration of a running inversion); a step of
        the slider only moves the slice along it."""
        # the key is made of what the cell depends on, not of the cell: a slider step (a new `data`)
        # looks for none of it
        key = None if not self.probe else (
            getattr(self._vol, "version", id(self._vol)), self.dataset, self.axis,
            tuple(sorted(self.probe.items())), tuple(sorted(self.held.items())), self.complex_part)
        if key == self._profile_key:
            return
        self._profile_key = key
        at = self.probe_indices()
        if at is None:
            self.param.update(profile=None, profile_error="")
            return
        if isinstance(at, str):
            self.param.update(profile=None, profile_error=at)
            return
        try:
            with self._lock:
                line = self._vol.profile(self.axis, **at, **self.held)
        except Exception as err:  # noqa: BLE001 - said in the pane; the slice stays
            self._profile_key = None  # tried again with the next slice shown
            self.param.update(profile=None, profile_error=str(err) or f"The profile could not be read "
                                                                     f"({type(err).__name__}).")
            return
        self.param.update(profile=line, profile_error="")

    def probe_at(self, point: dict[str, float]) -> None:
        """Draw the profile through `point` ({dim: coordinate} of the plane's two dims, e.g. where the
        plot was clicked): `probe` becomes the centre of the cell there (as it is when outside the grid,
        to say so)."""
        at = self.probe_indices(point)
        if isinstance(at, dict):
            point = {d: self._position_of(d, i) for d, i in at.items()}
        self.probe = dict(point)

    def probe_indices(self, point: dict[str, float] | None = None) -> dict[str, int] | str | None:
        """The cell of the plane nearest to `point` (default `probe`) ({dim: index}); a message when
        the point lies outside this pane's grid; None without a point (or a point of another plane)."""
        point = self.probe if point is None else point
        if not point or self._vol is None or self.axis is None or set(point) != set(self.plane_dims()):
            return None
        out = {}
        for dim, value in point.items():
            n = self._vol.shape[list(self._vol.dims).index(dim)]
            coords = self._coords_of(dim)
            c = np.arange(n, dtype=float) if coords is None else np.asarray(coords, dtype=float)
            if not np.isfinite(value):
                return None
            i = int(np.abs(c - value).argmin())
            half = abs(c[1] - c[0]) / 2 if n > 1 else 0.5  # half a cell beyond the outer centres
            lo, hi = float(c.min()), float(c.max())
            if not lo - half <= value <= hi + half:
                where = ", ".join(f"{d} = {_fmt_position(v)}" for d, v in point.items())
                return f"The point {where} is outside the grid of {Path(self.file).name}."
            out[dim] = i
        return out

    def profile_text(self) -> str:
        """Where the profile runs: 'z through y = 5.0 m · x = -35.0 m' (the centres of the cell read,
        in file order)."""
        line = self.profile
        if line is None:
            return ""
        (dim,) = line.dims
        at = self.probe_indices()
        if not isinstance(at, dict):
            return ""
        return f"{dim} through " + " · ".join(self._coord_text(d, at[d]) for d in self.plane_dims() if d in at)

    @property
    def complex_part(self) -> str | None:
        """`part` when the dataset holds complex values, else None (real data has no part)."""
        return self.part if self.is_complex else None

    def sync_part(self) -> None:
        """Give the open volume this pane's `part` (its units, the `quantity`, follow at once; the
        slice with it is read by the next request)."""
        with self._lock:
            if self._vol is not None and self.is_complex:
                self._vol.part = self.part

    @param.depends("cmap", "scale", "symmetric", "range_mode", "vmin", "vmax", watch=True)
    def _colour_changed(self):
        if self._suspend:
            return
        if self.range_mode == "fixed" and (self.vmin is None or self.vmax is None) and self.data is not None:
            # a fixed range starts from the one on screen, rounded outwards, for the user to adjust
            lo, hi = _round_out(*self.clim)
            self.param.update(vmin=lo if self.vmin is None else self.vmin,
                              vmax=hi if self.vmax is None else self.vmax)
            return  # the update comes back here with both set
        self._update_colour()

    def _request(self, reason: str = "dataset") -> None:
        if self._on_request is not None:
            self._on_request(self, reason)
        else:
            self.refresh()

    # ------------------------------------------------------------------ reading
    def request_key(self) -> tuple:
        """Identifies what is wanted now: (file, dataset, axis, index, held as sorted (dim, index) pairs,
        part of complex values or None)."""
        return (self.file, self.dataset, self.axis, self.index, tuple(sorted(self.held.items())),
                self.complex_part)

    def load(self, key: tuple | None = None) -> SliceResult:
        """Read the slice for `key` (default: the current request). Thread-safe; sets no parameters."""
        key = key or self.request_key()
        file, dataset, axis, index, held, part = key
        held = dict(held)
        with self._lock:
            vol = self._vol
            if vol is None or self._vol_key != (file, dataset):
                return SliceResult(key, error=self.error or "No file is open in this pane.")
            try:
                if part is not None:
                    vol.part = part
                last = self._last_index
                if axis is not None and last is not None and 0 < abs(index - last) <= READ_AHEAD_STEP:
                    # stepping: the slabs around here load in the background (asked first, so
                    # this read knows they are on their way); a jump reads only its own plane
                    try:
                        vol.prefetch(axis, index, 1 if index > last else -1, **held)
                    except Exception:  # noqa: BLE001 - read-ahead is an optimisation only
                        pass
                # dims in the order drawn: depth up the screen, east across, whatever the file's order
                if axis is None:
                    data = vol.display_slice(0, 0)  # 2-D dataset: the whole array
                else:
                    data = vol.display_slice(axis, index, **held)
                vrange = None
                if self.range_mode == "volume":
                    vrange = self._volume_range(vol)
                self._last_index = index
                result = SliceResult(key, data=data, volume_range=vrange)
            except Exception as err:  # noqa: BLE001
                msg = str(err) or f"The slice could not be read ({type(err).__name__})."
                return SliceResult(key, error=msg, changed=isinstance(err, self._data().FileChangedError))
        if self.on_loaded is not None:
            try:
                self.on_loaded(result)
            except Exception:  # noqa: BLE001 - an optimisation: the view renders on the UI thread then
                pass
        if "stats" not in result.extra:  # unless on_loaded took it on its own pass over the values
            try:
                result.extra["stats"] = SliceStats.of(data)
            except Exception as err:  # noqa: BLE001
                return SliceResult(key, error=str(err) or f"The slice could not be summarised ({type(err).__name__}).")
        return result

    def _volume_range(self, vol) -> tuple:
        key = (self.file, self.dataset, getattr(vol, "part", None))
        if key not in self._vrange:
            self._vrange[key] = tuple(float(v) for v in vol.value_range())
        return self._vrange[key]

    def apply(self, result: SliceResult, clim: tuple[float, float] | None = None) -> bool:
        """Show `result` (call on the UI thread); `clim` overrides this pane's own colour range (linked
        panes share one). Data, colour range and readout change in one update, so a view redraws once.
        A result for an outdated request is ignored (returns False)."""
        if result.key != self.request_key():
            return False
        if result.error and result.changed and self.data is not None and self._shown_at is not None \
                and self._shown_at[0] == self.axis and os.path.exists(self.file):
            if result.key != self._reopened_for and self._reopen_for_step():
                return True
            # the file changed again while it was read after opening it again: the slice on screen
            # stays, the slider goes back to it, and the notice says to press Reload, rather than an
            # error in its place
            with self.suspended():
                self.param.update(index=self._shown_at[1], held=dict(self._shown_at[2]))
            self.param.update(readout=self._make_readout(), changed=True, notice=self._changed_notice())
            return True
        if result.error:
            self.shown_extra = {}
            self._shown_at = None
            self.param.update(data=None, error=result.error, notice="", readout=self._make_readout(),
                              changed=result.changed)
            return True
        self._shown_at = (self.axis, self.index, dict(self.held))
        self._stats = result.extra.get("stats") or SliceStats.of(result.data)
        self.shown_extra = result.extra
        own, notice = self.color_range(result.volume_range, data=result.data, stats=self._stats)
        self.own_clim = own
        reopened, self._reopen_note = self._reopen_note, ""
        self.param.update(data=result.data, error="", readout=self._make_readout(), clim=clim or own,
                          notice=self._with_notes(" ".join(filter(None, [reopened, notice]))), changed=False)
        return True

    def own_range_for(self, result: SliceResult) -> tuple[float, float] | None:
        """The colour range this pane would use for `result` on its own (None for an error)."""
        if result.error or result.data is None:
            return None
        return self.color_range(result.volume_range, data=result.data, stats=result.extra.get("stats"))[0]

    def export_stem(self, name: str | None = None) -> str:
        """File name (without suffix) of an export of what this pane shows: `name` (default: the
        file's stem), then the normal axis and the slice number the page shows, 1 to n ("a_z64"),
        then each held dimension's ("a_z64_t3"); `name` alone for a 2-D dataset; then the part of
        complex values ("a_z64_phase")."""
        from hpcdash.data import filename_part

        name = name or filename_part(Path(self.file).stem) or "slice"
        return self._stem(name, [(self.axis, self.index), *self.held.items()] if self.axis else [])

    def _stem(self, name: str, cells: list[tuple[str, int]]) -> str:
        """`name`, then each (dim, index) numbered from 1 like the slices ("_z64"), then the part of
        complex values: the tail of every export's file name."""
        from hpcdash.data import filename_part

        return (name + "".join(f"_{filename_part(d) or 'dim'}{i + 1}" for d, i in cells)
                + (f"_{self.complex_part}" if self.is_complex else ""))

    def exported(self, kind: str, filename: str, payload: bytes) -> None:
        """Note that the current slice was exported (`kind`: png / npy / csv) as `payload`."""
        self.last_export = {**_export_record(kind, filename, payload), "dataset": self.dataset,
                            "axis": self.axis, "index": self.index, "held": dict(self.held),
                            "readout": self.readout, **({"part": self.complex_part} if self.is_complex else {})}

    def profile_stem(self) -> str:
        """File name (without suffix) of an export of the profile: the file's stem, the axis it runs
        along, then the cell it runs through (in file order) and the held indices, numbered from 1 like
        the slices ("a_z_profile_y65_x61")."""
        from hpcdash.data import filename_part

        at = self.probe_indices()
        at = at if isinstance(at, dict) else {}
        cells = [*((d, at[d]) for d in self.plane_dims() if d in at), *self.held.items()]
        return self._stem(f"{filename_part(Path(self.file).stem) or 'run'}_{filename_part(self.axis or '') or 'dim'}"
                          "_profile", cells)

    def profile_exported(self, kind: str, filename: str, payload: bytes) -> None:
        """Note that the profile was exported (`kind`: npy / csv) as `payload`."""
        self.last_export = {**_export_record(kind, filename, payload), "dataset": self.dataset,
                            "profile": {"axis": self.axis, "through": dict(self.probe or {}),
                                        "where": self.profile_text()},
                            "held": dict(self.held), **({"part": self.complex_part} if self.is_complex else {})}

    def refresh(self) -> None:
        """Read and show the current slice synchronously (notebook and tests)."""
        if not self.file or self._vol is None:
            return
        self.apply(self.load())

    # ------------------------------------------------------------------ derived text
    def _make_readout(self) -> str:
        """The normal axis and then each held dimension, e.g. 'z = -112.5 m (slice 5 of 12) · t = 3.0 s
        (slice 2 of 4)'."""
        if self._vol is None or self.axis is None:
            return ""
        held = self.held_sizes()
        return " · ".join([self._position_text(self.axis, self.index)]
                          + [self._position_text(d, self.held.get(d, 0)) for d in held])

    def _position_text(self, dim: str, index: int) -> str:
        """Where `index` lies along `dim`: its coordinate and the 1-based slice number, or the slice
        number alone for a dim without coordinates (an index "= 8" beside "slice 9" read as two)."""
        vol = self._vol
        n = vol.shape[list(vol.dims).index(dim)]
        if self._coords_of(dim) is None or not 0 <= index < n:
            return f"{dim}: slice {index + 1} of {n}"
        return f"{self._coord_text(dim, index)} (slice {index + 1} of {n})"

    def _coord_text(self, dim: str, index: int) -> str:
        """The coordinate of cell `index` along `dim`: 'z = -125.0 m'; 'x: cell 4' (1-based, like the
        slices) where the file gives none."""
        coords = self._coords_of(dim)
        if coords is None:
            return f"{dim}: cell {index + 1}"
        units = (getattr(self._vol, "coord_units", {}) or {}).get(dim)
        value = coords[index]
        # counts (iterations, steps, frequencies numbered 1, 2, ...) as whole numbers: "iteration = 3"
        counted = np.asarray(coords).dtype.kind in "iu" or (not units and bool(np.all(np.mod(coords, 1) == 0)))
        return f"{dim} = {int(value) if counted else _fmt_position(float(value))}" + (f" {units}" if units else "")

    def axis_labels(self) -> tuple[str, str, str]:
        """Labels with units: (x axis, y axis, colour bar)."""
        vol = self._vol
        if vol is None or self.data is None:
            return ("x", "y", "value")
        cu = getattr(vol, "coord_units", {}) or {}
        ydim, xdim = self.data.dims
        cname = vol.long_name or vol.name.rsplit("/", 1)[-1]
        return (_label(xdim, cu.get(xdim)), _label(ydim, cu.get(ydim)), _label(cname, vol.units))

    @property
    def quantity(self) -> str:
        """What the values are, for sharing a colour range between linked panes: their units ("" when
        the file names none)."""
        vol = self._vol
        return str(getattr(vol, "units", None) or "") if vol is not None else ""

    def plane_extent(self) -> tuple | None:
        """The slice plane's dimensions as drawn and the span of their cell centres, ((across, lo, hi),
        (up, lo, hi)), or None before a file is open (known before its first slice is read)."""
        vol = self._vol
        if vol is None:
            return None
        out = []
        rows, cols = vol.plane_order(self.plane_dims())
        for d in (cols, rows):
            c = np.asarray(vol.coords.get(d, ()), dtype=float)
            out.append((d, float(c.min()), float(c.max())) if c.size else (d, 0.0, 0.0))
        return tuple(out)

    def same_extent(self, other: SliceState, rtol: float = 0.01) -> bool:
        """True when `other` shows the same plane dimensions (counterparts, see `dims_for`: "x" of one
        run may be "i" with CF axis "X" of another) over the same span (to `rtol` of it), drawn the same
        way up (a depth marked positive down is drawn downwards): zooming one pane means the same place
        in the other, and they can share their ranges."""
        a, b = self.plane_extent(), other.plane_extent()
        if a is None or b is None or self.depth_down != other.depth_down:
            return False
        dims = self.dims_for(other)
        for (da, lo_a, hi_a), (db, lo_b, hi_b) in zip(a, b, strict=True):
            tol = rtol * max(hi_a - lo_a, hi_b - lo_b, 1e-300)
            if dims.get(db) != da or abs(lo_a - lo_b) > tol or abs(hi_a - hi_b) > tol:
                return False
        return True

    def normal_position(self) -> float | None:
        """Where the slice lies along the normal axis: its coordinate, or its index for a dimension
        without coordinates (None for a 2-D dataset or before a file is open)."""
        if self._vol is None or self.axis is None:
            return None
        return self._position_of(self.axis, self.index)

    def held_positions(self) -> dict[str, float]:
        """Where each held dimension is held: its coordinate, or its index for a dimension without
        coordinates (dim name -> position; {} for 2-D and 3-D data)."""
        return {d: self._position_of(d, i) for d, i in self.held.items()}

    def _position_of(self, dim: str, index: int) -> float:
        coords = self._coords_of(dim)
        if coords is None or not 0 <= index < len(coords):
            return float(index)
        return float(coords[index])

    @property
    def depth_down(self) -> bool:
        """True when the slice's vertical axis is a depth (``Volume.positive_down``: CF ``positive="down"``):
        it is drawn increasing downwards, the surface at the top. Worked out once per file, dataset and
        normal axis (views and linked panes ask it on every redraw)."""
        key = (self._vol_key, self.axis)
        known = self._depth_down
        if known is not None and known[0] == key:
            return known[1]
        vol = self._vol
        plane = self.plane_dims() if vol is not None else []
        down = False
        if len(plane) == 2:
            # the plane as drawn, known before its first slice is read (linked panes decide on it first)
            up = vol.plane_order(plane)[0] if hasattr(vol, "plane_order") else plane[0]
            down = up in (getattr(vol, "positive_down", None) or ())
        self._depth_down = (key, down)
        return down

    def same_units(self) -> bool:
        """True when both plane axes carry the same (known) units: draw with data aspect 1."""
        vol = self._vol
        if vol is None or self.data is None:
            return False
        cu = getattr(vol, "coord_units", {}) or {}
        ydim, xdim = self.data.dims
        return bool(cu.get(xdim)) and cu.get(xdim) == cu.get(ydim)

    # ------------------------------------------------------------------ colour
    def _update_colour(self, volume_range: tuple | None = None) -> None:
        clim, notice = self.color_range(volume_range)
        self.own_clim = clim
        self.param.update(clim=clim, notice=self._with_notes(notice))

    def _with_notes(self, notice: str) -> str:
        """`notice` and what the volume says of its values (e.g. missing sources of a virtual dataset)."""
        return " ".join(filter(None, [*getattr(self._vol, "notes", []), notice]))

    def color_range(self, volume_range: tuple | None = None, data: Any = None,
                    stats: SliceStats | None = None) -> tuple[tuple[float, float], str]:
        """The colour range for the current settings and slice, and a note when it had to be adjusted.

        Never fails: all-NaN or constant slices and log scales on non-positive data give a usable
        range and a sentence saying what happened.
        """
        notes = []
        if stats is None:
            if data is None and self.data is not None and self._stats is not None:
                stats = self._stats  # the shown slice's summary, kept by apply()
            else:
                data = self.data if data is None else data
                stats = SliceStats(0) if data is None else SliceStats.of(data)
        has_data = data is not None or self.data is not None
        if has_data and stats.count == 0:
            notes.append("This slice has no finite values (all NaN, infinite or fill).")
        if self.range_mode == "fixed" and self.vmin is not None and self.vmax is not None:
            lo, hi = float(self.vmin), float(self.vmax)
            if lo > hi:
                lo, hi = hi, lo
                notes.append("Min was larger than max; they were swapped.")
        elif self.range_mode == "volume" and (volume_range or self._vol is not None):
            if volume_range is None:
                try:
                    volume_range = self._volume_range(self._vol)
                except Exception as err:  # noqa: BLE001
                    notes.append(f"Whole-volume range unavailable: {err}")
                    volume_range = None
            if volume_range is not None:
                lo, hi = volume_range
            elif stats.count:
                lo, hi = stats.lo, stats.hi
            else:
                lo, hi = 0.0, 1.0
        elif stats.count:
            lo, hi = stats.lo, stats.hi
        else:
            lo, hi = 0.0, 1.0
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi = 0.0, 1.0
        if self.scale == "log":
            if lo <= 0 and stats.count and stats.hi > 0 and self.range_mode != "fixed":
                lo = stats.min_positive
                notes.append("Log colour needs positive values: values <= 0 are left blank.")
            elif hi <= 0 or lo <= 0:
                notes.append("Log colour needs positive values, and this range has none: "
                             "showing a linear scale. Choose 'linear' or a positive range.")
        if self.symmetric and not self.scale == "log":
            m = max(abs(lo), abs(hi))
            lo, hi = -m, m
        if hi == lo:
            pad = abs(lo) * 0.01 or 1.0
            lo, hi = lo - pad, hi + pad
            if stats.count:
                notes.append(f"This slice is constant ({_fmt(stats.lo)}).")
        return (lo, hi), " ".join(notes)

    @property
    def log_active(self) -> bool:
        """True when the log colour scale can be used for the current range."""
        lo, hi = self.clim
        return self.scale == "log" and lo > 0 and hi > 0

    # ------------------------------------------------------------------ URL query
    QUERY_KEYS = {"file": "file", "dataset": "dataset", "axis": "axis", "index": "slice", "part": "part",
                  "cmap": "cmap", "scale": "scale", "symmetric": "sym", "range_mode": "range", "vmin": "vmin",
                  "vmax": "vmax", "zoom": "zoom", "follow": "follow"}
    #: `held` goes into the URL as one item per held dimension: "at.t=3" (pane k > 1: "at2.t=3"), the
    #: slice number the page shows, like "slice"; a key of its own keeps any dim name unambiguous
    HELD_QUERY_KEY = "at"
    #: `probe` likewise: "probe.x=-35&probe.y=5" (pane k > 1: "probe2.x=-35"), the point's coordinates
    PROBE_QUERY_KEY = "probe"

    @classmethod
    def _held_prefix(cls, suffix: str) -> str:
        return f"{cls.HELD_QUERY_KEY}{suffix}."

    def to_query(self, suffix: str = "", root: str | None = None, targets: bool = False) -> dict[str, str]:
        """The view as URL query items (file relative to `root` when inside it); held dimensions as
        "at.<dim>=<slice number>". The file as it was opened (a link stays a link: the URL follows it
        when re-pointed); with `targets`, the file read (`target`: a record of what was shown)."""
        if not self.file:
            return {}
        q = {}
        # not open (missing, unreadable): the file alone, to open as a new one
        keys = {"file": self.QUERY_KEYS["file"]} if self._vol is None else self.QUERY_KEYS
        for name, key in keys.items():
            value = getattr(self, name)
            if name == "file" and targets and self.target:
                value = self.target
            if value is None or (name in ("symmetric", "follow") and not value):
                continue
            if name in ("vmin", "vmax") and self.range_mode != "fixed":
                continue
            if name == "part" and not self.is_complex:
                continue
            if name == "file" and root:
                try:
                    value = os.path.relpath(value, root)
                except ValueError:
                    pass
            if isinstance(value, bool):
                value = "1"
            if name == "index":
                value += 1  # the slice number the page shows (1 to n), as in "slice 65 of 128"
            if name == "zoom":
                value = ",".join(f"{v:.6g}" for v in value)
            q[key + suffix] = str(value)
        for d, i in self.held.items():
            q[self._held_prefix(suffix) + d] = str(i + 1)
        for d, v in (self.probe or {}).items():
            q[f"{self.PROBE_QUERY_KEY}{suffix}.{d}"] = f"{v:.10g}"
        return q

    @classmethod
    def settings_from_query(cls, query: dict[str, str], suffix: str = "") -> dict[str, Any]:
        """Parse what `to_query` wrote (unknown or malformed values are dropped)."""
        out: dict[str, Any] = {}
        for name, key in cls.QUERY_KEYS.items():
            raw = query.get(key + suffix)
            if raw is None:
                continue
            try:
                if name == "index":
                    out[name] = max(int(raw) - 1, 0)
                elif name in ("vmin", "vmax"):
                    out[name] = float(raw)
                elif name == "zoom":
                    zoom = tuple(float(v) for v in raw.split(","))
                    if len(zoom) == 4 and all(map(math.isfinite, zoom)) and zoom[0] < zoom[1] and zoom[2] < zoom[3]:
                        out[name] = zoom
                elif name in ("symmetric", "follow"):
                    out[name] = raw not in ("0", "false", "False", "")
                elif name == "cmap" and raw not in CMAPS:
                    continue
                elif name == "part" and raw not in COMPLEX_PARTS:
                    continue
                elif name == "scale" and raw not in ("linear", "log"):
                    continue
                elif name == "range_mode" and raw not in ("auto", "volume", "fixed"):
                    continue
                else:
                    out[name] = raw
                if name in ("cmap", "scale", "range_mode"):
                    out[name] = raw
            except ValueError:
                continue
        prefix, held = cls._held_prefix(suffix), {}
        for key, raw in query.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                try:
                    held[key[len(prefix):]] = max(int(raw) - 1, 0)
                except (TypeError, ValueError):
                    continue
        if held:
            out["held"] = held
        prefix, probe = f"{cls.PROBE_QUERY_KEY}{suffix}.", {}
        for key, raw in query.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value):
                    probe[key[len(prefix):]] = value
        if len(probe) == 2:
            out["probe"] = probe
        return out

    def apply_settings(self, settings: dict[str, Any], read: bool = True) -> None:
        """Set colour settings and position from a dict (as returned by `settings_from_query`), then
        read the slice unless ``read=False``."""
        # colour settings and Follow are taken as they are; the others are fitted to the file
        as_given = {k: settings[k] for k in ("cmap", "scale", "symmetric", "range_mode", "vmin", "vmax", "follow")
                    if k in settings}
        with self.suspended():
            self.param.update(**as_given)
            if settings.get("dataset") and settings["dataset"] in self.param.dataset.objects \
                    and settings["dataset"] != self.dataset:
                self.dataset = settings["dataset"]
                self._select_dataset(self.dataset)
            if settings.get("axis") in self.param.axis.objects and settings["axis"] != self.axis:
                self.axis = settings["axis"]
                self.follow_axis()
            if "index" in settings:
                self.index = self.clamp_index(settings["index"])
            if "held" in settings:
                self.held = self.fit_held({**self.held, **settings["held"]})
            if "zoom" in settings:
                self.zoom = settings["zoom"]
            if settings.get("part") in COMPLEX_PARTS:
                self.part = settings["part"]
            if "probe" in settings:
                self.probe = settings["probe"]
        self.sync_part()
        if read:
            self.refresh()


def _safe_close(vol) -> None:
    try:
        vol.close()
    except Exception:  # noqa: BLE001 - a deleted file may fail to close; nothing else to do
        pass


def _apply_each(results: list[tuple[SliceState, SliceResult]]) -> None:
    for p, r in results:
        p.apply(r)


class _Waiter:
    """Hands a batch's results to a caller that waits for them, unless it has stopped waiting."""

    def __init__(self):
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._waiting = True
        self._results: list | None = None

    def deliver(self, results: list) -> bool:
        """From the reading thread: True when the waiting caller takes `results`."""
        with self._lock:
            if not self._waiting:
                return False
            self._results = results
        self._done.set()
        return True

    def wait(self, seconds: float) -> list | None:
        """The results if they came within `seconds`, else None (they are then dispatched as usual)."""
        self._done.wait(seconds)
        with self._lock:
            self._waiting = False
            return self._results


class SliceLoader:
    """Latest-only, concurrent loading of pane slices.

    `request(panes)` asks for the current slice of each pane. Reads run in a thread pool, one batch at a
    time; requests that arrive meanwhile only mark panes stale, so a slider drag never queues stale reads.
    `dispatch(fn)` runs `fn` on the UI thread (in a Bokeh server: `doc.add_next_tick_callback`); without
    it everything runs synchronously in the caller.
    """

    def __init__(self, pool: ThreadPoolExecutor | None = None, dispatch: Callable | None = None,
                 delay_loading: Callable[[Callable], None] | None = None):
        self._pool = pool
        self._dispatch = dispatch
        self._delay_loading = delay_loading
        self._stale: dict[int, SliceState] = {}
        self._busy = False
        #: how a finished batch is shown: fn(list of (pane, result)); default: each pane applies its own
        self.apply_batch: Callable[[list[tuple[SliceState, SliceResult]]], None] = _apply_each
        self._lock = threading.Lock()
        self.batches = 0
        #: slices read so far (each pane of a batch counts)
        self.reads = 0

    def request(self, panes: Iterable[SliceState]) -> None:
        """Ask for the current slice of `panes`."""
        panes = list(panes)
        if self._dispatch is None or self._pool is None:
            self.apply_batch(self._read([(p, p.request_key()) for p in panes]))
            return
        if self._mark(panes):
            self._start()

    def _mark(self, panes: list[SliceState]) -> bool:
        """Mark `panes` as wanting their current slice; True when no batch is running (the caller then
        starts one), False when the running batch takes them up when it is done."""
        with self._lock:
            for p in panes:
                self._stale[id(p)] = p
            if self._busy:
                return False
            self._busy = True
            return True

    def request_within(self, panes: Iterable[SliceState], seconds: float) -> bool:
        """Ask for the current slice of `panes` and wait up to `seconds` for it: True when the batch
        was read and shown in that time (here, on the caller's thread), False when it goes on in the
        background and is shown when done, like `request`. A new page uses it: a quick read arrives
        with the page, a slow file does not hold the page back."""
        panes = list(panes)
        if self._dispatch is None or self._pool is None:
            self.request(panes)
            return True
        if not self._mark(panes):
            return False
        waiter = _Waiter()
        self._start(waiter)
        results = waiter.wait(seconds)
        if results is None:
            return False
        self._finish(results)
        return True

    def later(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the UI thread after what is running there now (at once without `dispatch`)."""
        if self._dispatch is None:
            fn()
        else:
            self._dispatch(fn)

    def _read(self, jobs: list[tuple[SliceState, tuple]]) -> list[tuple[SliceState, SliceResult]]:
        self.reads += len(jobs)
        if self._pool is None or len(jobs) < 2:
            return [(p, p.load(k)) for p, k in jobs]
        futures = [(p, self._pool.submit(p.load, k)) for p, k in jobs]
        return [(p, f.result()) for p, f in futures]

    def _start(self, waiter: _Waiter | None = None) -> None:
        with self._lock:
            panes, self._stale = list(self._stale.values()), {}
        jobs = [(p, p.request_key()) for p in panes]
        self.batches += 1
        self.reads += len(jobs)
        pending = {"n": len(jobs), "results": []}
        done_lock = threading.Lock()
        if self._delay_loading is not None:
            batch = self.batches

            def show_loading() -> None:
                # only while this very batch is still being read (a later one may be running by now)
                if self._busy and self.batches == batch:
                    for p, _ in jobs:
                        p.loading = True

            self._delay_loading(show_loading)

        def finished(pane: SliceState, fut: Future) -> None:
            try:
                res = fut.result()
            except Exception as err:  # noqa: BLE001
                res = SliceResult(pane.request_key(), error=str(err))
            with done_lock:
                pending["results"].append((pane, res))
                pending["n"] -= 1
                last = pending["n"] == 0
            if last and not (waiter is not None and waiter.deliver(pending["results"])):
                self._dispatch(lambda: self._finish(pending["results"]))

        for p, k in jobs:
            fut = self._pool.submit(p.load, k)
            fut.add_done_callback(lambda f, p=p: finished(p, f))

    def _finish(self, results: list[tuple[SliceState, SliceResult]]) -> None:
        current = [(p, r) for p, r in results if r.key == p.request_key()]
        with self._lock:
            for p, r in results:
                if r.key != p.request_key():
                    self._stale[id(p)] = p
        if current:
            self.apply_batch(current)
        with self._lock:
            more = bool(self._stale)
            if not more:
                self._busy = False
        if not more:
            for p, _ in results:
                p.loading = False
        else:
            self._start()


class ExplorerState(param.Parameterized):
    """Many panes side by side: open files (inside `root`), link, layout and a two-run comparison."""

    root = param.String(default=".", doc="Directory the file browser and every opened path must stay in.")
    panes = param.List(default=[], item_type=SliceState)
    link = param.Boolean(default=True, label="Link", doc="Tie axis, slice, zoom and colour range across panes.")
    layout = param.Selector(default="grid", objects=["grid", "tabs"], label="Layout")
    compare = param.Selector(default="none", objects=["none", "difference", "ratio"], label="Compare",
                             doc="difference: A - B; ratio: log10(A / B).")
    compare_a = param.Integer(default=0, bounds=(0, None), label="A")
    compare_b = param.Integer(default=1, bounds=(0, None), label="B")

    message = param.String(default="", doc="Last message about opening files (plain text).")
    reveal = param.Parameter(default=None, doc="The pane a user just asked to open (`open(reveal=True)`): "
                             "views bring it into view.")
    comparison = param.Parameter(default=None, doc="The difference / ratio slice (xarray.DataArray) or None.")
    comparison_error = param.String(default="")
    comparison_clim = param.Tuple(default=(-1.0, 1.0), length=2)
    comparison_export = param.Dict(default=None, allow_None=True,
                                   doc="The last comparison exported: format, filename, bytes, sha256, the "
                                       "mode (compare), the runs a and b (file: the file read; opened_as: the "
                                       "link it was opened as, if any; dataset, index), axis and readout (see "
                                       "`comparison_exported`).")

    #: "axis" and "held" name a pane's own dimensions: another pane takes its counterparts of them
    #: (`SliceState.dims_for`: by role, else by name), "held" at the same index
    #: "probe" (the point a profile runs through) names them too, and goes to the panes of the same normal axis
    _LINKED = ("axis", "index", "held", "part", "probe", "cmap", "scale", "symmetric", "range_mode", "vmin", "vmax")
    #: linked only between panes of one quantity (fixed values in S/m mean nothing for ohm m)
    _PER_QUANTITY = ("symmetric", "range_mode", "vmin", "vmax")

    def __init__(self, paths: Iterable[str | os.PathLike] = (), **params):
        super().__init__(**params)
        self.root = str(Path(self.root).resolve())
        self._loader = None
        self.loader = SliceLoader()
        self._propagating = False
        self._watchers: dict[int, Any] = {}
        self._unannounced: dict[int, SliceState] = {}  # panes moved by _step_linked, not yet triggered
        for p in paths:
            self.open(p)

    @property
    def loader(self) -> SliceLoader:
        """How pane slices are read (synchronous by default; views install a concurrent one)."""
        return self._loader

    @loader.setter
    def loader(self, loader: SliceLoader) -> None:
        loader.apply_batch = self._apply_batch
        self._loader = loader

    def _apply_batch(self, results: list[tuple[SliceState, SliceResult]]) -> None:
        """Show a batch of fresh slices; linked panes of one quantity get one shared colour range, set
        together with their data so each view redraws once."""
        shared: dict[str, tuple[float, float]] = {}
        if self.link:
            shared = self._shared_ranges({id(p): p.own_range_for(r) for p, r in results})
        if self._unannounced:
            self.loader.later(self._announce_moves)  # after these images have been sent
        with self._propagation():
            for p, r in results:
                p.apply(r, clim=shared.get(p.quantity))
            for p in self.panes:
                if p.data is not None and p.quantity in shared and p.clim != shared[p.quantity]:
                    p.clim = shared[p.quantity]
        self._update_comparison()

    def _shared_ranges(self, fresh: dict[int, tuple[float, float] | None] | None = None
                       ) -> dict[str, tuple[float, float]]:
        """One colour range per quantity (`SliceState.quantity`) covering the own ranges of the panes
        showing it: `fresh` ranges by pane id (None: that pane shows nothing) before current ones."""
        fresh = fresh or {}
        out: dict[str, tuple[float, float]] = {}
        for p in self.panes:
            rng = fresh[id(p)] if id(p) in fresh else (p.own_clim if p.data is not None else None)
            if rng is None:
                continue
            lo, hi = out.get(p.quantity, rng)
            out[p.quantity] = (min(lo, rng[0]), max(hi, rng[1]))
        return out

    # ------------------------------------------------------------------ files
    def resolve(self, path: str | os.PathLike) -> Path:
        """`path` (absolute or relative to root) as a real path inside root; raises PathOutsideRootError."""
        from hpcdash.data import safe_path

        return Path(safe_path(self.root, path))

    def open(self, path: str | os.PathLike, *, background: bool = False, deadline: float | None = None,
             reveal: bool = False, **settings) -> SliceState | None:
        """Open `path` in a new pane, as named (a symlink kept: see `SliceState.file`). Paths outside `root`,
        or symlinks leading out of it, are refused with a message (returns None).
        ``reveal``: a user asked for it (the file browser, the Cluster tab's runs): `reveal` names it.

        The pane's first slice is read once the pane has joined the others (with Link on it shows
        their axis and slice): at once, or with ``background=True`` through `loader` (in a served
        session: in a reading thread, the pane showing its loading indicator meanwhile), or with a
        ``deadline`` (``time.monotonic()``; one for several files) through `loader`, shown at once if
        read by then (see `SliceLoader.request_within`)."""
        from hpcdash.data import kept_path

        try:
            named = kept_path(self.root, path)  # a link stays a link (Reload and the URL follow it)
        except Exception as err:  # noqa: BLE001
            self.message = str(err) or f"{path} cannot be opened."
            return None
        already = [i + 1 for i, p in enumerate(self.panes) if p.file == str(named)]
        pane = SliceState(root=self.root)
        pane.open(str(named), dataset=settings.get("dataset"), axis=settings.get("axis"),
                  index=settings.get("index"), held=settings.get("held"), read=False)
        if settings and not pane.error:
            pane.apply_settings(settings, read=False)
        self.add_pane(pane)
        if reveal:
            self.reveal = pane
        # opening a file twice may be meant (two axes of one run); said, in case it was not
        self.message = " ".join(filter(None, [
            f"{named.name} was already open in pane {already[0]}; pane {len(self.panes)} shows it too."
            if already else "", pane.dataset_note]))
        if not pane.error:
            if background:
                self.loader.request([pane])
            elif deadline is not None:
                self.loader.request_within([pane], max(0.0, deadline - time.monotonic()))
            else:
                self._apply_batch([(pane, pane.load())])
        return pane

    def add_pane(self, pane: SliceState) -> None:
        """Add an already built pane and watch it for linking."""
        if self.link and self.panes and not pane.error:
            self._follow(self.panes[0], pane)
        pane._on_request = self._pane_request
        self._watchers[id(pane)] = [pane.param.watch(self._pane_changed, list(self._LINKED)),
                                    pane.param.watch(self._pane_output_changed, ["data", "clim"]),
                                    pane.param.watch(self._retitle, ["title"])]
        self.panes = self.panes + [pane]
        self._retitle()
        self._harmonise_clim()
        self._update_comparison()

    def open_appeared(self, pane: SliceState) -> bool:
        """Open the file of `pane`, which did not exist when it was named (see `SliceState.appeared`):
        at the place the other panes show when Link is on, else at the file's default place (its middle
        slice; no place was ever read from it)."""
        ok = pane.open(pane.file, read=False)
        if ok:
            lead = next((p for p in self.panes if p is not pane and p.volume is not None), None)
            if self.link and lead is not None:
                self._follow(lead, pane)
            pane._request()
        return ok

    def close_pane(self, pane: SliceState) -> None:
        """Remove `pane` and release its file.

        A comparison goes on between the same two runs (A and B are renumbered when a pane before them
        closes). It ends (Compare: none) when one of them closes, rather than going on between other
        runs unasked, and when fewer than two runs stay open (the Compare control is then not shown)."""
        for w in self._watchers.pop(id(pane), []):
            pane.param.unwatch(w)
        pane._on_request = None
        pane.close()
        runs = [self.panes[i] if 0 <= i < len(self.panes) else None for i in (self.compare_a, self.compare_b)]
        left = [p for p in self.panes if p is not pane]
        # the indices of the same runs in what is left (all in one update: the views renumber once)
        last = max(len(left) - 1, 0)
        a, b = (min(left.index(p) if p in left else i, last) for p, i in zip(runs, (self.compare_a, self.compare_b), strict=True))
        if pane in runs and a == b and len(left) > 1:  # the closed run's letter goes to another run
            kept = b if runs[0] is pane else a
            other = next(i for i in range(len(left)) if i != kept)
            a, b = (other, kept) if runs[0] is pane else (kept, other)
        ends = self.compare != "none" and (pane in runs or len(left) < 2)
        self.param.update(compare="none" if ends else self.compare, compare_a=a, compare_b=b, panes=left)
        self._retitle()
        self._update_comparison()

    def _retitle(self, *events) -> None:
        """Each pane's title names first the attributes whose values differ between the open runs
        (runs of one sweep differ in what was swept, not in what their files share)."""
        shown = [p.title_attrs() for p in self.panes]
        differ = sorted({k for attrs in shown for k in attrs
                         if sum(k in a for a in shown) > 1 and len({a.get(k) for a in shown if k in a}) > 1})
        for p in self.panes:
            p.prefer_in_title(differ)

    def close(self) -> None:
        """Release every file (session end)."""
        for p in list(self.panes):
            p.close()

    # ------------------------------------------------------------------ linking
    @contextmanager
    def _propagation(self) -> Iterator[None]:
        """Changes made inside (to linked panes, shared colour ranges) are not propagated again."""
        self._propagating = True
        try:
            yield
        finally:
            self._propagating = False

    @staticmethod
    def _compatible(src: SliceState, dst: SliceState, name: str) -> bool:
        if name == "axis":
            return dst.dim_for(src, src.axis) in dst.param.axis.objects
        if name == "index":
            lo, hi = dst.param.index.bounds
            return dst.dim_for(src, src.axis) == dst.axis and lo <= src.index <= hi
        if name in ExplorerState._PER_QUANTITY:
            return src.quantity == dst.quantity
        if name == "part":  # complex values' part, between panes of complex values
            return src.is_complex and dst.is_complex
        if name == "probe":  # a point of the same plane (a cleared point clears it everywhere)
            dims = dst.dims_for(src)
            return dims.get(src.axis) == dst.axis and all(d in dims for d in src.probe or ())
        return True

    @staticmethod
    def _in_terms_of(dst: SliceState, src: SliceState, values: dict) -> dict:
        """Linked `values` of `src` as `dst` names them: the normal axis and the held dimensions are
        `dst`'s counterparts of `src`'s (`SliceState.dims_for`); those it has none of are left out."""
        if not {"axis", "held", "probe"} & set(values):
            return values
        dims = dst.dims_for(src)
        out = dict(values)
        if "axis" in out:
            axis = dims.get(out["axis"]) if out["axis"] is not None else None
            if axis is None:
                del out["axis"]
            else:
                out["axis"] = axis
        if "held" in out:
            out["held"] = {dims[d]: i for d, i in out["held"].items() if d in dims}
        if out.get("probe"):
            out["probe"] = {dims[d]: v for d, v in out["probe"].items() if d in dims}
        return out

    def _follow(self, lead: SliceState, pane: SliceState) -> None:
        """`pane` takes the linked settings of `lead`: its counterpart of lead's axis if `pane` has one
        (`SliceState.dim_for`), then its slice at the place lead shows if that axis is the one `pane`
        now has, and the index of each dimension both hold."""
        self._set_linked(pane, self._in_terms_of(pane, lead, {k: getattr(lead, k) for k in self._LINKED
                                                              if k != "index" and self._compatible(lead, pane, k)}))
        if self._compatible(lead, pane, "index"):
            self._set_linked(pane, {"index": pane.index_for(lead, lead.index)})

    def _set_linked(self, pane: SliceState, values: dict) -> None:
        with pane.suspended():
            if "axis" in values and values["axis"] != pane.axis and values["axis"] in pane.param.axis.objects:
                pane.axis = values["axis"]
                pane.follow_axis()
            if "index" in values:
                values = {**values, "index": pane.clamp_index(values["index"])}
            if "held" in values:  # a lead's held indices, for the dims this pane holds too
                values = {**values, "held": pane.fit_held({**pane.held, **values["held"]})}
            pane.param.update(**{k: v for k, v in values.items() if k != "axis"})
        if "part" in values:
            pane.sync_part()

    def _pane_changed(self, *events) -> None:
        src = events[0].obj
        if self._propagating or not self.link or src._suspend:
            return
        values = {e.name: e.new for e in events}
        if "axis" in values:  # a new axis moves the index and the held dims (SliceState.follow_axis)
            values["index"] = src.index
            values["held"] = src.held
        if "held" in values:
            values["held"] = src.held  # as kept in bounds by the pane
        others = [p for p in self.panes if p is not src and not p.error]
        if not others:
            return
        if set(values) == {"index"}:
            self._step_linked(src, others, values["index"])
            return
        before = {id(p): p.request_key() for p in others}
        with self._propagation():
            for p in others:
                linked = self._in_terms_of(p, src, {k: v for k, v in values.items()
                                                    if k in ("axis", "index") or self._compatible(src, p, k)})
                if "index" in linked:
                    self._set_linked(p, {k: v for k, v in linked.items() if k != "index"})
                    linked = {"index": p.index_for(src, linked["index"])}
                self._set_linked(p, linked)
            if {"cmap", "scale", "symmetric", "range_mode", "vmin", "vmax"} & set(values):
                for p in others:
                    p._update_colour()
        self._harmonise_clim()
        if set(values) == {"held"}:  # the panes holding none of the moved dims show what they showed
            self._pane_request(src, [p for p in others if p.request_key() != before[id(p)]])
        elif {"axis", "index", "held"} & set(values):
            self._pane_request(src, others)
        elif "part" in values:
            self._pane_request(src, [p for p in others if p.is_complex])

    def _step_linked(self, src: SliceState, others: list[SliceState], index: int) -> None:
        """A slider step on a linked pane. The other panes' reads start at once; their sliders and
        other watchers of `index` hear of the move once the new images are shown (updating a
        pane's widgets costs the UI thread several ms, which would otherwise delay the images)."""
        moved = []
        for p in others:
            new = p.index_for(src, index)
            if p.index == new:
                continue
            with param.parameterized.discard_events(p):
                p.index = new
            moved.append(p)
            self._unannounced[id(p)] = p
        self._pane_request(src, moved)

    def _announce_moves(self) -> None:
        """Tell the watchers of linked panes' `index` (their sliders, the URL) what `_step_linked` set."""
        moved, self._unannounced = list(self._unannounced.values()), {}
        with self._propagation():
            for p in moved:
                with p.suspended():
                    p.param.trigger("index")

    def _pane_request(self, pane: SliceState, reason: str | list[SliceState] = "dataset") -> None:
        """A pane wants a new slice. Linked axis/slice moves are requested by `_pane_changed`, for all
        linked panes in one concurrent batch; "reopened": a pane that opened its changed file again
        while a batch was shown reads its slice on its own."""
        if self._propagating and reason != "reopened":
            return
        if isinstance(reason, list):
            panes = [pane] + reason
        elif reason in ("axis", "index", "held", "part") and self.link and any(
                p is not pane and not p.error for p in self.panes):
            return
        else:
            panes = [pane]
        self.loader.request(panes)

    @param.depends("link", watch=True)
    def _link_changed(self):
        self._harmonise_clim()
        if self.link and len(self.panes) > 1:
            lead = self.panes[0]
            for p in self.panes[1:]:
                if not p.error:
                    self._follow(lead, p)
                    p._update_colour()
            self.loader.request(self.panes[1:])

    def shared_clim(self, pane: SliceState | None = None) -> tuple[float, float] | None:
        """With Link on: the colour range shared by the linked panes showing the quantity of `pane`
        (default: the first pane), covering their own ranges; None when unlinked or nothing is shown.
        Panes of different quantities (units) keep apart: one scale for conductivity and another
        for, say, a sensitivity volume."""
        pane = pane or (self.panes[0] if self.panes else None)
        if not self.link or pane is None:
            return None
        return self._shared_ranges().get(pane.quantity)

    def _harmonise_clim(self) -> None:
        shared = self._shared_ranges() if self.link else {}
        with self._propagation():
            for p in self.panes:
                if p.data is not None:
                    p.clim = shared.get(p.quantity, p.own_clim)

    def _pane_output_changed(self, *events) -> None:
        if self._propagating:
            return
        if any(e.name == "clim" for e in events) and self.link:
            self._harmonise_clim()
        if any(e.name == "data" for e in events):
            self._update_comparison()

    # ------------------------------------------------------------------ comparison
    @param.depends("compare", "compare_a", "compare_b", watch=True)
    def _update_comparison(self) -> None:
        if self.compare == "none" or len(self.panes) < 2:
            self.param.update(comparison=None, comparison_error="" if self.compare == "none" else
                              "Open two runs to compare them.")
            return
        try:
            a, b = self.panes[self.compare_a], self.panes[self.compare_b]
        except IndexError:
            self.param.update(comparison=None, comparison_error="Choose two open runs to compare.")
            return
        if a is b:
            self.param.update(comparison=None, comparison_error="A and B are the same run: choose another for B.")
            return
        result, err = compare_slices(a, b, self.compare)
        if result is None:
            self.param.update(comparison=None, comparison_error=err)
            return
        vals = np.asarray(result.values, dtype=float)
        finite = vals[np.isfinite(vals)]
        m = float(np.abs(finite).max()) if finite.size else 1.0
        m = m or 1.0
        self.param.update(comparison=result, comparison_error=err, comparison_clim=(-m, m))

    def comparison_runs(self) -> tuple[SliceState, SliceState] | None:
        """Panes A and B of the comparison drawn (None while none is)."""
        if self.comparison is None:
            return None
        try:
            return self.panes[self.compare_a], self.panes[self.compare_b]
        except IndexError:
            return None

    def probe_compared(self, point: dict[str, float]) -> None:
        """A point of the comparison drawn ({dim: coordinate} of A's plane, e.g. where it was clicked):
        the profiles of A and B through it, under their panes (and, with Link on, of the other linked
        runs and together above them)."""
        runs = self.comparison_runs()
        if runs is None:
            return
        a, b = runs
        a.probe_at(point)
        if b.probe != a.probe and set(b.plane_dims()) == set(point):  # not linked: B on the same plane
            b.probe_at(point)

    def comparison_profile(self) -> Any:
        """The comparison along the profiles of A and B through the point clicked (A - B, or log10(A/B),
        of their values: a 1-D DataArray on A's coordinates, named as the comparison); None without a
        comparison, without both profiles, or where their cells along the axis differ."""
        runs = self.comparison_runs()
        if runs is None or self.comparison is None:
            return None
        pa, pb = (p.profile for p in runs)
        if pa is None or pb is None or pa.shape != pb.shape:
            return None
        ca, cb = (np.asarray(p[p.dims[0]].values, dtype=float) for p in (pa, pb))
        if not np.allclose(ca, cb, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(ca).max()))):
            return None
        out, _ = compared_values(np.asarray(pa.values, dtype=float), np.asarray(pb.values, dtype=float), self.compare)
        line = pa.copy(data=out)
        line.name, line.attrs = self.comparison.name, dict(self.comparison.attrs)
        return line

    def comparison_label(self, units: bool = True) -> str:
        """What the comparison's values are, as its colour bar says: "A - B (S/m)", "log10(A / B)";
        "" with no comparison mode. Units come from a file: escape before HTML."""
        label = _COMPARE_LABELS.get(self.compare, "")
        unit = self.comparison.attrs.get("units") if units and self.comparison is not None else None
        return f"{label} ({unit})" if unit else label

    def comparison_heading(self) -> str:
        """Plain-text heading of an exported comparison, one line each: what it is and where the
        slices lie, then run A, then run B ("" while no comparison is drawn)."""
        runs = self.comparison_runs()
        if runs is None:
            return ""
        a, b = runs
        first = " · ".join(filter(None, [self.comparison_label(units=False), a.readout]))
        return f"{first}\nA = {a.title}\nB = {b.title}"

    def comparison_stem(self) -> str:
        """File name (without suffix) of an export of the comparison drawn: "<A>_minus_<B>_z64" or
        "<A>_log10ratio_<B>_z64" (file stems, then the slice as A's pane numbers it); "" while none
        is drawn."""
        runs = self.comparison_runs()
        if runs is None:
            return ""
        a, b = runs
        from hpcdash.data import filename_part

        stem_a, stem_b = (filename_part(Path(p.file).stem) or "slice" for p in (a, b))
        return a.export_stem(f"{stem_a}_{_COMPARE_FILE_WORDS[self.compare]}_{stem_b}")

    def comparison_exported(self, kind: str, filename: str, payload: bytes) -> None:
        """Note that the comparison drawn was exported (`kind`: png / npy / csv) as `payload`."""
        runs = self.comparison_runs()
        if runs is None:
            return
        a, b = runs
        self.comparison_export = {
            **_export_record(kind, filename, payload), "compare": self.compare,
            **{k: {"file": p.target or p.file, "dataset": p.dataset, "index": p.index,
                   **({"opened_as": p.opened_as} if p.opened_as else {})}
               for k, p in (("a", a), ("b", b))},
            "axis": a.axis, "readout": a.readout}

    # ------------------------------------------------------------------ URL query
    def to_query(self, targets: bool = False) -> dict[str, str]:
        """The whole view as URL query items: pane 1 uses plain keys (file, axis, slice, ...),
        pane k > 1 the same keys with suffix k; plus link, layout and compare (with its runs a and b
        unless they are 1 and 2). Files as opened (links kept); with `targets`, the files read (see
        `SliceState.to_query`)."""
        q: dict[str, str] = {}
        for i, p in enumerate(self.panes):
            q.update(p.to_query("" if i == 0 else str(i + 1), root=self.root, targets=targets))
        if not self.link:
            q["link"] = "0"
        if self.layout != "grid":
            q["layout"] = self.layout
        if self.compare != "none":
            q["compare"] = self.compare
            if (self.compare_a, self.compare_b) != (0, 1):  # the runs as the page numbers them, 1 to n
                q.update(a=str(self.compare_a + 1), b=str(self.compare_b + 1))
        return q

    def apply_query(self, query: dict[str, str], deadline: float | None = None) -> None:
        """Open the files named in `query` and restore their settings (see `to_query`); with a
        `deadline` (time.monotonic()), reads still running then go on in the background."""
        link = query.get("link", "1") not in ("0", "false")
        self.link = False
        i = 0
        said = []  # each file's message (refused, dataset not found, ...), all kept
        while True:
            suffix = "" if i == 0 else str(i + 1)
            if "file" + suffix not in query:
                if i > 0:
                    break
                i += 1
                continue
            if len(self.panes) >= MAX_PANES_FROM_LINK:
                more = sum(1 for k in query if k.startswith("file") and k[4:].isdigit() and int(k[4:]) > i)
                said.append(f"This link names {more} more {plural(more, 'file')}: a page opens the first "
                            f"{MAX_PANES_FROM_LINK} of a link (open others from the file browser).")
                break
            settings = SliceState.settings_from_query(query, suffix)
            self.open(settings.pop("file"), deadline=deadline, **settings)
            if self.message and self.message not in said:
                said.append(self.message)
            i += 1
        self.message = " ".join(said)
        self.link = link
        if query.get("layout") in ("grid", "tabs"):
            self.layout = query["layout"]
        runs = {}
        for key in ("a", "b"):  # run numbers 1 to n; others are left as they are
            number = query.get(key, "")
            if number.isdigit() and 1 <= int(number) <= len(self.panes):
                runs[f"compare_{key}"] = int(number) - 1
        self.param.update(**runs)
        if query.get("compare") in ("difference", "ratio"):
            self.compare = query["compare"]


def _part_words(part: str) -> str:
    """A pane's values as a comparison message names them: "the phase of its complex values"."""
    return "real values" if part == "values" else f"the {part} of its complex values"


def compare_slices(a: SliceState, b: SliceState, mode: str) -> tuple[Any, str]:
    """Difference (A - B) or ratio (log10 A/B) of two panes' current slices.

    Returns (DataArray, note) or (None, message) when the runs are not on the same grid.
    """
    if a.data is None or b.data is None:
        return None, "Both runs need a slice on screen to compare them."
    parts = [p.part if p.is_complex else "values" for p in (a, b)]
    if parts[0] != parts[1]:
        return None, (f"A shows {_part_words(parts[0])} and B {_part_words(parts[1])}: choose the same "
                      "Complex part in both to compare them.")
    da, db = a.data, b.data
    # B's dimensions as A names them: by role, else by name ("k" with CF axis "Z" is "z")
    dims = b.dims_for(a)
    if b.axis != (dims.get(a.axis) if a.axis is not None else None):
        return None, (f"A is sliced along {a.axis} and B along {b.axis}: choose the same normal axis in "
                      "both panes (Link does it for all panes).")
    pa, pb = a.normal_position(), b.normal_position()
    if pa is not None and pb is not None and not np.isclose(pa, pb, rtol=1e-6, atol=1e-9 * max(1.0, abs(pa))):
        where_a, where_b = (p.readout.split(" (slice")[0] for p in (a, b))
        return None, (f"A is at {where_a} and B at {where_b}: a comparison needs both runs at the same "
                      "position (Link keeps them together).")
    ha, hb = a.held_positions(), b.held_positions()
    for d in sorted(ha):
        e = dims.get(d)
        if e in hb and not np.isclose(ha[d], hb[e], rtol=1e-6, atol=1e-9 * max(1.0, abs(ha[d]))):
            where_a, where_b = (p._position_text(n, p.held[n]).split(" (slice")[0] for p, n in ((a, d), (b, e)))
            return None, (f"A is at {where_a} and B at {where_b}: a comparison needs both runs at the same "
                          "position (Link keeps them together).")
    names = {e: d for d, e in dims.items() if d in da.dims and e in db.dims}
    if set(names) == set(db.dims) and any(e != d for e, d in names.items()):
        db = _renamed(db, names)
    if da.dims != db.dims and set(da.dims) == set(db.dims):
        # the same dims stored in another order: B's slice is drawn like A's
        db = db.transpose(*da.dims)
    if da.dims != db.dims or da.shape != db.shape:
        def cells(d):
            return " \u00d7 ".join(f"{n} {name}" for name, n in zip(d.dims, d.shape, strict=False))

        return None, (f"The grids differ: A's slice has {cells(da)} cells, B's {cells(db)}. "
                      "Difference and ratio need two runs on the same grid.")
    for d in da.dims:
        ca, cb = np.asarray(da[d].values, float), np.asarray(db[d].values, float)
        if not np.allclose(ca, cb, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(ca).max()))):
            return None, (f"The grids differ along {d}: the cell centres do not match. "
                          "Difference and ratio need two runs on the same grid.")
    ua, ub = a.quantity, b.quantity
    mixed = bool(ua and ub and ua != ub)
    logs = [p for p in (a, b) if _logarithmic(p)]
    if logs and mode == "ratio":
        what = logs[0].quantity or str(logs[0].dataset).rsplit("/", 1)[-1]
        return None, (f"{'A and B hold' if len(logs) == 2 else ('A' if logs[0] is a else 'B') + ' holds'} "
                      f"logarithms ({what}): a ratio of logarithms means nothing. The difference A - B of "
                      "log10 values is the log10 of the ratio of the quantities themselves.")
    if mixed and mode != "ratio":
        return None, (f"A is in {ua} and B in {ub}: a difference needs two runs of the same quantity "
                      "(the ratio view compares them).")
    # float32 runs compare in float32 (half the memory and export size); integers and float64 in float64
    ftype = np.result_type(da.dtype, db.dtype, np.float32)
    if ftype.kind != "f":
        ftype = np.dtype(float)
    va = np.asarray(da.values, dtype=ftype)
    vb = np.asarray(db.values, dtype=ftype)
    note = f"A is in {ua} and B in {ub}." if mixed else ""
    out, blank = compared_values(va, vb, mode)
    if mode == "ratio":
        if blank and np.isfinite(va).any():
            note = " ".join(filter(None, [note, "Cells where A/B is not positive are left blank."]))
        name = "log10(A/B)"
        units = None
    else:
        name = "A - B"
        units = da.attrs.get("units")
    result = da.copy(data=out)
    result.name = name
    result.attrs = {"units": units} if units else {}
    result.attrs["long_name"] = name
    return result, note


def compared_values(va: np.ndarray, vb: np.ndarray, mode: str) -> tuple[np.ndarray, bool]:
    """A - B, or for mode "ratio" log10(A / B) with NaN where A/B is not positive; and whether any
    value was left blank so."""
    if mode != "ratio":
        return va - vb, False
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = va / vb
        bad = ~(ratio > 0)
        return np.where(bad, np.nan, np.log10(np.where(bad, 1.0, ratio))), bool(bad.any())


def _renamed(data: Any, names: dict[str, str]) -> Any:
    """A 2-D slice with its dimensions (and their coordinates) renamed by `names` (old -> new, any
    permutation of names included); other coordinates, which may take a new name, are left out."""
    import xarray as xr

    dims = [names[d] for d in data.dims]
    coords = {names[d]: (names[d], np.asarray(data[d].values), data[d].attrs) for d in data.dims if d in data.coords}
    return xr.DataArray(data.values, dims=dims, coords=coords, name=data.name, attrs=data.attrs)


def _logarithmic(pane: SliceState) -> bool:
    """True when a pane's values are logarithms: units such as "log10(S/m)", or a dataset named
    "log10_conductivity" / "log_resistivity" (inversions often store log-conductivity)."""
    leaf = str(pane.dataset or "").rsplit("/", 1)[-1].lower()
    return pane.quantity.strip().lower().startswith("log") or leaf.startswith(("log_", "log10", "ln_"))


def _round_out(lo: float, hi: float, digits: int = 3) -> tuple[float, float]:
    """[lo, hi] widened to round numbers, about `digits` significant digits of the span."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return float(lo), float(hi)
    step = 10.0 ** (math.floor(math.log10(hi - lo)) - digits + 1)
    return (round(math.floor(lo / step) * step, 12), round(math.ceil(hi / step) * step, 12))


def escape(text: str) -> str:
    """HTML-escape untrusted text from files before it reaches the page."""
    return html.escape(str(text), quote=True)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi == lo:
        return [lo]
    span = abs(hi - lo)
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    a, b = min(lo, hi), max(lo, hi)
    start = math.ceil(a / step) * step
    ticks = []
    t = start
    while t <= b + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks
