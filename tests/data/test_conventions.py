"""Files written by other tools: netCDF4-python, h5netcdf, xarray, hand-made NeXus and CF."""

from __future__ import annotations

import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr

from hpcdash.data import find_volumes, open_volume


def test_netcdf4_python_file(tmp_path, rng):
    path = tmp_path / "nc4.nc"
    data = rng.normal(size=(5, 6, 7)).astype("f4")
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 5)
        nc.createDimension("lat", 6)
        nc.createDimension("lon", 7)  # no coordinate variable: index coords
        lat = nc.createVariable("lat", "f8", ("lat",))
        lat[:] = np.linspace(-50, 50, 6)
        lat.units = "degrees_north"
        t = nc.createVariable("time", "f8", ("time",))
        t[:] = [0, 1, 2, 4, 8]
        v = nc.createVariable("temp", "f4", ("time", "lat", "lon"), zlib=True, chunksizes=(1, 6, 7),
                              fill_value=-999.0)
        v.units = "K"
        v.long_name = "temperature"
        data[1, 2, 3] = -999.0
        v[:] = data
    infos = find_volumes(path)
    assert [i.name for i in infos] == ["/temp"]
    assert infos[0].dims == ("time", "lat", "lon") and "gzip" in infos[0].compression
    with open_volume(path) as vol:
        assert vol.dims == ("time", "lat", "lon")
        np.testing.assert_allclose(vol.coords["lat"], np.linspace(-50, 50, 6))
        np.testing.assert_array_equal(vol.coords["lon"], np.arange(7.0))
        assert vol.coord_units["lat"] == "degrees_north"
        assert not vol.is_uniform("time")
        da = vol.slice("time", 1)
        assert np.isnan(da.values[2, 3])  # _FillValue -> NaN
        expected = data[1].copy()
        expected[2, 3] = np.nan
        np.testing.assert_array_equal(da.values, expected)
        assert vol.units == "K" and da.attrs["long_name"] == "temperature"


def test_xarray_to_netcdf_h5netcdf(tmp_path, rng):
    path = tmp_path / "xr.nc"
    data = rng.normal(size=(4, 5, 6))
    ds = xr.Dataset({"rho": (("depth", "northing", "easting"), data, {"units": "ohm m"})},
                    coords={"depth": ("depth", [0.0, 10, 30, 70], {"units": "m"}),
                            "northing": np.arange(5.0) * 100, "easting": np.arange(6.0) * 50})
    ds.to_netcdf(path, engine="h5netcdf")
    with open_volume(path) as vol:
        assert vol.name == "/rho"
        assert vol.dims == ("depth", "northing", "easting")
        np.testing.assert_allclose(vol.coords["depth"], [0, 10, 30, 70])
        assert vol.coord_units["depth"] == "m"
        np.testing.assert_allclose(vol.slice("easting", 2).values, data[:, :, 2])
        assert vol.is_uniform("northing") and not vol.is_uniform("depth")


def test_xarray_to_netcdf_netcdf4_engine_with_packing(tmp_path, rng):
    path = tmp_path / "packed.nc"
    data = rng.uniform(0, 10, size=(3, 4, 5))
    data[0, 0, 0] = np.nan
    ds = xr.Dataset({"v": (("a", "b", "c"), data)}, coords={"a": [1.0, 2, 3]})
    ds.to_netcdf(path, engine="netcdf4",
                 encoding={"v": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 5.0, "_FillValue": -32768}})
    with open_volume(path) as vol:
        da = vol.slice("a", 0)
        assert np.isnan(da.values[0, 0])
        np.testing.assert_allclose(da.values[1:], data[0, 1:], atol=0.006)
        assert vol.dims == ("a", "b", "c")


def test_h5netcdf_api_with_groups(tmp_path, rng):
    import h5netcdf

    path = tmp_path / "h5n.h5"
    data = rng.normal(size=(3, 8, 9)).astype("f4")
    with h5netcdf.File(path, "w") as f:
        g = f.create_group("inv")
        g.dimensions = {"k": 3, "j": 8, "i": 9}
        x = g.create_variable("i", ("i",), float, data=np.geomspace(1, 100, 9))
        x.attrs["units"] = "m"
        v = g.create_variable("model", ("k", "j", "i"), "f4", data=data, chunks=(1, 8, 9))
        v.attrs["units"] = "S/m"
    with open_volume(path, "inv/model") as vol:
        assert vol.dims == ("k", "j", "i")
        np.testing.assert_allclose(vol.coords["i"], np.geomspace(1, 100, 9))
        np.testing.assert_array_equal(vol.slice("j", 7).values, data[:, 7, :])


