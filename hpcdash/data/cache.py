"""Slab cache, background read-ahead and latest-only request running.

SlabCache
    One process-wide LRU of *decoded chunk slabs* with a memory budget, shared by every
    open :class:`~hpcdash.data.Volume`. A slab is the block of whole HDF5 chunks that a
    slice along one axis has to decode anyway (for a 512^3 dataset chunked 64^3 and a
    slice along z: ``data[64*k:64*(k+1), :, :]``). Once a slab is cached, every other
    slice inside it costs a memory copy instead of a re-read and re-decompression.
    Keys include the file's identity (device, inode, mtime, size), so a replaced file
    never serves stale data. Loads of the same key are de-duplicated: a slice request
    that needs a slab that read-ahead is already loading waits for that load.

    Budget: ``HPCDASH_CACHE_MB`` in the environment (default 128), or
    :func:`set_cache_budget` at run time, per open volume: the cache holds up to the
    budget times the number of datasets open (each volume registers with :meth:`SlabCache.use`
    while it is open; volumes of one dataset share their slabs), but never more than ``HPCDASH_CACHE_MAX_MB`` (default 1024) in
    all. One entry may use at most half the budget, so a 1024^3 float32 slab of 64
    chunk planes (256 MiB) is cut to blocks of 16 planes (64 MiB): the current block
    and the read-ahead fit, and a 512^3 one keeps whole 64-plane slabs. (With one
    budget for all, four linked 512^3 panes stepping together needed 512 MB of slabs in
    128: each pane's read-ahead evicted the others' slabs, and every step read all four
    planes again, ~1.8x the server time of a step inside cached slabs.) Loads that know
    their size reserve it first (least recently used entries go before the read, not
    after), so cache and loads together stay within the limit: a server with a 1024^3
    volume open stays under about 600 MB resident (Panel, HoloViews, Datashader and one
    session take ~370 MB). Raise it on machines with memory to spare (bigger blocks,
    fewer reads). ``slab_cache().stats()`` reports hits, misses, loads, evictions and
    bytes held (tests use it to prove that a second slice inside a slab does not touch
    the file).

Read-ahead
    :func:`prefetch_executor` is a small shared thread pool used by
    ``Volume.prefetch(axis, index, direction)`` to load the next slab in the direction
    of travel while the user looks at the current slice.

LatestOnly
    Runs requests on one worker thread and drops requests that were superseded before
    they started, so a slider drag never queues stale work::

        latest = LatestOnly()                      # one per pane
        fut = latest.submit(vol.slice, "z", 17)    # concurrent.futures.Future
        # ... a newer submit() cancels fut if it has not started yet

        # in an async Panel/Bokeh callback:
        try:
            arr = await latest.arun(vol.slice, "z", 17)
        except Superseded:
            return                                  # a newer request will render
        # blocking variant (threaded servers): latest.run(fn, *args) -> result

        # read + read-ahead in one request (direction = sign of the last slider move):
        arr = await latest.arun(SliceRequest(vol, "z", 17, direction=+1))

    At most one request runs and at most one waits per ``LatestOnly``; a request that
    has started always completes and is returned (so a continuous drag still shows
    progress), every request that was still waiting when a newer one arrived raises
    :class:`Superseded`. Give each pane its own ``LatestOnly`` so linked panes read
    concurrently; call ``close()`` when the pane goes away.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_BUDGET_MB = 128
DEFAULT_MAX_MB = 1024


@dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`SlabCache` since creation (or the last ``reset_stats``)."""

    hits: int
    misses: int
    loads: int
    evictions: int
    entries: int
    nbytes: int
    budget: int
    #: what the cache may hold now: the budget per open volume, up to its maximum
    limit: int = 0


