"""The hpcdash benchmark: one table, every figure measured in the same run on this machine.

Run it with ``hpcdash bench`` or ``python -m hpcdash.bench`` (``--help`` for the options)::

    python -m hpcdash.bench                       # full run: 1024^3 plain + 512^3 gzip, browser included
    python -m hpcdash.bench --quick               # tiny volumes, few repetitions (a smoke run, ~1 min)
    python -m hpcdash.bench --markdown --json bench.json

What it does
------------
1. Writes the volumes into ``--out`` (default ./bench-data; reused when present with the same shape,
   chunks and compression): a float32 ``N^3`` volume chunked 64^3 (``--size``, default 1024, 4 GiB) and
   a gzip-4 one (``--gzip-size``, default 512: writing 1024^3 with gzip takes many minutes), and for the
   linked-panes row four float32 ``--linked-size``^3 runs. ``hpcdash.sim.write_big_volume`` writes them
   when it is available, else a local slab-by-slab h5py writer with the same layout. Before each
   measurement of a volume (every column, every section) its file is read once sequentially, so every
   figure is "page cache warm" even where the system reclaims idle page cache during the run.
2. The same slice indices are then read by
   - raw h5py: a fresh ``h5py.File`` per slice (default 1 MiB chunk cache), time of ``ds[sel]``;
   - h5grove 4 (jupyterlab-h5web's backend) served by tornado on 127.0.0.1, ``GET /data?...&format=bin``
     on one keep-alive connection, request sent -> body received;
   - hpcdash: ``hpcdash serve --root DIR`` run under hpcdash.benchmarks.probe (timing probes on bokeh's
     websocket handler, tornado's frame writer and Panel's event processing), driven by a Python
     ``bokeh.client`` session that moves the "Normal axis" select and the "Slice" slider like BokehJS
     does; the file is chosen with the app's URL query (``?file=...``);
   - the naive Panel app (hpcdash/benchmarks/naive_app.py: DynamicMap + h5py read on demand +
     rasterize) served by ``panel serve`` under the same probes and driven the same way (``?file=``).
   The three servers run for the whole run; the file's pages are in the page cache (``--cold``: the
   file is evicted with posix_fadvise(DONTNEED) before every random slice, in every column).
   Server time per update = start of Panel's processing of the widget change -> last websocket frame
   of the update written (read + rasterize + bokeh serialization + write); Panel's 50 ms debounce of
   widget changes happens before that and is reported separately in the JSON (``total_ms``). Bytes per
   update = all PATCH-DOC frames written for the update (JSON + binary buffers; no websocket
   compression).
3. Peak RSS = VmHWM of the hpcdash server process after the plain (4 GiB) volume's session.
4. Open to first image = a new session of the running server on ``?file=plain`` until the client holds
   an image (session creation, file open, first slice read, rasterize, serialize, transfer); imports
   and numba compilation happened at server start. Also, in a fresh interpreter after imports:
   ``SliceExplorer(path)`` -> ``get_root`` -> image present.
5. Four linked panes vs one: ``?file=a&file2=b&file3=c&file4=d`` (Link on), the first pane's slider
   moved, until all four images changed, against ``?file=a`` alone, same indices; three rounds of
   each, alternating (one with --quick), medians over all their steps and the ratio of each round.
6. Headless chromium (hpcdash.benchmarks.browser): keydown on the focused slider handle -> first
   animation frame with changed plot pixels; p50 over ``--presses`` presses, hpcdash and naive app
   (hpcdash only with --quick). The probes give the server time and bytes of those same updates; the
   largest canvas gives the bound for "bytes per update bounded by the canvas".
7. With ``--cluster``: the rows of hpcdash.cluster.bench / hpcdash.sim.bench when they exist.

Targets are the issue's; "met" compares the median (p50) with the target. Ratios are against the
baselines measured in the same run. ``--render FILE`` prints the table of a run saved with ``--json``
again (``--markdown`` for the README) without measuring.

Limits: the Python client has no browser layout, so in its sessions HoloViews rasterizes to its
default size (400x400) where the browser sends the real canvas size; the bytes row "in chromium" is the
one to compare with the canvas. The machine is shared: the load average at start and end is printed,
and raw h5py in the same run is the yardstick for how loaded it was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASET = "/volume/log10_conductivity"
AXES = (0, 1, 2)


# ----------------------------------------------------------------------------- small helpers
def stats(values: list[float | None]) -> dict[str, Any] | None:
    """median, min, max, p90 and count of the non-None values (None when there are none)."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    p90 = vals[min(len(vals) - 1, int(round(0.9 * (len(vals) - 1))))]
    return {"median": statistics.median(vals), "min": vals[0], "max": vals[-1], "p90": p90, "n": len(vals)}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:200]


@dataclass
class Config:
    out: Path
    size: int = 1024
    gzip_size: int = 512
    linked_size: int = 512
    chunk: int = 64
    n_random: int = 10
    n_adjacent: int = 12
    presses: int = 20
    quick: bool = False
    cold: bool = False
    browser: bool = True
    cluster: bool = False
    seed: int = 20261125
    step_timeout: float = 60.0
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- environment
def environment() -> dict[str, Any]:
    """Date, machine and package versions."""
    info: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                            "nproc": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    versions = {}
    from importlib.metadata import PackageNotFoundError, version

    for mod in ("hpcdash", "numpy", "h5py", "panel", "bokeh", "holoviews", "datashader", "numba", "xarray",
                "h5grove", "tornado", "playwright"):
        try:
            versions[mod] = version(mod)
        except PackageNotFoundError:
            versions[mod] = "missing"
    try:
        import h5py

        versions["hdf5"] = h5py.version.hdf5_version
    except Exception:
        pass
    try:
        repo = Path(__file__).resolve().parent.parent
        versions["git"] = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except Exception:
        pass
    info["versions"] = versions
    info["loadavg_start"] = os.getloadavg()
    return info


# ----------------------------------------------------------------------------- volumes
def _find_3d(path: Path) -> str | None:
    import h5py

    found: list[tuple[int, str]] = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 3 and obj.dtype.kind == "f":
                found.append((obj.size, "/" + name))
        f.visititems(visit)
    return max(found)[1] if found else None


def _volume_ok(path: Path, n: int, chunks: tuple[int, int, int], compression: str | None) -> str | None:
    """The dataset name if `path` holds a complete n^3 float32 volume with these chunks/compression."""
    import h5py

    try:
        name = _find_3d(path)
        if name is None:
            return None
        with h5py.File(path, "r") as f:
            ds = f[name]
            if ds.shape == (n, n, n) and ds.chunks == chunks and ds.compression == compression \
                    and f.attrs.get("hpcdash_bench_complete", True):
                return name
    except Exception:
        return None
    return None


