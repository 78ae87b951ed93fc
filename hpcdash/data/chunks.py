"""Chunk readers that work outside HDF5's global lock: parallel gzip, mapped raw data.

h5py serialises every HDF5 call behind one lock, so threads cannot decode compressed
chunks in parallel through ``dataset[...]``. For the filters we can decode in Python
(deflate via :mod:`zlib`, which releases the GIL, and byte shuffle via numpy) this module
reads the *raw* chunk bytes (with ``os.pread`` at the offsets a
:class:`~hpcdash.data.chunk_index.ChunkLocator` found, or ``dataset.id.read_direct_chunk``
under the lock where the file cannot be read directly) and inflates them in a shared thread
pool, so a slab of 64 gzip chunks uses every core and other panes' HDF5 calls are not
blocked while it decodes.

Uncompressed chunked datasets (stored in the file itself) are read by
:class:`RawReader`: the byte offsets of the data (``get_offset``, or a
:class:`~hpcdash.data.chunk_index.ChunkLocator`: per chunk for a few, one pass over the
dataset's chunk index for many) locate each chunk, ``os.preadv`` reads
the smallest byte span that holds the requested elements (split into rows when that span
would be much larger than the data), and numpy copies the elements out. Both release the
GIL and no HDF5 call is made meanwhile, so panes read concurrently.

Measured (gzip-4, 512^3, 64^3 chunks, one 64-chunk slab = 64 MiB decoded): the raw
chunk reads hold the HDF5 lock for about 90 ms, against the whole decode (0.5-3 s on a
loaded 2-core machine) when ``dataset[...]`` decodes under the lock. Decoding is CPU
work, so four panes jumping to new slabs still cost about four times one pane on two
cores; what the slab cache and read-ahead buy is that adjacent steps cost 1-2 ms each.

Datasets with any other filter (blosc, zstd, lz4, bitshuffle, lzf, szip, fletcher32, ...),
with external or virtual storage, or in files with a user block are read through h5py as
usual (:func:`block_reader` returns None for them).
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .chunk_index import ChunkLocator
from .preads import read_runs

GZIP, SHUFFLE = 1, 2
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


_POOL_WORKERS = max(2, os.cpu_count() or 2)


def decode_pool() -> ThreadPoolExecutor:
    """Shared pool for chunk decoding (one thread per core, at least 2)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=_POOL_WORKERS, thread_name_prefix="hpcdash-inflate")
        return _POOL


