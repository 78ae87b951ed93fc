"""A small 3-D tensor mesh: a uniform core surrounded by geometrically growing padding cells.

The mesh follows the conventions of discretize/SimPEG's ``TensorMesh`` (cell widths per axis, an
origin, cell centres, nodes, volumes) but is numpy-only and indexes volumes the way HDF5 files and
hpcdash's explorer do: arrays have shape ``(nz, ny, nx)`` with dims ``("z", "y", "x")``. Lengths are in
metres; z points up, the air-earth surface is at z = 0 and the mesh lies below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

AXES = ("x", "y", "z")


def padding_widths(core_width: float, n_pad: int, factor: float) -> np.ndarray:
    """Widths of ``n_pad`` padding cells growing away from the core: ``core_width * factor**k``, k = 1..n_pad."""
    if n_pad < 0:
        raise ValueError("n_pad must be >= 0")
    if factor < 1.0:
        raise ValueError("the padding factor must be >= 1")
    return core_width * factor ** np.arange(1, n_pad + 1, dtype=float)


@dataclass(frozen=True, eq=False)
class TensorMesh:
    """A rectilinear 3-D mesh given by its cell widths along x, y and z (metres) and its origin.

    ``origin`` is the (x, y, z) position of the corner with the smallest coordinates. Array-valued
    properties that live on cells (``cell_volumes``, models, potentials) have shape ``(nz, ny, nx)``.
    """

    hx: np.ndarray
    hy: np.ndarray
    hz: np.ndarray
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    core: tuple[slice, slice, slice] | None = None

    def __post_init__(self) -> None:
        for name in ("hx", "hy", "hz"):
            h = np.asarray(getattr(self, name), dtype=float).copy()
            if h.ndim != 1 or h.size == 0 or not np.all(np.isfinite(h)) or np.any(h <= 0):
                raise ValueError(f"{name} must be a non-empty 1-D array of positive widths")
            h.setflags(write=False)
            object.__setattr__(self, name, h)
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        if len(self.origin) != 3:
            raise ValueError("origin must have three components (x, y, z)")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def padded(
        cls,
        core_shape: Sequence[int],
        core_width: float | Sequence[float],
        n_pad: int | Sequence[int] = 8,
        factor: float = 1.3,
        *,
        center_xy: Sequence[float] = (0.0, 0.0),
    ) -> TensorMesh:
        """A mesh with a uniform core just below the surface and geometric padding.

        ``core_shape`` is ``(nx, ny, nz)`` core cells, ``core_width`` the core cell width in metres
        (one value or one per axis). ``n_pad`` padding cells (one value or ``(npx, npy, npz)``) grow
        by ``factor`` on both sides in x and y and below the core in z; none above, so the top of
        the mesh is the surface z = 0. The core is centred on ``center_xy``.
        """
        core_shape = tuple(int(n) for n in core_shape)
        if len(core_shape) != 3 or min(core_shape) < 1:
            raise ValueError("core_shape must be three positive integers (nx, ny, nz)")
        widths = np.broadcast_to(np.asarray(core_width, dtype=float), (3,))
        pads = np.broadcast_to(np.asarray(n_pad, dtype=int), (3,))
        h = []
        for axis in range(3):
            core = np.full(core_shape[axis], widths[axis])
            pad = padding_widths(widths[axis], int(pads[axis]), factor)
            if axis < 2:
                h.append(np.concatenate([pad[::-1], core, pad]))
            else:
                h.append(np.concatenate([pad[::-1], core]))  # z: padding below only
        x0 = center_xy[0] - widths[0] * core_shape[0] / 2 - h[0][: pads[0]].sum()
        y0 = center_xy[1] - widths[1] * core_shape[1] / 2 - h[1][: pads[1]].sum()
        z0 = -h[2].sum()
        core_slices = (
            slice(int(pads[2]), int(pads[2]) + core_shape[2]),
            slice(int(pads[1]), int(pads[1]) + core_shape[1]),
            slice(int(pads[0]), int(pads[0]) + core_shape[0]),
        )
        return cls(h[0], h[1], h[2], (x0, y0, z0), core=core_slices)

    # ---- geometry -------------------------------------------------------------------------------
    @property
    def h(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell widths ``(hx, hy, hz)`` in metres."""
        return (self.hx, self.hy, self.hz)

    @property
    def shape_cells(self) -> tuple[int, int, int]:
        """Number of cells per axis in array order ``(nz, ny, nx)``."""
        return (self.hz.size, self.hy.size, self.hx.size)

    @property
    def n_cells(self) -> int:
        """Total number of cells."""
        return int(self.hx.size * self.hy.size * self.hz.size)

    def nodes(self, axis: str) -> np.ndarray:
        """Cell edges (nodes) along ``axis`` ("x", "y" or "z"), length n + 1, increasing, metres."""
        i = AXES.index(axis)
        h = self.h[i]
        nodes = self.origin[i] + np.concatenate([[0.0], np.cumsum(h)])
        # round-off must not move the surface off z = 0 (or any node off 0)
        nodes[np.abs(nodes) < 1e-9 * float(h.sum())] = 0.0
        return nodes

    def centers(self, axis: str) -> np.ndarray:
        """Cell centres along ``axis``, length n, metres (midpoints of the nodes)."""
        nodes = self.nodes(axis)
        return (nodes[:-1] + nodes[1:]) / 2

    @property
    def nodes_x(self) -> np.ndarray:
        return self.nodes("x")

    @property
    def nodes_y(self) -> np.ndarray:
        return self.nodes("y")

    @property
    def nodes_z(self) -> np.ndarray:
        return self.nodes("z")

    @property
    def cell_centers_x(self) -> np.ndarray:
        return self.centers("x")

    @property
    def cell_centers_y(self) -> np.ndarray:
        return self.centers("y")

    @property
    def cell_centers_z(self) -> np.ndarray:
        return self.centers("z")

    @property
    def cell_volumes(self) -> np.ndarray:
        """Cell volumes in m^3, shape ``(nz, ny, nx)``."""
        return self.hz[:, None, None] * self.hy[None, :, None] * self.hx[None, None, :]

    @property
    def coords(self) -> dict[str, np.ndarray]:
        """Cell-centre coordinates by dim name in array order, ready for ``write_volume``."""
        return {"z": self.centers("z"), "y": self.centers("y"), "x": self.centers("x")}

    @property
    def edges(self) -> dict[str, np.ndarray]:
        """Cell edges by dim name in array order."""
        return {"z": self.nodes("z"), "y": self.nodes("y"), "x": self.nodes("x")}

    def cell_grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable ``(Z, Y, X)`` cell-centre coordinate arrays of shapes (nz,1,1), (1,ny,1), (1,1,nx)."""
        return (
            self.centers("z")[:, None, None],
            self.centers("y")[None, :, None],
            self.centers("x")[None, None, :],
        )

    def core_mask(self) -> np.ndarray:
        """Boolean ``(nz, ny, nx)`` array, True on core cells (all True for a mesh without padding info)."""
        mask = np.zeros(self.shape_cells, dtype=bool)
        mask[self.core if self.core is not None else ...] = True
        return mask

    def bounds(self) -> dict[str, tuple[float, float]]:
        """Extent ``(min, max)`` of the mesh along each axis, metres."""
        return {a: (float(self.nodes(a)[0]), float(self.nodes(a)[-1])) for a in AXES}

    def __repr__(self) -> str:
        nz, ny, nx = self.shape_cells
        b = self.bounds()
        ext = ", ".join(f"{a}=[{b[a][0]:.4g}, {b[a][1]:.4g}]" for a in AXES)
        return f"TensorMesh(nx={nx}, ny={ny}, nz={nz}, {ext} m)"