def _field(z0: int, z1: int, n: int, rng) -> Any:
    """A smooth log10-conductivity-like field with a little noise, float32, for planes z0..z1."""
    import numpy as np

    z = (np.arange(z0, z1, dtype=np.float32) / n)[:, None, None]
    y = (np.arange(n, dtype=np.float32) / n)[None, :, None]
    x = (np.arange(n, dtype=np.float32) / n)[None, None, :]
    out = -2.0 + 1.2 * np.tanh((z - 0.35) * 12.0) - 0.8 * np.tanh((z - 0.7) * 20.0)
    out = out + 0.4 * np.sin(6.3 * x + 2.0 * z) * np.cos(4.7 * y - 1.5 * z)
    out = out - 1.0 * np.exp(-(((x - 0.4) ** 2 + (y - 0.55) ** 2 + (z - 0.5) ** 2) / 0.01))
    out = out.astype(np.float32) + 0.03 * rng.standard_normal((z1 - z0, n, n), dtype=np.float32)
    return out


def _write_local(path: Path, n: int, chunks: tuple[int, int, int], compression: str | None) -> None:
    """Slab-by-slab writer: /volume/log10_conductivity (z, y, x) with 10 m cells as dimension scales."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(n)
    tmp = path.with_name(path.name + ".part")
    with h5py.File(tmp, "w") as f:
        g = f.create_group("volume")
        coords = {}
        for dim in ("z", "y", "x"):
            c = g.create_dataset(dim, data=(np.arange(n) + 0.5) * 10.0)
            c.attrs["units"] = "m"
            c.make_scale(dim)
            coords[dim] = c
        kw = {"compression": "gzip", "compression_opts": 4} if compression == "gzip" else {}
        ds = g.create_dataset("log10_conductivity", shape=(n, n, n), dtype="f4", chunks=chunks, **kw)
        ds.attrs["units"] = "log10(S/m)"
        ds.attrs["long_name"] = "log10 conductivity"
        for i, dim in enumerate(("z", "y", "x")):
            ds.dims[i].attach_scale(coords[dim])
        for z0 in range(0, n, chunks[0]):
            z1 = min(n, z0 + chunks[0])
            ds[z0:z1] = _field(z0, z1, n, rng)
    os.replace(tmp, path)


def ensure_volume(path: Path, n: int, chunk: int, compression: str | None, notes: list[str]) -> dict[str, Any]:
    """Write the volume unless a matching one is there; return its description."""
    chunks = (min(chunk, n),) * 3
    name = _volume_ok(path, n, chunks, compression)
    how = "reused from an earlier run"
    t0 = time.perf_counter()
    if name is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        how = "local h5py writer"
        try:
            from hpcdash.sim import write_big_volume

            log(f"writing {path.name} ({n}^3, chunks {chunks}, {compression}) with hpcdash.sim.write_big_volume")
            write_big_volume(path, n=n, chunks=chunks, compression=compression)
            how = "hpcdash.sim.write_big_volume"
        except (ImportError, AttributeError, NotImplementedError) as e:
            notes.append(f"hpcdash.sim.write_big_volume not usable ({_err(e)}); the local writer wrote the volumes")
            log(f"writing {path.name} ({n}^3, chunks {chunks}, {compression}) with the local writer")
            _write_local(path, n, chunks, compression)
        name = _volume_ok(path, n, chunks, compression)
        if name is None:
            raise RuntimeError(f"{path} was written but holds no {n}^3 volume with chunks {chunks}")
    return {"path": str(path), "dataset": name, "n": n, "chunks": chunks, "compression": compression,
            "bytes_on_disk": path.stat().st_size, "written_by": how,
            "write_s": round(time.perf_counter() - t0, 1) if not how.startswith("reused") else None}


def warm_page_cache(path: str) -> float:
    """Read the file once sequentially (so measurements are 'page cache warm'); returns seconds."""
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass
    return time.perf_counter() - t0


def slice_plan(n: int, cfg: Config, axis: int) -> dict[str, list[int]]:
    """Random indices (no two equal in a row) and an adjacent run crossing a chunk boundary."""
    rng = random.Random(cfg.seed + 1000 * axis + n)
    rand: list[int] = []
    while len(rand) < cfg.n_random:
        i = rng.randrange(n)
        if not rand or rand[-1] != i:
            rand.append(i)
    k = cfg.n_adjacent
    start = max(1, min(n - k - 1, n // 2 - k // 2 - cfg.chunk // 4))
    return {"random": rand, "adjacent": list(range(start, start + k)), "adjacent_from": start - 1}


def _sel(axis: int, i: int) -> tuple:
    sel: list[Any] = [slice(None)] * 3
    sel[axis] = int(i)
    return tuple(sel)


# ----------------------------------------------------------------------------- raw h5py
def evict(path: str) -> None:
    """Drop the file's pages from the OS page cache (posix_fadvise DONTNEED), for --cold."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure_h5py(vol: dict[str, Any], plans: dict[int, dict], cold: bool = False) -> dict[str, Any]:
    """Fresh h5py.File per slice, default chunk cache; ms of ds[sel]. `cold`: random slices after evict()."""
    import h5py

    if not cold:
        warm_page_cache(vol["path"])
    out: dict[str, Any] = {}
    for axis, plan in plans.items():
        for kind in ("random", "adjacent"):
            times = []
            for i in plan[kind]:
                if cold and kind == "random":
                    evict(vol["path"])
                with h5py.File(vol["path"], "r") as f:
                    ds = f[vol["dataset"]]
                    t0 = time.perf_counter()
                    a = ds[_sel(axis, i)]
                    times.append((time.perf_counter() - t0) * 1e3)
            out[f"{kind}_{axis}"] = stats(times)
            out[f"{kind}_{axis}"]["bytes"] = int(a.nbytes)
    return out


# ----------------------------------------------------------------------------- servers
@dataclass
class Servers:
    """hpcdash and the naive app under the timing probes, and h5grove, all serving `root`."""

    hpcdash: Any
    naive: Any
    grove: subprocess.Popen
    grove_port: int
    grove_log: Any


