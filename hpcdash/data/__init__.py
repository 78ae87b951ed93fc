"""hpcdash data layer: HDF5 volumes, conventions, slab cache and path safety.

No Panel or HoloViews here: this package is usable from batch jobs and notebooks.
"""

from .cache import CacheStats, LatestOnly, SlabCache, SliceRequest, Superseded, set_cache_budget, slab_cache
from .errors import (
    BrokenLinkError,
    CorruptFileError,
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
from .paths import DirEntry, list_dir, looks_like_hdf5, safe_path
from .volume import Volume, VolumeInfo, find_volumes, open_volume
from .write import write_volume

__all__ = [
    "find_volumes",
    "open_volume",
    "write_volume",
    "Volume",
    "VolumeInfo",
    "VolumeError",
    "NotHDF5Error",
    "CorruptFileError",
    "MissingFileError",
    "NoVolumeError",
    "BrokenLinkError",
    "UnsupportedDataError",
    "FilterMissingError",
    "PathOutsideRootError",
    "FileChangedError",
    "SliceIndexError",
    "safe_path",
    "list_dir",
    "looks_like_hdf5",
    "DirEntry",
    "LatestOnly",
    "SliceRequest",
    "Superseded",
    "SlabCache",
    "CacheStats",
    "slab_cache",
    "set_cache_budget",
]