class SlabCache:
    """Thread-safe LRU of numpy arrays with a byte budget and de-duplicated loads."""

    def __init__(self, budget_bytes: int, max_bytes: int | None = None):
        self._budget = int(budget_bytes)
        self._max = None if max_bytes is None else int(max_bytes)
        self._users: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # owner -> what it caches
        self._data: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._inflight: dict[Hashable, Future] = {}
        self._nbytes = 0
        self._reserved = 0  # bytes of loads on their way (get_or_load with nbytes)
        self._lock = threading.RLock()
        self._hits = self._misses = self._loads = self._evictions = 0

    @property
    def budget(self) -> int:
        """Memory budget in bytes, per open volume (one entry may use at most half of it)."""
        return self._budget

    @property
    def max_bytes(self) -> int | None:
        """The most the cache may hold whatever the number of volumes open (None: no maximum)."""
        return self._max

    @property
    def limit(self) -> int:
        """Bytes the cache may hold now: the budget for each dataset open (at least one), but no more
        than the maximum (unless the budget itself is larger)."""
        with self._lock:
            total = self._budget * max(1, len(set(self._users.values())))
            return total if self._max is None else min(total, max(self._max, self._budget))

    def use(self, owner: object, what: Hashable = None) -> None:
        """Count `owner` (an open volume) among the cache's users while it lives: the limit grows by one
        budget for each distinct `what` (a file's dataset: volumes of the same one share their slabs;
        None: the owner itself)."""
        with self._lock:
            self._users[owner] = id(owner) if what is None else what

    def release(self, owner: object) -> None:
        """`owner` no longer uses the cache (closed): the limit shrinks and entries over it go."""
        with self._lock:
            self._users.pop(owner, None)
            self._evict(0)

    def set_budget(self, budget_bytes: int) -> None:
        """Change the budget (bytes); evicts least recently used slabs if needed."""
        with self._lock:
            self._budget = int(budget_bytes)
            self._evict(0)

    def fits(self, nbytes: int) -> bool:
        """True if an entry of ``nbytes`` may be cached at all (at most half the budget)."""
        return nbytes <= self._budget // 2

    def get(self, key: Hashable) -> np.ndarray | None:
        """The cached array for ``key`` (marked recently used) or None. Counts a hit/miss."""
        with self._lock:
            arr = self._data.get(key)
            if arr is None:
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return arr

    def cached(self, key: Hashable) -> bool:
        """True if ``key`` is cached now (not counting loads on their way; not a hit)."""
        with self._lock:
            return key in self._data

    def touch(self, key: Hashable) -> bool:
        """Mark ``key`` recently used if it is cached (not a hit); True when it is."""
        with self._lock:
            if key not in self._data:
                return False
            self._data.move_to_end(key)
            return True

    def contains(self, key: Hashable) -> bool:
        """True if ``key`` is cached or being loaded (does not count as a hit)."""
        with self._lock:
            return key in self._data or key in self._inflight

    def put(self, key: Hashable, arr: np.ndarray) -> None:
        """Insert ``arr`` (made read-only) if it fits in half the budget."""
        nbytes = int(arr.nbytes)
        if not self.fits(nbytes):
            return
        arr.flags.writeable = False
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._nbytes -= old.nbytes
            self._evict(nbytes)
            self._data[key] = arr
            self._nbytes += nbytes

    def _evict(self, incoming: int) -> None:
        limit = self.limit
        while self._data and self._nbytes + self._reserved + incoming > limit:
            _, old = self._data.popitem(last=False)
            self._nbytes -= old.nbytes
            self._evictions += 1

    def get_or_load(self, key: Hashable, loader: Callable[[], np.ndarray], nbytes: int = 0) -> np.ndarray:
        """Return the cached array or run ``loader()`` once (other callers wait for it).

        ``nbytes``: the size the loader will produce, if known. Least recently used entries are then
        evicted *before* loading, so the cache and its loads stay within the budget together
        (without it the new array exists next to a full cache until it is put in)."""
        with self._lock:
            arr = self._data.get(key)
            if arr is not None:
                self._data.move_to_end(key)
                self._hits += 1
                return arr
            fut = self._inflight.get(key)
            owner = fut is None
            if owner:
                self._misses += 1
                fut = Future()
                self._inflight[key] = fut
            else:
                self._hits += 1  # served by a load already on its way (read-ahead)
        if not owner:
            return fut.result()
        reserved = int(nbytes) if self.fits(int(nbytes)) else 0
        if reserved:
            with self._lock:
                self._reserved += reserved
                self._evict(0)
        try:
            arr = loader()
            with self._lock:
                self._loads += 1
                self._reserved -= reserved
                reserved = 0
            self.put(key, arr)
            fut.set_result(arr)
            return arr
        except BaseException as exc:
            fut.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._reserved -= reserved
                self._inflight.pop(key, None)

    def invalidate(self, predicate: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key satisfies ``predicate``; returns how many."""
        with self._lock:
            keys = [k for k in self._data if predicate(k)]
            for k in keys:
                self._nbytes -= self._data.pop(k).nbytes
            return len(keys)

    def clear(self) -> None:
        """Drop everything (counters are kept)."""
        with self._lock:
            self._data.clear()
            self._nbytes = 0

    def reset_stats(self) -> None:
        """Zero the hit/miss/load/eviction counters."""
        with self._lock:
            self._hits = self._misses = self._loads = self._evictions = 0

    def stats(self) -> CacheStats:
        """Current counters and size."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._loads, self._evictions,
                              len(self._data), self._nbytes, self._budget, self.limit)


