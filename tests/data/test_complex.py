"""Complex values (frequency-domain fields): a slice shows their amplitude, phase, real or imaginary
part, in files written by h5py, netCDF4-python and h5netcdf; a pane of the explorer switches between
them (the browser's side: tests/ui/test_browser.py)."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcdash.data import find_volumes, open_volume

SHAPE = (4, 5, 6)


def _field() -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.normal(size=SHAPE) + 1j * rng.normal(size=SHAPE)).astype(np.complex64)


def _write_h5py(path: Path, values: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("e_x", data=values, chunks=(2, 5, 6))
        ds.attrs["units"] = "V/m"
        ds.attrs["long_name"] = "electric field x"


def _write_netcdf4(path: Path, values: np.ndarray) -> None:
    import netCDF4

    with netCDF4.Dataset(path, "w", auto_complex=True) as nc:
        for d, n in zip("zyx", values.shape, strict=True):
            nc.createDimension(d, n)
            nc.createVariable(d, "f8", (d,))[:] = np.arange(n) * 10.0
        var = nc.createVariable("e_x", np.complex128, ("z", "y", "x"))
        var.units, var.long_name = "V/m", "electric field x"
        var[:] = values


def _write_h5netcdf(path: Path, values: np.ndarray) -> None:
    import h5netcdf

    with h5netcdf.File(path, "w", invalid_netcdf=True) as nc:  # complex is an HDF5 type, not netCDF-4's
        nc.dimensions = dict(zip("zyx", values.shape, strict=True))
        for d, n in zip("zyx", values.shape, strict=True):
            nc.create_variable(d, (d,), "f8", data=np.arange(n) * 10.0)
        var = nc.create_variable("e_x", ("z", "y", "x"), np.complex64, data=values)
        var.attrs["units"], var.attrs["long_name"] = "V/m", "electric field x"


@pytest.mark.parametrize("writer", [_write_h5py, _write_netcdf4, _write_h5netcdf])
def test_each_part_of_complex_values(tmp_path, writer):
    values = _field()
    path = tmp_path / "fdem.h5"
    writer(path, values)
    assert [i.name for i in find_volumes(path)] == ["/e_x"]
    with open_volume(path, "/e_x") as vol:
        assert vol.is_complex and vol.part == "amplitude"  # the default
        expected = {"amplitude": np.abs(values[2]), "phase": np.degrees(np.angle(values[2])),
                    "real": values[2].real, "imaginary": values[2].imag}
        ranges = {}
        for part, want in expected.items():
            vol.part = part
            da = vol.slice(0, 2)
            assert da.dtype.kind == "f"
            np.testing.assert_allclose(da.values, want, rtol=1e-5, atol=1e-5)
            ranges[part] = vol.value_range("exact")
        assert vol.units == "V/m" and vol.long_name == "imaginary part of electric field x"
    with open_volume(path, "/e_x", part="phase") as vol:
        assert vol.part == "phase" and vol.units == "deg" and vol.long_name == "phase of electric field x"
        assert vol.slice(0, 2).attrs == {"units": "deg", "long_name": "phase of electric field x"}
        assert -180 <= ranges["phase"][0] < 0 < ranges["phase"][1] <= 180
        vol.part = "imaginary"
        assert vol.units == "V/m" and vol.long_name == "imaginary part of electric field x"
    # each part has its own whole-volume range
    assert ranges["amplitude"][0] >= 0 and ranges["real"] != ranges["imaginary"]
    assert ranges["amplitude"][1] == pytest.approx(float(np.abs(values).max()), rel=1e-5)


def test_a_part_that_is_none_of_them_is_refused_and_real_data_has_none(tmp_path):
    path = tmp_path / "fdem.h5"
    _write_h5py(path, _field())
    with h5py.File(path, "a") as f:
        f["sigma"] = np.ones(SHAPE, "f4")
    with pytest.raises(ValueError, match="Unknown part of complex values 'modulus'"):
        open_volume(path, "/e_x", part="modulus")
    with open_volume(path, "/e_x") as vol, pytest.raises(ValueError, match="choose one of amplitude, phase"):
        vol.part = "modulus"
    with open_volume(path, "/sigma", part="phase") as vol:
        assert not vol.is_complex and vol.part is None
        vol.part = "phase"  # nothing to choose: ignored
        assert vol.part is None and vol.units is None


def test_complex_fill_values_show_as_missing(tmp_path):
    values = _field()
    values[1, 2, 3] = -9999 + 0j
    path = tmp_path / "filled.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("e_x", data=values).attrs["_FillValue"] = np.float32(-9999)
    with open_volume(path) as vol:
        for part in ("amplitude", "phase", "real", "imaginary"):
            vol.part = part
            shown = vol.slice(0, 1).values
            assert np.isnan(shown[2, 3]) and np.isfinite(np.delete(shown.ravel(), 2 * 6 + 3)).all(), part


def test_a_pane_of_complex_values_switches_part_and_keeps_it_in_its_link(tmp_path):
    from hpcdash.explorer.state import ExplorerState, SliceState

    values = _field()
    _write_h5py(tmp_path / "f1.h5", values)
    _write_h5py(tmp_path / "f2.h5", values * 2)
    with h5py.File(tmp_path / "sigma.h5", "w") as f:
        f["sigma"] = np.arange(np.prod(SHAPE), dtype="f4").reshape(SHAPE)
    s = SliceState(str(tmp_path / "f1.h5"), index=2)
    assert s.is_complex and s.part == "amplitude" and s.error == "" and s.notice == ""
    np.testing.assert_allclose(s.data.values, np.abs(values[2]), rtol=1e-6)
    s.part = "phase"
    np.testing.assert_allclose(s.data.values, np.degrees(np.angle(values[2])), rtol=1e-5, atol=1e-4)
    assert -180 <= s.clim[0] < 0 < s.clim[1] <= 180 and s.quantity == "deg"
    # the link and the exports say which part
    query = s.to_query()
    assert query["part"] == "phase"
    assert SliceState.settings_from_query(query)["part"] == "phase"
    assert "part" not in SliceState.settings_from_query({**query, "part": "<b>modulus</b>"})
    assert s.export_stem() == "f1_dim_03_phase"
    s.exported("npy", "f1_dim_03_phase.npy", b"x")
    assert s.last_export["part"] == "phase"

    ex = ExplorerState(["f1.h5", "f2.h5", "sigma.h5"], root=str(tmp_path), link=True)
    a, b, real = ex.panes
    assert [p.is_complex for p in ex.panes] == [True, True, False]
    assert "part" not in real.to_query() and real.export_stem() == "sigma_dim_03"
    reads = ex.loader.reads
    a.part = "real"
    assert b.part == "real"  # the linked pane of complex values follows
    np.testing.assert_allclose(b.data.values, (values * 2)[b.index].real, rtol=1e-6)
    assert a.clim == b.clim  # one quantity (V/m): one colour range
    assert ex.loader.reads - reads == 2  # the real-valued pane is not read again
    np.testing.assert_allclose(real.data.values, np.arange(np.prod(SHAPE)).reshape(SHAPE)[real.index])
    b.part = "phase"
    assert a.part == "phase" and a.quantity == b.quantity == "deg" and real.quantity == ""
    # a pane opened with Link on takes the lead's part
    c = ex.open("f2.h5", part="imaginary")
    assert c.part == "phase"
    np.testing.assert_allclose(c.data.values, np.degrees(np.angle((values * 2)[c.index])), rtol=1e-5, atol=1e-4)


def test_a_comparison_needs_the_same_part_in_both_runs(tmp_path):
    from hpcdash.explorer.state import ExplorerState

    values = _field()
    _write_h5py(tmp_path / "f1.h5", values)
    _write_h5py(tmp_path / "f2.h5", values * 2)
    with h5py.File(tmp_path / "sigma.h5", "w") as f:
        f["e_x"] = np.ones(SHAPE, "f4")
    ex = ExplorerState(["f1.h5", "f2.h5", "sigma.h5"], root=str(tmp_path), link=False)
    a, b, real = ex.panes
    ex.compare = "difference"
    assert ex.comparison is not None and ex.comparison_error == ""
    np.testing.assert_allclose(ex.comparison.values, np.abs(values[a.index]) - np.abs(2 * values[b.index]),
                               rtol=1e-5, atol=1e-5)
    b.part = "phase"
    assert ex.comparison is None
    assert ex.comparison_error == ("A shows the amplitude of its complex values and B the phase of its complex "
                                   "values: choose the same Complex part in both to compare them.")
    a.part = "phase"
    assert ex.comparison is not None and ex.comparison_error == ""
    ex.param.update(compare_a=0, compare_b=2)
    assert "B real values" in ex.comparison_error
