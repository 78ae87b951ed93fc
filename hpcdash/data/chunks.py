"""Parallel decoding of gzip (deflate) and shuffle chunks outside HDF5's global lock.

h5py serialises every HDF5 call behind one lock, so threads cannot decode compressed
chunks in parallel through ``dataset[...]``. For the filters we can decode in Python
(deflate via :mod:`zlib`, which releases the GIL, and byte shuffle via numpy) this module
reads the *raw* chunk bytes with ``dataset.id.read_direct_chunk`` (cheap, under the lock)
and inflates them in a shared thread pool, so a slab of 64 gzip chunks uses every core and
other panes' HDF5 calls are not blocked while it decodes.

Datasets with any other filter (blosc, zstd, lz4, bitshuffle, lzf, szip, fletcher32, ...)
are read through h5py as usual (:func:`direct_reader` returns None for them).
"""

from __future__ import annotations

import itertools
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

GZIP, SHUFFLE = 1, 2
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def decode_pool() -> ThreadPoolExecutor:
    """Shared pool for chunk decoding (one thread per core, at least 2)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="hpcdash-inflate")
        return _POOL


class DirectChunkReader:
    """Reads hyperslabs of a gzip/shuffle-chunked dataset by decoding chunks in parallel."""

    def __init__(self, ds: h5py.Dataset, filters: list[int]):
        self.ds = ds
        self.filters = filters  # pipeline order as written (e.g. [SHUFFLE, GZIP])
        self.chunks = tuple(ds.chunks)
        self.shape = tuple(ds.shape)
        self.dtype = np.dtype(ds.dtype)
        self.fill = ds.fillvalue

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
                size = self.dtype.itemsize
                arr = np.frombuffer(buf, dtype=np.uint8)
                body = nelem * size
                out = np.empty(len(arr), dtype=np.uint8)
                out[:body] = arr[:body].reshape(size, nelem).T.ravel()
                out[body:] = arr[body:]
                buf = out.tobytes()
        return np.frombuffer(buf, dtype=self.dtype, count=nelem).reshape(self.chunks)

    def read(self, ranges: list[tuple[int, int]], first_axis: int = 0) -> np.ndarray:
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
        origins = [range((r0 // c) * c, r1, c) for (r0, r1), c in zip(ranges, self.chunks, strict=True)]
        raws = []
        dsid = self.ds.id
        for origin in itertools.product(*origins):  # raw reads: fast, under the HDF5 lock
            try:
                info = dsid.get_chunk_info_by_coord(origin)
                if info.byte_offset is None or info.size == 0:
                    raws.append((origin, None, 0))
                    continue
                mask, raw = dsid.read_direct_chunk(origin)
            except (OSError, ValueError, KeyError) as exc:
                if "not allocated" in str(exc).lower() or "no chunk" in str(exc).lower():
                    raws.append((origin, None, 0))
                    continue
                raise
            raws.append((origin, raw, mask))

        def place(item: tuple) -> None:
            origin, raw, mask = item
            chunk = self._decode(raw, mask)
            src, dst = [], []
            for o, c, (r0, r1), n in zip(origin, self.chunks, ranges, self.shape, strict=True):
                lo, hi = max(o, r0), min(o + c, r1, n)
                src.append(slice(lo - o, hi - o))
                dst.append(slice(lo - r0, hi - r0))
            out[tuple(dst)] = chunk[tuple(src)]

        # decode in parallel (zlib releases the GIL); list() re-raises the first error
        list(decode_pool().map(place, raws))
        return out


def direct_reader(ds: h5py.Dataset) -> DirectChunkReader | None:
    """A :class:`DirectChunkReader` if ``ds`` is chunked with gzip (and optionally shuffle) only."""
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
    return DirectChunkReader(ds, codes)