def _nexus_file(path, data, *, histogram=False, legacy=False):
    nz, ny, nx = data.shape
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "plot"
        entry.create_dataset("other", data=np.zeros((50, 50)))  # bigger, but not the default
        nxdata = entry.create_group("plot")
        nxdata.attrs["NX_class"] = "NXdata"
        sig = nxdata.create_dataset("counts", data=data)
        x = np.linspace(0, 1, nx + 1 if histogram else nx)
        nxdata.create_dataset("energy", data=x).attrs["units"] = "keV"
        nxdata.create_dataset("angle", data=np.arange(nz) * 2.0)
        if legacy:
            sig.attrs["signal"] = 1
            sig.attrs["axes"] = "angle:.:energy"
        else:
            nxdata.attrs["signal"] = "counts"
            nxdata.attrs["axes"] = np.array(["angle", ".", "energy"], dtype=h5py.string_dtype())
            nxdata.attrs["energy_indices"] = 2
            nxdata.attrs["angle_indices"] = 0


@pytest.mark.parametrize("variant", ["modern", "histogram", "legacy"])
def test_nexus_nxdata(tmp_path, rng, variant):
    path = tmp_path / "nx.nxs"
    data = rng.poisson(5, size=(4, 5, 6)).astype("u2")
    _nexus_file(path, data, histogram=variant == "histogram", legacy=variant == "legacy")
    infos = find_volumes(path)
    assert infos[0].name == "/entry/plot/counts" and infos[0].is_default
    assert {i.name for i in infos} == {"/entry/plot/counts", "/entry/other"}
    with open_volume(path) as vol:
        assert vol.dims == ("angle", "dim_1", "energy")
        assert vol.coord_units["energy"] == "keV"
        if variant == "histogram":
            np.testing.assert_allclose(vol.edges("energy"), np.linspace(0, 1, 7))
        else:
            np.testing.assert_allclose(vol.coords["energy"], np.linspace(0, 1, 6))
        np.testing.assert_array_equal(vol.coords["dim_1"], np.arange(5.0))
        np.testing.assert_array_equal(vol.slice("angle", 3).values, data[3].astype("f4"))
    # opening the NXdata group itself picks its signal
    with open_volume(path, "/entry/plot") as vol:
        assert vol.name == "/entry/plot/counts"


def test_cf_valid_range_and_missing_value(tmp_path):
    path = tmp_path / "cf.h5"
    raw = np.arange(24, dtype="i2").reshape(2, 3, 4)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("v", data=raw)
        d.attrs["valid_min"] = np.int16(2)
        d.attrs["valid_max"] = np.int16(20)
        d.attrs["missing_value"] = np.int16(7)
        d.attrs["scale_factor"] = np.float32(0.5)
    with open_volume(path) as vol:
        out = vol.slice(0, 0).values
        assert out.dtype == np.float32
        expected = raw[0] * 0.5
        expected = np.where((raw[0] < 2) | (raw[0] == 7), np.nan, expected)
        np.testing.assert_array_equal(out, expected.astype("f4"))
        top = vol.slice(0, 1).values
        assert np.isnan(top[raw[1] > 20]).all()
        lo, hi = vol.value_range()
        assert (lo, hi) == (1.0, 10.0)


def test_plain_h5py_no_axes_default_is_largest(tmp_path, rng):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("small", data=rng.random((4, 4)))
        f.create_dataset("grp/big", data=rng.random((10, 11, 12)).astype("f4"))
        f.create_dataset("vector", data=rng.random(100))
        f.create_dataset("names", data=np.array([b"a", b"b"]))
        f.create_dataset("table", data=np.zeros((3, 3), dtype=[("a", "f4"), ("b", "i4")]))
    infos = find_volumes(path)
    assert [i.name for i in infos] == ["/grp/big", "/small"]
    assert infos[0].dims == ("dim_0", "dim_1", "dim_2")
    with open_volume(path) as vol:
        assert vol.name == "/grp/big"
        np.testing.assert_array_equal(vol.coords["dim_2"], np.arange(12.0))
        assert vol.is_uniform("dim_0")
        np.testing.assert_array_equal(vol.edges("dim_0"), np.arange(11.0) - 0.5)


