"""Benchmark: time from ``scale(n)`` to ``n`` connected workers, ClusterControl vs bare dask-jobqueue.

Both run on the same SLURM, in the same process, with the same request, alternating round by round
(ClusterControl first, then the bare ``SLURMCluster``), each round starting from an empty queue.
ClusterControl's figure includes everything it adds: the ``sbatch --test-only`` check before
scaling (re-used for 60 s) and the job registry. Target: median ratio <= 1.1.

Run: ``python -m hpcdash.cluster.bench [rounds]`` (needs SLURM_CONF), or call :func:`bench_scale`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = ["bench_scale", "start_to_slice"]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _queue_has(ids: set[str]) -> bool:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    return bool(ids & set(out))


def _round(cluster, client, n: int, scale, job_ids) -> float:
    t0 = time.perf_counter()
    scale(n)
    client.wait_for_workers(n, timeout=300)
    elapsed = time.perf_counter() - t0
    ids = job_ids()
    scale(0)
    _wait(lambda: not client.scheduler_info()["workers"], 120, "workers to leave")
    _wait(lambda: not _queue_has(ids), 120, "jobs to leave the queue")
    return elapsed


def bench_scale(rounds: int = 5, n: int = 2, queue: str = "debug", memory: str = "1GB", cores: int = 1,
                walltime: str = "00:10:00", interface: str | None = "lo") -> dict[str, Any]:
    """Seconds from ``scale(n)`` to ``n`` connected workers, ``rounds`` times each way.

    Returns ``{"controlled": [...], "bare": [...], "controlled_median", "bare_median", "ratio"}``
    (ratio = controlled median / bare median).
    """
    import dask
    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    from .control import ClusterControl

    logs = tempfile.mkdtemp(prefix="hpcdash-bench-logs-")
    cc = ClusterControl(backend="slurm", queue=queue, memory=memory, cores=cores, processes=1,
                        walltime=walltime, interface=interface or "", log_directory=logs)
    # the same TLS setting as the controlled cluster's, so the comparison is of the control code alone
    bare = SLURMCluster(queue=queue, memory=memory, cores=cores, processes=1, walltime=walltime,
                        interface=interface, log_directory=logs, scheduler_options={"dashboard_address": ":0"},
                        **cc.security_options())
    bare_client = Client(bare)
    controlled: list[float] = []
    plain: list[float] = []
    # Bare SpecCluster reuses worker names after scale(0); the old workers' lost-worker timers (15 s)
    # would cancel the next round's fresh jobs. Same short timeout and pause for both, so rounds are
    # independent (ClusterControl never reuses names, see control._unique_names).
    cfg = dask.config.set({"distributed.deploy.lost-worker-timeout": "1s"})
    try:
        cc.start()
        for _ in range(rounds):
            time.sleep(1.5)
            controlled.append(_round(cc.cluster, cc.client, n, cc.scale,
                                     lambda: {j.job_id for j in cc.status().jobs if j.job_id}))
            time.sleep(1.5)
            plain.append(_round(bare, bare_client, n, bare.scale,
                                lambda: {w.job_id for w in list(bare.workers.values()) if w.job_id}))
    finally:
        cfg.__exit__(None, None, None)
        cc.close()
        bare_client.close()
        bare.close()
    cm, bm = statistics.median(controlled), statistics.median(plain)
    return {"controlled": controlled, "bare": plain, "controlled_median": cm, "bare_median": bm,
            "ratio": cm / bm if bm else float("nan"), "rounds": rounds, "workers": n}


def start_to_slice(out_dir: str | None = None, backend: str = "slurm", queue: str = "debug",
                   memory: str = "1GB", core_cells: int = 24, interface: str | None = "lo") -> dict[str, Any]:
    """Seconds from Start to a datashaded slice of a fresh sweep run, through the calls the tab's
    Start and Run sweep buttons make (``ClusterControl.start``, ``run_sweep`` on its client), then
    ``open_volume`` + ``Volume.slice`` + the explorer's ``rasterize_slice`` on a 600 x 450 canvas.

    Returns the total and its phases: ``workers`` (Start to one connected worker), ``run`` (the sweep
    run computed and written), ``slice`` (file opened, slice read and rasterized).
    """
    import numpy as np

    from hpcdash.data import open_volume
    from hpcdash.explorer.views import SliceParts, rasterize_slice
    from hpcdash.sim import run_sweep

    from .control import ClusterControl

    out = out_dir or tempfile.mkdtemp(prefix="hpcdash-bench-sweep-")
    logs = tempfile.mkdtemp(prefix="hpcdash-bench-logs-")
    request: dict[str, Any] = {"backend": backend, "cores": 1, "processes": 1, "memory": memory}
    if backend != "local":
        request.update(queue=queue, walltime="00:10:00", interface=interface or "", log_directory=logs)
    t0 = time.perf_counter()
    cc = ClusterControl(**request)
    try:
        cc.start(n=1)
        cc.client.wait_for_workers(1, timeout=180)
        t_workers = time.perf_counter()
        (path,) = run_sweep([{"source_x": 0.0, "core_cells": core_cells}], out, client=cc.client)
        t_run = time.perf_counter()
        with open_volume(path) as vol:
            data = vol.slice(vol.dims[0], vol.shape[0] // 2)
            ydim, xdim = data.dims
            parts = SliceParts(np.asarray(data[xdim].values, float), np.asarray(data[ydim].values, float),
                               np.asarray(data.values, np.float32), [str(xdim), str(ydim)], ["value"],
                               vol.is_uniform(xdim) and vol.is_uniform(ydim))
            image = rasterize_slice(parts, width=600, height=450)
        t_slice = time.perf_counter()
    finally:
        cc.close()
    return {"total": t_slice - t0, "workers": t_workers - t0, "run": t_run - t_workers,
            "slice": t_slice - t_run, "image_shape": image.dimension_values(2, flat=False).shape,
            "backend": backend}


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark figures."""
    argv = sys.argv[1:] if argv is None else argv
    rounds = int(argv[0]) if argv else 5
    r = bench_scale(rounds=rounds)
    print(f"scale({r['workers']}) -> {r['workers']} workers connected, {rounds} rounds each, same SLURM, same process")
    print("  ClusterControl : " + ", ".join(f"{t:.2f}" for t in r["controlled"]) + f"  median {r['controlled_median']:.2f} s")
    print("  bare SLURMCluster: " + ", ".join(f"{t:.2f}" for t in r["bare"]) + f"  median {r['bare_median']:.2f} s")
    print(f"  ratio {r['ratio']:.2f} (target <= 1.10)")
    f = start_to_slice()
    print(f"Start to a datashaded slice of a fresh sweep run: {f['total']:.1f} s (workers {f['workers']:.1f} s, "
          f"run {f['run']:.1f} s, slice {f['slice']:.2f} s; target <= 60 s)")


if __name__ == "__main__":
    main()
