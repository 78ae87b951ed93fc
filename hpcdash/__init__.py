"""hpcdash: see and steer HPC work from the browser.

The public API is importable from the top level; heavy modules (Panel, HoloViews,
Dask) load only when the name that needs them is first used, so the data layer
stays cheap to import in batch jobs.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "find_volumes": "hpcdash.data",
    "open_volume": "hpcdash.data",
    "write_volume": "hpcdash.data",
    "Volume": "hpcdash.data",
    "VolumeInfo": "hpcdash.data",
    "VolumeError": "hpcdash.data",
    "SliceExplorer": "hpcdash.explorer",
    "ClusterControl": "hpcdash.cluster",
    "ClusterView": "hpcdash.cluster.view",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hpcdash' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
