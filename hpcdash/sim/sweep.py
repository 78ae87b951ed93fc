"""Parameter sweeps of the DC forward model, serially or on a Dask cluster, with atomic file output.

Each parameter set is one run: one :func:`forward_model` solve whose conductivity and potential
volumes are written to one HDF5 file with :func:`hpcdash.data.write_mesh_model`, the run's parameters
stored as attributes of the file and of each dataset.

Atomic output: a run writes ``.<name>.<random>.tmp`` in the output directory, flushes it to disk and
renames it to ``<name>.h5`` with :func:`os.replace`. File lists skip dot-files and ``.tmp`` files, so a
reader sees either no file or the whole file, never a half-written one, even if the worker is killed
mid-write (the hidden ``.tmp`` file is then left behind; :func:`remove_stale_temporaries` clears it).

Fault tolerance on a cluster: every run is a pure function of its parameters and output path, so
running it twice is harmless. A run whose worker disappears (job cancelled, walltime reached, node
lost) is rescheduled by the Dask scheduler on another worker (up to the
``distributed.scheduler.allowed-failures`` limit, 3 by default); a run that raises is retried
``retries`` times.

Three ways to drive a sweep:

* ``run_sweep(...)`` blocks and returns the paths, calling ``progress(done, total, path)`` as runs finish;
* ``iter_sweep(...)`` is a generator of :class:`SweepEvent` (one per finished run, in completion order),
  for a loop that updates a progress bar;
* ``submit_sweep(...)`` returns ``distributed.Future`` objects at once, for callers that already
  manage futures.

From the cluster tab (Panel), keep the server responsive by running the sweep in a worker thread
and updating widgets from the event loop, for example::

    state = {"done": 0, "total": len(sets), "last": None}
    def progress(done, total, path):          # called in the worker thread
        state.update(done=done, total=total, last=path)
    task = asyncio.ensure_future(asyncio.to_thread(run_sweep, sets, out_dir, client, progress))
    while not task.done():                   # in an async Panel callback
        await asyncio.wait([task], timeout=0.5)
        bar.value = state["done"]
    paths = task.result()                    # raises SweepError if runs failed after retries

or iterate ``iter_sweep(sets, out_dir, client=client)`` in a thread and set parameters of the tab's
param model from each :class:`SweepEvent` (``event.done``, ``event.total``, ``event.message``).
Closing that generator early (``events.close()`` or leaving the loop) cancels unfinished runs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpcdash.memory import set_mmap_threshold
from hpcdash.sim.dc import DEFAULT_PARAMS, forward_model

RunTask = Callable[[Mapping[str, Any], str], str]
Progress = Callable[[int, int, Path | None], None]

TMP_SUFFIX = ".tmp"


class SweepError(RuntimeError):
    """Some runs of a sweep failed after their retries; ``paths`` holds the runs that succeeded and
    ``failures`` maps run index -> error message."""

    def __init__(self, failures: dict[int, str], paths: list[Path], cancelled: Iterable[int] = ()):
        self.failures = failures
        self.paths = paths
        #: runs that did not fail but were not run to their end (the cluster stopped or lost them)
        self.cancelled = set(cancelled) & set(failures)
        total = len(failures) + len(paths)
        failed = {i: e for i, e in failures.items() if i not in self.cancelled}
        if failed:
            first = next(iter(failed.items()))
            text = f"{len(failed)} of {total} sweep runs failed; run {first[0]}: {first[1]}"
            if self.cancelled:
                text += f" ({len(self.cancelled)} more not run to their end)"
        else:
            text = (f"The sweep was cancelled after {len(paths)} of {total} runs: the cluster was stopped "
                    "or lost its workers.")
        super().__init__(text)


@dataclass(frozen=True)
class SweepEvent:
    """One finished run: ``done`` of ``total`` runs have finished (successfully or not); ``index`` is
    the run's position in the parameter list; ``path`` is its file (None if it failed with ``error``)."""

    done: int
    total: int
    index: int
    params: dict
    path: Path | None
    error: str | None = None
    #: the run was not run to its end (its task cancelled: the cluster stopped or lost it); `error` says so
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        """A one-line status for a UI, e.g. ``"3/8 runs done: dc_002.h5"``."""
        what = self.path.name if self.path is not None else f"run {self.index} failed: {self.error}"
        return f"{self.done}/{self.total} runs done: {what}"


