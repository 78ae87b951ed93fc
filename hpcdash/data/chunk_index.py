"""Where a chunked dataset's chunks are in its file: asked per chunk for a few, listed in one pass for many.

HDF5 answers "where is the chunk at (i, j, k)?" one chunk at a time (``H5Dget_chunk_info_by_coord``),
each call under h5py's global lock, and each call first flushes the dataset's chunk cache: 10 us on a
fresh file, 80-250 us once h5py has read through many chunks. A slab of a 128^3 dataset chunked
(1, 1, 128) crosses 16384 chunks, so locating them one by one took 4-5 s while every other pane's
HDF5 call waited. ``H5Dchunk_iter`` lists every stored chunk's offset, size and filter mask in one
call (about 1 us per chunk: 18 ms for those 16384).

:class:`ChunkLocator` asks per chunk while reads need few chunks (a small dataset, a slab of large
chunks: building a table of every chunk would cost more than it saves), and builds the table of the
whole dataset once the chunks asked for (those asked already and those of the read at hand) exceed
both :data:`LOOKUPS_BEFORE_TABLE` and a 16th of the chunk grid. HDF5 has
no call that lists only the chunks of a region, so the table covers the dataset: one entry per chunk
position of the grid (8 bytes for uncompressed data, 16 with the stored size and filter mask), built
only while that stays within :data:`TABLE_MAX_BYTES` (4 Mi chunk positions uncompressed, 2 Mi
compressed); larger grids, and HDF5/h5py builds without ``chunk_iter``, keep asking per chunk.

The answers describe the file as it was opened. A :class:`~hpcdash.data.Volume` reads nothing once
its file changed on disk (it raises :class:`~hpcdash.data.FileChangedError` and must be opened again,
which makes a new locator) and calls :meth:`ChunkLocator.forget` then and when it closes.
"""

from __future__ import annotations

import math
import threading

import numpy as np

LOOKUPS_BEFORE_TABLE = 256  # chunks asked for singly at least, before the table is built
TABLE_MAX_BYTES = 32 * 2**20  # no table for grids with more chunk positions than fit in this
KNOWN_MAX = 65536  # per-chunk answers remembered (without a table); forgotten all at once beyond
_BATCH = 65536  # chunk_iter records converted to arrays at a time (bounds the Python objects held)

#: one chunk position: its byte offset in the file (-1: never written, reads as the fill value) ...
OFFSETS = np.dtype([("offset", "<i8")])
#: ... and, for filtered data, the stored (compressed) size and the mask of filters skipped
STORED = np.dtype([("offset", "<i8"), ("size", "<u4"), ("mask", "<u4")])


def chunk_info(dsid, origin: tuple[int, ...]) -> tuple[int, int, int]:
    """(byte offset or -1 if never written, stored size, filter mask) of the chunk whose first element
    is ``origin``: one HDF5 call."""
    try:
        info = dsid.get_chunk_info_by_coord(origin)
    except (OSError, ValueError, KeyError) as exc:
        text = str(exc).lower()
        if "not allocated" in text or "no chunk" in text:
            return -1, 0, 0
        raise
    if info.byte_offset is None or not info.size:
        return -1, 0, 0
    return int(info.byte_offset), int(info.size), int(info.filter_mask or 0)


