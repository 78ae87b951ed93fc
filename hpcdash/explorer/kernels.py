"""Datashader's compiled kernels, ready before the first slice is drawn.

Datashader resamples with Numba functions that are compiled on their first call: about 4-5 s on a
2-core machine for the raster path the explorer uses, every time a new process starts. Two things cut
that to well under a second:

- :func:`enable_disk_cache` turns on Numba's on-disk cache for Datashader's module-level kernels
  (``datashader.resampling`` and ``datashader.utils``), as ``@jit(cache=True)`` would: the first process
  on a machine compiles and stores them (next to Datashader's sources, or in Numba's user cache
  directory when those are read-only, or ``NUMBA_CACHE_DIR``), later processes load them. Numba
  checks the source file's time stamp, so a Datashader upgrade recompiles.
- :func:`warm_up` runs the explorer's own rasterizing (uniform and non-uniform axes) on a tiny slice,
  which also loads the explorer's own whole-slice mean kernel (:mod:`hpcdash.explorer._slice_kernels`,
  cached on disk by Numba like the data layer's batched slice reads, :mod:`hpcdash.data.preads`,
  which it loads too);
  ``hpcdash.explorer`` calls it when it is imported, so a server or a notebook has its kernels loaded
  before the first file is opened. (Quadmesh kernels are built from generated code that Numba cannot
  cache; they are compiled by the warm-up.)
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_cache_enabled = False


def enable_disk_cache() -> int:
    """Enable Numba's disk cache for Datashader's module-level kernels; returns how many (once per process)."""
    global _cache_enabled
    with _lock:
        if _cache_enabled:
            return 0
        _cache_enabled = True
    n = 0
    try:
        import datashader.resampling
        import datashader.utils
        from numba.core.dispatcher import Dispatcher
    except Exception:  # noqa: BLE001 - an optimisation only
        return 0
    for module in (datashader.resampling, datashader.utils):
        for fn in list(vars(module).values()):
            if isinstance(fn, Dispatcher) and getattr(fn.py_func, "__module__", None) == module.__name__:
                try:
                    fn.enable_caching()
                    n += 1
                except Exception:  # noqa: BLE001 - e.g. a function numba cannot cache
                    pass
    return n


def warm_up() -> None:
    """Rasterize a tiny slice on uniform and on non-uniform axes (compiles or loads the kernels)."""
    import numpy as np

    from hpcdash.data import preads

    from .views import SliceParts, aggregate_slice

    enable_disk_cache()
    preads.load()  # the slice reader's batched reads (from Numba's disk cache after the first run)
    from .state import SliceStats

    z = np.zeros((8, 8), np.float32)
    SliceStats.of(z)  # the finite-value summary of every slice read
    y = np.arange(8.0)
    for uniform, x in ((True, np.arange(8.0)), (False, np.cumsum(np.arange(1.0, 9.0)))):
        aggregate_slice(SliceParts(x, y, z, ["x", "y"], ["v"], uniform), width=4, height=4)