def _pread(fd: int, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``; OSError if the file ends before them (a job truncated it)."""
    raw = os.pread(fd, size, offset)
    if len(raw) != size:
        raise OSError(f"short read at byte {offset}: the file ends early")
    return raw


def _unshuffle(buf, size: int, nelem: int) -> np.ndarray:
    """Undo HDF5's byte shuffle: byte k of every element was stored in the k-th block of ``nelem``
    bytes (bytes past ``size * nelem`` are kept as they are).

    One contiguous copy per byte lane: the transposing copy ``reshape(size, n).T`` read across the
    lanes and cost 4.4 ms per 1 MiB chunk, as much as inflating it; this takes 0.7 ms.
    """
    arr = np.frombuffer(buf, dtype=np.uint8)
    body = nelem * size
    out = np.empty(len(arr), dtype=np.uint8)
    lanes = out[:body].reshape(nelem, size)
    for k in range(size):
        lanes[:, k] = arr[k * nelem:(k + 1) * nelem]
    out[body:] = arr[body:]
    return out


class DirectChunkReader:
    """Reads hyperslabs of a gzip/shuffle-chunked dataset by decoding chunks in parallel."""

    TASK_BYTES = 2**18  # decoded bytes per task handed to the pool, at least one chunk

    def __init__(self, ds: h5py.Dataset, filters: list[int], fd: int | None = None):
        self.ds = ds
        self.filters = filters  # pipeline order as written (e.g. [SHUFFLE, GZIP])
        self.fd = fd  # the file itself, to read chunk bytes at their offsets; None: through HDF5
        self.chunks = tuple(ds.chunks)
        self.shape = tuple(ds.shape)
        self.dtype = np.dtype(ds.dtype)
        self.fill = ds.fillvalue
        self.locator = ChunkLocator(ds, stored_sizes=True)
        self._chunk_bytes = math.prod(self.chunks) * self.dtype.itemsize
        self.on_read: Callable[[str, tuple], None] | None = None  # test hook: every file access

    def _decode(self, raw: bytes | None, mask: int) -> np.ndarray:
        nelem = int(np.prod(self.chunks))
        if raw is None:  # chunk never written
            return np.full(self.chunks, self.fill, dtype=self.dtype)
        buf = raw
        for pos in reversed(range(len(self.filters))):
            if mask & (1 << pos):
                continue  # this filter was skipped for this chunk
            code = self.filters[pos]
            if code == GZIP:
                buf = zlib.decompress(buf)
            elif code == SHUFFLE:
                buf = _unshuffle(buf, self.dtype.itemsize, nelem)
        return np.frombuffer(buf, dtype=self.dtype, count=nelem).reshape(self.chunks)

    def read(self, ranges: list[tuple[int, int]], first_axis: int = 0, parallel: bool = True) -> np.ndarray:
        """The block ``[r0:r1 for each dim]`` as a new array of shape ``(r1 - r0, ...)``.

        The result is a view whose memory is laid out with ``first_axis`` outermost, so
        that ``np.moveaxis(result, first_axis, 0)[k]`` (one plane) is contiguous: chunk
        pieces are scattered into that layout while decoding, instead of gathering a
        strided plane on every slice request.
        """
        shape = [r1 - r0 for r0, r1 in ranges]
        perm = [first_axis] + [d for d in range(len(shape)) if d != first_axis]
        buf = np.empty([shape[d] for d in perm], dtype=self.dtype)
        out = buf.transpose(np.argsort(perm))
        first = tuple(r0 // c for (r0, _), c in zip(ranges, self.chunks, strict=True))
        counts = tuple(-(-r1 // c) - f for (_, r1), c, f in zip(ranges, self.chunks, first, strict=True))
        entries = self.locator.block(first, counts)
        origins = itertools.product(*[range(f * c, r1, c) for f, (_, r1), c in zip(first, ranges, self.chunks, strict=True)])
        raws = []
        dsid, fd = self.ds.id, self.fd
        for origin, (offset, size, mask) in zip(origins, entries.tolist(), strict=True):
            if offset < 0:  # never written: the fill value
                raws.append((origin, None, 0))
                continue
            if self.on_read is not None:
                self.on_read("chunk", origin)
            if fd is not None:  # read in the pool, outside HDF5's lock
                raws.append((origin, (offset, size), mask))
                continue
            mask, raw = dsid.read_direct_chunk(origin)  # fast, under the HDF5 lock
            raws.append((origin, raw, mask))

        def place(item: tuple) -> None:
            origin, raw, mask = item
            if isinstance(raw, tuple):
                raw = _pread(fd, *raw)
            chunk = self._decode(raw, mask)
            src, dst = [], []
            for o, c, (r0, r1), n in zip(origin, self.chunks, ranges, self.shape, strict=True):
                lo, hi = max(o, r0), min(o + c, r1, n)
                src.append(slice(lo - o, hi - o))
                dst.append(slice(lo - r0, hi - r0))
            out[tuple(dst)] = chunk[tuple(src)]

        # decode in parallel (zlib releases the GIL); list() re-raises the first error. Small chunks
        # go in groups of about TASK_BYTES decoded: a task per 512-byte chunk cost more than its work
        per_task = max(1, min(-(-len(raws) // _POOL_WORKERS), self.TASK_BYTES // self._chunk_bytes))
        if per_task == 1:
            list(decode_pool().map(place, raws))
        else:
            groups = [raws[k:k + per_task] for k in range(0, len(raws), per_task)]
            list(decode_pool().map(lambda group: [place(item) for item in group], groups))
        return out


class RawReader:
    """Reads hyperslabs of an uncompressed dataset with ``os.preadv`` at the data's byte offsets.

    Plain reads, not ``mmap``: a file truncated by a job while we read gives a short read
    (reported as a damaged file), never a SIGBUS that would kill the server.
    """

    SPAN_MIN = 2**20  # read a whole span if it is at most this big ...
    SPAN_RATIO = 4  # ... or at most this many times the bytes needed; else split it
    GATHER_MAX_BYTES = 16 * 2**20  # blocks read in one nogil call (slices; slabs take the pool)
    GATHER_MAX_RUNS = 4096
    GATHER_MIN_RUN = 256  # bytes: shorter runs (slices across the fastest axis) read whole spans

    def __init__(self, ds: h5py.Dataset, fd: int):
        self.ds = ds
        self.fd = fd  # opened by the Volume: bound to the inode that was checked at open
        self.shape = tuple(ds.shape)
        self.dtype = np.dtype(ds.dtype)
        self.chunks = tuple(ds.chunks) if ds.chunks else None
        self.offset = None if self.chunks else ds.id.get_offset()
        self.fill = ds.fillvalue
        self.locator = ChunkLocator(ds) if self.chunks else None
        self._strides: dict[tuple[int, ...], list[int]] = {}
        self._grids: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.on_read: Callable[[str, tuple], None] | None = None

    def _strides_of(self, block: tuple[int, ...]) -> list[int]:
        """Byte strides of an array of shape ``block`` stored C-ordered, kept per shape (asked once per
        chunk of every read: numpy's prod on short tuples cost more than the reads themselves)."""
        strides = self._strides.get(block)
        if strides is None:
            item = self.dtype.itemsize
            strides = self._strides[block] = [item * math.prod(block[d + 1:]) for d in range(len(block))]
        return strides

    def _grid_offsets(self, first: tuple[int, ...], grid: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Positions (C order in the grid) of the chunks that exist and their byte offsets, for the
        block of chunks ``first`` .. ``first + grid`` (in chunk units); kept per block (a slab's planes
        share one)."""
        key = (first, grid)
        known = self._grids.get(key)
        if known is None:
            offsets = self.locator.block(first, grid)["offset"]
            present = np.flatnonzero(offsets >= 0).astype(np.int64)
            known = (present, offsets[present])
            if len(self._grids) >= 256:
                self._grids.clear()
            self._grids[key] = known
        return known

    def _read_gathered(self, ranges: list[tuple[int, int]], out: np.ndarray) -> bool:
        """Read a small block (a slice) with all its reads in one call outside the GIL (see
        :mod:`hpcdash.data.preads`); False, having read nothing, where that does not pay.

        Every chunk contributes a piece of the same shape: the requested extent along dims the
        block crosses within one chunk, the whole chunk along dims it spans several chunks of
        (the padding is cut off afterwards). A piece is a run of ``prod(lens[k:])`` elements
        repeated over the leading dims, so the pieces land in a scratch array shaped
        ``grid + lens`` and one transposing copy puts them in place.
        """
        chunks, item = self.chunks, self.dtype.itemsize
        first = [r0 // c for (r0, _), c in zip(ranges, chunks, strict=True)]
        grid = [-(-r1 // c) - g for (_, r1), c, g in zip(ranges, chunks, first, strict=True)]
        lo = [r0 - g * c if n == 1 else 0 for (r0, _), c, g, n in zip(ranges, chunks, first, grid, strict=True)]
        hi = [r1 - g * c if n == 1 else c for (_, r1), c, g, n in zip(ranges, chunks, first, grid, strict=True)]
        lens = [b - a for a, b in zip(lo, hi, strict=True)]
        k = len(lens) - 1  # runs cover dims k.. (whole chunk rows beyond k)
        while k > 0 and lens[k] == chunks[k]:
            k -= 1
        n_chunks, run_elems = math.prod(grid), math.prod(lens[k:])
        n_runs = n_chunks * math.prod(lens[:k])
        scratch_bytes = n_chunks * math.prod(lens) * item
        # one run per chunk, and many chunks (small ones): the per-chunk path would read the same
        # runs at a few microseconds of Python each (16384 chunks of 512 bytes: 130-180 ms, here 12)
        one_run_each = n_runs == n_chunks > self.GATHER_MAX_RUNS
        if scratch_bytes > self.GATHER_MAX_BYTES or (
                not one_run_each and (n_runs > self.GATHER_MAX_RUNS or run_elems * item < self.GATHER_MIN_RUN)):
            return False
        strides = self._strides_of(chunks)
        # byte offset of each run inside a chunk (C order over the leading dims)
        within = np.zeros(1, np.int64)
        for d in range(k):
            within = (within[:, None] + (lo[d] + np.arange(lens[d], dtype=np.int64)) * strides[d]).ravel()
        within += lo[k] * strides[k]
        present, starts = self._grid_offsets(tuple(first), tuple(grid))
        scratch = np.empty(grid + lens, dtype=self.dtype)
        run_bytes = run_elems * item
        piece_bytes = math.prod(lens) * item
        file_offsets = (starts[:, None] + within[None, :]).ravel()
        targets = (present[:, None] * piece_bytes
                   + np.arange(within.size, dtype=np.int64)[None, :] * run_bytes).ravel()
        read_runs(self.fd, file_offsets, targets, run_bytes, scratch)
        if present.size < n_chunks:  # chunks never written hold the fill value
            flat = scratch.reshape(n_chunks, -1)
            flat[np.setdiff1d(np.arange(n_chunks), present)] = self.fill
        nd = len(lens)
        pieces = scratch.transpose([a for d in range(nd) for a in (d, nd + d)])  # (g0, l0, g1, l1, ...)
        if all(n * length == r1 - r0 for n, length, (r0, r1) in zip(grid, lens, ranges, strict=True)):
            # no padding to cut off: copy straight into ``out`` seen as (g0, l0, g1, l1, ...)
            strides = [s for length, st in zip(lens, out.strides, strict=True) for s in (length * st, st)]
            np.copyto(as_strided(out, pieces.shape, strides), pieces)
            return True
        joined = pieces.reshape([n * length for n, length in zip(grid, lens, strict=True)])
        cut = tuple(slice(r0 - g * c, r1 - g * c) if n > 1 else slice(None)
                    for (r0, r1), c, g, n in zip(ranges, chunks, first, grid, strict=True))
        out[...] = joined[cut]
        return True

    def _copy(self, base: int, block: tuple[int, ...], src: list[slice], dst: np.ndarray) -> None:
        """Copy ``block[src]`` of the array stored C-ordered at byte ``base`` into ``dst``."""
        item = self.dtype.itemsize
        strides = self._strides_of(block)
        lens = [s.stop - s.start for s in src]
        first = base + sum(s.start * st for s, st in zip(src, strides, strict=True))
        span = sum((n - 1) * st for n, st in zip(lens, strides, strict=True)) + item
        needed = math.prod(lens) * item
        if span <= max(self.SPAN_MIN, self.SPAN_RATIO * needed) or all(n == 1 for n in lens[:-1]):
            buf = np.empty(span, dtype=np.uint8)
            got = os.preadv(self.fd, [buf], first)
            if got != span:
                raise OSError(f"short read at byte {first}: the file ends early")
            view = np.ndarray(lens, dtype=self.dtype, buffer=buf, strides=strides)
            dst[...] = view
            return
        d = next(i for i, n in enumerate(lens) if n > 1)
        for k in range(lens[d]):
            sub = list(src)
            sub[d] = slice(src[d].start + k, src[d].start + k + 1)
            index = [slice(None)] * len(lens)
            index[d] = slice(k, k + 1)
            self._copy(base, block, sub, dst[tuple(index)])

    def read(self, ranges: list[tuple[int, int]], first_axis: int = 0, parallel: bool = True) -> np.ndarray:
        """Same contract as :meth:`DirectChunkReader.read`; ``parallel=False`` copies in this thread only."""
        shape = [r1 - r0 for r0, r1 in ranges]
        perm = [first_axis] + [d for d in range(len(shape)) if d != first_axis]
        buf = np.empty([shape[d] for d in perm], dtype=self.dtype)
        out = buf.transpose(np.argsort(perm))
        if self.on_read is not None:
            self.on_read("raw", tuple(ranges))
        if self.chunks is not None and self._read_gathered(ranges, out):
            return out
        if self.chunks is None:
            items = [((0,) * len(shape), self.offset)]
            block = self.shape
        else:
            first = tuple(r0 // c for (r0, _), c in zip(ranges, self.chunks, strict=True))
            counts = tuple(-(-r1 // c) - f for (_, r1), c, f in zip(ranges, self.chunks, first, strict=True))
            offsets = self.locator.block(first, counts)["offset"].tolist()  # HDF5 calls, before the reads
            origins = itertools.product(*[range(f * c, r1, c)
                                          for f, (_, r1), c in zip(first, ranges, self.chunks, strict=True)])
            items = [(o, off if off >= 0 else None) for o, off in zip(origins, offsets, strict=True)]
            block = self.chunks

        def place(item: tuple) -> None:
            origin, off = item
            src, dst = [], []
            for o, c, (r0, r1), n in zip(origin, block, ranges, self.shape, strict=True):
                lo, hi = max(o, r0), min(o + c, r1, n)
                src.append(slice(lo - o, hi - o))
                dst.append(slice(lo - r0, hi - r0))
            if off is None:
                out[tuple(dst)] = self.fill
            else:
                self._copy(off, block, src, out[tuple(dst)])

        if parallel and len(items) > 2:
            # one task per worker, not per chunk: a chunk's piece of a plane is a few kB, and a
            # task each cost more than the copies (a 512^2 plane of 64 chunks: 11 ms vs 5 ms)
            n = min(len(items), _POOL_WORKERS)
            list(decode_pool().map(lambda part: [place(item) for item in part], [items[k::n] for k in range(n)]))
        else:
            for item in items:
                place(item)
        return out


def _readable_directly(ds: h5py.Dataset) -> bool:
    """True if chunk offsets HDF5 reports are byte positions in the file itself (no user block, the
    default driver), so the file can be read at them."""
    try:
        return ds.file.driver == "sec2" and not ds.file.userblock_size
    except (OSError, ValueError, AttributeError):
        return False


def block_reader(ds: h5py.Dataset, fd: int | None) -> DirectChunkReader | RawReader | None:
    """The fastest lock-free reader for ``ds``, or None to read through h5py.

    ``fd``: the file of ``ds`` opened for reading (None: read chunk bytes through HDF5 only).
    """
    if os.environ.get("HPCDASH_NO_DIRECT_CHUNKS"):
        return None
    if fd is not None and not _readable_directly(ds):
        fd = None
    direct = direct_reader(ds, fd)
    if direct is not None or fd is None:
        return direct
    try:
        plist = ds.id.get_create_plist()
        if plist.get_nfilters() or plist.get_external_count():
            return None
        # contiguous data: HDF5's own sieve-buffered reads were faster than ours (measured)
        if plist.get_layout() != h5py.h5d.CHUNKED:
            return None
        if ds.dtype.kind not in "biuf" or ds.dtype.names:
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return RawReader(ds, fd)


def direct_reader(ds: h5py.Dataset, fd: int | None = None) -> DirectChunkReader | None:
    """A :class:`DirectChunkReader` if ``ds`` is chunked with gzip (and optionally shuffle) only.

    ``fd``: the file of ``ds``, read at the chunks' offsets; only for files in which HDF5's offsets
    are byte positions (:func:`block_reader` checks that); None reads chunk bytes through HDF5.
    """
    if not ds.chunks or os.environ.get("HPCDASH_NO_DIRECT_CHUNKS"):
        return None
    try:
        plist = ds.id.get_create_plist()
        codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    except (OSError, ValueError):
        return None
    if GZIP not in codes or any(c not in (GZIP, SHUFFLE) for c in codes):
        return None
    if ds.dtype.kind not in "biuf" or ds.dtype.names:
        return None
    return DirectChunkReader(ds, codes, fd)
