"""The compiled loop of :mod:`hpcdash.data.preads` (imported only when Numba is wanted).

Module level, so that Numba's disk cache finds it again in the next process (a function built inside
another function was compiled anew in every process).
"""

import numba
from numba import types

pread = types.ExternalFunction("pread", types.intp(types.int32, types.voidptr, types.uintp, types.int64))


@numba.njit(nogil=True, cache=True)
def read_runs(fd, offsets, targets, length, buf):  # pragma: no cover - compiled
    """pread ``length`` bytes at each ``offsets[k]`` into ``buf`` at ``targets[k]``; index of the first
    run the file could not fill, or -1."""
    base = buf.ctypes.data
    for k in range(offsets.size):
        done = 0
        while done < length:
            got = pread(fd, base + targets[k] + done, length - done, offsets[k] + done)
            if got <= 0:
                return k
            done += got
    return -1
