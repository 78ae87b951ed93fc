"""Compiled Jacobi-preconditioned conjugate gradients for a symmetric matrix with a few constant
diagonal offsets (the 7-point finite-volume stencil of :mod:`hpcdash.sim.dc`: offsets 1, nx, nx*ny).

The matrix is kept as its main diagonal and one array per upper off-diagonal, and each iteration
makes three passes over the vectors (product and p.Ap; x, r and the two dot products; the new
direction). Against the CSR product with numpy vector operations it moves less than half the
bytes per iteration (no column indices, no temporaries) and its working set is about half as
large, so two solves running side by side on two cores no longer push each other out of the
shared cache. Module level, so that Numba's disk cache finds it again in the next process.
"""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def banded_pcg(diag, offsets, upper, b, rtol, maxiter):  # pragma: no cover - compiled
    """Solve ``A x = b`` for the symmetric ``A`` with ``A[i, i] = diag[i]`` and ``A[i, i + o] =
    A[i + o, i] = upper[k, i]`` for ``o = offsets[k]`` (``upper[k, n - o:]`` is not read). Returns
    ``(x, iterations)``; iterations is -1 when ``||b - A x|| <= rtol ||b||`` was not reached in
    ``maxiter`` iterations."""
    n = b.size
    m = offsets.size
    x = np.zeros(n)
    r = b.copy()
    inv = 1.0 / diag
    p = np.empty(n)
    ap = np.empty(n)
    bb = 0.0
    rz = 0.0
    for i in range(n):
        p[i] = inv[i] * r[i]
        bb += r[i] * r[i]
        rz += r[i] * p[i]
    if bb == 0.0:
        return x, 0
    limit = rtol * rtol * bb
    for it in range(maxiter):
        pap = 0.0
        for i in range(n):
            s = diag[i] * p[i]
            for k in range(m):
                o = offsets[k]
                if i + o < n:
                    s += upper[k, i] * p[i + o]
                if i >= o:
                    s += upper[k, i - o] * p[i - o]
            ap[i] = s
            pap += p[i] * s
        alpha = rz / pap
        rr = 0.0
        rz_new = 0.0
        for i in range(n):
            x[i] += alpha * p[i]
            ri = r[i] - alpha * ap[i]
            r[i] = ri
            rr += ri * ri
            rz_new += inv[i] * ri * ri
        if rr <= limit:
            return x, it + 1
        beta = rz_new / rz
        rz = rz_new
        for i in range(n):
            p[i] = inv[i] * r[i] + beta * p[i]
    return x, -1
