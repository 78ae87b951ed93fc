"""Volume.profile: the values along one axis through a point, as numpy indexing of the whole array gives,
decoded like slices, with the axis's coordinates; reading only the line's chunks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcdash.data import SliceIndexError, open_volume


@st.composite
def cases(draw):
    ndim = draw(st.integers(2, 4))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    layout = draw(st.sampled_from(["contiguous", "chunked", "gzip"]))
    chunks = None if layout == "contiguous" else tuple(draw(st.integers(1, n)) for n in shape)
    dtype = draw(st.sampled_from(["f4", "f8", "i2"]))
    axis = draw(st.integers(0, ndim - 1))
    at = {d: draw(st.integers(0, shape[d] - 1)) for d in range(ndim) if d != axis and draw(st.booleans())}
    return shape, layout, chunks, dtype, axis, at, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_profile_equals_numpy_indexing(case):
    """Dims not given are at index 0, like the extra dims of a slice."""
    shape, layout, chunks, dtype, axis, at, seed = case
    data = (np.random.default_rng(seed).normal(size=shape) * 100).astype(dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("v", data=data, chunks=chunks, **({"compression": "gzip"} if layout == "gzip" else {}))
        with open_volume(path) as vol:
            line = vol.profile(axis, **{vol.dims[d]: i for d, i in at.items()})
            expected = data[tuple(slice(None) if d == axis else at.get(d, 0) for d in range(data.ndim))]
            assert line.dims == (vol.dims[axis],)
            np.testing.assert_array_equal(line.values, expected.astype(line.dtype))
            np.testing.assert_array_equal(line[vol.dims[axis]].values, np.arange(shape[axis]))


def test_a_depth_sounding_of_a_netcdf4_model_has_its_coordinates_units_and_decoded_values(tmp_path):
    """netCDF4-python writes dimension scales, packing (scale_factor / add_offset) and a fill value:
    the profile is in physical units, the filled cells NaN, the point it runs through attached."""
    path = tmp_path / "packed.nc"
    z = -np.arange(6) * 10.0 - 5.0
    truth = np.random.default_rng(3).uniform(-3, -1, size=(6, 4, 5))
    with netCDF4.Dataset(path, "w") as nc:
        for name, n in (("z", 6), ("y", 4), ("x", 5)):
            nc.createDimension(name, n)
            var = nc.createVariable(name, "f8", (name,))
            var[:] = z if name == "z" else np.arange(n) * 100.0
            var.units = "m"
        v = nc.createVariable("sigma", "i2", ("z", "y", "x"), fill_value=-32768, zlib=True)
        v.scale_factor, v.add_offset = 1e-4, -2.0
        v.units, v.long_name = "log10(S/m)", "log10 conductivity"
        v.set_auto_maskandscale(True)
        air = np.zeros(truth.shape, dtype=bool)
        air[0, 2, 3] = True  # written as the fill value
        v[:] = np.ma.array(truth, mask=air)
    with open_volume(path, "sigma") as vol:
        line = vol.profile("z", y=2, x=3)
    assert line.attrs["units"] == "log10(S/m)" and line.attrs["long_name"] == "log10 conductivity"
    np.testing.assert_array_equal(line["z"].values, z)
    assert line["z"].attrs["units"] == "m"
    assert float(line["x"]) == 300.0 and float(line["y"]) == 200.0
    assert np.isnan(line.values[0])
    np.testing.assert_allclose(line.values[1:], truth[1:, 2, 3], atol=1e-4)


def test_profile_refuses_an_index_of_its_own_axis_and_one_out_of_range(model_file):
    path, data, _ = model_file
    with open_volume(path) as vol:
        with pytest.raises(SliceIndexError, match="profile's axis"):
            vol.profile("z", z=1, y=0, x=0)
        with pytest.raises(SliceIndexError):
            vol.profile("z", y=data.shape[1], x=0)
        np.testing.assert_array_equal(vol.profile("x", z=3, y=4).values, data[3, 4, :])


def test_profile_leaves_the_slab_cache_alone(model_file, fresh_cache):
    """A profile reads its line only: no slab of slices is loaded for it."""
    path, data, _ = model_file
    with open_volume(path) as vol:
        np.testing.assert_array_equal(vol.profile("z", y=3, x=7).values, data[:, 3, 7])
    assert fresh_cache.stats().loads == 0
