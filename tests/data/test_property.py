"""Property: Volume.slice equals numpy indexing of the whole array."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcdash.data import open_volume


@st.composite
def cases(draw):
    ndim = draw(st.integers(2, 4))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    layout = draw(st.sampled_from(["contiguous", "chunked", "gzip", "gzip+shuffle", "lzf"]))
    chunks = None
    if layout != "contiguous":
        chunks = tuple(draw(st.integers(1, n)) for n in shape)
    dtype = draw(st.sampled_from(["f4", "f8", "i2", "u1", "i8"]))
    axis = draw(st.integers(0, ndim - 1))
    index = draw(st.integers(-shape[axis], shape[axis] - 1))
    others = [d for d in range(ndim) if d != axis]
    fixed = {}
    if ndim == 4:
        # fix one of the three other dims (or let the first default to 0)
        choice = draw(st.sampled_from([None, *others]))
        if choice is not None:
            fixed[choice] = draw(st.integers(0, shape[choice] - 1))
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, layout, chunks, dtype, axis, index, fixed, seed


def expected_slice(data, axis, index, fixed):
    if data.ndim == 2:
        return data
    fixed = dict(fixed)
    others = [d for d in range(data.ndim) if d != axis and d not in fixed]
    for d in others[:-2]:
        fixed[d] = 0
    sel = tuple(index if d == axis else fixed.get(d, slice(None)) for d in range(data.ndim))
    return data[sel]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_slice_equals_numpy(case):
    shape, layout, chunks, dtype, axis, index, fixed, seed = case
    rng = np.random.default_rng(seed)
    data = (rng.normal(size=shape) * 100).astype(dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.h5"
        with h5py.File(path, "w") as f:
            kw = {"contiguous": {}, "chunked": {}, "gzip": {"compression": "gzip"},
                  "gzip+shuffle": {"compression": "gzip", "shuffle": True},
                  "lzf": {"compression": "lzf"}}[layout]
            f.create_dataset("v", data=data, chunks=chunks, **kw)
        with open_volume(path) as vol:
            names = {d: vol.dims[d] for d in fixed}
            da = vol.slice(axis, index, **{names[d]: i for d, i in fixed.items()})
            expected = expected_slice(data, axis, index, fixed)
            assert da.shape == expected.shape
            np.testing.assert_array_equal(da.values, expected.astype(da.dtype))
            # read twice: the second comes from the slab cache and must be identical
            np.testing.assert_array_equal(vol.slice(axis, index, **{names[d]: i for d, i in fixed.items()}).values,
                                          da.values)


def test_sparse_gzip_dataset_unwritten_chunks_read_as_fill_value(tmp_path):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", shape=(16, 16, 16), dtype="f4", chunks=(4, 4, 4), compression="gzip",
                              shuffle=True, fillvalue=-1.0)
        ds[4:8, 0:4, 8:12] = 5.0
        expected = ds[()]
    with open_volume(path) as vol:
        assert vol._direct is not None
        for axis in range(3):
            for index in (0, 5, 9, 15):
                np.testing.assert_array_equal(vol.slice(axis, index).values, np.take(expected, index, axis=axis))


def test_big_endian_user_block_and_checksum_layouts(tmp_path):
    """Layouts the lock-free readers must decode correctly or leave to h5py."""
    rng = np.random.default_rng(7)
    data = rng.normal(size=(9, 10, 11))
    path = tmp_path / "layouts.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("be_gzip", data=data.astype(">f4"), chunks=(4, 5, 3), compression="gzip", shuffle=True)
        f.create_dataset("be_plain", data=data.astype(">i4") * 3, chunks=(4, 5, 3))
        f.create_dataset("checksum", data=data, chunks=(4, 4, 4), fletcher32=True)
    for name in ("be_gzip", "be_plain", "checksum"):
        with h5py.File(path, "r") as f:
            expected = f[name][()]
        with open_volume(path, name) as vol:
            for axis in range(3):
                for index in (0, 4, 8):
                    np.testing.assert_array_equal(vol.slice(axis, index).values,
                                                  np.take(expected, index, axis=axis).astype(vol._decoder.dtype))
