"""Many small positional reads of one file in a single call that runs outside the GIL.

A slice along the slowest axis of an uncompressed dataset chunked 64^3 is 64 pieces of
16 KiB (512^3) or 256 (1024^3), one per chunk. Read one by one with ``os.preadv``, each
read gives the GIL away and must win it back; when other threads run Python meanwhile
(other linked panes rasterizing, the server's event loop), every one of those hand-overs
can wait for the interpreter's switch interval, and four panes reading at once were
no faster than one after the other. :func:`read_runs` issues all the ``pread`` calls
of one slice from a Numba function compiled with ``nogil=True``: the GIL is released
once per slice, not once per piece.

Numba comes with Datashader (the explorer's rasterizer), but its first call in a
process costs about 0.8 s of start-up; :func:`load` compiles (or loads from Numba's
disk cache) the kernel and is called by the explorer's warm-up. Until it has run,
:func:`read_runs` reads with ``os.preadv`` in a Python loop, so the data layer alone
never pays that start-up on its first slice.
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

_kernel = None
_lock = threading.Lock()


def load() -> bool:
    """Compile or load the nogil kernel (once per process); False where Numba is unavailable."""
    global _kernel
    with _lock:
        if _kernel is None and sys.platform.startswith("linux"):
            try:
                from ._pread_kernel import read_runs as kernel

                kernel(-1, np.zeros(0, np.int64), np.zeros(0, np.int64), 0, np.zeros(1, np.uint8))
                _kernel = kernel
            except Exception:  # noqa: BLE001 - an optimisation: the Python loop reads the same bytes
                _kernel = False
        return bool(_kernel)


def read_runs(fd: int, offsets: np.ndarray, targets: np.ndarray, length: int, buf: np.ndarray) -> None:
    """Read ``length`` bytes at each file offset ``offsets[k]`` into ``buf`` at byte ``targets[k]``.

    ``buf`` must be C-contiguous and hold every target run. Raises OSError when the file ends
    before a run does (a truncated file): plain reads, so a short file is an error, not a signal.
    """
    offsets = np.ascontiguousarray(offsets, np.int64)
    targets = np.ascontiguousarray(targets, np.int64)
    raw = buf.reshape(-1).view(np.uint8)
    if offsets.size and (targets.min() < 0 or targets.max() + length > raw.size):
        raise ValueError("a run does not fit in the buffer")
    kernel = _kernel
    if kernel:
        bad = kernel(fd, offsets, targets, int(length), raw)
        if bad >= 0:
            raise OSError(f"short read at byte {int(offsets[bad])}: the file ends early")
        return
    for off, tgt in zip(offsets.tolist(), targets.tolist(), strict=True):
        got = os.preadv(fd, [raw[tgt:tgt + length]], off)
        if got != length:
            raise OSError(f"short read at byte {off}: the file ends early")
