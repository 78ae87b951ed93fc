"""A DC-resistivity sweep (hpcdash.sim) run through ClusterControl's client on SLURM workers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hpcdash.sim import forward_model, run_sweep

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_sweep_on_slurm_workers_writes_correct_files(slurm, make_control, tmp_path):
    cc = make_control(backend="slurm")
    cc.start(n=2)
    cc.client.wait_for_workers(2, timeout=120)
    # the Cluster tab's bars: each batch worker's memory and CPU, from the scheduler
    loads = cc.status().loads
    assert len(loads) == 2 and all(0 < w.memory and w.memory_limit > 0 for w in loads)
    sets = [{"source_x": x, "core_cells": 12, "n_pad": 4} for x in (-40.0, 0.0, 40.0)]
    seen = []
    paths = run_sweep(sets, tmp_path / "runs", client=cc.client, progress=lambda d, t, p: seen.append((d, t)))
    assert len(paths) == 3 and all(p.exists() for p in paths)
    assert seen[-1] == (3, 3)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(p.name for p in paths)  # no temporaries
    expected = forward_model(sets[2])
    with h5py.File(paths[2], "r") as f:
        assert f.attrs["source_x"] == 40.0
        assert f.attrs["hostname"]  # written on a worker
        phi = f["/dc/potential"][...]
    np.testing.assert_allclose(phi, expected["phi"].astype(np.float32), rtol=1e-4, atol=1e-9)
    assert {j.state for j in cc.status().jobs} == {"running"}
