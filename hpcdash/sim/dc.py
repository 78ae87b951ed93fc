"""DC resistivity forward modelling: a cell-centred finite-volume solver on a :class:`TensorMesh`.

Solves ``div(sigma grad phi) = -I delta(r - r_s)`` for the electric potential ``phi`` (volts) of a
point current source of ``I`` amperes in a conductivity model ``sigma`` (S/m, one value per cell).

Discretisation (integrated over each cell, so every row states Kirchhoff's law for one cell):

* fluxes through interior faces use the series (harmonic, width-weighted) average of the two cells'
  conductivities: ``T = A / (h_a / (2 sigma_a) + h_b / (2 sigma_b))``;
* the top of the mesh is the air-earth surface z = 0: no current flows into the air (Neumann);
* the other five sides are far away in the padding: either ``phi = 0`` (``bc="dirichlet"``) or the
  mixed (Robin) condition ``d phi / dn = -(r_hat . n) phi / r`` that a 1/r potential satisfies
  (``bc="mixed"``, the default; it lets a modest amount of padding behave like infinity);
* the source current is shared among the eight cell centres around the source by trilinear weights
  (a source at the surface lands in the top layer of cells).

The system matrix is symmetric positive definite; it is solved with preconditioned conjugate
gradients (Jacobi) or, for small meshes, with SuperLU.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from hpcdash.sim.mesh import TensorMesh


class SolverError(RuntimeError):
    """The linear solver did not converge."""


def halfspace_potential(r: np.ndarray | float, sigma: float, current: float = 1.0) -> np.ndarray:
    """Potential (V) at distance ``r`` (m) from a point source of ``current`` (A) on the surface of a
    uniform half-space of conductivity ``sigma`` (S/m): ``I / (2 pi sigma r)``."""
    return current / (2.0 * np.pi * sigma * np.asarray(r, dtype=float))


def _face_areas(mesh: TensorMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face areas normal to array axes 0 (z), 1 (y), 2 (x), broadcastable to (nz, ny, nx)."""
    hz, hy, hx = mesh.hz[:, None, None], mesh.hy[None, :, None], mesh.hx[None, None, :]
    return hy * hx, hz * hx, hz * hy


