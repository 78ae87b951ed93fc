"""A real workload for hpcdash: 3-D DC-resistivity forward modelling on a padded tensor mesh,
parameter sweeps on a Dask cluster, and demo/benchmark data files.

No Panel or HoloViews import here: the package runs inside batch jobs and Dask workers.
"""

from importlib import import_module

_EXPORTS = {
    "TensorMesh": "hpcdash.sim.mesh",
    "solve_dc": "hpcdash.sim.dc",
    "halfspace_potential": "hpcdash.sim.dc",
    "block_model": "hpcdash.sim.dc",
    "forward_model": "hpcdash.sim.dc",
    "Block": "hpcdash.sim.dc",
    "run_sweep": "hpcdash.sim.sweep",
    "iter_sweep": "hpcdash.sim.sweep",
    "submit_sweep": "hpcdash.sim.sweep",
    "run_dc": "hpcdash.sim.sweep",
    "SweepEvent": "hpcdash.sim.sweep",
    "SweepError": "hpcdash.sim.sweep",
    "write_demo_runs": "hpcdash.sim.demo",
    "write_big_volume": "hpcdash.sim.demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hpcdash.sim' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
