"""Real HDF5 files for the explorer tests: runs on a padded tensor mesh and bad input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from hpcdash.data import write_volume

NZ, NY, NX = 12, 16, 20


def tensor_centres(n_core: int, h: float, n_pad: int, factor: float, start: float) -> np.ndarray:
    """Cell centres of a padded tensor-mesh axis (uniform core, geometric padding both sides)."""
    pad = h * factor ** np.arange(1, n_pad + 1)
    widths = np.concatenate([pad[::-1], np.full(n_core, h), pad])
    edges = start + np.concatenate([[0.0], np.cumsum(widths)])
    return (edges[1:] + edges[:-1]) / 2


def grid(nz: int = NZ, ny: int = NY, nx: int = NX) -> dict[str, np.ndarray]:
    """z (uniform, negative down), y (uniform), x (non-uniform: padded tensor axis), metres."""
    return {
        "z": -np.arange(nz, dtype=float) * 25.0 - 12.5,
        "y": np.arange(ny, dtype=float) * 10.0,
        "x": tensor_centres(nx - 6, 10.0, 3, 1.5, -100.0),
    }


def model(seed: int, shape=(NZ, NY, NX)) -> np.ndarray:
    """A smooth positive field that differs from run to run and from slice to slice."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij")
    field = 0.01 * (1 + z) * np.exp(np.sin(6 * x + seed) * np.cos(5 * y + 3 * z))
    return (field * (1 + 0.05 * rng.standard_normal(shape))).astype(np.float32)


def write_run(path: Path, seed: int, beta: float, coords=None, shape=(NZ, NY, NX)) -> Path:
    coords = coords or grid(*shape)
    write_volume(path, "/model/conductivity", model(seed, shape), coords, {"beta": beta, "survey": "unit <b>test</b>"},
                 units="S/m", long_name="electrical conductivity",
                 coord_units={"z": "m", "y": "m", "x": "m"}, chunks=True, mode="w")
    return path


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Files that must give a clear message: not HDF5, truncated, 1-D, strings, all-NaN, constant,
    broken external link, a compression filter this installation does not have."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    out["not_hdf5"] = folder / "notes.h5"
    out["not_hdf5"].write_text("these are my notes, not an HDF5 file\n")
    good = write_run(folder / "whole.h5", 7, 1.0)
    data = good.read_bytes()
    out["truncated"] = folder / "truncated.h5"
    out["truncated"].write_bytes(data[: len(data) // 3])
    out["one_d"] = folder / "one_d.h5"
    with h5py.File(out["one_d"], "w") as f:
        f["profile"] = np.arange(10.0)
    out["strings"] = folder / "strings.h5"
    with h5py.File(out["strings"], "w") as f:
        f.create_dataset("names", data=np.array([[b"a", b"b"], [b"c", b"d"]]))
    out["all_nan"] = folder / "all_nan.h5"
    write_volume(out["all_nan"], "/v", np.full((4, 5, 6), np.nan, np.float32),
                 {"z": np.arange(4.0), "y": np.arange(5.0), "x": np.arange(6.0)}, mode="w")
    out["constant"] = folder / "constant.h5"
    write_volume(out["constant"], "/v", np.full((4, 5, 6), 3.0, np.float32),
                 {"z": np.arange(4.0), "y": np.arange(5.0), "x": np.arange(6.0)}, mode="w")
    out["broken_link"] = folder / "broken_link.h5"
    with h5py.File(out["broken_link"], "w") as f:
        f["model"] = h5py.ExternalLink("missing_file.h5", "/data")
    out["unknown_filter"] = folder / "unknown_filter.h5"
    with h5py.File(out["unknown_filter"], "w") as f:  # HDF5 filter id 32999: registered by nobody
        ds = f.create_dataset("v", shape=(4, 4, 4), dtype="f4", chunks=(4, 4, 4), compression=32999,
                              allow_unknown_filter=True)
        ds.id.write_direct_chunk((0, 0, 0), b"\x00" * 64)
    out["evil_name"] = folder / "evil.h5"
    write_volume(out["evil_name"], "/<script>alert(1)</script>", model(3), grid(), {"note": "<img src=x onerror=alert(2)>"},
                 coord_units={"z": "m<b>!</b>", "y": "m", "x": "m"}, mode="w")
    return out


#: A run in time: 4 time steps (seconds) of a z, y, x volume; dims come from dimension scales.
NT = 4


def times(nt: int = NT) -> np.ndarray:
    return np.arange(nt, dtype=float) * 0.5


def model_4d(seed: int, nt: int = NT) -> np.ndarray:
    """(t, z, y, x) values that differ at every time step: step k is model(seed + k) scaled by k + 1."""
    return np.stack([model(seed + k) * (k + 1) for k in range(nt)]).astype(np.float32)


def write_run_4d(path: Path, seed: int, names: tuple[str, ...] = ("t", "z", "y", "x"), nt: int = NT) -> Path:
    """A 4-D dataset /model/conductivity with h5py dimension scales: the time axis first (units s),
    then z, y, x (units m) as in `grid()`. `names` renames the dims (a name may be any text)."""
    data = model_4d(seed, nt)
    values = [times(nt), *grid().values()]
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("/model/conductivity", data=data, chunks=(1, 4, NY, NX))
        ds.attrs["units"] = "S/m"
        for i, (name, v, units) in enumerate(zip(names, values, ("s", "m", "m", "m"), strict=True)):
            scale = f.create_dataset(f"/model/{name}", data=v)
            scale.attrs["units"] = units
            scale.make_scale(name)
            ds.dims[i].attach_scale(scale)
    return path


#: A small model whose storage order varies (orientation tests): (z, y, x) cell centres, metres.
ORIENT_Z = -5.0 - 10.0 * np.arange(6)  # elevation, from the surface down
ORIENT_Y = 100.0 + 20.0 * np.arange(8)
ORIENT_X = -100.0 + 20.0 * np.arange(10)


def zyx_model() -> np.ndarray:
    """(z, y, x) values, each one different, so that any transposition or mirroring shows."""
    return np.arange(6 * 8 * 10, dtype=np.float32).reshape(6, 8, 10)


def write_ordered(path: Path, order: str, names: dict[str, str] | None = None,
                  attrs: dict[str, dict] | None = None, z: np.ndarray = ORIENT_Z,
                  model: np.ndarray | None = None) -> Path:
    """The model of `zyx_model` (or `model`, (z, y, x) too) stored with its dims in `order` (a
    permutation of "zyx"), h5py dimension scales named `names` (default: z, y, x) carrying `attrs`,
    `z` the vertical one's values."""
    names = names or {}
    coords = {"z": z, "y": ORIENT_Y, "x": ORIENT_X}
    values = (zyx_model() if model is None else model).transpose(["zyx".index(d) for d in order])
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("sigma", data=values)
        ds.attrs["units"] = "S/m"
        for i, d in enumerate(order):
            name = names.get(d, d)
            scale = f.create_dataset(name, data=coords[d])
            scale.attrs["units"] = "m"
            for k, v in (attrs or {}).get(d, {}).items():
                scale.attrs[k] = v
            scale.make_scale(name)
            ds.dims[i].attach_scale(scale)
    return path