def launch_servers(root: Path, workdir: Path) -> Servers:
    from hpcdash.benchmarks.driver import ProbedServer, free_port

    naive_app = Path(__file__).resolve().parent / "benchmarks" / "naive_app.py"
    hp = ProbedServer(["hpcdash", "serve", "--root", str(root), "--port", "{port}", "--address", "127.0.0.1"],
                      workdir, "hpcdash").launch()
    nv = ProbedServer(["panel", "serve", str(naive_app), "--port", "{port}", "--address", "127.0.0.1",
                       "--allow-websocket-origin", "127.0.0.1:{port}", "--args", str(root)],
                      workdir, "naive").launch()
    port = free_port()
    glog = open(workdir / "h5grove.server.log", "wb")  # noqa: SIM115 - closed in stop_servers
    grove = subprocess.Popen([sys.executable, "-m", "hpcdash.benchmarks.h5grove_server", str(root), str(port)],
                             stdout=glog, stderr=subprocess.STDOUT, start_new_session=True)
    return Servers(hp, nv, grove, port, glog)


def stop_servers(s: Servers) -> None:
    for srv in (s.hpcdash, s.naive):
        srv.stop()
    if s.grove.poll() is None:
        s.grove.terminate()
        try:
            s.grove.wait(timeout=10)
        except subprocess.TimeoutExpired:
            s.grove.kill()
    s.grove_log.close()


# ----------------------------------------------------------------------------- h5grove
def measure_h5grove(port: int, vols: list[dict[str, Any]], all_plans: dict[str, dict], root: Path,
                    cold: bool = False) -> dict:
    """GET /data (format=bin) for the same slices on one keep-alive connection."""
    out: dict[str, Any] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for vol in vols:
            rel = os.path.relpath(vol["path"], root)
            res: dict[str, Any] = {}
            for axis, plan in all_plans[vol["path"]].items():
                for kind in ("random", "adjacent"):
                    times, sizes = [], []
                    for i in plan[kind]:
                        sel = ",".join(str(i) if a == axis else ":" for a in AXES)
                        url = f"/data?file={rel}&path={vol['dataset']}&selection={sel}&format=bin"
                        if cold and kind == "random":
                            evict(vol["path"])
                        t0 = time.perf_counter()
                        conn.request("GET", url)
                        resp = conn.getresponse()
                        body = resp.read()
                        times.append((time.perf_counter() - t0) * 1e3)
                        if resp.status != 200:
                            raise RuntimeError(f"h5grove answered {resp.status}: {body[:200]!r}")
                        sizes.append(len(body))
                    res[f"{kind}_{axis}"] = {**stats(times), "bytes": statistics.median(sizes)}
            out[vol["path"]] = res
    finally:
        conn.close()
    return out


# ----------------------------------------------------------------------------- served apps
def drive_volume(driver, plans: dict[int, dict], n: int, before_random=None) -> dict[str, Any]:
    """Per axis: switch the normal axis, random jumps, then adjacent steps; per-kind stats.
    `before_random()` runs before each random jump (--cold: evict the file from the page cache)."""
    out: dict[str, Any] = {"steps": []}
    opts = driver.axis_options()
    for axis, plan in plans.items():
        if opts and axis < len(opts) and driver.selects[0].value != opts[axis]:
            r = driver.set_axis(opts[axis])
            out["steps"].append({"kind": "axis", "axis": axis, **r})
        lo, hi = driver.slider_range()
        if hi - lo + 1 != n:
            raise RuntimeError(f"slider range {lo}..{hi} on axis {axis} does not match the volume size {n}")
        for kind in ("random", "adjacent"):
            if kind == "adjacent" and driver.slice_index() != plan["adjacent_from"]:
                driver.set_slice(plan["adjacent_from"])  # positioning, not measured
            recs = []
            for i in plan[kind]:
                if driver.slice_index() == i:
                    continue
                if before_random is not None and kind == "random":
                    before_random()
                r = driver.set_slice(i)
                r.update(kind=kind, axis=axis, index=i)
                out["steps"].append(r)
                recs.append(r)
            ok = [r for r in recs if r["ok"]]
            out[f"{kind}_{axis}"] = {
                **(stats([r["server_ms"] for r in ok]) or {}),
                "total": stats([r["total_ms"] for r in ok]),
                "client": stats([r["client_ms"] for r in ok]),
                "bytes": statistics.median([r["bytes"] for r in ok]) if ok else None,
                "timeouts": len(recs) - len(ok),
            }
    return out


def _plot_size(driver) -> tuple[int, int] | None:
    """Largest width x height of a bokeh plot (the canvas) in the client's document."""
    try:
        from bokeh.models import Plot

        best = None
        for m in driver.doc.models:
            if isinstance(m, Plot):
                w = m.frame_width or m.width
                h = m.frame_height or m.height
                if w and h and (best is None or w * h > best[0] * best[1]):
                    best = (int(w), int(h))
        return best
    except Exception:
        return None


def app_url(kind: str, srv, root: Path, files: list[str]) -> tuple[str, dict[str, str]]:
    """URL and query arguments of a session showing `files` (hpcdash: file, file2, ...)."""
    args = {("file" if k == 0 else f"file{k + 1}"): os.path.relpath(f, root) for k, f in enumerate(files)}
    return (srv.base + "/" if kind == "hpcdash" else srv.base + "/naive_app"), args


def measure_app(kind: str, srv, cfg: Config, vols: list[dict], all_plans: dict, root: Path) -> dict[str, Any]:
    """Drive every volume through one server: slice steps, then new sessions (open to first image)."""
    from hpcdash.benchmarks.driver import ProbeLog, SessionDriver

    out: dict[str, Any] = {"volumes": {}}
    for vol in vols:
        if not cfg.cold:
            warm_page_cache(vol["path"])
        url, args = app_url(kind, srv, root, [vol["path"]])
        plog = ProbeLog(srv.log_path)
        plog.skip()
        res: dict[str, Any] = {}
        try:
            log(f"{kind}: {Path(vol['path']).name}: slice steps")
            drv = SessionDriver(url, plog, timeout_s=cfg.step_timeout, arguments=args)
            res["first_session_s"] = drv.first_image_s
            res["image_shapes"] = drv.image_shapes()
            res["plot_size"] = _plot_size(drv)
            res.update(drive_volume(drv, all_plans[vol["path"]], vol["n"],
                                    before_random=(lambda p=vol["path"]: evict(p)) if cfg.cold else None))
            drv.close()
            res["peak_rss_mb_after"] = srv.peak_rss_mb()
            firsts = []
            # --quick: one new session, on the first volume only (keeps the smoke run short)
            for _ in range((1 if vol is vols[0] else 0) if cfg.quick else 3):
                d2 = SessionDriver(url, plog, timeout_s=cfg.step_timeout, arguments=args)
                firsts.append(d2.first_image_s)
                d2.close()
            res["new_session_first_image_s"] = stats(firsts)
        except Exception as e:
            res["error"] = _err(e)
            log(f"{kind}: {Path(vol['path']).name}: {_err(e)}")
            traceback.print_exc(file=sys.stderr)
        out["volumes"][vol["path"]] = res
    return out


