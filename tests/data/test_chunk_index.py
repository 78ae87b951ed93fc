"""Chunk offsets come from one listing of the dataset when many are needed, and reads still equal numpy."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from hpcdash.data import FileChangedError, chunk_index, open_volume
from hpcdash.data.chunks import DirectChunkReader, RawReader, block_reader
from tests.data.conftest import index_of_whole_bytes_of_half

FILL = -3.5


def _write(path, shape, chunks, gzip: bool, skip_every: int = 5) -> np.ndarray:
    """Random float32 data in ``path`` (dataset "v"), every ``skip_every``-th chunk never written
    (it reads as FILL); the expected array."""
    data = np.random.default_rng(sum(shape)).random(shape).astype(np.float32)
    compression = {"compression": "gzip", "shuffle": True} if gzip else {}
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", shape=shape, chunks=chunks, dtype="f4", fillvalue=FILL, **compression)
        origins = itertools.product(*[range(0, n, c) for n, c in zip(shape, chunks, strict=True)])
        for k, origin in enumerate(origins):
            sel = tuple(slice(o, min(o + c, n)) for o, c, n in zip(origin, chunks, shape, strict=True))
            if k % skip_every == 0:
                data[sel] = FILL
            else:
                ds[sel] = data[sel]
    return data


SHAPES = [((24, 10, 33), (1, 1, 33)),  # one row per chunk: thousands of chunks for a small volume
          ((24, 10, 33), (1, 1, 8)),  # ... with a partial chunk at the end of every row
          ((30, 25, 20), (4, 7, 6)),  # partial chunks along every dimension
          ((9, 40, 40), (9, 1, 40)),
          ((40, 60, 12), (1, 1, 5))]  # 7200 chunks: more than the batched reads' usual number of runs


def _blocks(shape):
    """Whole slabs along every axis (what a slider step reads), single planes and an inner box."""
    for d, n in enumerate(shape):
        for i0, i1 in ((0, n), (n // 3, n // 3 + 1), (n - 1, n)):
            yield [(i0, i1) if e == d else (0, m) for e, m in enumerate(shape)]
    yield [(n // 4, n - n // 5) for n in shape]


@pytest.mark.parametrize("shape,chunks", SHAPES)
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("mode", ["table", "singly", "no chunk_iter"])
def test_reads_equal_numpy_indexing(tmp_path, monkeypatch, shape, chunks, gzip, mode):
    if gzip and chunks == SHAPES[-1][1]:
        pytest.skip("the many-chunk case is for the batched reads of uncompressed data")
    path = tmp_path / "v.h5"
    expected = _write(path, shape, chunks, gzip)
    if mode == "no chunk_iter":  # HDF5 < 1.14 / older h5py: the table cannot be built
        monkeypatch.setattr(chunk_index, "chunk_table", lambda *args: None)
    with h5py.File(path, "r") as f:
        fd = os.open(path, os.O_RDONLY)
        try:
            for direct_fd in ([fd, None] if gzip else [fd]):
                reader = block_reader(f["v"], direct_fd)
                assert isinstance(reader, DirectChunkReader if gzip else RawReader)
                if mode == "table":
                    reader.locator._singles_max = 0
                elif mode == "singly":
                    reader.locator._can_tabulate = False
                for ranges in _blocks(shape):
                    for first_axis in range(len(shape)):
                        got = reader.read(ranges, first_axis=first_axis)
                        np.testing.assert_array_equal(got, expected[tuple(slice(a, b) for a, b in ranges)])
                assert reader.locator.tabulated == (mode == "table")
        finally:
            os.close(fd)


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_slices_of_a_tiny_chunked_volume_equal_numpy(tmp_path, monkeypatch, gzip):
    shape = (40, 120, 16)  # 4800 chunks: a plane across x crosses all of them
    expected = _write(tmp_path / "v.h5", shape, (1, 1, 16), gzip, skip_every=7)
    batched = []
    original = RawReader._read_gathered

    def spy(self, ranges, out):
        ok = original(self, ranges, out)
        batched.append((ranges, ok))
        return ok

    monkeypatch.setattr(RawReader, "_read_gathered", spy)
    with open_volume(tmp_path / "v.h5") as vol:
        assert vol._direct is not None
        for ax in range(3):
            for k in (0, 1, 2, 5, shape[ax] - 1):  # lone planes, then steps that read the slab
                want = np.moveaxis(expected, ax, 0)[k]
                np.testing.assert_array_equal(vol.read_raw(ax, k), want)
        assert vol._direct.locator.tabulated
    if not gzip:  # the plane across x and the slab of all 4800 chunks: one batched read each
        assert ([(0, 40), (0, 120), (0, 16)], True) in batched
        assert ([(0, 40), (0, 120), (0, 1)], True) in batched


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_hdf5_lookups_for_a_slab_do_not_grow_with_its_chunks(tmp_path, monkeypatch, gzip):
    """A slab along the fast axis of data chunked (1, 1, n) crosses n * n chunks; their offsets are
    found with one listing of the dataset, not one HDF5 call each."""
    calls = {"singly": 0, "listings": 0}
    single, listing = chunk_index.chunk_info, chunk_index.chunk_table

    def count_single(*args):
        calls["singly"] += 1
        return single(*args)

    def count_listing(*args):
        calls["listings"] += 1
        return listing(*args)

    monkeypatch.setattr(chunk_index, "chunk_info", count_single)
    monkeypatch.setattr(chunk_index, "chunk_table", count_listing)
    seen = []
    for n in (24, 48):
        expected = _write(tmp_path / f"v{n}.h5", (n, n, n), (1, 1, n), gzip, skip_every=9)
        calls.update(singly=0, listings=0)
        with open_volume(tmp_path / f"v{n}.h5") as vol:
            for k in (5, 6, 7):  # a lone plane, then steps that read the whole slab
                np.testing.assert_array_equal(vol.read_raw(2, k), expected[:, :, k])
        seen.append(dict(calls))
    assert seen == [{"singly": 0, "listings": 1}] * 2


def test_few_chunks_are_asked_singly(tmp_path, monkeypatch):
    """A slab of a few large chunks asks HDF5 about those chunks only: no listing of the dataset."""
    monkeypatch.setattr(chunk_index, "chunk_table", lambda *args: pytest.fail("listed"))
    expected = _write(tmp_path / "v.h5", (32, 32, 32), (8, 8, 8), False)
    with open_volume(tmp_path / "v.h5") as vol:
        for k in (3, 4, 5):
            np.testing.assert_array_equal(vol.read_raw(0, k), expected[k])
        assert not vol._direct.locator.tabulated
        assert vol._direct.locator.lookups == 16  # the 4 x 4 chunks of the slab, once each


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_chunk_offsets_are_forgotten_when_the_file_changes(tmp_path, gzip):
    path = tmp_path / "v.h5"
    shape, chunks = (24, 24, 24), (1, 1, 24)  # 576 chunks
    _write(path, shape, chunks, gzip, skip_every=3)
    vol = open_volume(path)
    vol.read_raw(2, 3)
    vol.read_raw(2, 4)
    locator = vol._direct.locator
    assert locator.tabulated
    new = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    # another process (a job) writes the chunks never written, in place
    code = ("import h5py, numpy as np, sys; f = h5py.File(sys.argv[1], 'r+'); "
            "f['v'][...] = np.arange(f['v'].size, dtype='f4').reshape(f['v'].shape); f.close()")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
    with pytest.raises(FileChangedError):
        vol.read_raw(2, 5)
    assert not locator.tabulated
    vol.close()
    with open_volume(path) as again:
        for k in (3, 4, 5):
            np.testing.assert_array_equal(again.read_raw(2, k), new[:, :, k])


def test_compressed_chunks_past_the_end_of_a_cut_file_are_an_error(tmp_path):
    _write(tmp_path / "v.h5", (16, 16, 16), (4, 4, 16), True, skip_every=1000)
    with index_of_whole_bytes_of_half(tmp_path / "v.h5") as (ds, fd):
        reader = block_reader(ds, fd)
        assert isinstance(reader, DirectChunkReader)
        with pytest.raises(OSError, match="ends early"):
            reader.read([(0, 16), (0, 16), (0, 16)])