def _widths(mesh: TensorMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return mesh.hz[:, None, None], mesh.hy[None, :, None], mesh.hx[None, None, :]


def assemble_operator(
    mesh: TensorMesh,
    sigma: np.ndarray,
    source_location: Sequence[float] = (0.0, 0.0, 0.0),
    bc: str = "mixed",
) -> sp.csr_matrix:
    """The finite-volume matrix ``A`` (S) with ``A @ phi = q``, ``q`` the current (A) put into each cell.

    ``sigma`` has shape ``(nz, ny, nx)``. ``bc`` is ``"mixed"`` or ``"dirichlet"`` for the five buried
    sides; ``source_location`` (x, y, z) in metres sets the direction used by the mixed condition.
    """
    sigma = np.asarray(sigma, dtype=float)
    shape = mesh.shape_cells
    if sigma.shape != shape:
        raise ValueError(f"sigma has shape {sigma.shape}, the mesh has {shape} cells (nz, ny, nx)")
    if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        raise ValueError("sigma must be finite and positive everywhere")
    if bc not in ("mixed", "dirichlet"):
        raise ValueError("bc must be 'mixed' or 'dirichlet'")
    n = sigma.size
    index = np.arange(n).reshape(shape)
    areas = _face_areas(mesh)
    widths = _widths(mesh)
    diag = np.zeros(shape)
    rows, cols, vals = [], [], []

    for axis in range(3):
        h = np.broadcast_to(widths[axis], shape)
        area = np.broadcast_to(areas[axis], shape)
        half_res = h / (2.0 * sigma)  # (m / (S/m)) resistance-like half-cell term per unit area
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        t = area[lo] / (half_res[lo] + half_res[hi])
        diag[lo] += t
        diag[hi] += t
        rows += [index[lo].ravel(), index[hi].ravel()]
        cols += [index[hi].ravel(), index[lo].ravel()]
        vals += [-t.ravel(), -t.ravel()]

    # Buried boundaries: low and high sides in x and y, low side (bottom) in z. The top is Neumann.
    centers = mesh.cell_grid()
    nodes = (mesh.nodes("z"), mesh.nodes("y"), mesh.nodes("x"))
    src = (source_location[2], source_location[1], source_location[0])
    sides = [(0, 0)] + [(axis, side) for axis in (1, 2) for side in (0, 1)]
    for axis, side in sides:
        sel = [slice(None)] * 3
        sel[axis] = slice(0, 1) if side == 0 else slice(-1, None)
        sel = tuple(sel)
        h = np.broadcast_to(widths[axis], shape)[sel]
        area = np.broadcast_to(areas[axis], shape)[sel]
        s = sigma[sel]
        if bc == "dirichlet":
            t = 2.0 * s * area / h
        else:
            # face centre relative to the source; normal points out of the mesh
            rel = [np.broadcast_to(centers[a] - src[a], shape)[sel] for a in range(3)]
            rel[axis] = np.full_like(
                rel[axis], (nodes[axis][0] if side == 0 else nodes[axis][-1]) - src[axis]
            )
            r2 = rel[0] ** 2 + rel[1] ** 2 + rel[2] ** 2
            normal = -1.0 if side == 0 else 1.0
            alpha = np.maximum(normal * rel[axis], 0.0) / r2  # (r_hat . n) / r, 1/m
            t = s * area * alpha / (1.0 + alpha * h / 2.0)
        diag[sel] += t

    rows.append(index.ravel())
    cols.append(index.ravel())
    vals.append(diag.ravel())
    a = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()
    return a


def source_vector(mesh: TensorMesh, source_location: Sequence[float], current: float = 1.0) -> np.ndarray:
    """Current (A) injected into each cell, shape ``(nz, ny, nx)``: ``current`` shared by trilinear
    weights among the cell centres around ``source_location`` (x, y, z), clamped to the outermost
    cell centres (a source on the surface z = 0 goes to the top layer of cells)."""
    q = np.zeros(mesh.shape_cells)
    idx, wts = [], []
    for axis_name, pos in zip(
        ("z", "y", "x"), (source_location[2], source_location[1], source_location[0]), strict=True
    ):
        c = mesh.centers(axis_name)
        p = float(np.clip(pos, c[0], c[-1]))
        i = int(np.clip(np.searchsorted(c, p) - 1, 0, max(c.size - 2, 0)))
        if c.size == 1:
            idx.append((0, 0))
            wts.append((1.0, 0.0))
            continue
        w1 = (p - c[i]) / (c[i + 1] - c[i])
        idx.append((i, i + 1))
        wts.append((1.0 - w1, w1))
    for a in range(2):
        for b in range(2):
            for c_ in range(2):
                q[idx[0][a], idx[1][b], idx[2][c_]] += current * wts[0][a] * wts[1][b] * wts[2][c_]
    return q


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum's own loop, not BLAS: a BLAS dot spins up threads that fight over a shared node's cores
    return float(np.einsum("i,i->", a, b))


try:  # y += A @ x into a preallocated y (the public ``A @ x`` allocates a new vector every time)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - private scipy API; fall back to the public product
    _csr_matvec = None


def _matvec_into(a: sp.csr_matrix, x: np.ndarray, out: np.ndarray) -> None:
    if _csr_matvec is not None:
        out.fill(0.0)
        _csr_matvec(a.shape[0], a.shape[1], a.indptr, a.indices, a.data, x, out)
    else:
        out[:] = a @ x


def stencil_bands(a: sp.spmatrix, offsets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The main diagonal of the symmetric ``a`` and its upper diagonals at ``offsets``, shape
    ``(len(offsets), n)`` (diagonal ``k`` in ``[k, :n - offsets[k]]``). Raises ValueError when ``a``
    has an entry on any other diagonal."""
    a = sp.csr_matrix(a)
    n = a.shape[0]
    diag = a.diagonal()
    upper = np.zeros((len(offsets), n))
    found = np.count_nonzero(diag)
    for k, o in enumerate(offsets):
        band = a.diagonal(o)
        upper[k, : n - o] = band
        found += 2 * np.count_nonzero(band)
    if found != a.count_nonzero():
        raise ValueError(f"the matrix has entries off the diagonals {sorted(offsets)} and their mirrors.")
    return diag, upper


def jacobi_pcg(
    a: sp.spmatrix,
    b: np.ndarray,
    rtol: float = 1e-9,
    maxiter: int = 100_000,
    *,
    offsets: Sequence[int] | None = None,
) -> np.ndarray:
    """Solve the symmetric positive definite system ``a x = b`` by conjugate gradients with a Jacobi
    (diagonal) preconditioner until ``||b - a x|| <= rtol ||b||``. Raises :class:`SolverError` after
    ``maxiter`` iterations.

    ``offsets``: the diagonals above the main one that hold all of ``a``'s other entries (a 7-point
    stencil on an ``(nz, ny, nx)`` grid: ``(1, nx, nx * ny)``). With them the solve runs compiled on
    the bands (:func:`hpcdash.sim._pcg_kernel.banded_pcg`: 1.7 times faster than the product of a CSR
    matrix, and a working set half as large); without, on the CSR matrix with numpy, allocation-free
    inside the loop (Dask workers set ``MALLOC_TRIM_THRESHOLD_``, which makes every large temporary
    a fresh mmap: twice the CPU time when the loop allocated temporaries). Single-threaded either
    way, by design: one sweep run per core.
    """
    if offsets is not None:
        from hpcdash.sim._pcg_kernel import banded_pcg

        diag, upper = stencil_bands(a, offsets)
        x, iterations = banded_pcg(
            diag, np.asarray(offsets, dtype=np.int64), upper, np.asarray(b, dtype=float), rtol, maxiter
        )
        if iterations < 0:
            raise SolverError(f"conjugate gradients did not reach rtol={rtol:g} in {maxiter} iterations.")
        return x
    a = sp.csr_matrix(a)
    a.sort_indices()
    inv_diag = 1.0 / a.diagonal()
    x = np.zeros(b.shape[0], dtype=float)
    r = np.array(b, dtype=float)
    b_norm = np.sqrt(_dot(r, r))
    if b_norm == 0.0:
        return x
    z = inv_diag * r
    p = z.copy()
    rz = _dot(r, z)
    ap = np.empty_like(r)
    tmp = np.empty_like(r)
    for _ in range(maxiter):
        _matvec_into(a, p, ap)
        alpha = rz / _dot(p, ap)
        np.multiply(p, alpha, out=tmp)
        x += tmp
        np.multiply(ap, alpha, out=tmp)
        r -= tmp
        if np.sqrt(_dot(r, r)) <= rtol * b_norm:
            return x
        np.multiply(inv_diag, r, out=z)
        rz_new = _dot(r, z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    raise SolverError(f"conjugate gradients did not reach rtol={rtol:g} in {maxiter} iterations.")


def solve_dc(
    mesh: TensorMesh,
    sigma: np.ndarray,
    source_location: Sequence[float],
    current: float = 1.0,
    *,
    bc: str = "mixed",
    solver: str = "cg",
    rtol: float = 1e-9,
    maxiter: int | None = None,
) -> np.ndarray:
    """Potential (V) on cell centres, shape ``(nz, ny, nx)``, of a point source of ``current`` (A) at
    ``source_location`` (x, y, z in metres) in the conductivity model ``sigma`` (S/m, shape (nz, ny, nx)).

    ``solver``: ``"cg"`` (:func:`jacobi_pcg` on the stencil's bands, relative residual ``rtol``; about 0.33 s
    of CPU for 131 000 cells), ``"scipy-cg"`` (``scipy.sparse.linalg.cg``, same preconditioner; its BLAS dot products
    start one thread per core, which slows it several-fold on a busy node) or ``"direct"``
    (SuperLU; exact but slow in 3-D, seconds already at 30 000 cells).
    Raises :class:`SolverError` when CG does not converge.
    """
    a = assemble_operator(mesh, sigma, source_location, bc=bc)
    q = source_vector(mesh, source_location, current).ravel()
    if solver == "direct":
        phi = spla.spsolve(a.tocsc(), q)
    elif solver == "cg":
        nz, ny, nx = mesh.shape_cells
        offsets = sorted({o for o in (1, nx, nx * ny) if o < a.shape[0]})
        phi = jacobi_pcg(a, q, rtol=rtol, maxiter=maxiter or 20 * a.shape[0], offsets=offsets)
    elif solver == "scipy-cg":
        inv_diag = 1.0 / a.diagonal()
        m = spla.LinearOperator(a.shape, matvec=lambda v: inv_diag * v, dtype=float)
        phi, info = spla.cg(a, q, rtol=rtol, atol=0.0, maxiter=maxiter or 20 * a.shape[0], M=m)
        if info != 0:
            raise SolverError(f"conjugate gradients did not converge (info={info}).")
    else:
        raise ValueError("solver must be 'cg', 'scipy-cg' or 'direct'")
    return phi.reshape(mesh.shape_cells)


# ---- conductivity models --------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """A rectangular body: x, y, z ranges (min, max) in metres and its conductivity in S/m."""

    x: tuple[float, float]
    y: tuple[float, float]
    z: tuple[float, float]
    sigma: float


def block_model(mesh: TensorMesh, background: float, blocks: Iterable[Block] = ()) -> np.ndarray:
    """Conductivity (S/m) on the mesh, shape ``(nz, ny, nx)``: a uniform half-space of ``background``
    with the given blocks painted in order (a cell belongs to a block when its centre is inside)."""
    z, y, x = mesh.cell_grid()
    sigma = np.full(mesh.shape_cells, float(background))
    for b in blocks:
        inside = (x >= b.x[0]) & (x <= b.x[1]) & (y >= b.y[0]) & (y <= b.y[1]) & (z >= b.z[0]) & (z <= b.z[1])
        sigma[np.broadcast_to(inside, sigma.shape)] = b.sigma
    return sigma


def two_blocks(
    depth: float = 40.0,
    size: float = 60.0,
    separation: float = 120.0,
    conductor: float = 0.1,
    resistor: float = 0.001,
) -> list[Block]:
    """A conductive block (west, x < 0) and a resistive block (east) whose tops are ``depth`` metres
    below the surface, each ``size`` metres wide and ``separation`` metres apart (centre to centre)."""
    half = size / 2
    top, bottom = -depth, -depth - size
    return [
        Block((-separation / 2 - half, -separation / 2 + half), (-half, half), (bottom, top), conductor),
        Block((separation / 2 - half, separation / 2 + half), (-half, half), (bottom, top), resistor),
    ]


# Defaults of one forward run; a sweep's parameter set overrides any of them.
DEFAULT_PARAMS: dict[str, float | int] = {
    "source_x": 0.0,  # m
    "source_y": 0.0,  # m
    "current": 1.0,  # A
    "block_depth": 40.0,  # m, depth of the blocks' tops
    "block_size": 60.0,  # m
    "block_separation": 120.0,  # m
    "sigma_background": 0.01,  # S/m
    "sigma_conductor": 0.1,  # S/m
    "sigma_resistor": 0.001,  # S/m
    "core_cells": 32,  # core cells along x and y (z gets half)
    "core_width": 10.0,  # m
    "n_pad": 8,
    "pad_factor": 1.3,
}


def forward_model(params: Mapping[str, float | int] | None = None) -> dict:
    """One DC forward run: builds the mesh and the two-block conductivity model from ``params``
    (keys and defaults in :data:`DEFAULT_PARAMS`), solves for a surface source at
    (source_x, source_y, 0) and returns ``{"mesh", "sigma", "phi", "params"}`` (sigma in S/m,
    phi in V, both ``(nz, ny, nx)``; params with defaults filled in)."""
    p = dict(DEFAULT_PARAMS)
    unknown = set(params or {}) - set(DEFAULT_PARAMS) - {"name"}
    if unknown:
        raise ValueError(f"unknown run parameters: {', '.join(sorted(unknown))}")
    p.update(params or {})
    n = int(p["core_cells"])
    mesh = TensorMesh.padded(
        (n, n, max(n // 2, 1)), float(p["core_width"]), int(p["n_pad"]), float(p["pad_factor"])
    )
    blocks = two_blocks(
        float(p["block_depth"]),
        float(p["block_size"]),
        float(p["block_separation"]),
        float(p["sigma_conductor"]),
        float(p["sigma_resistor"]),
    )
    sigma = block_model(mesh, float(p["sigma_background"]), blocks)
    phi = solve_dc(mesh, sigma, (float(p["source_x"]), float(p["source_y"]), 0.0), float(p["current"]))
    return {"mesh": mesh, "sigma": sigma, "phi": phi, "params": p}
