"""hpcdash: see and steer HPC work from the browser.

The public API is importable from the top level; heavy modules (Panel, HoloViews,
Dask) load only when the name that needs them is first used, so the data layer
stays cheap to import in batch jobs.
"""

import os
import sys
from importlib import import_module

__version__ = "0.1.0"

# Raw external files of a dataset (h5py's ``external=``) are named as written, usually relative: HDF5
# takes such names below the process's working directory, unless an external-file prefix says
# otherwise, and reads that prefix from the environment once, when it starts. ``${ORIGIN}`` (the
# folder of the file holding the dataset) reads them beside their HDF5 file wherever hpcdash runs,
# and keeps a file inside the served root from reading one below the working directory. Set only
# when HDF5 has not started yet and the environment names no prefix of its own.
if "h5py" not in sys.modules:
    os.environ.setdefault("HDF5_EXTFILE_PREFIX", "${ORIGIN}")

_EXPORTS = {
    "find_volumes": "hpcdash.data",
    "open_volume": "hpcdash.data",
    "write_volume": "hpcdash.data",
    "write_mesh_model": "hpcdash.data",
    "append_mesh_model": "hpcdash.data",
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
