"""Write volumes in hpcdash's convention: dimension scales + CF attributes + NeXus NXdata.

One call writes, in the dataset's group:

- the data, chunked (moderate cubic chunks by default, see :func:`auto_chunks`) and
  optionally compressed (gzip+shuffle, lzf, or blosc / lz4 / zstd / bitshuffle through
  hdf5plugin);
- one 1-D coordinate dataset per dim, named after the dim, made an HDF5 dimension scale
  and attached (this is what netCDF4, h5netcdf and xarray read), with ``units``; if
  edges were given, a CF ``bounds`` dataset ``<dim>_bnds`` of shape (n, 2);
- CF attributes on the data: ``units``, ``long_name``, ``actual_range`` (finite min and
  max, used for a cheap whole-volume colour range), plus any ``attrs`` given;
- NeXus: the group gets ``NX_class="NXdata"``, ``signal``, ``axes`` and
  ``AXIS_indices``; the ``default`` attribute chain from the file root to that group is
  set where it is missing (so the first volume written is the file's default plot).

Volumes written at the file root get dimension scales and CF attributes but no NXdata
group (NeXus needs a group): use a path like ``"/model/sigma"``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

try:
    import hdf5plugin
except ImportError:  # pragma: no cover - hdf5plugin is a dependency
    hdf5plugin = None

from .conventions import NETCDF_PHONY_PREFIX, split_volume


def auto_chunks(shape: tuple[int, ...], itemsize: int = 4) -> tuple[int, ...]:
    """Chunk shape used when ``chunks=True``: 64 along the last three dims (256 for 2-D),
    1 along leading dims, clamped to the shape (64^3 float32 = 1 MiB per chunk)."""
    ndim = len(shape)
    if ndim == 1:
        return (min(shape[0], 65536),)
    if ndim == 2:
        return tuple(max(1, min(n, 256)) for n in shape)
    leading, volume = split_volume(shape)
    return tuple(1 for _ in leading) + tuple(max(1, min(n, 64)) for n in volume)


def compression_kwargs(compression: str | Mapping | None) -> dict[str, Any]:
    """h5py ``create_dataset`` keywords for a compression name.

    Names: None, "gzip" (level 4 + shuffle), "gzip-N", "lzf", "blosc" (lz4 + shuffle),
    "blosc-zstd", "lz4", "zstd", "bitshuffle" (+lz4). A Mapping (e.g. an
    ``hdf5plugin.Zstd(clevel=5)`` object or ``{"compression": "gzip"}``) is used as given.
    """
    if compression is None:
        return {}
    if isinstance(compression, Mapping):
        return dict(compression)
    name = str(compression).lower()
    if name == "gzip" or name.startswith("gzip-"):
        level = int(name.split("-", 1)[1]) if "-" in name else 4
        return {"compression": "gzip", "compression_opts": level, "shuffle": True}
    if name == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if hdf5plugin is None:
        raise ValueError(f"compression {compression!r} needs hdf5plugin, which is not installed")
    plugins = {
        "blosc": lambda: hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE),
        "blosc-lz4": lambda: hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE),
        "blosc-zstd": lambda: hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.SHUFFLE),
        "lz4": lambda: hdf5plugin.LZ4(),
        "zstd": lambda: hdf5plugin.Zstd(clevel=3),
        "bitshuffle": lambda: hdf5plugin.Bitshuffle(cname="lz4"),
    }
    if name not in plugins:
        raise ValueError(f"unknown compression {compression!r}; use one of: gzip, gzip-N, lzf, "
                         + ", ".join(plugins))
    return dict(plugins[name]())


def _phony_dim(group: h5py.Group, name: str, n: int) -> h5py.Dataset:
    """A netCDF 'dimension without a variable' (as netCDF4 and h5netcdf write it)."""
    if name in group:
        ds = group[name]
        if ds.shape != (n,):
            raise ValueError(f"'{group.name}/{name}' exists with length {ds.shape}, expected {n}")
        return ds
    ds = group.create_dataset(name, shape=(n,), dtype="f4")
    ds.make_scale(name)
    ds.attrs["NAME"] = np.bytes_(f"{NETCDF_PHONY_PREFIX}.{n:10d}")
    return ds


def _coordinate(group: h5py.Group, dim: str, n: int, values: Any, units: str | None,
                growing: bool = False) -> h5py.Dataset:
    """Create (or reuse if identical) the dimension-scale coordinate of ``dim`` (``growing``: one that
    `append_mesh_model` extends, of unlimited length)."""
    if values is None:
        return _phony_dim(group, dim, n)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.shape[0] not in (n, n + 1):
        raise ValueError(f"coordinate '{dim}' has shape {v.shape}; expected ({n},) centres or ({n + 1},) edges")
    edges = v if v.shape[0] == n + 1 else None
    centres = 0.5 * (v[1:] + v[:-1]) if edges is not None else v
    if dim in group:
        existing = group[dim]
        same = (isinstance(existing, h5py.Dataset) and existing.shape == (n,)
                and np.allclose(existing[()], centres, rtol=1e-12, atol=0))
        if not same:
            raise ValueError(f"'{group.name.rstrip('/')}/{dim}' already exists with different values")
        return existing
    coord = group.create_dataset(dim, data=centres, **({"maxshape": (None,), "chunks": (4096,)} if growing else {}))
    coord.make_scale(dim)
    if units:
        coord.attrs["units"] = units
    if edges is not None:
        bname = f"{dim}_bnds"
        nv = _phony_dim(group, "nv", 2)
        bnds = group.create_dataset(bname, data=np.stack([edges[:-1], edges[1:]], axis=1))
        bnds.dims[0].attach_scale(coord)
        bnds.dims[1].attach_scale(nv)
        if units:
            bnds.attrs["units"] = units
        coord.attrs["bounds"] = bname
    return coord


def _finite_range(data: np.ndarray) -> tuple[float, float] | None:
    if data.dtype.kind not in "biuf" or data.size == 0:
        return None
    if data.dtype.kind == "f":
        lo, hi = np.fmin.reduce(data, axis=None), np.fmax.reduce(data, axis=None)  # NaN-skipping, no copy
        if np.isfinite(lo) and np.isfinite(hi):
            return float(lo), float(hi)
        finite = data[np.isfinite(data)]  # infinities present (rare): pay for the copy
        if finite.size == 0:
            return None
        return float(finite.min()), float(finite.max())
    return float(data.min()), float(data.max())


def _set_default_chain(f: h5py.File, group: h5py.Group) -> None:
    parts = [p for p in group.name.split("/") if p]
    node: h5py.Group = f
    for i, part in enumerate(parts):
        if "default" not in node.attrs:
            node.attrs["default"] = part
        if node.attrs.get("default") not in (part, part.encode()):
            return  # another default chain exists: leave it alone
        child = node[part]
        if i < len(parts) - 1 and "NX_class" not in child.attrs:
            child.attrs["NX_class"] = "NXentry"
        node = child


def _nxdata(f: h5py.File, group: h5py.Group, base: str, dims: list[str], coords: dict[str, Any]) -> None:
    if group.name == "/" or group.attrs.get("NX_class") not in (None, "NXdata", b"NXdata"):
        return
    group.attrs["NX_class"] = "NXdata"
    if "signal" not in group.attrs or group.attrs["signal"] in (base, base.encode()):
        group.attrs["signal"] = base
        nx_axes = [d if coords[d] is not None else "." for d in dims]
        group.attrs["axes"] = np.array(nx_axes, dtype=h5py.string_dtype())
        for i, d in enumerate(dims):
            if coords[d] is not None:
                group.attrs[f"{d}_indices"] = np.int32(i)
    _set_default_chain(f, group)


@contextmanager
def create_volume(path: Path | str, name: str, shape: tuple[int, ...], dtype: Any, coords: dict[str, Any],
                  attrs: dict[str, Any] | None = None, *, units: str | None = None,
                  long_name: str | None = None, coord_units: dict[str, str | None] | None = None,
                  chunks: bool | tuple[int, ...] | None = True,
                  compression: str | Mapping | None = None, mode: str = "a",
                  growing: bool = False) -> Iterator[h5py.Dataset]:
    """Like :func:`write_volume` for data too big for memory: yields the empty dataset.
    ``growing``: the first dimension (and its coordinate) can be extended later (see `append_mesh_model`).

    Everything but the values (coordinates, CF attributes, NXdata, default chain) is
    written first; fill the yielded ``h5py.Dataset`` (e.g. slab by slab) inside the
    ``with`` block and, for a cheap whole-volume colour range, set
    ``dset.attrs["actual_range"] = [vmin, vmax]``. The file is closed on exit.
    """
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    dims = list(coords)
    if len(dims) != len(shape):
        raise ValueError(f"coords name {len(dims)} dims {dims}, but the shape has {len(shape)}")
    coord_units = coord_units or {}
    name = "/" + name.strip("/")
    gpath, base = posixpath.split(name)
    if not base:
        raise ValueError("name must name a dataset, e.g. '/model/sigma'")
    kwargs = compression_kwargs(compression)
    if chunks is True:
        chunk_shape: tuple[int, ...] | None = auto_chunks(shape, dtype.itemsize)
    elif chunks in (None, False):
        chunk_shape = None
        if kwargs:
            raise ValueError("compression needs a chunked dataset (chunks=True or a tuple)")
    else:
        chunk_shape = tuple(int(c) for c in chunks)
    with h5py.File(path, mode) as f:
        group = f.require_group(gpath)
        if base in group:
            del group[base]
        scales = [_coordinate(group, d, n, coords[d], coord_units.get(d), growing=growing and i == 0)
                  for i, (d, n) in enumerate(zip(dims, shape, strict=True))]
        if growing:
            if chunk_shape is None:
                raise ValueError("a growing dataset needs chunks (chunks=True or a tuple)")
            kwargs["maxshape"] = (None, *shape[1:])
        dset = group.create_dataset(base, shape=shape, dtype=dtype, chunks=chunk_shape, **kwargs)
        for i, scale in enumerate(scales):
            dset.dims[i].attach_scale(scale)
        if units:
            dset.attrs["units"] = units
        if long_name:
            dset.attrs["long_name"] = long_name
        for key, value in (attrs or {}).items():
            dset.attrs[key] = value
        _nxdata(f, group, base, dims, coords)
        yield dset


def write_volume(path: Path | str, name: str, data: Any, coords: dict[str, Any],
                 attrs: dict[str, Any] | None = None, *, units: str | None = None,
                 long_name: str | None = None, coord_units: dict[str, str | None] | None = None,
                 chunks: bool | tuple[int, ...] | None = True,
                 compression: str | Mapping | None = None, mode: str = "a") -> None:
    """Write ``data`` as dataset ``name`` of ``path`` with coordinates (see module docstring).

    ``coords`` maps each dim name, in data order, to cell centres (length n), cell edges
    (length n + 1; centres are their midpoints and the edges go to a CF ``bounds``
    dataset) or None (index coordinates). ``chunks``: True for :func:`auto_chunks`, a
    tuple, or None/False for contiguous. ``compression``: see :func:`compression_kwargs`.
    ``mode`` is the ``h5py.File`` mode ("a" appends or replaces the dataset, "w" truncates).
    An existing coordinate of the same name must have the same values. For volumes that
    do not fit in memory use :func:`create_volume`.
    """
    data = np.asarray(data)
    _write_blocks(path, name, data.shape, data.dtype, [(slice(None), data)], coords, attrs, units=units,
                  long_name=long_name, coord_units=coord_units, chunks=chunks, compression=compression, mode=mode)


def _write_blocks(path: Path | str, name: str, shape: tuple[int, ...], dtype: Any,
                  blocks: Iterable[tuple[Any, np.ndarray]], coords: dict[str, Any], attrs: dict[str, Any] | None,
                  at: tuple = (), **layout: Any) -> None:
    """`write_volume` of values that come in blocks ((index along the first dim after `at`, values)
    pairs, e.g. one plane at a time): the whole array need not be in memory; ``actual_range`` covers
    all blocks."""
    with create_volume(path, name, shape, dtype, coords, None, **layout) as dset:
        _fill(dset, blocks, attrs, at)


def _fill(dset: h5py.Dataset, blocks: Iterable[tuple[Any, np.ndarray]], attrs: dict[str, Any] | None,
          at: tuple = ()) -> None:
    """Write `blocks` ((index, values) pairs) into `dset` (below the leading index `at`), widen its
    ``actual_range`` to their finite values, and set `attrs`."""
    lo, hi = dset.attrs.get("actual_range", (np.inf, -np.inf))
    for where, block in blocks:
        dset[(*at, where)] = block
        rng = _finite_range(np.asarray(block))
        if rng is not None:
            lo, hi = min(lo, rng[0]), max(hi, rng[1])
    if lo <= hi:
        dset.attrs["actual_range"] = np.array((lo, hi), dtype=np.float64)
    for key, value in (attrs or {}).items():
        dset.attrs[key] = value


def write_mesh_model(path: Path | str, name: str, mesh: Any, values: Any, *, active_cells: Any = None,
                     attrs: dict[str, Any] | None = None, units: str | None = None, long_name: str | None = None,
                     chunks: bool | tuple[int, ...] | None = True, compression: str | Mapping | None = None,
                     mode: str = "a") -> None:
    """Write a model (or a field) on a 3-D tensor or octree mesh as a volume the explorer opens, the last
    step of a SimPEG inversion: ``write_mesh_model("run.h5", "/model/conductivity", mesh, np.exp(m),
    active_cells=active, units="S/m")``.

    ``mesh``: a tensor mesh with its cell edges (metres) as ``nodes_x``, ``nodes_y``, ``nodes_z``, as
    discretize's ``TensorMesh`` and :class:`hpcdash.sim.mesh.TensorMesh` have; or discretize's
    ``TreeMesh`` (an octree), written on its finest grid, each fine cell holding the value of the
    octree cell that contains it. ``values``: one per cell in discretize's order (for a tensor mesh x
    fastest, then y, then z: a SimPEG model vector, ``n_cells`` long); or one per active cell with
    ``active_cells`` (a boolean mask over the cells, or their indices, as SimPEG's ``active_cells``), the
    other cells (the air above the topography) written as NaN; or, for a tensor mesh, an array already
    shaped (nz, ny, nx). Written by :func:`write_volume`: dims (z, y, x), the edges as CF bounds, in
    metres; raises ValueError, saying what does not fit, for anything else (a cylindrical mesh, a 2-D one).
    """
    edges, shape, dtype, blocks = _on_mesh_grid(mesh, values, active_cells)
    _write_blocks(path, name, shape, dtype, blocks, edges, attrs, units=units, long_name=long_name,
                  coord_units=dict.fromkeys(edges, "m"), chunks=chunks, compression=compression, mode=mode)


def append_mesh_model(path: Path | str, name: str, mesh: Any, values: Any, *, step: float | None = None,
                      step_dim: str = "iteration", active_cells: Any = None, attrs: dict[str, Any] | None = None,
                      history: Mapping[str, float] | None = None, units: str | None = None,
                      long_name: str | None = None, compression: str | Mapping | None = None) -> int:
    """Add one step (an iteration of an inversion, a time step) of a model on a mesh to the dataset
    ``name`` of ``path``, a 4-D (``step_dim``, z, y, x) volume that grows by one each call; creates
    file and dataset at the first call. ``mesh``, ``values`` and ``active_cells`` as in
    :func:`write_mesh_model`; ``step``: this step's coordinate (default: its number, 1, 2, ...);
    ``history``: figures of this step (``{"phi_d": 85.1, "phi_m": 0.2, "beta": 1e3}``), each kept as a
    1-D dataset beside the model along ``step_dim`` (``/model/phi_d``; NaN for the steps that did not
    give it), which the explorer plots against the steps and xarray reads as variables of the run.
    Returns the number of steps now written.

    Called at the end of each iteration (a SimPEG directive's ``endIter``), it keeps a run in view while
    it goes on: the explorer opens such a dataset at its newest step, says when the file grew, and
    Reload shows the new step. The file is opened, extended and closed at each call, so between calls
    it is whole for readers."""
    edges, shape, dtype, blocks = _on_mesh_grid(mesh, values, active_cells)
    name = "/" + name.strip("/")
    exists = False
    if Path(path).exists():
        with h5py.File(path, "r") as f:
            exists = name in f
            group = f.get(posixpath.dirname(name)) if history else None
            taken = {k: group[k] for k in history or () if isinstance(group, h5py.Group) and k in group}
            refused = [k for k, obj in taken.items() if not _is_history(obj)]
    else:
        refused = []
    for key in history or ():  # refused before anything is written: no step without its figures
        if not key or "/" in key or key in (posixpath.basename(name), step_dim, *edges) or key in refused:
            raise ValueError(f"'{key}' cannot name a history figure of '{name}': it is empty, holds '/', is "
                             "the model's or a coordinate's name, or another dataset has it")
    if not exists:
        _write_blocks(path, name, (1, *shape), dtype, blocks,
                      {step_dim: [float(step) if step is not None else 1.0], **edges}, attrs, units=units,
                      long_name=long_name, coord_units=dict.fromkeys(edges, "m"),
                      chunks=(1, *auto_chunks(shape, np.dtype(dtype).itemsize)), compression=compression,
                      mode="a", growing=True, at=(0,))
        _append_history(path, name, 1, history)
        return 1
    with h5py.File(path, "a") as f:
        dset = f[name]
        if dset.ndim != 4 or tuple(dset.shape[1:]) != shape or dset.maxshape[0] is not None:
            raise ValueError(f"'{name}' in {Path(path).name} has shape {dset.shape}; a step on this mesh is "
                             f"{shape} (z, y, x) and does not fit (append_mesh_model adds to the 4-D datasets "
                             "it made)")
        coord = dset.dims[0][0]
        n = dset.shape[0] + 1
        dset.resize(n, axis=0)
        coord.resize((n,))
        coord[n - 1] = float(step) if step is not None else float(n)
        _fill(dset, blocks, attrs, at=(n - 1,))
    _append_history(path, name, n, history)
    return n


def _is_history(obj: Any) -> bool:
    """`obj` is a figure `append_mesh_model` keeps per step: a growing 1-D dataset, not a dimension scale."""
    return isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.maxshape[0] is None and not obj.is_scale


def _append_history(path: Path | str, name: str, n: int, history: Mapping[str, float] | None) -> None:
    """Set step `n` (1-based) of each of `history`'s 1-D datasets beside the growing dataset `name`,
    each along its first dimension's scale (created, or grown with NaN for the steps it missed)."""
    if not history:
        return
    with h5py.File(path, "a") as f:
        dset = f[name]
        group, scale = dset.parent, dset.dims[0][0]
        for key, value in history.items():
            series = group.get(key)
            if series is None:
                series = group.create_dataset(key, shape=(n,), maxshape=(None,), chunks=(1024,), dtype="f8",
                                              fillvalue=np.nan)
                series.dims[0].attach_scale(scale)
            if series.shape[0] < n:
                series.resize((n,))
            series[n - 1] = float(value)


def _on_mesh_grid(mesh: Any, values: Any, active_cells: Any) -> tuple[dict[str, np.ndarray], tuple[int, ...],
                                                                         np.dtype, Iterator[tuple[Any, np.ndarray]]]:
    """`values` on `mesh` (see `write_mesh_model`) as its cells' grid: the edges by dim (z, y, x), the
    grid's shape and dtype, and the values in blocks ((index along z, values) pairs: one block for a
    tensor mesh, one z level at a time for an octree)."""
    nodes = {d: getattr(mesh, f"nodes_{d}", None) for d in ("z", "y", "x")}
    if any(n is None for n in nodes.values()):
        dim = getattr(mesh, "dim", None)
        what = f"this {type(mesh).__name__} is {dim}-D" if dim else f"{type(mesh).__name__} has not all three"
        raise ValueError(f"a 3-D tensor mesh is needed: one with cell edges nodes_x, nodes_y and nodes_z ({what})")
    # discretize's CylindricalMesh has nodes_x too (radii), but its cells are not on that grid; a
    # TreeMesh's cells are blocks of its finest grid
    kind = str(getattr(mesh, "_meshType", "TENSOR")).upper()
    tree = kind == "TREE" and hasattr(mesh, "get_containing_cells")
    not_a_grid = ValueError(f"a tensor mesh is needed: the cells of this {type(mesh).__name__} are not the grid "
                            "of its nodes_x, nodes_y and nodes_z; interpolate the model onto a TensorMesh first")
    if kind != "TENSOR" and not tree:
        raise not_a_grid
    edges = {d: np.asarray(n, dtype=np.float64) for d, n in nodes.items()}
    if any(e.ndim != 1 or e.size < 2 for e in edges.values()):
        raise ValueError("the mesh's nodes_x, nodes_y and nodes_z must each be 1-D with at least 2 edges")
    shape = tuple(e.size - 1 for e in edges.values())  # (nz, ny, nx)
    n_cells = int(mesh.n_cells) if tree else int(np.prod(shape))
    if not tree and int(getattr(mesh, "n_cells", n_cells)) != n_cells:
        raise not_a_grid
    values = np.asarray(values)
    if active_cells is not None:
        values = _with_inactive_cells(values, active_cells, n_cells)
    if tree and values.shape == (n_cells,):
        # the finest grid may be far bigger than the octree: one z level at a time
        return edges, shape, values.dtype, _octree_levels(mesh, values, edges)
    if not tree and values.shape == (n_cells,):
        # discretize's cell order: x fastest, then y, then z (Fortran order of (nx, ny, nz))
        values = values.reshape(shape[::-1], order="F").transpose(2, 1, 0)
    elif tree or values.shape != shape:
        also = "" if tree else f" or an array of shape (nz, ny, nx) = {shape}"
        raise ValueError(f"values has shape {values.shape}; the mesh takes {n_cells} values in discretize's "
                         f"cell order{also}")
    return edges, shape, values.dtype, iter([(slice(None), np.ascontiguousarray(values))])


def _with_inactive_cells(values: np.ndarray, active_cells: Any, n_cells: int) -> np.ndarray:
    """One value per cell of the mesh from `values` of its active cells (a boolean mask or indices, as
    SimPEG's ``active_cells``), NaN in the others."""
    active = np.asarray(active_cells)
    if active.dtype == bool:
        if active.shape != (n_cells,):
            raise ValueError(f"active_cells is a mask of {active.size} entries; the mesh has {n_cells} cells")
        index = np.flatnonzero(active)
    else:
        index = active.astype(np.int64, copy=False).ravel()
        if index.size and (index.min() < 0 or index.max() >= n_cells):
            raise ValueError(f"active_cells holds indices outside the mesh's {n_cells} cells")
    if values.shape != (index.size,):
        raise ValueError(f"values has shape {values.shape}; with active_cells it takes one value per active "
                         f"cell ({index.size})")
    full = np.full(n_cells, np.nan, dtype=np.result_type(values.dtype, np.float32))
    full[index] = values
    return full


def _octree_levels(mesh: Any, values: np.ndarray, edges: dict[str, np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """An octree's cell values on its finest grid, one z level (ny, nx) at a time: each fine cell takes
    the value of the octree cell containing its centre (discretize's ``get_containing_cells``)."""
    centres = {d: (e[:-1] + e[1:]) / 2 for d, e in edges.items()}
    y, x = np.meshgrid(centres["y"], centres["x"], indexing="ij")
    for k, z in enumerate(centres["z"]):
        points = np.column_stack([x.ravel(), y.ravel(), np.full(x.size, z)])
        yield k, values[np.asarray(mesh.get_containing_cells(points), dtype=np.int64)].reshape(y.shape)
