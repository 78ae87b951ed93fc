"""Fixtures for the data-layer tests: real HDF5 files written by h5py, netCDF4 and h5netcdf."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcdash.data import cache as cache_mod
from hpcdash.data import write_volume


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch) -> Iterator[cache_mod.SlabCache]:
    """Every test gets a slab cache of its own: empty, 256 MiB, zeroed stats, no users (a volume an
    earlier test left open would count among the process-wide cache's users and raise its limit)."""
    old = cache_mod.slab_cache()
    cache = cache_mod.SlabCache(256 * 2**20, old.max_bytes)
    monkeypatch.setattr(cache_mod, "_CACHE", cache)
    yield cache
    cache.clear()


def tensor_axis(n_core: int, h: float, n_pad: int, factor: float, start: float = 0.0) -> np.ndarray:
    """Cell edges of a tensor-mesh axis: uniform core cells with geometric padding on both sides."""
    pad = h * factor ** np.arange(1, n_pad + 1)
    widths = np.concatenate([pad[::-1], np.full(n_core, h), pad])
    return start + np.concatenate([[0.0], np.cumsum(widths)]) - widths[:n_pad].sum()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def model_file(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray, dict]:
    """A 3-D model written by write_volume on a non-uniform tensor mesh (edges given)."""
    edges = {
        "z": tensor_axis(12, 25.0, 4, 1.4, start=-300.0),
        "y": tensor_axis(16, 50.0, 3, 1.3),
        "x": tensor_axis(20, 50.0, 3, 1.3),
    }
    shape = tuple(len(e) - 1 for e in edges.values())
    data = rng.normal(-2, 0.5, size=shape).astype("f4")
    path = tmp_path / "model.h5"
    write_volume(path, "/model/sigma", data, edges, units="S/m", long_name="conductivity",
                 coord_units={"z": "m", "y": "m", "x": "m"}, chunks=(8, 8, 8), mode="w")
    return path, data, edges


@contextlib.contextmanager
def index_of_whole_bytes_of_half(path: Path, name: str = "v") -> Iterator[tuple[h5py.Dataset, int]]:
    """The dataset `name` of the HDF5 file `path` (its chunk index whole) and a descriptor of a copy
    of the file cut in half beside it (``cut.h5``): a reader built from both meets a file that ends
    before the pieces it was told of (a job truncated it)."""
    full = path.read_bytes()
    cut = path.with_name("cut.h5")
    cut.write_bytes(full[: len(full) // 2])
    with h5py.File(path, "r") as f:
        fd = os.open(cut, os.O_RDONLY)
        try:
            yield f[name], fd
        finally:
            os.close(fd)