# ---- atomic output -----------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary path next to ``path``; on normal exit flush it to disk and rename it
    to ``path`` in one step (``os.replace``), on an exception delete it. Readers never see a partial
    ``path``."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=TMP_SUFFIX, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the writer creates it; h5py refuses to open a zero-byte file in append mode
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def remove_stale_temporaries(out_dir: str | os.PathLike, older_than: float = 3600.0) -> list[Path]:
    """Delete ``.*.tmp`` files in ``out_dir`` not modified for ``older_than`` seconds (left behind by
    killed runs); returns the paths removed."""
    removed = []
    now = time.time()
    for p in Path(out_dir).glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if now - p.stat().st_mtime >= older_than:
                p.unlink()
                removed.append(p)
    return removed


def _attr_value(value: Any) -> Any:
    """A parameter value as an HDF5-storable attribute."""
    if isinstance(value, (bool, int, float, str, np.generic)):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return str(value)


def write_run(path: str | os.PathLike, result: Mapping[str, Any], extra_attrs: Mapping | None = None) -> Path:
    """Write one forward run (``forward_model`` output) to ``path`` atomically: datasets
    ``/dc/potential`` (V, the file's default) and ``/dc/conductivity`` (S/m) on the mesh's cells (dims
    z, y, x; cell centres with CF bounds from the mesh edges, metres), the parameters and
    ``extra_attrs`` as attributes of the file and of both datasets."""
    import h5py

    from hpcdash.data import write_mesh_model

    mesh = result["mesh"]
    attrs = {k: _attr_value(v) for k, v in {**result["params"], **(extra_attrs or {})}.items()}
    with atomic_path(path) as tmp:
        # the potential first: it is the file's default plot (NeXus default chain)
        write_mesh_model(tmp, "/dc/potential", mesh, result["phi"].astype(np.float32), attrs=attrs, units="V",
                         long_name="electric potential")
        write_mesh_model(tmp, "/dc/conductivity", mesh, result["sigma"].astype(np.float32), attrs=attrs,
                         units="S/m", long_name="electrical conductivity")
        with h5py.File(tmp, "a") as f:
            f.attrs.update(attrs)
            f.attrs["title"] = "DC resistivity forward run"
            f.attrs["creator"] = "hpcdash.sim"
    return Path(path)


def run_dc(params: Mapping[str, Any], out_path: str) -> str:
    """One sweep run (the task sent to a worker): solve the DC problem for ``params`` and write the
    volumes atomically to ``out_path``. Returns ``out_path``. The process's heap is set as the server's
    (:func:`hpcdash.memory.set_mmap_threshold`: on a Dask worker the assembly takes half the time)."""
    set_mmap_threshold()
    t0, c0 = time.perf_counter(), time.thread_time()
    result = forward_model({k: v for k, v in params.items() if not k.startswith("_")})
    extra = {k[1:]: v for k, v in params.items() if k.startswith("_")}
    extra["solve_seconds"] = round(time.perf_counter() - t0, 3)  # wall clock
    extra["solve_cpu_seconds"] = round(time.thread_time() - c0, 3)  # CPU time of this thread
    extra["hostname"] = socket.gethostname()
    extra["pid"] = os.getpid()
    write_run(out_path, result, extra)
    return str(out_path)


# ---- sweeps ---------------------------------------------------------------------------------------
def sweep_values(start: float, stop: float, runs: int) -> list[float]:
    """``runs`` evenly spaced values from ``start`` to ``stop``, both included (``stop < start`` is a
    descending sweep; one run takes ``start``). Raises ``ValueError`` when ``runs`` is below 1."""
    runs = int(runs)
    if runs < 1:
        raise ValueError(f"A sweep needs at least 1 run (Runs is {runs}).")
    if runs == 1:
        return [float(start)]
    return [start + (stop - start) * i / (runs - 1) for i in range(runs)]


