"""dashboards/cluster.ipynb against the local SLURM cluster: the workers are batch jobs."""

from __future__ import annotations

import subprocess

import pytest

from tests.ui.test_notebook import run_cluster_notebook

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_cluster_notebook_runs_a_sweep_on_slurm_workers(slurm, tmp_path, monkeypatch):
    """The same notebook with HPCDASH_BACKEND=slurm: the job script is an sbatch script, sbatch
    --test-only accepts the request, the two workers are SLURM jobs, and closing cancels them."""
    code = run_cluster_notebook(tmp_path, monkeypatch, "slurm", queue="debug")
    script = "".join(o.get("text", "") for o in code[0].outputs)
    assert script.startswith("#!/usr/bin/env bash") and "#SBATCH -p debug" in script
    mine = subprocess.run(["squeue", "-h", "-n", "dask-worker", "-t", "PENDING,RUNNING", "-o", "%i %T"], capture_output=True, text=True)
    assert mine.stdout.strip() == ""  # no worker job left in the queue
