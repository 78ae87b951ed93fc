"""Files a running job is writing, opened while it writes: in SWMR mode (HDF5's single writer, many
readers), and by a writer of the newest file format that has it open otherwise (or ended without
closing it). Real writer processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpcdash.data import FileBusyError, open_volume

#: An inversion-like writer: one (z, y, x) model per iteration appended to /model, flushed; it says
#: "wrote k" after each and waits for a line on stdin before the next (an empty line: close and end).
WRITER = r"""
import sys
import h5py
import numpy as np

path, mode = sys.argv[1], sys.argv[2]
f = h5py.File(path, "w", libver="latest")
ds = f.create_dataset("model", shape=(0, 4, 5, 6), maxshape=(None, 4, 5, 6), chunks=(1, 4, 5, 6), dtype="f4")
if mode == "swmr":
    f.swmr_mode = True
k = 0
while True:
    ds.resize(k + 1, axis=0)
    ds[k] = np.full((4, 5, 6), k, "f4")
    f.flush()
    print("wrote", k, flush=True)
    if not sys.stdin.readline().strip():
        break
    k += 1
f.close()
print("closed", flush=True)
"""


def _writer(path: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "wrote 0"
    return proc


def _next(proc: subprocess.Popen, line: str = "go") -> str:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def test_a_file_written_in_swmr_mode_is_shown_while_the_job_writes(tmp_path):
    from hpcdash.explorer.state import SliceState

    path = tmp_path / "swmr.h5"
    proc = _writer(path, "swmr")
    try:
        with open_volume(path) as vol:
            assert vol.shape == (1, 4, 5, 6) and float(vol.slice(1, 2).values.mean()) == 0.0
        pane = SliceState(str(path), root=str(tmp_path))
        assert pane.error == "" and pane.held == {"dim_0": 0}
        assert _next(proc) == "wrote 1"
        assert _next(proc) == "wrote 2"
        assert pane.check_changed()
        pane.reload()  # at the newest iteration, it stays at the newest
        assert pane.error == "" and pane.held == {"dim_0": 2} and float(pane.data.values.mean()) == 2.0
        pane.held = {"dim_0": 1}
        assert _next(proc) == "wrote 3"
        pane.reload()  # at an older one, it stays there
        assert pane.held == {"dim_0": 1} and pane.readout.endswith("dim_0: slice 2 of 4")
        assert _next(proc) == "wrote 4"
        pane.index = 1  # a step reads the file again, as it is now
        assert pane.error == "" and pane.readout.endswith("dim_0: slice 2 of 5") and "opened again" in pane.notice
        pane.held = {"dim_0": 4}  # back at the newest: a step keeps it there
        assert _next(proc) == "wrote 5"
        pane.index = 2
        assert pane.held == {"dim_0": 5} and pane.readout.endswith("dim_0: slice 6 of 6")
        assert float(pane.data.values.mean()) == 5.0
    finally:
        assert _next(proc, "") == "closed"
        proc.wait(timeout=30)


def test_a_file_open_for_writing_otherwise_says_so_and_opens_once_closed(tmp_path):
    """...and a pane a link opened on it then opens, on Reload, at the place the link asked for."""
    from hpcdash.explorer.state import SliceState

    path = tmp_path / "busy.h5"
    proc = _writer(path, "plain")
    try:
        with pytest.raises(FileBusyError, match=r"^'busy.h5' is open for writing by another program \(a job"):
            open_volume(path)
        pane = SliceState(str(path), root=str(tmp_path), axis="dim_3", index=4)
        assert "is open for writing by another program" in pane.error and pane.data is None
    finally:
        assert _next(proc, "") == "closed"
        proc.wait(timeout=30)
    with open_volume(path) as vol:
        np.testing.assert_array_equal(vol.slice(0, 0).values, np.zeros((5, 6), "f4"))
    assert pane.reload() and pane.error == ""
    assert (pane.axis, pane.index) == ("dim_3", 4) and pane.data.shape == (4, 5)
