"""write_volume -> open_volume / xarray / NeXus round trips, chunking and compression."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from hpcdash.data import find_volumes, open_volume, write_volume

COMPRESSIONS = [None, "gzip", "gzip-1", "lzf", "blosc", "blosc-zstd", "lz4", "zstd", "bitshuffle"]


def test_round_trip_coords_units_and_slices(model_file):
    path, data, edges = model_file
    with open_volume(path) as vol:
        assert vol.name == "/model/sigma"
        assert vol.dims == ("z", "y", "x")
        assert vol.shape == data.shape
        assert vol.units == "S/m" and vol.long_name == "conductivity"
        assert vol.coord_units == {"z": "m", "y": "m", "x": "m"}
        for dim, e in edges.items():
            np.testing.assert_allclose(vol.edges(dim), e)
            np.testing.assert_allclose(vol.coords[dim], 0.5 * (e[1:] + e[:-1]))
            assert not vol.is_uniform(dim)  # geometric padding
        da = vol.slice("y", 5)
        assert da.dims == ("z", "x")
        np.testing.assert_array_equal(da.values, data[:, 5, :])
        np.testing.assert_allclose(da["x"].values, vol.coords["x"])
        assert float(da["y"]) == pytest.approx(vol.coords["y"][5])
        assert da.attrs["units"] == "S/m" and da["x"].attrs["units"] == "m"
        np.testing.assert_array_equal(vol.slice(0, -1).values, data[-1])
        np.testing.assert_array_equal(vol.slice("x", 3).values, data[:, :, 3])


def test_xarray_h5netcdf_reads_what_we_write(model_file):
    path, data, edges = model_file
    with xr.open_dataset(path, engine="h5netcdf", group="model") as ds:
        da = ds["sigma"]
        assert da.dims == ("z", "y", "x")
        np.testing.assert_array_equal(da.values, data)
        np.testing.assert_allclose(ds["x"].values, 0.5 * (edges["x"][1:] + edges["x"][:-1]))
        assert da.attrs["units"] == "S/m"
        assert ds["x"].attrs["units"] == "m"
        np.testing.assert_allclose(ds["z_bnds"].values[:, 0], edges["z"][:-1])


def test_nexus_structure(model_file):
    path, data, edges = model_file
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == "model"
        g = f["model"]
        assert g.attrs["NX_class"] == "NXdata"
        assert g.attrs["signal"] == "sigma"
        assert [a.decode() if isinstance(a, bytes) else a for a in g.attrs["axes"]] == ["z", "y", "x"]
        assert int(g.attrs["x_indices"]) == 2
        np.testing.assert_array_equal(g[g.attrs["signal"]][()], data)
        assert g["sigma"].chunks == (8, 8, 8)


def test_nexus_reader_without_dimension_scales(model_file, tmp_path):
    """Strip the dimension scales: the NXdata attributes alone must give the same axes."""
    path, data, edges = model_file
    with h5py.File(path, "a") as f:
        ds = f["model/sigma"]
        for i in range(3):
            ds.dims[i].detach_scale(ds.dims[i][0])
    with open_volume(path) as vol:
        assert vol.dims == ("z", "y", "x")
        np.testing.assert_allclose(vol.coords["x"], 0.5 * (edges["x"][1:] + edges["x"][:-1]))
        np.testing.assert_array_equal(vol.slice("z", 2).values, data[2])


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_compressions_round_trip(tmp_path, rng, compression):
    data = rng.normal(size=(20, 24, 28)).astype("f4")
    path = tmp_path / "c.h5"
    coords = {"z": np.arange(20.0), "y": np.arange(24.0) * 2, "x": np.arange(28.0) * 3}
    write_volume(path, "/run/v", data, coords, chunks=(8, 8, 8), compression=compression)
    info = find_volumes(path)[0]
    assert info.chunks == (8, 8, 8)
    if compression is None:
        assert info.compression is None
    else:
        assert info.compression is not None
    with open_volume(path) as vol:
        for axis in range(3):
            for index in (0, 7, 8, vol.shape[axis] - 1):
                ref = np.take(data, index, axis=axis)
                np.testing.assert_array_equal(vol.slice(axis, index).values, ref)


@pytest.mark.parametrize("chunks", [True, None, (1, 24, 28), (20, 1, 1), (3, 5, 7), (20, 24, 28)])
def test_chunk_shapes(tmp_path, rng, chunks):
    data = rng.integers(-1000, 1000, size=(20, 24, 28)).astype("i4")
    path = tmp_path / "k.h5"
    write_volume(path, "/a/b", data, {"z": None, "y": None, "x": None}, chunks=chunks)
    with open_volume(path, "/a/b") as vol:
        assert vol.dims == ("z", "y", "x")
        np.testing.assert_array_equal(vol.coords["y"], np.arange(24.0))
        for axis in range(3):
            for index in (0, 4, 5, 19):
                np.testing.assert_array_equal(vol.slice(axis, index).values, np.take(data, index, axis=axis))


def test_default_is_first_written_and_second_volume_in_group(tmp_path, rng):
    path = tmp_path / "two.h5"
    coords = {"y": np.arange(6.0), "x": np.arange(7.0)}
    write_volume(path, "/a/first", rng.random((6, 7)), coords)
    write_volume(path, "/a/second", rng.random((6, 7)), coords)
    write_volume(path, "/b/big", rng.random((60, 70)), {"y": np.arange(60.0), "x": np.arange(70.0)})
    infos = find_volumes(path)
    assert infos[0].name == "/a/first" and infos[0].is_default
    assert {i.name for i in infos} == {"/a/first", "/a/second", "/b/big"}
    assert sum(i.is_default for i in infos) == 1
    with open_volume(path) as vol:
        assert vol.name == "/a/first"


def test_rewrite_replaces_dataset_and_rejects_conflicting_coords(tmp_path):
    path = tmp_path / "r.h5"
    write_volume(path, "/g/v", np.zeros((3, 4)), {"y": np.arange(3.0), "x": np.arange(4.0)})
    write_volume(path, "/g/v", np.ones((3, 4)), {"y": np.arange(3.0), "x": np.arange(4.0)})
    with open_volume(path) as vol:
        np.testing.assert_array_equal(vol.slice(0, 0).values, np.ones((3, 4)))
    with pytest.raises(ValueError, match="different values"):
        write_volume(path, "/g/w", np.ones((3, 4)), {"y": np.arange(3.0) + 1, "x": np.arange(4.0)})


def test_root_level_volume(tmp_path):
    path = tmp_path / "root.h5"
    write_volume(path, "v", np.arange(12.0).reshape(3, 4), {"a": [1.0, 2, 3], "b": [0.0, 1, 2, 4]})
    with open_volume(path) as vol:
        assert vol.name == "/v" and vol.dims == ("a", "b")
        assert not vol.is_uniform("b") and vol.is_uniform("a")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds["v"].values, np.arange(12.0).reshape(3, 4))


def test_nexusformat_reader_sees_the_same_axes(model_file):
    nexus = pytest.importorskip("nexusformat.nexus")
    path, data, edges = model_file
    root = nexus.nxload(str(path))
    try:
        plot = root.plottable_data
        assert plot.nxsignal.nxname == "sigma"
        assert [a.nxname for a in plot.nxaxes] == ["z", "y", "x"]
        np.testing.assert_array_equal(plot.nxsignal.nxdata, data)
        with open_volume(path) as vol:
            for axis in plot.nxaxes:
                np.testing.assert_allclose(axis.nxdata, vol.coords[axis.nxname])
    finally:
        root.nxfile.close()


def test_netcdf_c_library_reads_what_we_write(tmp_path):
    netCDF4 = pytest.importorskip("netCDF4")
    path = tmp_path / "nc.h5"
    edges = np.array([0.0, 5, 8, 10, 12, 14, 17, 22])
    data = np.random.default_rng(3).random((4, 5, 7)).astype("f4")
    write_volume(path, "/model/sigma", data, {"z": [0.0, 1, 2, 4], "y": None, "x": edges}, units="S/m")
    with netCDF4.Dataset(path) as nc:
        var = nc["model"]["sigma"]
        assert var.dimensions == ("z", "y", "x")
        assert var.units == "S/m"
        np.testing.assert_array_equal(var[:], data)
        np.testing.assert_allclose(nc["model"]["x"][:], 0.5 * (edges[1:] + edges[:-1]))
        assert "y" not in nc["model"].variables or nc["model"]["y"].size == 5  # index dimension only
    with xr.open_dataset(path, group="model", engine="netcdf4") as ds:
        assert ds["sigma"].dims == ("z", "y", "x")
        np.testing.assert_allclose(ds["z"].values, [0, 1, 2, 4])


def test_create_volume_streams_slabs(tmp_path):
    from hpcdash.data import create_volume

    path = tmp_path / "stream.h5"
    full = np.arange(16 * 6 * 5, dtype="f4").reshape(16, 6, 5)
    coords = {"z": np.linspace(-150, 0, 17), "y": np.arange(6.0), "x": None}  # z given as edges
    with create_volume(path, "/run/big", full.shape, "f4", coords, {"note": "streamed"}, units="S/m",
                       chunks=(4, 6, 5), compression="gzip", coord_units={"z": "m"}) as dset:
        for z0 in range(0, 16, 4):
            dset[z0:z0 + 4] = full[z0:z0 + 4]
        dset.attrs["actual_range"] = [float(full.min()), float(full.max())]
    with open_volume(path) as vol:
        assert vol.name == "/run/big" and vol.units == "S/m" and vol.attrs["note"] == "streamed"
        np.testing.assert_allclose(vol.edges("z"), np.linspace(-150, 0, 17))
        np.testing.assert_array_equal(vol.slice("y", 2).values, full[:, 2])
        assert vol.value_range() == (0.0, float(full.max()))
    with xr.open_dataset(path, engine="h5netcdf", group="run") as ds:
        np.testing.assert_array_equal(ds["big"].values, full)
