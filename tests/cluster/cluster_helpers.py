"""Helpers shared by the cluster tests (polling instead of sleeping, queue snapshots)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest


def wait_until(predicate: Callable[[], object], timeout: float = 60.0, interval: float = 0.3, what: str = ""):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or predicate}; last value: {last!r}")


def squeue_ids() -> set[str]:
    """Job ids SLURM lists as pending/running/completing right now."""
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def fill_the_node(filler_jobs: list[str]) -> str:
    """Submit a job taking both CPUs of the test node and wait until it runs (the next job pends);
    its id goes into `filler_jobs` (the fixture cancels them) and is returned."""
    filler = subprocess.run(["sbatch", "--parsable", "-c", "2", "-t", "00:05:00", "--wrap", "sleep 300"],
                            capture_output=True, text=True, check=True).stdout.strip()
    filler_jobs.append(filler)
    wait_until(lambda: subprocess.run(["squeue", "-h", "-j", filler, "-o", "%T"], capture_output=True,
                                      text=True).stdout.strip() == "RUNNING", 120, what="node filled")
    return filler
