"""The lock-free readers return exactly what h5py reads, on every path they take."""

from __future__ import annotations

import itertools
import os
import random

import h5py
import numpy as np
import pytest

from hpcdash.data import CorruptFileError, open_volume, preads, write_volume
from hpcdash.data.chunks import RawReader, block_reader
from tests.data.conftest import index_of_whole_bytes_of_half

FILL = -7.0


@pytest.fixture(params=["nogil", "python"])
def read_mode(request, monkeypatch):
    """The batched reads through the compiled kernel, and through the Python loop used before it loads."""
    if request.param == "nogil":
        if not preads.load():
            pytest.skip("Numba kernel unavailable")
    else:
        monkeypatch.setattr(preads, "_kernel", False)
    return request.param


def _write_with_a_hole(path, shape, chunks):
    """Random float32 data, chunked, with the first chunk never written (it reads as the fill value)."""
    data = np.random.default_rng(len(shape)).random(shape).astype(np.float32)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", shape=shape, chunks=chunks, dtype="f4", fillvalue=FILL)
        for origin in itertools.product(*[range(0, n, c) for n, c in zip(shape, chunks, strict=True)]):
            if any(origin):
                sel = tuple(slice(o, min(o + c, n)) for o, c, n in zip(origin, chunks, shape, strict=True))
                ds[sel] = data[sel]
    data[tuple(slice(0, min(c, n)) for c, n in zip(chunks, shape, strict=True))] = FILL
    return data


@pytest.mark.parametrize("shape,chunks", [((50, 37, 29), (8, 16, 5)), ((32, 32, 32), (32, 32, 32)),
                                          ((20, 30), (7, 9)), ((9, 10, 11, 12), (4, 3, 5, 6))])
@pytest.mark.parametrize("min_run", [RawReader.GATHER_MIN_RUN, 4])
def test_raw_reads_equal_numpy_indexing(tmp_path, read_mode, shape, chunks, min_run):
    path = tmp_path / "holes.h5"
    expected = _write_with_a_hole(path, shape, chunks)
    rng = random.Random(1)
    gathered = 0
    with h5py.File(path, "r") as f:
        fd = os.open(path, os.O_RDONLY)
        try:
            reader = block_reader(f["v"], fd)
            assert isinstance(reader, RawReader)
            reader.GATHER_MIN_RUN = min_run
            for trial in range(60):
                if trial % 2:  # one plane across the others, as a slice is read
                    d, ranges = rng.randrange(len(shape)), [(0, n) for n in shape]
                    i = rng.randrange(shape[d])
                    ranges[d] = (i, i + 1)
                else:
                    ranges = []
                    for n in shape:
                        a = rng.randrange(n)
                        ranges.append((a, rng.randrange(a + 1, n + 1)))
                probe = np.empty([b - a for a, b in ranges], np.float32)
                gathered += reader._read_gathered(ranges, probe)
                for first_axis in range(len(shape)):
                    got = reader.read(ranges, first_axis=first_axis)
                    np.testing.assert_array_equal(got, expected[tuple(slice(a, b) for a, b in ranges)])
        finally:
            os.close(fd)
    if min_run == 4:
        assert gathered > 0  # the batched path was taken, not only the per-chunk one


def test_plane_of_a_real_volume_is_gathered_in_one_call(tmp_path, read_mode, monkeypatch):
    data = np.random.default_rng(3).random((64, 48, 40)).astype(np.float32)
    write_volume(tmp_path / "v.h5", "/v", data, {"z": None, "y": None, "x": None}, chunks=(16, 16, 8))
    calls = []
    original = RawReader._read_gathered

    def spy(self, ranges, out):
        ok = original(self, ranges, out)
        calls.append(ok)
        return ok

    monkeypatch.setattr(RawReader, "_read_gathered", spy)
    with open_volume(tmp_path / "v.h5") as vol:
        for k in (3, 40, 63):
            np.testing.assert_array_equal(vol.read_raw("z", k), data[k])
    assert calls == [True, True, True]


def test_short_file_is_an_error_not_garbage(tmp_path, read_mode):
    """A file that ends before a piece does (a job truncated it) gives an error on both read paths."""
    data = np.random.default_rng(4).random((32, 32, 32)).astype(np.float32)
    write_volume(tmp_path / "v.h5", "/v", data, {"z": None, "y": None, "x": None}, chunks=(8, 8, 8))
    full = (tmp_path / "v.h5").read_bytes()
    with index_of_whole_bytes_of_half(tmp_path / "v.h5") as (ds, fd):
        reader = RawReader(ds, fd)
        with pytest.raises(OSError, match="ends early"):
            reader.read([(31, 32), (0, 32), (0, 32)])  # batched
        with pytest.raises(OSError, match="ends early"):
            reader.read([(0, 32), (0, 32), (0, 32)])  # whole chunks, per chunk
    (tmp_path / "v.h5").write_bytes(full[: len(full) * 9 // 10])
    with pytest.raises(CorruptFileError):
        with open_volume(tmp_path / "v.h5") as vol:
            for k in range(32):
                vol.slice("z", k)


def test_batched_read_kernel_is_compiled_once_per_machine(tmp_path):
    """Numba's disk cache serves the kernel to the next process (compiling it costs ~1 s)."""
    import subprocess
    import sys

    code = ("from hpcdash.data import preads; assert preads.load(); "
            "s = preads._kernel.stats; print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert runs[1].stdout.split() == ["1", "0"]  # the second process loaded it, compiled nothing


@pytest.mark.parametrize("dtype", ["i1", "<i2", ">f4", "<f8", "<u8"])
def test_gzip_shuffle_chunks_decode_like_hdf5(tmp_path, dtype):
    """Chunks inflated and un-shuffled outside HDF5 equal what HDF5 decodes, for every element size."""
    from hpcdash.data.chunks import DirectChunkReader

    rng = np.random.default_rng(7)
    data = (rng.random((20, 18, 11)) * 100).astype(dtype)
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("v", data=data, chunks=(8, 6, 5), compression="gzip", shuffle=True)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        reader = block_reader(f["v"], None)
        assert isinstance(reader, DirectChunkReader)
        for ranges in ([(0, 20), (0, 18), (0, 11)], [(3, 4), (0, 18), (0, 11)], [(5, 17), (2, 13), (4, 5)]):
            got = reader.read(ranges)
            np.testing.assert_array_equal(got, f["v"][tuple(slice(a, b) for a, b in ranges)])
