"""hpcdash data layer: HDF5 volumes, conventions, slab cache and path safety.

No Panel or HoloViews here: this package is usable from batch jobs and notebooks.

Typical use::

    from hpcdash.data import find_volumes, open_volume, write_volume, VolumeError

    infos = find_volumes("run1.h5")            # default pick first (infos[0].is_default)
    with open_volume("run1.h5") as vol:        # keeps the file open; close() or `with`
        da = vol.slice("z", 40)                # xarray.DataArray (y, x) with coords + units
        da = vol.display_slice("z", 40)        # its dims as drawn: depth / north up, east across
        vol.prefetch("z", 40, +1)              # read-ahead while the user looks
        vmin, vmax = vol.value_range()         # whole-volume range, cheap, cached
        vol.part = "phase"                     # complex values: amplitude, phase (deg), real, imaginary

In a UI, run reads through :class:`LatestOnly` (one per pane) with :class:`SliceRequest`
so a slider drag never queues stale reads; see :mod:`hpcdash.data.cache`. Catch
:class:`VolumeError` and show ``str(err)`` (HTML-escaped). Modules: ``volume`` (finding
and reading), ``conventions`` (dimension scales, NeXus, CF), ``chunks`` (lock-free chunk
readers), ``preads`` (a slice's reads in one call outside the GIL), ``cache`` (slab cache,
read-ahead, LatestOnly), ``write`` (``write_volume``),
``paths`` (``safe_path``, ``kept_path``, ``named_path``, ``relative_below``, ``default_root``, ``list_dir``, ``folder_stamp``, ``FolderWatch``), ``errors``.
"""

from .cache import CacheStats, LatestOnly, SlabCache, SliceRequest, Superseded, set_cache_budget, slab_cache
from .conventions import COMPLEX_PARTS
from .errors import (
    BrokenLinkError,
    CorruptFileError,
    FileBusyError,
    FileChangedError,
    FilterMissingError,
    MissingFileError,
    NotHDF5Error,
    NoVolumeError,
    PathOutsideRootError,
    SliceIndexError,
    UnsupportedDataError,
    VolumeError,
)
from .paths import (
    DirEntry,
    FolderWatch,
    default_root,
    filename_part,
    folder_stamp,
    kept_path,
    list_dir,
    looks_like_hdf5,
    named_path,
    relative_below,
    safe_path,
)
from .volume import Volume, VolumeInfo, find_volumes, open_volume
from .write import append_mesh_model, create_volume, write_mesh_model, write_volume

__all__ = [
    "find_volumes",
    "open_volume",
    "write_volume",
    "write_mesh_model",
    "append_mesh_model",
    "create_volume",
    "Volume",
    "VolumeInfo",
    "VolumeError",
    "NotHDF5Error",
    "CorruptFileError",
    "FileBusyError",
    "MissingFileError",
    "NoVolumeError",
    "BrokenLinkError",
    "UnsupportedDataError",
    "FilterMissingError",
    "PathOutsideRootError",
    "FileChangedError",
    "SliceIndexError",
    "safe_path",
    "kept_path",
    "named_path",
    "relative_below",
    "default_root",
    "list_dir",
    "FolderWatch",
    "folder_stamp",
    "looks_like_hdf5",
    "filename_part",
    "DirEntry",
    "LatestOnly",
    "SliceRequest",
    "Superseded",
    "SlabCache",
    "CacheStats",
    "slab_cache",
    "set_cache_budget",
    "COMPLEX_PARTS",
]
