"""Benchmark of the data layer's slice reads (figures, not a test).

Usage:  python tests/data/bench_slices.py [--dir /tmp/hpcdash-data-bench] [--n 512] [--big]

Writes (once) volumes of n^3 float32 chunked 64^3: plain, gzip-4 (no shuffle, like the
reference measurements in ../shared/recipes/perf/ANCHORS.md) and blosc-lz4, plus a
contiguous one; with --big also 1024^3 plain. Then prints, per file and axis, median [min-max] milliseconds for:

- raw h5py: ``ds[i, :, :]`` on an open file with HDF5's default 1 MiB chunk cache;
- Volume.slice, random index (slab cache miss: one slab decoded);
- Volume.slice, adjacent steps inside a slab (cache hits: a memory copy + CF decode);
- Volume.slice after prefetch of the next slab (the step that crosses a slab boundary);
- four panes (four files) read concurrently vs one pane.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from hpcdash.data import LatestOnly, open_volume, slab_cache
from hpcdash.data.cache import set_cache_budget


def field_slab(z0: int, z1: int, n: int, seed: int = 0) -> np.ndarray:
    """A smooth log-conductivity-like field with a little noise, rows z0..z1 of an n^3 cube."""
    rng = np.random.default_rng(seed + z0)
    z = np.linspace(0, 1, n)[z0:z1, None, None]
    y = np.linspace(0, 1, n)[None, :, None]
    x = np.linspace(0, 1, n)[None, None, :]
    f = -2 - 2 * z + 0.5 * np.sin(6 * x) * np.cos(5 * y) + 0.3 * np.sin(9 * z + 3 * x)
    return (f + rng.normal(0, 0.03, size=(z1 - z0, n, n))).astype("f4")


def make(path: Path, n: int, compression, seed: int = 0, chunks=(64, 64, 64)) -> Path:
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    coords = {d: np.arange(n, dtype=float) * 10.0 for d in ("z", "y", "x")}
    with h5py.File(tmp, "w") as f:  # written slab by slab: the cube need not fit in memory
        from hpcdash.data.write import compression_kwargs

        ds = f.create_dataset("/model/sigma", shape=(n, n, n), dtype="f4", chunks=chunks,
                              **compression_kwargs(compression))
        for z0 in range(0, n, 64):
            ds[z0:z0 + 64] = field_slab(z0, min(z0 + 64, n), n, seed)
        g = f["/model"]
        for d, c in coords.items():
            g[d] = c
            g[d].make_scale(d)
            g[d].attrs["units"] = "m"
        for i, d in enumerate(("z", "y", "x")):
            ds.dims[i].attach_scale(g[d])
        ds.attrs["units"] = "log10 S/m"
    tmp.rename(path)
    return path


def fmt(ms: list[float]) -> str:
    return f"{statistics.median(ms):7.1f} [{min(ms):.1f}-{max(ms):.1f}]"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def bench_file(path: Path, reps: int, rng: np.random.Generator) -> None:
    with h5py.File(path, "r") as f:
        ds = f["/model/sigma"]
        n = ds.shape[0]
        for axis in range(3):
            idx = rng.integers(0, n, reps)
            raw = [timed(lambda i=i, a=axis: ds[tuple(i if d == a else slice(None) for d in range(3))]) for i in idx]
            slab_cache().clear()
            with open_volume(path) as vol:
                miss = []
                for i in idx:
                    slab_cache().clear()
                    miss.append(timed(lambda i=i, a=axis: vol.slice(a, int(i))))
                start = int(idx[0]) // 64 * 64
                vol.slice(axis, start)
                steps = [timed(lambda i=i, a=axis: vol.slice(a, i)) for i in range(start + 1, start + 64)]
                slab_cache().clear()
                vol.slice(axis, start)
                fut = vol.prefetch(axis, start, +1)
                if fut is not None:
                    fut.result()
                block = vol._block_len(axis, [d for d in range(3) if d != axis])
                nxt = min(start + block, n - 1)
                cross = timed(lambda a=axis, i=nxt: vol.slice(a, i))
            print(f"{path.name:22s} axis {axis}: raw h5py {fmt(raw)} | slice miss {fmt(miss)} | "
                  f"step in slab {fmt(steps)} | step after prefetch {cross:6.1f}", flush=True)


def bench_panes(paths: list[Path], reps: int, rng: np.random.Generator) -> None:
    vols = [open_volume(p) for p in paths]
    workers = [LatestOnly() for _ in vols]
    n = vols[0].shape[0]
    for label, idxs in (("random", rng.integers(0, n, reps)), ("adjacent", range(n // 2, n // 2 + reps))):
        one, four = [], []
        for i in idxs:
            if label == "random":
                slab_cache().clear()
            one.append(timed(lambda i=i: workers[0].run(vols[0].slice, 0, int(i))))
            if label == "random":
                slab_cache().clear()
            else:
                for v in vols:
                    v.slice(0, int(i))  # all panes warm like pane 0, as linked panes would be
            four.append(timed(lambda i=i: [f.result() for f in
                                           [w.submit(v.slice, 0, int(i)) for w, v in zip(workers, vols, strict=True)]]))
        print(f"four panes ({label:8s}): one {fmt(one)} | four {fmt(four)} | ratio "
              f"{statistics.median(four) / statistics.median(one):.2f}", flush=True)
    for w in workers:
        w.close()
    for v in vols:
        v.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/tmp/hpcdash-data-bench")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--pane-n", type=int, default=256, help="size of the four pane files")
    ap.add_argument("--big", action="store_true", help="also 1024^3 plain (4 GiB on disk)")
    ap.add_argument("--only", default="", help="comma list of: plain,contig,gzip,blosc,big,panes")
    args = ap.parse_args(argv)
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    set_cache_budget(int(os.environ.get("HPCDASH_CACHE_MB", 256)) * 2**20)
    only = set(filter(None, args.only.split(",")))
    rng = np.random.default_rng(0)
    n = args.n
    files = {
        "plain": lambda: make(out / f"plain{n}.h5", n, None),
        "contig": lambda: make(out / f"contig{n}.h5", n, None, chunks=None),
        "gzip": lambda: make(out / f"gzip{n}.h5", n, {"compression": "gzip", "compression_opts": 4}),
        "blosc": lambda: make(out / f"blosc{n}.h5", n, "blosc"),
    }
    if args.big:
        files["big"] = lambda: make(out / "plain1024.h5", 1024, None)
    print(f"h5py {h5py.__version__} HDF5 {h5py.version.hdf5_version} numpy {np.__version__} "
          f"python {sys.version.split()[0]}; slab cache budget {slab_cache().budget >> 20} MiB; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    for key, maker in files.items():
        if only and key not in only:
            continue
        t = time.perf_counter()
        path = maker()
        print(f"{path.name}: ready in {time.perf_counter() - t:.1f} s", flush=True)
        bench_file(path, args.reps, rng)
    if not only or "panes" in only:
        pn = args.pane_n
        for label, comp in (("plain", None), ("gzip", {"compression": "gzip", "compression_opts": 4})):
            paths = [make(out / f"pane{k}_{label}{pn}.h5", pn, comp, seed=k) for k in range(4)]
            print(f"four panes on {label} {pn}^3 files:", flush=True)
            bench_panes(paths, args.reps, rng)


if __name__ == "__main__":
    main()