def measure_browser(kind: str, srv, cfg: Config, vol: dict, root: Path) -> dict[str, Any]:
    """Key press to new image in chromium; per press also the server time and bytes from the probes."""
    from urllib.parse import urlencode

    from hpcdash.benchmarks.browser import keypress_to_image
    from hpcdash.benchmarks.driver import ProbeLog, summarize_update

    url, args = app_url(kind, srv, root, [vol["path"]])
    warm_page_cache(vol["path"])
    log(f"{kind}: browser key presses on {Path(vol['path']).name}")
    plog = ProbeLog(srv.log_path)
    try:
        res = keypress_to_image(url + "?" + urlencode(args), presses=cfg.presses,
                                after_press=lambda: summarize_update(plog.read_new()))
        res["server_stats"] = stats([r["server_ms"] for r in res["server"]])
        res["bytes_median"] = statistics.median([r["bytes"] for r in res["server"]]) if res["server"] else None
        return res
    except Exception as e:
        log(f"{kind}: browser: {_err(e)}")
        return {"error": _err(e)}


def measure_linked(cfg: Config, srv, linked: list[dict], root: Path, rounds: int = 3) -> dict[str, Any]:
    """Server time per linked update: four panes (Link on, first slider moved) vs one pane.

    Sessions of one pane and of four alternate (`rounds` of each, the order flipped every round) over
    the same slice indices, so that a slow phase of the machine falls on both; the figures are medians
    over all steps, and each round's ratio is kept to show the spread. Each session jumps to random
    slices, then steps to the next slice `cfg.n_adjacent` times (as keys and drags do: read-ahead and
    the slab cache at work for all panes at once), recorded apart under "adjacent"."""
    from hpcdash.benchmarks.driver import ProbeLog, SessionDriver

    n = linked[0]["n"]
    rng = random.Random(cfg.seed + 7)
    idx: list[int] = []
    while len(idx) < cfg.n_random:
        i = rng.randrange(n)
        if not idx or idx[-1] != i:
            idx.append(i)
    res: dict[str, Any] = {"indices": idx, "n": n, "rounds": [], "adjacent": {"rounds": []}}
    outs = {"random": res, "adjacent": res["adjacent"]}  # where each kind of step's figures go
    steps: dict[str, dict[str, list[dict]]] = {kind: {"one": [], "four": []} for kind in outs}
    errors: dict[str, str] = {}
    for r in range(rounds):
        medians: dict[str, dict[str, float]] = {kind: {} for kind in outs}
        for label in (("one", "four") if r % 2 == 0 else ("four", "one")):
            vols = linked[:1] if label == "one" else linked[:4]
            for v in vols:
                warm_page_cache(v["path"])
            url, args = app_url("hpcdash", srv, root, [v["path"] for v in vols])
            plog = ProbeLog(srv.log_path)
            plog.skip()
            try:
                log(f"linked panes: {label}, round {r + 1} of {rounds}")
                drv = SessionDriver(url, plog, timeout_s=cfg.step_timeout, arguments=args, min_images=len(vols))
                time.sleep(0.5)  # let the panes' first loads finish before the first step
                drv._wait(lambda: True, 1.0)
                res[f"{label}_panes_found"] = len(drv.sliders)
                recs = []
                for i in idx:
                    if drv.slice_index() == i:
                        continue
                    recs.append(drv.set_slice(i, first_only=True, expect=len(vols)))
                start = min(drv.slice_index(), n - 1 - cfg.n_adjacent)
                if start != drv.slice_index():
                    drv.set_slice(start, first_only=True, expect=len(vols))
                adj = [drv.set_slice(start + k + 1, first_only=True, expect=len(vols)) for k in range(cfg.n_adjacent)]
                drv.close()
                for kind, got in (("random", recs), ("adjacent", adj)):
                    steps[kind][label] += got
                    ok = [x["server_ms"] for x in got if x["ok"]]
                    if ok:
                        medians[kind][label] = statistics.median(ok)
            except Exception as e:
                errors[label] = _err(e)
                log(f"linked panes {label}: {_err(e)}")
        for kind, m in medians.items():
            if "one" in m and "four" in m:
                outs[kind]["rounds"].append(round(m["four"] / m["one"], 2))
    for kind, out in outs.items():
        for label, recs in steps[kind].items():
            ok = [x for x in recs if x["ok"]]
            out[label] = {**(stats([x["server_ms"] for x in ok]) or {}), "timeouts": len(recs) - len(ok),
                          "bytes": statistics.median([x["bytes"] for x in ok]) if ok else None}
            if label in errors:
                out[label]["error"] = errors[label]
    return res


FIRST_IMAGE_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
import panel as pn, holoviews as hv
from holoviews.operation.datashader import rasterize  # noqa
from bokeh.document import Document
from bokeh.models import ColumnDataSource
from hpcdash.explorer import SliceExplorer
hv.extension('bokeh')
t1 = time.perf_counter()
ex = SliceExplorer(sys.argv[1])
root = pn.panel(ex).get_root(Document())
def has_image():
    return any(isinstance(m, ColumnDataSource) and 'image' in m.data and len(m.data['image'])
               for m in root.references())
deadline = time.perf_counter() + 120
while not has_image() and time.perf_counter() < deadline:
    time.sleep(0.005)
