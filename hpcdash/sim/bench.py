"""Benchmark: sweep throughput on a 2-worker Dask cluster against serial execution.

Run ``python -m hpcdash.sim.bench`` to print the figures; :func:`sweep_throughput` returns them. The
same runs (same parameter sets and mesh) are executed serially in this process and on a
``distributed.LocalCluster`` of 2 single-threaded worker processes; cluster start-up is timed
separately and not included in the sweep time. The issue's target is a speed-up >= 1.8 x.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def bench_param_sets(n_runs: int = 8, core_cells: int = 48) -> list[dict]:
    """``n_runs`` parameter sets: the source moves along x and the blocks deepen."""
    return [
        {
            "source_x": -100.0 + 200.0 * i / max(n_runs - 1, 1),
            "block_depth": 20.0 + 10.0 * (i % 4),
            "core_cells": core_cells,
        }
        for i in range(n_runs)
    ]


def sweep_throughput(
    n_runs: int = 8, core_cells: int = 48, n_workers: int = 2, out_dir: str | os.PathLike | None = None
) -> dict:
    """Time the same sweep serially and on ``n_workers`` worker processes; return a dict of figures:
    runs, cells per run, serial_s, cluster_s, cluster_start_s, speedup, runs_per_min for both."""
    from distributed import Client, LocalCluster

    from hpcdash.sim.dc import forward_model
    from hpcdash.sim.sweep import run_sweep

    sets = bench_param_sets(n_runs, core_cells)
    forward_model({"core_cells": 4, "n_pad": 1})  # imports and first-call costs are not sweep time
    tmp = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="hpcdash-sweep-bench-"))
    try:
        t0 = time.perf_counter()
        serial_paths = run_sweep(sets, tmp / "serial", name="serial")
        serial_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )
        client = Client(cluster)
        client.wait_for_workers(n_workers)
        client.run(lambda: __import__("hpcdash.sim.sweep"))  # imports on workers are start-up, not sweep
        start_s = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            cluster_paths = run_sweep(sets, tmp / "cluster", client=client, name="cluster")
            cluster_s = time.perf_counter() - t0
        finally:
            client.close()
            cluster.close()
        import h5py

        with h5py.File(serial_paths[0], "r") as f:
            n_cells = int(f["/dc/potential"].size)
        assert len(cluster_paths) == len(serial_paths) == n_runs
    finally:
        if out_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return {
        "runs": n_runs,
        "cells_per_run": n_cells,
        "workers": n_workers,
        "serial_s": round(serial_s, 2),
        "cluster_s": round(cluster_s, 2),
        "cluster_start_s": round(start_s, 2),
        "speedup": round(serial_s / cluster_s, 2),
        "serial_runs_per_min": round(60 * n_runs / serial_s, 1),
        "cluster_runs_per_min": round(60 * n_runs / cluster_s, 1),
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--core-cells", type=int, default=48)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    figures = sweep_throughput(args.runs, args.core_cells, args.workers)
    if args.json:
        print(json.dumps(figures))
        return
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
