"""Demo runs and the big benchmark volume: content, conventions, atomic appearance."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from hpcdash.data import find_volumes, open_volume
from hpcdash.sim import write_big_volume, write_demo_runs
from hpcdash.sim.demo import BIG_ANOMALIES, big_field_profiles


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, write_demo_runs(out)


def test_demo_runs_are_three_128_cubed_chunked_files(demo_runs):
    out, paths = demo_runs
    assert len(paths) == 3 and all(p.parent == out and p.suffix == ".h5" for p in paths)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)  # no temporaries
    for path in paths:
        infos = find_volumes(path)
        default = [i for i in infos if i.is_default]
        assert [i.name for i in default] == ["/model/log10_conductivity"]
        assert {i.name for i in infos} == {"/model/log10_conductivity", "/model/conductivity"}
        for info in infos:
            assert info.shape == (128, 128, 128) and info.dtype == "float32"
            assert info.chunks == (32, 32, 32) and info.dims == ("z", "y", "x")
        units = {i.name: i.units for i in infos}
        assert units == {"/model/log10_conductivity": "log10(S/m)", "/model/conductivity": "S/m"}


def test_demo_mesh_has_uniform_core_and_geometric_padding(demo_runs):
    _, paths = demo_runs
    with open_volume(paths[0]) as vol:
        assert vol.coord_units == {"z": "m", "y": "m", "x": "m"}
        for dim in ("x", "y", "z"):
            assert not vol.is_uniform(dim)
            widths = np.diff(vol.edges(dim))
            core = widths == widths.min()
            assert core.sum() >= 100
            pad = widths[:12]  # padding on the low side grows away from the core
            np.testing.assert_allclose(pad[:-1] / pad[1:], 1.25)
        z_edges = vol.edges("z")
        assert z_edges[-1] == 0.0 and np.all(np.diff(z_edges) > 0)  # surface on top, z up


def test_demo_attributes_and_regularisation_trend(demo_runs):
    _, paths = demo_runs
    betas, misfits, roughness = [], [], []
    for path in paths:
        with h5py.File(path, "r") as f:
            ds = f["/model/log10_conductivity"]
            for key in ("survey", "beta", "phi_d", "phi_d_target", "iteration", "regularisation"):
                assert key in ds.attrs and key in f.attrs
            betas.append(float(ds.attrs["beta"]))
            misfits.append(float(ds.attrs["phi_d"]))
            data = ds[()]
            assert np.all(np.isfinite(data)) and -5 < data.min() < data.max() < 0.5
            np.testing.assert_allclose(f["/model/conductivity"][()], 10.0**data, rtol=1e-5)
            roughness.append(float(np.abs(np.diff(data, axis=2)).mean()))
    # larger beta: smoother model, worse data fit
    assert betas == sorted(betas) and len(set(betas)) == 3
    assert misfits == sorted(misfits)
    assert roughness == sorted(roughness, reverse=True)


def test_demo_readable_by_xarray(demo_runs):
    _, paths = demo_runs
    with xr.open_dataset(paths[1], engine="h5netcdf", group="model") as ds:
        da = ds["log10_conductivity"]
        assert da.dims == ("z", "y", "x") and da.attrs["units"] == "log10(S/m)"
        assert float(ds["z"][-1]) < 0 and "bounds" in ds["z"].attrs


def test_demo_small_shape_and_true_model(tmp_path):
    paths = write_demo_runs(tmp_path, n_runs=4, shape=(40, 48, 56), chunks=(16, 16, 16), include_true=True)
    assert len(paths) == 5 and paths[-1].name == "true_model.h5"
    with open_volume(paths[0]) as vol:
        assert vol.shape == (40, 48, 56)
    with pytest.raises(ValueError):
        write_demo_runs(tmp_path, n_runs=0)


def reference_field(n: int) -> np.ndarray:
    fz, fy, fx = big_field_profiles(n)
    t = np.arange(n, dtype=np.float64) / n
    field = fz[:, None, None] + fy[None, :, None] + fx[None, None, :]
    for amp, centre, width in BIG_ANOMALIES:
        g = [np.exp(-0.5 * ((t - c) / w) ** 2) for c, w in zip(centre, width, strict=True)]
        field = field + amp * g[0][:, None, None] * g[1][None, :, None] * g[2][None, None, :]
    return field


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_big_volume_written_in_blocks_matches_the_field(tmp_path, compression):
    n = 96
    path = write_big_volume(
        tmp_path / "big.h5", n=n, chunks=(32, 32, 32), compression=compression, block_bytes=32 * 32 * n * 4
    )  # blocks of 32 rows: 3 x 3 blocks
    assert [p.name for p in tmp_path.iterdir()] == ["big.h5"]
    expected = reference_field(n)
    infos = find_volumes(path)
    assert len(infos) == 1 and infos[0].is_default and infos[0].name == "/volume/log10_conductivity"
    assert infos[0].chunks == (32, 32, 32) and infos[0].compression == (
        None if compression is None else "shuffle+gzip"
    )
    with open_volume(path) as vol:
        assert vol.dims == ("z", "y", "x") and vol.units == "log10(S/m)"
        assert all(vol.is_uniform(d) for d in vol.dims)
        np.testing.assert_allclose(np.diff(vol.coords["x"]), 10.0)
        assert vol.coords["z"][-1] == -5.0
        lo, hi = vol.value_range()
    with h5py.File(path, "r") as f:
        data = f["/volume/log10_conductivity"][()]
    np.testing.assert_allclose(data, expected, atol=2e-3)
    assert (lo, hi) == (float(data.min()), float(data.max()))
    # a different block size writes the same values
    other = write_big_volume(tmp_path / "other.h5", n=n, chunks=(32, 32, 32), compression=compression)
    with h5py.File(other, "r") as f:
        np.testing.assert_array_equal(f["/volume/log10_conductivity"][()], data)


def test_big_volume_gzip_edge_chunks_equal_uncompressed(tmp_path):
    # 40 is not a multiple of 16: edge chunks are padded when deflated by hand
    plain = write_big_volume(tmp_path / "plain.h5", n=40, chunks=(16, 16, 16))
    packed = write_big_volume(tmp_path / "packed.h5", n=40, chunks=(16, 16, 16), compression="gzip")
    with h5py.File(plain, "r") as a, h5py.File(packed, "r") as b:
        ds = b["/volume/log10_conductivity"]
        assert ds.compression == "gzip" and ds.shuffle
        np.testing.assert_array_equal(ds[()], a["/volume/log10_conductivity"][()])
