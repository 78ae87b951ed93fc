"""Fixtures for the cluster tests: the real local SLURM (tests/services/start-slurm.sh) and controls
that never leave jobs behind."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from hpcdash.cluster import ClusterControl


@pytest.fixture(scope="session")
def slurm() -> str:
    """The local SLURM cluster. Skips only when the SLURM client (sinfo) is not installed; fails loudly
    when it is installed (or SLURM_CONF is set) but the controller does not answer."""
    if shutil.which("sinfo") is None:
        pytest.skip("SLURM client 'sinfo' is not installed")
    conf = os.environ.get("SLURM_CONF", "<unset>")
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sinfo did not answer within 30 s (SLURM_CONF={conf}); start tests/services/start-slurm.sh")
    states = proc.stdout.split()
    if proc.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
        pytest.fail(f"SLURM is not reachable or has no usable node (SLURM_CONF={conf}): rc={proc.returncode} "
                    f"stdout={proc.stdout!r} stderr={proc.stderr.strip()!r}")
    return conf


@pytest.fixture
def make_control(tmp_path) -> Iterator[Callable[..., ClusterControl]]:
    """Factory for ClusterControl objects with test-friendly settings (loopback, small requests, logs under
    tmp_path); closes them and scancels their jobs at the end of the test."""
    made: list[ClusterControl] = []

    def make(**params) -> ClusterControl:
        defaults = dict(cores=1, processes=1, memory="1GB", walltime="00:10:00", interface="lo",
                        log_directory=str(tmp_path / "logs"))
        if params.get("backend", "local") == "slurm":
            defaults["queue"] = "debug"
        cc = ClusterControl(**{**defaults, **params})
        made.append(cc)
        return cc

    yield make
    for cc in made:
        cc.close()


@pytest.fixture
def filler_jobs() -> Iterator[list[str]]:
    """Job ids of helper jobs a test submits with sbatch; all are scancel'ed at the end."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True)
