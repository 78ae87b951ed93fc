"""Fixtures for the explorer tests: a folder of real HDF5 files (good runs, bad input) and a served app.

Browser launch arguments, loopback-only routing and `console_errors` come from tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcdash.data import write_volume
from tests.conftest import REPO, Server, free_port, wait_for_http
from tests.ui.hdf5_files import NX, NY, NZ, grid, model, write_bad_files, write_run


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A root folder: runs a.h5 / b.h5 (same grid), c.h5 (other grid), multi.h5 (two datasets),
    bad/ (bad input), demo/ (two demo runs, 128^3) and outside/ next to the root (must stay unreachable)."""
    base = tmp_path_factory.mktemp("explorer")
    root = base / "root"
    root.mkdir()
    write_run(root / "a.h5", 1, 10.0)
    write_run(root / "b.h5", 2, 100.0)
    write_run(root / "c.h5", 3, 1000.0, shape=(NZ, NY + 2, NX))
    multi = write_run(root / "multi.h5", 4, 1.0)
    write_volume(multi, "/model/resistivity", 1 / model(4), grid(), units="ohm m",
                 coord_units={"z": "m", "y": "m", "x": "m"})
    write_bad_files(root / "bad")
    outside = base / "outside"
    outside.mkdir()
    write_run(outside / "secret.h5", 9, 1.0)
    os.symlink(outside / "secret.h5", root / "link_out.h5")
    os.symlink(outside, root / "dir_out")
    return root


@pytest.fixture(scope="session")
def demo_runs(data_root: Path) -> list[str]:
    """Two demo runs (hpcdash.sim.write_demo_runs, 128^3 padded tensor mesh) inside the data root,
    as paths relative to it."""
    from hpcdash.sim import write_demo_runs

    paths = write_demo_runs(data_root / "demo", n_runs=2)
    return [Path(p).relative_to(data_root).as_posix() for p in paths]


def _serve(argv: list[str], log: Path, env: dict | None = None, path: str = "/") -> Iterator[Server]:
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, **(env or {})})
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for_http(server.url + path, None, 120)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hpcdash_server(data_root: Path, demo_runs: list[str], tmp_path_factory) -> Iterator[Server]:
    """`hpcdash serve --root <data_root>` with no files: every test opens its view through the URL query."""
    log = tmp_path_factory.mktemp("hpcdash-serve") / "server.log"
    yield from _serve([sys.executable, "-m", "hpcdash", "serve", "--root", str(data_root), "--port", "{port}"],
                      log)