def test_dimension_scaled_dataset_beats_bigger_unscaled(tmp_path, rng):
    path = tmp_path / "ds.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=rng.random((30, 30, 30)))
        v = f.create_dataset("model", data=rng.random((5, 6)))
        x = f.create_dataset("x", data=np.arange(6.0))
        x.make_scale("x")
        v.dims[1].attach_scale(x)
    infos = find_volumes(path)
    assert infos[0].name == "/model" and infos[0].dims == ("dim_0", "x")


def test_cf_bounds_on_h5py_coordinate(tmp_path):
    path = tmp_path / "b.h5"
    with h5py.File(path, "w") as f:
        v = f.create_dataset("v", data=np.zeros((3, 2)))
        z = f.create_dataset("z", data=[1.0, 2.0, 4.0])
        z.make_scale("z")
        z.attrs["bounds"] = "z_bounds"
        f.create_dataset("z_bounds", data=[[0.5, 1.5], [1.5, 3.0], [3.0, 5.0]])
        v.dims[0].attach_scale(z)
    assert [i.name for i in find_volumes(path)] == ["/v"]  # bounds are not a volume
    with open_volume(path) as vol:
        np.testing.assert_allclose(vol.edges("z"), [0.5, 1.5, 3.0, 5.0])
        np.testing.assert_allclose(vol.edges("dim_1"), [-0.5, 0.5, 1.5])


def test_four_d_with_other_indices(tmp_path, rng):
    from hpcdash.data import write_volume

    path = tmp_path / "4d.h5"
    data = rng.normal(size=(3, 4, 5, 6)).astype("f4")
    write_volume(path, "/run/v", data, {"t": [0.0, 1, 2], "z": None, "y": None, "x": np.arange(6.0)})
    with open_volume(path) as vol:
        da = vol.slice("z", 2, t=1)
        assert da.dims == ("y", "x")
        np.testing.assert_array_equal(da.values, data[1, 2])
        assert float(da["t"]) == 1.0
        np.testing.assert_array_equal(vol.slice("z", 2).values, data[0, 2])  # t defaults to 0
        np.testing.assert_array_equal(vol.slice("x", 4, y=1).values, data[:, :, 1, 4])
        np.testing.assert_array_equal(vol.slice("t", 2, z=3).values, data[2, 3])


def test_dims_named_axis_and_index_are_ordinary_keywords(tmp_path, rng):
    from hpcdash.data import write_volume

    path = tmp_path / "names.h5"
    data = rng.normal(size=(3, 4, 5, 6)).astype("f4")
    write_volume(path, "v", data, {"axis": None, "index": None, "y": None, "x": None})
    with open_volume(path) as vol:
        da = vol.slice("y", 2, axis=1)  # "axis" is the name of a dimension here, fixed at 1
        assert da.dims == ("index", "x")
        np.testing.assert_array_equal(da.values, data[1, :, 2, :])
        np.testing.assert_array_equal(vol.slice("x", 5, index=2).values, data[:, 2, :, 5])
        np.testing.assert_array_equal(vol.read_raw("x", 5, index=2), data[:, 2, :, 5])


def test_slices_are_ordinary_independent_dataarrays(tmp_path, rng):
    """Slices share their coordinate indexes internally; each is still a complete DataArray of its own."""
    from hpcdash.data import write_volume

    path = tmp_path / "v.h5"
    data = rng.normal(size=(4, 5, 6)).astype("f4")
    write_volume(path, "v", data, {"z": np.arange(4.0), "y": np.arange(5.0) * 2, "x": np.arange(6.0) * 3},
                 units="S/m", coord_units={"z": "m", "y": "m", "x": "km"})
    with open_volume(path) as vol:
        first = vol.slice("z", 1)
        expected = xr.DataArray(data[1], dims=("y", "x"), name="v", attrs={"units": "S/m"},
                                coords={"y": ("y", np.arange(5.0) * 2, {"units": "m"}),
                                        "x": ("x", np.arange(6.0) * 3, {"units": "km"}),
                                        "z": ((), 1.0, {"units": "m"})})
        xr.testing.assert_identical(first, expected)
        first.x.attrs["units"] = "changed"
        first.attrs["units"] = "changed"
        second = vol.slice("z", 2)
        assert second.x.attrs["units"] == "km" and second.attrs["units"] == "S/m"
        assert float(second.sel(x=9.0, y=4.0)) == pytest.approx(float(data[2, 2, 3]))
        assert second.z.item() == 2.0