def chunk_table(dsid, chunks: tuple[int, ...], grid: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """Every chunk position of the dataset, C order over ``grid`` (chunks per dimension), from one
    ``H5Dchunk_iter`` pass; None where this HDF5 or h5py cannot list chunks."""
    if not hasattr(dsid, "chunk_iter"):
        return None
    table = np.zeros(math.prod(grid), dtype=dtype)
    table["offset"] = -1
    pending: list = []
    chunk_len = np.array(chunks, dtype=np.int64)

    def store() -> None:
        origins = np.array([info.chunk_offset for info in pending], dtype=np.int64).reshape(len(pending), -1)
        where = np.ravel_multi_index(tuple((origins // chunk_len).T), grid)
        sizes = np.array([info.size or 0 for info in pending], dtype=np.int64)
        offsets = np.array([-1 if info.byte_offset is None else info.byte_offset for info in pending], np.int64)
        table["offset"][where] = np.where(sizes > 0, offsets, -1)
        if "size" in dtype.names:
            table["size"][where] = sizes
            table["mask"][where] = [info.filter_mask or 0 for info in pending]
        pending.clear()

    def visit(info) -> None:
        pending.append(info)
        if len(pending) >= _BATCH:
            store()

    try:
        dsid.chunk_iter(visit)
    except (AttributeError, NotImplementedError):
        return None
    if pending:
        store()
    return table


class ChunkLocator:
    """Byte offsets (and stored sizes and filter masks) of the chunks of one chunked dataset.

    Thread-safe; the table is built at most once, by the first read that needs many chunks.
    """

    def __init__(self, ds, stored_sizes: bool = False):
        self.dsid = ds.id
        self.chunks = tuple(int(c) for c in ds.chunks)
        self.grid = tuple(-(-int(n) // c) for n, c in zip(ds.shape, self.chunks, strict=True))
        self.dtype = STORED if stored_sizes else OFFSETS
        self._table: np.ndarray | None = None
        self._can_tabulate = math.prod(self.grid) * self.dtype.itemsize <= TABLE_MAX_BYTES
        # Asking singly costs 10-200 times more per chunk than listing: once reads have asked for a
        # 16th of the grid one by one, the table would have cost less (and every later read is free)
        self._singles_max = max(LOOKUPS_BEFORE_TABLE, math.prod(self.grid) // 16)
        self._known: dict[tuple[int, ...], tuple[int, int, int]] = {}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self.lookups = 0  # HDF5 calls made: one per chunk asked singly, one per table built

    def block(self, first: tuple[int, ...], counts: tuple[int, ...]) -> np.ndarray:
        """The entries of the block of chunk positions ``first`` .. ``first + counts`` (in chunks, not
        elements), C order, as an array of :data:`OFFSETS` or :data:`STORED` records."""
        n = math.prod(counts)
        table = self._table
        if table is None and self._can_tabulate and self.lookups + n > self._singles_max:
            table = self._tabulate()
        if table is not None:
            where = np.zeros(1, dtype=np.int64)
            for f, k, g in zip(first, counts, self.grid, strict=True):
                where = (where[:, None] * g + np.arange(f, f + k, dtype=np.int64)).ravel()
            return table[where]
        out = np.empty(n, dtype=self.dtype)
        grids = np.indices(counts).reshape(len(counts), -1).T + np.asarray(first)
        for k, pos in enumerate(grids.tolist()):
            entry = self._one(tuple(p * c for p, c in zip(pos, self.chunks, strict=True)))
            out[k] = entry[:len(self.dtype.names)]
        return out

    def _one(self, origin: tuple[int, ...]) -> tuple[int, int, int]:
        with self._lock:
            entry = self._known.get(origin)
        if entry is None:
            entry = chunk_info(self.dsid, origin)
            with self._lock:
                self.lookups += 1
                if len(self._known) >= KNOWN_MAX:
                    self._known.clear()
                self._known[origin] = entry
        return entry

    def _tabulate(self) -> np.ndarray | None:
        with self._build_lock:  # one build; a second reader waits for it instead of listing again
            if self._table is None and self._can_tabulate:
                table = chunk_table(self.dsid, self.chunks, self.grid, self.dtype)
                with self._lock:
                    self.lookups += 1
                    if table is None:
                        self._can_tabulate = False
                    else:
                        self._table = table
                        self._known.clear()
            return self._table

    @property
    def tabulated(self) -> bool:
        """True once the table of every chunk has been built."""
        return self._table is not None

    def forget(self) -> None:
        """Drop every answer (the file changed or was closed); memory is freed."""
        with self._build_lock, self._lock:
            self._table = None
            self._known.clear()
