"""Sweep tasks with injected faults, run on real Dask workers by the sweep tests.

Each fault happens once per output file: a marker file next to the output records the first
attempt, so the retried attempt (on the same or another worker) does the real run.
"""

from __future__ import annotations

import os
from pathlib import Path

from hpcdash.sim.sweep import run_dc


def _first_attempt(out_path: str, kind: str) -> bool:
    marker = Path(out_path).with_name(f"{Path(out_path).stem}.{kind}.marker")
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def die_once(params, out_path):
    """For sources at x < 0, kill the worker process running this task on the first attempt (like
    a job cancelled or hitting its walltime). At most two such runs per sweep: the scheduler gives
    up on a task after ``allowed-failures`` (3) lost workers it was assigned to."""
    if params.get("source_x", 0.0) < 0 and _first_attempt(out_path, "died"):
        os._exit(1)
    return run_dc(params, out_path)


def raise_once(params, out_path):
    """Raise on the first attempt (a transient error)."""
    if _first_attempt(out_path, "raised"):
        raise OSError("transient file-system hiccup")
    return run_dc(params, out_path)


def fail_if_deep(params, out_path):
    """Always fail for block_depth > 100 m; a normal run otherwise."""
    if params.get("block_depth", 0) > 100:
        raise ValueError("block too deep for this mesh")
    return run_dc(params, out_path)


def attempts(out_path: str, kind: str) -> int | None:
    """PID recorded by the first attempt, or None if no first attempt happened."""
    marker = Path(out_path).with_name(f"{Path(out_path).stem}.{kind}.marker")
    return int(marker.read_text()) if marker.exists() else None