def _mb_from_env(name: str, default: float) -> int:
    try:
        mb = float(os.environ.get(name, default))
    except ValueError:
        mb = default
    return int(max(mb, 0) * 1024 * 1024)


_CACHE = SlabCache(_mb_from_env("HPCDASH_CACHE_MB", DEFAULT_BUDGET_MB),
                   _mb_from_env("HPCDASH_CACHE_MAX_MB", DEFAULT_MAX_MB))


def slab_cache() -> SlabCache:
    """The process-wide slab cache shared by all volumes."""
    return _CACHE


def set_cache_budget(nbytes: int) -> None:
    """Set the process-wide slab cache budget in bytes (0 disables caching)."""
    _CACHE.set_budget(nbytes)


_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def prefetch_executor() -> ThreadPoolExecutor:
    """Shared background pool for read-ahead (2 threads, created on first use)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hpcdash-prefetch")
        return _EXECUTOR


@dataclass
class SliceRequest:
    """One slice to read, then read-ahead in the direction of travel; a callable for LatestOnly.

    ``latest.submit(SliceRequest(vol, "z", 17, direction=+1))`` returns a Future of the
    ``xarray.DataArray``; after the read, ``vol.prefetch`` loads the next slab in the
    background (``direction=0`` skips read-ahead).
    """

    volume: Any
    axis: int | str
    index: int
    other_indices: dict[str, int] | None = None
    direction: int = 0
    prefetched: Future | None = field(default=None, init=False, repr=False)  # the read-ahead, if any

    def __call__(self) -> Any:
        other = self.other_indices or {}
        result = self.volume.slice(self.axis, self.index, **other)
        if self.direction:
            self.prefetched = self.volume.prefetch(self.axis, self.index, 1 if self.direction > 0 else -1, **other)
        return result


class Superseded(Exception):
    """The request was replaced by a newer one before it started."""


class LatestOnly:
    """Run callables on one worker thread; a new request replaces a waiting one.

    See the module docstring for the intended use in a slider callback.
    """

    def __init__(self, name: str = "hpcdash-latest"):
        self._cond = threading.Condition()
        self._pending: tuple[Future, Callable, tuple, dict] | None = None
        self._closed = False
        self._latest: Future | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Queue ``fn(*args, **kwargs)``; cancels the request still waiting, if any."""
        fut: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("LatestOnly is closed")
            if self._pending is not None:
                self._pending[0].cancel()
            self._pending = (fut, fn, args, kwargs)
            self._latest = fut
            self._cond.notify()
        return fut

    def is_latest(self, fut: Future) -> bool:
        """True if ``fut`` is the most recently submitted request."""
        return fut is self._latest

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Submit and wait; raises :class:`Superseded` if replaced before starting."""
        fut = self.submit(fn, *args, **kwargs)
        try:
            return fut.result()
        except CancelledError:
            raise Superseded() from None

    async def arun(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Async :meth:`run` for event-loop callbacks (Panel/Bokeh async callbacks)."""
        fut = self.submit(fn, *args, **kwargs)
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            if fut.cancelled():
                raise Superseded() from None
            raise

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._pending is None:
                    return
                fut, fn, args, kwargs = self._pending
                self._pending = None
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # delivered to the caller
                fut.set_exception(exc)

    def close(self) -> None:
        """Cancel the waiting request and stop the worker after the running one."""
        with self._cond:
            self._closed = True
            if self._pending is not None:
                self._pending[0].cancel()
                self._pending = None
            self._cond.notify()

    def __enter__(self) -> LatestOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