t2 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "open_to_image_s": t2 - t1, "image": has_image()}))
"""


def start_first_image_process(vol: dict[str, Any]) -> subprocess.Popen:
    """Fresh interpreter: imports, then SliceExplorer(path) -> get_root -> image data present."""
    return subprocess.Popen([sys.executable, "-c", FIRST_IMAGE_CODE, vol["path"]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(Path(vol["path"]).parent))


def finish_first_image_process(p: subprocess.Popen, timeout: float = 300) -> dict[str, Any]:
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return {"error": f"no image within {timeout:.0f} s"}
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": (stderr.strip().splitlines() or ["no output"])[-1][:200]}
    res = json.loads(lines[-1])
    if not res.get("image"):
        res["error"] = "no image after 120 s"
        res.pop("open_to_image_s", None)
    return res


# ----------------------------------------------------------------------------- cluster / sim
def cluster_rows(cfg: Config) -> list[dict[str, Any]]:
    """Rows from hpcdash.cluster.bench and hpcdash.sim.bench, when those modules exist."""
    rows: list[dict[str, Any]] = []
    measure = "cluster: scale(2) to 2 connected workers, ClusterControl vs bare SLURMCluster [s]"
    try:
        if not os.environ.get("SLURM_CONF"):
            raise RuntimeError("SLURM_CONF is not set (source $SLURM_PREFIX/env.sh after tests/services/start-slurm.sh)")
        from hpcdash.cluster.bench import bench_scale

        log("cluster: scale(2) through ClusterControl and bare dask-jobqueue on SLURM")
        r = bench_scale(rounds=2 if cfg.quick else 5)
        rows.append(_row(measure, hpcdash=f"{r['controlled_median']:.2f}", baseline=f"bare {r['bare_median']:.2f}",
                         target="<= 1.1 x bare", met=r["ratio"] <= 1.1, ratio=f"{r['ratio']:.2f}x bare",
                         note=f"{r['rounds']} rounds each, alternating, same SLURM (hpcdash.cluster.bench)"))
    except ImportError as e:
        rows.append(_row(measure, note=f"hpcdash.cluster.bench not usable: {_err(e)}"))
    except Exception as e:
        rows.append(_row(measure, note=f"failed (SLURM running? SLURM_CONF set?): {_err(e)}"))
    measure = "cluster: Start to a datashaded slice of a fresh sweep run, SLURM [s]"
    try:
        from hpcdash.cluster.bench import start_to_slice

        log("cluster: Start to a datashaded slice of a fresh sweep run")
        f = start_to_slice(core_cells=16 if cfg.quick else 24)
        rows.append(_row(measure, hpcdash=f"{f['total']:.1f}", target="<= 60 s", met=f["total"] <= 60,
                         note=f"workers {f['workers']:.1f} s + run {f['run']:.1f} s + open/slice/rasterize "
                              f"{f['slice']:.2f} s; the calls Start and Run sweep make, not a browser click"))
    except Exception as e:
        rows.append(_row(measure, target="<= 60 s", note=f"failed: {_err(e)}"))
    try:
        from hpcdash.sim.bench import sweep_throughput

        log("sim: sweep throughput on 2 workers vs serial")
        f = sweep_throughput(n_runs=4 if cfg.quick else 8, core_cells=16 if cfg.quick else 48)
        rows.append(_row("sim: sweep speed-up, 2 workers vs serial", hpcdash=f"{f['speedup']:.2f} x",
                         baseline=f"serial {f['serial_s']:.1f} s, 2 workers {f['cluster_s']:.1f} s "
                                  f"({f['runs']} runs)",
                         target=">= 1.8 x", met=f["speedup"] >= 1.8, note="distributed.LocalCluster"))
    except ImportError:
        rows.append(_row("sim: sweep speed-up", note="hpcdash.sim.bench not present"))
    except Exception as e:
        rows.append(_row("sim: sweep speed-up", note=f"failed: {_err(e)}"))
    return rows


# ----------------------------------------------------------------------------- table
def _row(measure: str, hpcdash: Any = None, h5py: Any = None, h5grove: Any = None, naive: Any = None,
         target: str = "", met: bool | None = None, ratio: str = "", note: str = "",
         baseline: Any = None) -> dict[str, Any]:
    return {"measure": measure, "hpcdash": hpcdash, "raw h5py": h5py, "h5grove": h5grove,
            "naive Panel": naive if baseline is None else baseline, "target": target,
            "met": met, "ratio": ratio, "note": note}


def _page_load_rows(hb: dict, nb: dict, n: int) -> list[dict[str, Any]]:
    """Open to first image in chromium: a new page of a browser that has loaded the app before (scripts
    cached), and the very first page (empty cache). No target of its own: the 1 s target is the
    session's (row above); this shows what a user waits for, the browser's share included."""
    out = []
    for cache, label in (("warm", "new page, scripts cached"), ("empty", "first page, empty cache")):
        mine = [r for r in hb.get("page_loads", []) if r.get("cache") == cache and r.get("first_image_ms")]
        theirs = [r for r in nb.get("page_loads", []) if r.get("cache") == cache and r.get("first_image_ms")]
        if not mine:
            continue
        med = statistics.median(r["first_image_ms"] for r in mine) / 1e3
        nmed = statistics.median(r["first_image_ms"] for r in theirs) / 1e3 if theirs else None
        html_ = statistics.median(r["html_ms"] for r in mine) / 1e3
        dom = statistics.median(r["dom_ready_ms"] for r in mine) / 1e3
        out.append(_row(f"open to first image in chromium, {label}, {n}^3 [s]", f"{med:.2f}", None, None,
                        None if nmed is None else f"{nmed:.2f}", "", None, _x(med, nmed, "naive"),
                        f"{len(mine)} page(s); median HTML page received at {html_:.2f} s (the server has built "
                        f"the session), scripts run by {dom:.2f} s, then the document comes over the websocket "
                        "and BokehJS draws it"))
    return out


def _ms(s: dict | None, spread: bool = False) -> str | None:
    if not s or s.get("median") is None:
        return None
    if spread:
        return f"{s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]"
    return f"{s['median']:.1f}"


def _num(v: Any, digits: int) -> str:
    return f"{v:.{digits}f}" if isinstance(v, int | float) else "n/a"


def _mb(b: float | None) -> str | None:
    return None if b is None else f"{b / 1e6:.2f} MB"


def _x(a: float | None, b: float | None, what: str) -> str:
    if a is None or b is None or b == 0:
        return ""
    return f"{a / b:.2f}x {what}"


def _linked_row(lk: dict, what: str, note: str) -> list:
    """The row of four linked panes against one (the target: at most 1.5 times one pane's time)."""
    one, four = (lk.get("one") or {}).get("median"), (lk.get("four") or {}).get("median")
    return _row(what, None if four is None else f"4 panes {four:.1f}", None, None, None,
                "<= 1.5 x one" + (f" = {1.5 * one:.0f} ms" if one else ""),
                None if one is None or four is None else four <= 1.5 * one,
                _x(four, one, "one pane") + (f" (one pane {one:.1f} ms)" if one else ""),
                "; ".join(str(x) for x in (lk.get("one", {}).get("error"), lk.get("four", {}).get("error"), note,
                                           f"sessions of one and of four panes alternating, {len(lk['rounds'])} "
                                           f"each, medians over all steps; ratio per round "
                                           f"{', '.join(f'{x:.2f}x' for x in lk['rounds'])}"
                                           if lk.get("rounds") else None)
                          if x))


def build_rows(cfg: Config, R: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    hp, nv, raw, grove = R.get("hpcdash", {}), R.get("naive", {}), R.get("h5py", {}), R.get("h5grove", {})
    axis_names = "zyx"
    for vol in R["volumes"]:
        p = vol["path"]
        tag = f"{vol['n']}^3 {'gzip' if vol['compression'] else 'plain'}"
        hv_, nv_, rw, gr = (hp.get("volumes", {}).get(p, {}), nv.get("volumes", {}).get(p, {}),
                            raw.get(p, {}), grove.get(p, {}) if isinstance(grove, dict) else {})
        err = hv_.get("error")
        for kind in ("adjacent", "random"):
            for axis in AXES:
                key = f"{kind}_{axis}"
                h, n_, r_, g_ = hv_.get(key), nv_.get(key), rw.get(key), gr.get(key)
                hm = h.get("median") if h else None
                rm = r_.get("median") if r_ else None
                if kind == "adjacent":
                    target, ok = "<= 40 ms", (None if hm is None else hm <= 40)
                else:
                    t = None if rm is None else 1.2 * rm + 40
                    target = "<= 1.2 x h5py + 40 ms" + (f" = {t:.0f} ms" if t is not None else "")
                    ok = None if hm is None or t is None else hm <= t
                ratios = "; ".join(x for x in (
                    _x(hm, n_.get("median") if n_ else None, "naive"),
                    _x(hm, rm, "h5py"),
                    _x(hm, g_.get("median") if g_ else None, "h5grove")) if x)
                note = ""
                if h and h.get("timeouts"):
                    note = f"{h['timeouts']} step(s) timed out"
                if err and not h:
                    note = f"hpcdash: {err}"
                label = f"{kind} step{' (cold cache)' if kind == 'random' and cfg.cold else ''}"
                rows.append(_row(f"{label}, axis {axis} ({axis_names[axis]}), {tag} [ms/update]",
                                 _ms(h, spread=True), _ms(r_), _ms(g_), _ms(n_), target, ok, ratios, note))
        # bytes per update: median over slice steps of every axis
        hb = [hv_.get(f"{k}_{a}", {}).get("bytes") for k in ("random", "adjacent") for a in AXES]
        nb = [nv_.get(f"{k}_{a}", {}).get("bytes") for k in ("random", "adjacent") for a in AXES]
        gb = [gr.get(f"{k}_{a}", {}).get("bytes") for k in ("random", "adjacent") for a in AXES]
        hbm = statistics.median([b for b in hb if b]) if any(hb) else None
        nbm = statistics.median([b for b in nb if b]) if any(nb) else None
        gbm = statistics.median([b for b in gb if b]) if any(gb) else None
        canvas = (hp.get("browser") or {}).get("canvas")
        bound = 4 * canvas[0] * canvas[1] + 64_000 if canvas and canvas[0] else None
        ok = None if hbm is None or bound is None else hbm <= bound
        rows.append(_row(f"bytes per update, bokeh.client session, {tag}", _mb(hbm), _mb(4 * vol["n"] ** 2),
                         _mb(gbm), _mb(nbm),
                         f"<= 4 B x canvas {canvas[0]}x{canvas[1]} + 64 kB" if bound else "bounded by the canvas",
                         ok, "; ".join(x for x in (_x(hbm, nbm, "naive"), _x(hbm, gbm, "h5grove")) if x),
                         f"image arrays sent {hv_.get('image_shapes')} (no browser layout here: rasterize "
                         "uses its default size); raw h5py column = the slice's size"))
        if vol is R["volumes"][0]:
            hbr, nbr = hp.get("browser") or {}, nv.get("browser") or {}
            hb2, nb2 = hbr.get("bytes_median"), nbr.get("bytes_median")
            rows.append(_row(f"bytes per update, in chromium (key presses), {tag}", _mb(hb2), _mb(4 * vol["n"] ** 2),
                             _mb(gbm), _mb(nb2),
                             f"<= 4 B x canvas {canvas[0]}x{canvas[1]} + 64 kB" if bound else "bounded by the canvas",
                             None if hb2 is None or bound is None else hb2 <= bound,
                             "; ".join(x for x in (_x(hb2, nb2, "naive"), _x(hb2, gbm, "h5grove")) if x),
                             "all PATCH-DOC frames of the update (image + colorbar + readout + URL); "
                             f"browser viewport 1400x900, largest canvas {canvas}"))
    # peak RSS
    plain = R["volumes"][0]
    rss = hp.get("volumes", {}).get(plain["path"], {}).get("peak_rss_mb_after")
    nrss = nv.get("volumes", {}).get(plain["path"], {}).get("peak_rss_mb_after")
    rows.append(_row(f"peak RSS of the server, {plain['n']}^3 plain volume open [MB]",
                     None if rss is None else f"{rss:.0f}", None, None, None if nrss is None else f"{nrss:.0f}",
                     "<= 600 MB", None if rss is None else rss <= 600, _x(rss, nrss, "naive"),
                     "VmHWM after the volume's session; at the end of the run: "
                     f"{_num(hp.get('peak_rss_mb_end'), 0)} MB"))
    # first image
    first = hp.get("volumes", {}).get(plain["path"], {}).get("new_session_first_image_s")
    nfirst = nv.get("volumes", {}).get(plain["path"], {}).get("new_session_first_image_s")
    fm = first.get("median") if first else None
    rows.append(_row(f"open to first image, served, new session, {plain['n']}^3 [s]",
                     None if fm is None else f"{fm:.2f}", None, None,
                     None if not nfirst else f"{nfirst['median']:.2f}", "<= 1 s", None if fm is None else fm <= 1.0,
                     _x(fm, nfirst.get("median") if nfirst else None, "naive"),
                     "session creation + open + first slice + rasterize + transfer; the server's first "
                     f"session: {_num(hp.get('volumes', {}).get(plain['path'], {}).get('first_session_s'), 2)} s"))
    fi = R.get("first_image_process", {})
    v = fi.get("open_to_image_s")
    rows.append(_row(f"open to first image, fresh process after imports (SliceExplorer), {plain['n']}^3 [s]",
                     None if v is None else f"{v:.2f}", None, None, None, "<= 1 s",
                     None if v is None else v <= 1.0, "",
                     (f"imports {fi['imports_s']:.1f} s, which include loading Datashader's kernels from "
                      "Numba's disk cache (hpcdash.explorer.kernels; compiled once per machine)"
                      if "imports_s" in fi else fi.get("error", ""))))
    rows.extend(_page_load_rows(hp.get("browser") or {}, nv.get("browser") or {}, plain["n"]))
    # linked: random slices, then adjacent steps of the same sessions
    lk = hp.get("linked") or {}
    rows.append(_linked_row(lk, f"four linked panes vs one, random slice, {cfg.linked_size}^3 runs [ms/update]",
                            f"panes found {lk.get('four_panes_found')}" if lk else "not measured"))
    if "adjacent" in lk:
        rows.append(_linked_row(lk["adjacent"], f"four linked panes vs one, adjacent steps, {cfg.linked_size}^3 runs "
                                "[ms/update]", "the same sessions after the random slices: read-ahead and the "
                                "slab cache serving all panes"))
    # browser
    hb_, nb_ = hp.get("browser") or {}, nv.get("browser") or {}
    p50, np50 = hb_.get("p50_ms"), nb_.get("p50_ms")
    rows.append(_row(f"key press to new image, headless chromium, p50, {plain['n']}^3 [ms]",
                     None if p50 is None else f"{p50:.0f} [{hb_['min_ms']:.0f}-{hb_['max_ms']:.0f}]", None, None,
                     None if np50 is None else f"{np50:.0f}", "<= 150 ms", None if p50 is None else p50 <= 150,
                     _x(p50, np50, "naive"),
                     "skipped (--skip-browser)" if not cfg.browser else
                     "; ".join(x for x in (
                         hb_.get("error"),
                         f"{len(hb_.get('samples_ms', []))} ArrowRight presses (adjacent steps, the app's default "
                         f"axis), {hb_.get('misses', 0)} without change; keydown -> first animation frame with "
                         f"changed canvas pixels (one pixel checksum costs {_num(hb_.get('checksum_ms'), 1)} ms)"
                         if "samples_ms" in hb_ else "",
                         "server time of those updates (hpcdash / naive): "
                         f"{_ms(hb_.get('server_stats'))} / {_ms(nb_.get('server_stats'))} ms"
                         if hb_.get("server_stats") else "") if x)))
    rows.extend(R.get("cluster_rows", []))
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if v is True:
        return "met"
    if v is False:
        return "NOT met"
    return str(v)


COLUMNS = ["measure", "hpcdash", "raw h5py", "h5grove", "naive Panel", "target", "met", "ratio"]
# cluster/sim rows put their baseline (bare dask-jobqueue, serial sweep) in the "naive Panel" column


def render(rows: list[dict[str, Any]], markdown: bool) -> str:
    cells = [[_fmt(r[c]) if c != "met" or r[c] is not None else "n/a" for c in COLUMNS] for r in rows]
    notes = [(i + 1, r["note"]) for i, r in enumerate(rows) if r.get("note")]
    if markdown:
        lines = ["| # | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
        for i, c in enumerate(cells):
            lines.append(f"| {i + 1} | " + " | ".join(x.replace("|", "/") for x in c) + " |")
    else:
        widths = [max(len(COLUMNS[j]), *(len(c[j]) for c in cells)) for j in range(len(COLUMNS))]
        head = "  #  " + "  ".join(COLUMNS[j].ljust(widths[j]) for j in range(len(COLUMNS)))
        lines = [head, "-" * len(head)]
        for i, c in enumerate(cells):
            lines.append(f"{i + 1:>3}  " + "  ".join(c[j].ljust(widths[j]) for j in range(len(COLUMNS))))
    if notes:
        lines.append("")
        lines.extend(f"{'- ' if markdown else ''}note {i}: {t}" for i, t in notes)
    return "\n".join(lines)


def header(cfg: Config, R: dict[str, Any], markdown: bool) -> str:
    e = R["env"]
    v = e["versions"]
    vols = "; ".join(f"{Path(x['path']).name}: {x['n']}^3 float32, chunks {x['chunks'][0]}^3, "
                     f"{'gzip-4' if x['compression'] else 'no compression'}, {x['bytes_on_disk'] / 2**30:.2f} GiB on disk "
                     f"(ratio {4 * x['n'] ** 3 / x['bytes_on_disk']:.2f}), {x['written_by']}"
                     for x in R["volumes"] + R.get("linked_volumes", [])[:1])
    lines = [
        f"hpcdash benchmark, {e['date']}{' (--quick)' if cfg.quick else ''}",
        f"machine: {e.get('cpu', '?')}, nproc {e['nproc']}, RAM {e.get('ram_gib', '?')} GiB; "
        f"load average at start {tuple(round(x, 2) for x in e['loadavg_start'])}, "
        f"at end {tuple(round(x, 2) for x in e.get('loadavg_end', ()))}",
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + f", python {e['python']}"
        + (f", chromium {R['hpcdash'].get('browser', {}).get('chromium')}" if R.get("hpcdash", {}).get("browser", {})
           .get("chromium") else ""),
        f"volumes: {vols}" + (f"; linked panes: 4 runs of {cfg.linked_size}^3" if R.get("linked_volumes") else ""),
        "protocol: " + ("random slices with the file evicted from the page cache (posix_fadvise DONTNEED) "
                        "before each, adjacent steps warm" if cfg.cold else "page cache warm (each file re-read "
                        "sequentially before each section that measures it)")
        + f"; per axis {cfg.n_random} random slices and {cfg.n_adjacent} adjacent steps "
        "(the same indices for every column); times are medians, hpcdash column median [min-max]; server "
        "time = Panel starts processing the slider change -> the image's websocket frame written (Python "
        "bokeh.client session, probes in the server process); raw h5py = fresh h5py.File per slice, ds[sel]; "
        "h5grove = HTTP request -> body received (format=bin)",
    ]
    if cfg.notes:
        lines.append("notes: " + "; ".join(dict.fromkeys(cfg.notes)))
    if markdown:
        return "\n".join(f"- {ln}" if i else f"**{ln}**" for i, ln in enumerate(lines))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hpcdash bench", description="Benchmark hpcdash against raw h5py, h5grove "
                                "and a naive Panel app; prints one table.")
    p.add_argument("--out", default="bench-data", help="folder for the volumes (reused when present) and logs")
    p.add_argument("--quick", action="store_true", help="tiny volumes (64^3), few repetitions: a smoke run")
    p.add_argument("--size", type=int, default=None, help="edge of the plain float32 volume (default 1024)")
    p.add_argument("--gzip-size", type=int, default=None, help="edge of the gzip-4 volume (default 512)")
    p.add_argument("--linked-size", type=int, default=None, help="edge of the four linked runs (default 512)")
    p.add_argument("--chunk", type=int, default=None, help="chunk edge (default 64)")
    p.add_argument("--random", type=int, default=None, help="random slices per axis (default 10)")
    p.add_argument("--adjacent", type=int, default=None, help="adjacent steps per axis (default 12)")
    p.add_argument("--presses", type=int, default=None, help="key presses in the browser (default 20)")
    p.add_argument("--skip-browser", action="store_true", help="no headless chromium row")
    p.add_argument("--cold", action="store_true", help="evict the file from the page cache (posix_fadvise "
                   "DONTNEED) before every random slice, in every column; adjacent steps stay warm")
    p.add_argument("--cluster", action="store_true", help="add the cluster/sim rows (needs SLURM for cluster)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every raw figure to FILE as JSON")
    p.add_argument("--render", default=None, metavar="FILE",
                   help="measure nothing: print the table of a run saved with --json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns 0 when it ran (targets met or not)."""
    a = parse_args(argv)
    if a.render:
        try:
            saved = json.loads(Path(a.render).read_text())
            cfg = Config(**{**saved["cfg"], "out": Path(saved["cfg"]["out"])})
            rows = build_rows(cfg, saved)  # the rows are rebuilt from the raw figures
            text = header(cfg, saved, a.markdown) + "\n\n" + render(rows, a.markdown)
        except OSError as err:
            print(f"hpcdash bench: cannot read {a.render}: {err.strerror or err}.", file=sys.stderr)
            return 2
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            print(f"hpcdash bench: {a.render} is not a run saved with --json ({type(err).__name__}: {err}).",
                  file=sys.stderr)
            return 2
        print(text, flush=True)
        return 0
    q = a.quick
    cfg = Config(out=Path(a.out).resolve(), quick=q, cold=a.cold, browser=not a.skip_browser, cluster=a.cluster,
                 size=a.size or (64 if q else 1024), gzip_size=a.gzip_size or (64 if q else 512),
                 linked_size=a.linked_size or (64 if q else 512), chunk=a.chunk or (16 if q else 64),
                 n_random=a.random or (1 if q else 10), n_adjacent=a.adjacent or (1 if q else 12),
                 presses=a.presses or (2 if q else 20), step_timeout=30.0 if q else 60.0)
    cfg.out.mkdir(parents=True, exist_ok=True)
    workdir = cfg.out / "logs"
    workdir.mkdir(exist_ok=True)
    R: dict[str, Any] = {"env": environment()}

    vols = [ensure_volume(cfg.out / f"plain_{cfg.size}.h5", cfg.size, cfg.chunk, None, cfg.notes),
            ensure_volume(cfg.out / f"gzip_{cfg.gzip_size}.h5", cfg.gzip_size, cfg.chunk, "gzip", cfg.notes)]
    linked = [ensure_volume(cfg.out / f"run{k}_{cfg.linked_size}.h5", cfg.linked_size, cfg.chunk, None, cfg.notes)
              for k in range(1, 5)]
    R["volumes"], R["linked_volumes"] = vols, linked
    plans = {v["path"]: {ax: slice_plan(v["n"], cfg, ax) for ax in AXES} for v in vols}
    for v in vols + linked:
        v["warm_read_s"] = round(warm_page_cache(v["path"]), 2)

    log("starting hpcdash, the naive app and h5grove")
    servers = launch_servers(cfg.out, workdir)
    fi_proc = start_first_image_process(vols[0]) if cfg.quick else None  # overlapped in --quick only
    try:
        for srv in (servers.hpcdash, servers.naive):
            srv.wait_ready("/__bench_ready_check")
        from hpcdash.benchmarks.driver import wait_http

        wait_http(f"http://127.0.0.1:{servers.grove_port}/", servers.grove, 60)
        if fi_proc is not None:
            R["first_image_process"] = finish_first_image_process(fi_proc)
            cfg.notes.append("--quick: the fresh-process first image ran while the servers started")
        log("raw h5py")
        R["h5py"] = {v["path"]: measure_h5py(v, plans[v["path"]], cold=cfg.cold) for v in vols}
        log("h5grove")
        try:
            R["h5grove"] = measure_h5grove(servers.grove_port, vols, plans, cfg.out, cold=cfg.cold)
        except Exception as e:
            R["h5grove"] = {"error": _err(e)}
            cfg.notes.append(f"h5grove failed: {_err(e)}")
        R["hpcdash"] = measure_app("hpcdash", servers.hpcdash, cfg, vols, plans, cfg.out)
        R["naive"] = measure_app("naive", servers.naive, cfg, vols, plans, cfg.out)
        R["hpcdash"]["linked"] = measure_linked(cfg, servers.hpcdash, linked, cfg.out, rounds=1 if cfg.quick else 3)
        if cfg.browser:
            R["hpcdash"]["browser"] = measure_browser("hpcdash", servers.hpcdash, cfg, vols[0], cfg.out)
            if not cfg.quick:  # --quick: hpcdash only (keeps the smoke run short)
                R["naive"]["browser"] = measure_browser("naive", servers.naive, cfg, vols[0], cfg.out)
        R["hpcdash"]["peak_rss_mb_end"] = servers.hpcdash.peak_rss_mb()
    except Exception as e:
        cfg.notes.append(f"run stopped early: {_err(e)}")
        log(f"run stopped early: {_err(e)}")
        traceback.print_exc(file=sys.stderr)
        for srv in (servers.hpcdash, servers.naive):
            if srv.proc is None or srv.proc.poll() is not None:
                log(f"{srv.name} output:\n{srv.output()[-3000:]}")
    finally:
        stop_servers(servers)
    if fi_proc is None:
        log("first image in a fresh process")
        R["first_image_process"] = finish_first_image_process(start_first_image_process(vols[0]))
    if cfg.cluster:
        R["cluster_rows"] = cluster_rows(cfg)
    R["env"]["loadavg_end"] = os.getloadavg()

    rows = build_rows(cfg, R)
    R["rows"] = rows
    R["cfg"] = {**vars(cfg), "out": str(cfg.out)}
    text = header(cfg, R, a.markdown) + "\n\n" + render(rows, a.markdown)
    print(text, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(R, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