def check_run_params(params: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for a forward-run parameter set the model cannot mean: a block depth above
    the ground surface (depths are metres below it, so ``block_depth >= 0``)."""
    depth = params.get("block_depth")
    if depth is not None and float(depth) < 0:
        raise ValueError(f"block_depth {float(depth):g} m would put the blocks above the ground surface: "
                         "depths are metres below it (0 or more).")


#: A first range (from, to) in metres for each parameter the Cluster tab's sweep form can vary: sources
#: across the middle of the form's default core (24 cells of 10 m, -120 to 120 m) and over both blocks
#: (centred at x = -60 and 60 m), block tops from just below the surface to halfway down that core.
SWEEP_RANGES: dict[str, tuple[float, float]] = {
    "source_x": (-100.0, 100.0),
    "source_y": (-100.0, 100.0),
    "block_depth": (10.0, 60.0),
}


def core_half_width(params: Mapping[str, Any]) -> float:
    """Half the width (m) of the mesh's core in x and y (``core_cells`` x ``core_width``, centred on 0),
    the defaults of :data:`DEFAULT_PARAMS` filling in what ``params`` leaves out."""
    p = {**DEFAULT_PARAMS, **params}
    return int(p["core_cells"]) * float(p["core_width"]) / 2


def source_outside_core(params: Mapping[str, Any]) -> str | None:
    """A sentence saying that the run's source (``source_x``, ``source_y``, m) lies outside the mesh's
    core, where the cells widen (padding) and the potential around the source is coarse (beyond the
    padding the source is moved to the outermost cells); None when it is inside (edges included)."""
    half = core_half_width(params)
    for key in ("source_x", "source_y"):
        value = params.get(key)
        if value is not None and abs(float(value)) > half:
            p = {**DEFAULT_PARAMS, **params}
            return (f"{key} {float(value):g} m is outside the mesh's core, which spans {-half:g} to {half:g} m "
                    f"({int(p['core_cells'])} core cells of {float(p['core_width']):g} m): the source sits "
                    "in the coarse padding cells, so the potential around it is less accurate.")
    return None


def _plan(
    param_sets: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike, name: str | None, task: RunTask
) -> tuple[list[dict], list[Path]]:
    # absolute: workers on other nodes (or with another working directory) write to the same place
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    sweep = name or time.strftime("dc-%Y%m%d-%H%M%S-") + os.urandom(2).hex()
    if any(sep in sweep for sep in ("/", os.sep)):
        raise ValueError(f"the sweep name {sweep!r} must not contain a path separator")
    total = len(param_sets)
    plans, paths = [], []
    for i, p in enumerate(param_sets):
        params = dict(p)
        stem = str(params.pop("name", f"{sweep}_{i:03d}"))
        if not stem or stem.startswith(".") or any(sep in stem for sep in ("/", os.sep)):
            raise ValueError(f"run name {stem!r} must be a plain file name (no '/' and no leading '.')")
        unknown = set(params) - set(DEFAULT_PARAMS)
        if task is run_dc and unknown:  # fail before queueing anything, not once per run on a worker
            raise ValueError(f"unknown run parameters: {', '.join(sorted(unknown))}")
        if task is run_dc:
            check_run_params(params)
        params.update({"_sweep": sweep, "_run_index": i, "_n_runs": total})
        plans.append(params)
        paths.append(out / f"{stem}.h5")
    if len(set(paths)) != len(paths):
        raise ValueError("two runs of the sweep would write the same file; give each a distinct 'name'")
    return plans, paths


def _submit(client: Any, plans: list[dict], paths: list[Path], retries: int, task: RunTask) -> list[Any]:
    return [
        client.submit(
            task,
            params,
            str(path),
            key=f"hpcdash-sweep-{params['_sweep']}-{i:03d}-{os.urandom(4).hex()}",
            retries=retries,
            pure=False,
        )
        for i, (params, path) in enumerate(zip(plans, paths, strict=True))
    ]


def submit_sweep(
    param_sets: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    client: Any,
    retries: int = 2,
    *,
    name: str | None = None,
    task: RunTask = run_dc,
) -> tuple[list[Any], list[Path]]:
    """Submit one task per parameter set to the Dask ``client``; return ``(futures, paths)`` without
    waiting. Each future's result is the run's path as a string."""
    plans, paths = _plan(param_sets, out_dir, name, task)
    return _submit(client, plans, paths, retries, task), paths


def _public(params: Mapping[str, Any]) -> dict:
    return {k: v for k, v in params.items() if not k.startswith("_")}


def iter_sweep(
    param_sets: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    client: Any = None,
    retries: int = 2,
    *,
    name: str | None = None,
    task: RunTask = run_dc,
) -> Iterator[SweepEvent]:
    """Run the sweep and yield a :class:`SweepEvent` as each run finishes (completion order).

    With a ``distributed.Client`` every run is a task (retried ``retries`` times if it raises,
    rescheduled if its worker is lost); without one the runs execute here, one after the other, with
    the same retry count. Failed runs are reported as events with ``error`` set, not raised.
    Files are ``<out_dir>/<name>_<index>.h5`` (``name`` defaults to ``dc-<date>-<time>-<4 hex>``),
    or ``<out_dir>/<params["name"]>.h5``; ``out_dir`` is made absolute so remote workers write there
    too (it must be on a file system the workers share). Unknown parameter names and a block depth
    above the ground (for the default task) and clashing file names raise ``ValueError`` before anything
    runs.
    """
    if client is None:
        plans, paths = _plan(param_sets, out_dir, name, task)
        total = len(plans)
        for i, (params, path) in enumerate(zip(plans, paths, strict=True)):
            error = None
            for attempt in range(retries + 1):
                try:
                    task(params, str(path))
                    error = None
                    break
                except Exception as exc:  # a failed run is reported, the sweep goes on
                    error = f"{type(exc).__name__}: {exc}"
                    if attempt == retries:
                        break
            yield SweepEvent(i + 1, total, i, _public(params), None if error else path, error)
        return

    from distributed import as_completed

    plans, paths = _plan(param_sets, out_dir, name, task)
    futures = _submit(client, plans, paths, retries, task)
    index = {f.key: i for i, f in enumerate(futures)}
    total, done = len(futures), 0
    pending = set(futures)
    try:
        for fut in as_completed(futures):
            pending.discard(fut)
            i = index[fut.key]
            done += 1
            if fut.status == "finished":
                yield SweepEvent(done, total, i, _public(plans[i]), paths[i])
            else:
                exc = None
                if fut.status == "error":
                    with contextlib.suppress(Exception):  # the client may be closing
                        exc = fut.exception()
                if exc is not None:
                    yield SweepEvent(done, total, i, _public(plans[i]), None, f"{type(exc).__name__}: {exc}")
                else:  # cancelled or lost: the cluster was stopped under it
                    yield SweepEvent(done, total, i, _public(plans[i]), None,
                                     f"not run to its end ({fut.status}): the cluster was stopped or lost "
                                     "its workers", cancelled=True)
            fut.release()
    finally:
        if pending:
            with contextlib.suppress(Exception):  # the client may already be closed
                client.cancel(list(pending))


def run_sweep(
    param_sets: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    client: Any = None,
    progress: Progress | None = None,
    retries: int = 2,
    *,
    name: str | None = None,
    task: RunTask = run_dc,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> list[Path]:
    """Run one DC forward model per parameter set and write each to its own HDF5 file in ``out_dir``.

    ``param_sets``: dicts overriding :data:`hpcdash.sim.dc.DEFAULT_PARAMS` (e.g. ``source_x`` in m,
    ``block_depth`` in m), optionally with a ``name`` for the file stem. ``client``: a
    ``distributed.Client`` to run on (None: serially in this process). ``progress(done, total, path)``
    is called in the calling thread as each run finishes (``path`` is None for a run that failed).
    ``on_event(event)`` is called likewise with each :class:`SweepEvent` (e.g. to record each run as it
    ends). Returns the files in the order of
    ``param_sets``. Raises :class:`SweepError` after all runs ended if any failed after ``retries``.
    """
    results: dict[int, Path] = {}
    failures: dict[int, str] = {}
    cancelled: set[int] = set()
    for event in iter_sweep(param_sets, out_dir, client, retries, name=name, task=task):
        if event.ok:
            results[event.index] = event.path
        else:
            failures[event.index] = event.error
            if event.cancelled:
                cancelled.add(event.index)
        if progress is not None:
            progress(event.done, event.total, event.path)
        if on_event is not None:
            on_event(event)
    paths = [results[i] for i in sorted(results)]
    if failures:
        raise SweepError(failures, paths, cancelled)
    return paths
