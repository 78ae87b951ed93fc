"""Metadata conventions read from HDF5: dimension scales, NeXus NXdata and CF attributes.

Pure functions over open ``h5py`` objects; no caching, no I/O beyond the metadata and
the 1-D coordinate arrays.

Axis resolution, per dimension, first match wins:

1. HDF5 dimension scales (``DIMENSION_LIST``), as written by netCDF4-python, h5netcdf,
   xarray and :func:`hpcdash.data.write_volume`. A netCDF "dimension without a
   variable" (phony scale whose ``NAME`` starts with "This is a netCDF dimension but
   not a netCDF variable") gives the dimension its name but index coordinates.
2. NeXus NXdata: the dataset's parent group has ``NX_class = "NXdata"``; the group's
   ``axes`` attribute (one name per dim, "." for none) and ``AXIS_indices`` attributes
   name 1-D datasets in the group. Legacy ``axes="z:y:x"`` on the dataset works too.
3. Nothing: ``dim_0, dim_1, ...`` with index coordinates.

A 1-D coordinate of length ``n`` holds cell centres; of length ``n + 1`` cell edges
(NeXus histogram data); a CF ``bounds`` attribute naming an ``(n, 2)`` dataset gives the
edges explicitly.

Each dimension also gets a spatial role when one can be told (:func:`dim_role`): "vertical",
"north" or "east", from the coordinate's CF attributes (``axis``, ``positive``,
``standard_name``, ``units`` in degrees north/east), else from its name (z, depth, elevation;
y, northing, lat; x, easting, lon). :func:`plane_order` uses the roles to put a slice's
vertical dimension up the screen and its east one across, whatever the storage order, and
:func:`match_dims` to tell which dimension of one dataset is which of another, whatever their names.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import h5py
import numpy as np

T = TypeVar("T")

NETCDF_PHONY_PREFIX = "This is a netCDF dimension but not a netCDF variable"
# Attributes that are HDF5/netCDF plumbing rather than user metadata.
INTERNAL_ATTRS = {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid",
                  "_Netcdf4Coordinates", "_nc3_strict", "_NCProperties"}
MAX_ATTR_ITEMS = 10_000

# Registered HDF5 filter ids -> short names (https://portal.hdfgroup.org/documentation/)
FILTER_NAMES = {
    1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset",
    307: "bzip2", 32000: "lzf", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle",
    32013: "zfp", 32015: "zstd", 32017: "sz", 32018: "fcidecomp", 32024: "sz3",
    32026: "blosc2", 32028: "bitround",
}
# Filters that only rearrange or check bytes: not reported as "compression".
NON_COMPRESSING = {2, 3}


def decode_value(value: Any) -> Any:
    """Turn an h5py attribute value into plain Python (str, int, float, bool, list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O" or value.dtype.kind in "SU":
            items = [decode_value(v) for v in value.ravel()[:MAX_ATTR_ITEMS]]
            return items[0] if value.ndim == 0 else items
        if value.dtype.names:  # compound attribute
            return str(value.tolist())[:1000]
        if value.ndim == 0:
            return value.item()
        return value.ravel()[:MAX_ATTR_ITEMS].tolist() if value.ndim > 1 else value[:MAX_ATTR_ITEMS].tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (h5py.Reference, h5py.RegionReference)):
        return "<reference>"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def attr(obj: h5py.HLObject, key: str, default: Any = None) -> Any:
    """One decoded attribute, or ``default`` if missing or unreadable."""
    try:
        if key not in obj.attrs:
            return default
        return decode_value(obj.attrs[key])
    except (OSError, TypeError, ValueError, KeyError):
        return default


def number(value: Any) -> float | int | None:
    """A real number from a decoded attribute value (1-element lists unwrapped), else None."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def attr_str(obj: h5py.HLObject, key: str) -> str | None:
    """A string attribute (first item of a list), or None."""
    value = attr(obj, key)
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    return value if isinstance(value, str) and value != "" else None


def decoded_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """All user attributes of ``obj``, decoded; HDF5/netCDF plumbing is left out."""
    out: dict[str, Any] = {}
    try:
        keys = list(obj.attrs.keys())
    except (OSError, TypeError):
        return out
    for key in keys:
        if key in INTERNAL_ATTRS:
            continue
        try:
            out[key] = decode_value(obj.attrs[key])
        except (OSError, TypeError, ValueError):
            continue
    return out


def is_numeric_dtype(dtype: np.dtype) -> bool:
    """True for bool, int, uint and float dtypes (what can be coloured)."""
    return dtype.kind in "biuf" and dtype.names is None


def filters_of(ds: h5py.Dataset) -> list[tuple[int, str]]:
    """The dataset's filter pipeline as ``[(filter_id, name), ...]``."""
    out = []
    try:
        plist = ds.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            code, _flags, _values, name = plist.get_filter(i)
            words = name.decode("utf-8", "replace").split() if name else []
            label = FILTER_NAMES.get(code) or (words[0] if words else f"filter {code}")
            out.append((int(code), label))
    except (OSError, ValueError, TypeError):
        pass
    return out


def compression_of(ds: h5py.Dataset) -> str | None:
    """Short description of the compression, e.g. "gzip", "blosc", "shuffle+zstd"; None if none."""
    filters = filters_of(ds)
    if not any(code not in NON_COMPRESSING for code, _ in filters):
        return None
    return "+".join(name for code, name in filters if code != 3)


def missing_filters(ds: h5py.Dataset) -> list[tuple[int, str]]:
    """Filters of the pipeline that this HDF5 library cannot run (plugins not found)."""
    out = []
    for code, name in filters_of(ds):
        try:
            if not h5py.h5z.filter_avail(code):
                out.append((code, name))
        except (OSError, ValueError):
            out.append((code, name))
    return out


@dataclass
class Axis:
    """One resolved dimension of a dataset."""

    name: str
    centres: np.ndarray | None  # None: index coordinates
    edges: np.ndarray | None  # None: derived from centres
    units: str | None = None
    long_name: str | None = None
    #: "vertical", "north", "east" or None (see :func:`dim_role`)
    role: str | None = None
    #: CF ``positive`` of a vertical coordinate, "up" or "down" (None when the file does not say and
    #: it is not a depth: :func:`implied_positive`)
    positive: str | None = None
    #: CF ``standard_name`` of the coordinate ("" when none)
    standard_name: str = ""


#: Spatial roles of a dimension, as :func:`dim_role` gives them.
VERTICAL, NORTH, EAST = "vertical", "north", "east"
#: Words of a dimension's name (case-insensitive; "z", "z_centres", "depth_m" all count) per role.
ROLE_NAMES: dict[str, frozenset[str]] = {
    VERTICAL: frozenset({"z", "depth", "elevation", "elev", "height", "altitude", "alt", "level", "lev"}),
    NORTH: frozenset({"y", "northing", "north", "lat", "latitude"}),
    EAST: frozenset({"x", "easting", "east", "lon", "long", "longitude"}),
}
_CF_AXIS = {"Z": VERTICAL, "Y": NORTH, "X": EAST}
_CF_STANDARD_NAMES = {
    VERTICAL: {"depth", "height", "altitude", "height_above_mean_sea_level", "depth_below_geoid",
               "model_level_number", "air_pressure"},
    NORTH: {"latitude", "grid_latitude", "projection_y_coordinate"},
    EAST: {"longitude", "grid_longitude", "projection_x_coordinate"},
}


def role_from_attrs(attrs: dict[str, Any]) -> str | None:
    """A dimension's role from its coordinate's CF attributes: ``axis`` ("Z", "Y", "X"), a
    ``positive`` attribute (only vertical coordinates carry one), ``standard_name``, or
    ``units`` in degrees north / east; None when they say nothing about it."""
    def text(key: str) -> str:
        value = attrs.get(key)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        return value.strip() if isinstance(value, str) else ""

    axis = text("axis").upper()
    if axis in _CF_AXIS:
        return _CF_AXIS[axis]
    if text("positive").lower() in ("up", "down"):
        return VERTICAL
    standard = text("standard_name").lower()
    for role, names in _CF_STANDARD_NAMES.items():
        if standard in names:
            return role
    units = text("units").lower().replace(" ", "_")
    if units in ("degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"):
        return NORTH
    if units in ("degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"):
        return EAST
    return None


def role_from_name(name: str) -> str | None:
    """A dimension's role from its name: one of its words (split at anything but letters) names
    exactly one role ("z", "depth_m", "Easting", "lat"); None otherwise ("dim_0", "time", "xy")."""
    words = set(re.split(r"[^a-z]+", name.lower())) - {""}
    roles = {role for role, names in ROLE_NAMES.items() if words & names}
    return roles.pop() if len(roles) == 1 else None


def dim_role(name: str, attrs: dict[str, Any] | None = None) -> str | None:
    """The spatial role of a dimension: "vertical", "north", "east" or None (not recognisable).
    The coordinate's CF attributes decide first (:func:`role_from_attrs`), then its name."""
    return role_from_attrs(attrs or {}) or role_from_name(name)


#: How many trailing dimensions of a dataset form the volume that slices cut (see `split_volume`).
VOLUME_NDIM = 3


def split_volume(dims: Sequence[T]) -> tuple[tuple[T, ...], tuple[T, ...]]:
    """``dims`` (names, lengths, positions: anything in dimension order) split into the leading ones,
    each held at one index while slicing (time steps, iterations, frequencies of (t, z, y, x)), and the
    volume's own: the last three (all of them for data of three dimensions or fewer)."""
    dims = tuple(dims)
    cut = max(len(dims) - VOLUME_NDIM, 0)
    return dims[:cut], dims[cut:]


def plane_order(dims: tuple[str, str] | list[str], roles: dict[str, str | None]) -> tuple[str, str]:
    """The two dims of a slice plane as drawn: (up the screen, across the screen). The vertical
    dimension goes up; otherwise an east dimension goes across and a north one up; dims whose
    roles tell nothing keep the order given (the file's)."""
    a, b = dims
    ra, rb = roles.get(a), roles.get(b)
    for role, up in ((VERTICAL, True), (EAST, False), (NORTH, True)):
        if (ra == role) != (rb == role):
            return (a, b) if (ra == role) == up else (b, a)
    return a, b


def match_dims(dims_a: tuple[str, ...] | list[str], roles_a: dict[str, str | None],
               dims_b: tuple[str, ...] | list[str], roles_b: dict[str, str | None]) -> dict[str, str]:
    """Which dimension of B each dimension of A is (A's name -> B's name), for two datasets of the
    same kind of model stored under other names ("k" with CF ``axis="Z"`` is "z", "easting" is "x").

    A dimension whose role (see :func:`dim_role`) is held by no other dimension of its dataset
    matches the one dimension of B with that role. Any other (no role, or a role two dims share)
    matches the dimension of B of the same name, unless B's is taken already or has another role.
    Dimensions of A that match nothing are left out; no two of A match the same one of B."""
    def by_role(dims, roles):
        seen: dict[str, list[str]] = {}
        for d in dims:
            if roles.get(d) is not None:
                seen.setdefault(roles[d], []).append(d)
        return {r: ds[0] for r, ds in seen.items() if len(ds) == 1}

    only_a, only_b = by_role(dims_a, roles_a), by_role(dims_b, roles_b)
    out = {only_a[r]: only_b[r] for r in only_a if r in only_b}
    taken = set(out.values())
    for d in dims_a:
        if d in out or d not in dims_b or d in taken:
            continue
        ra, rb = roles_a.get(d), roles_b.get(d)
        if ra is not None and rb is not None and ra != rb:
            continue  # an east dimension is never a north one, whatever their names
        out[d] = d
        taken.add(d)
    return out


def vertical_positive(attrs: dict[str, Any]) -> str | None:
    """CF ``positive`` of a coordinate, "up" or "down" (None when absent or neither)."""
    value = attrs.get("positive")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    value = value.strip().lower() if isinstance(value, str) else ""
    return value if value in ("up", "down") else None


#: CF standard names of vertical coordinates that are depths (positive down by their definition)
_DEPTH_STANDARD_NAMES = frozenset({"depth", "depth_below_geoid", "depth_below_sea_floor"})


def implied_positive(axis: Axis) -> str | None:
    """Which way a vertical axis counts: its CF ``positive`` when the file gives one; else "down" for a
    depth, by CF ``standard_name`` or by its name ("depth", "depth_m") while its values are not mostly
    negative (a "depth" stored as negative numbers counts upwards); else None (drawn upwards)."""
    if axis.positive is not None or axis.role != VERTICAL:
        return axis.positive
    words = set(re.split(r"[^a-z]+", axis.name.lower()))
    if axis.standard_name.lower() not in _DEPTH_STANDARD_NAMES and "depth" not in words:
        return None
    c = axis.centres
    if c is not None and np.size(c):
        finite = np.asarray(c, dtype=float)
        finite = finite[np.isfinite(finite)]
        if finite.size and np.count_nonzero(finite < 0) > finite.size / 2:
            return None
    return "down"


def _basename(name: str | None) -> str | None:
    if not name:
        return None
    return posixpath.basename(name.rstrip("/")) or None


def _read_1d(ds: h5py.Dataset) -> np.ndarray | None:
    """A 1-D numeric coordinate as float64, with CF packing applied; None if unusable."""
    if ds.ndim != 1 or not is_numeric_dtype(ds.dtype) or ds.shape[0] == 0:
        return None
    try:
        values = np.asarray(ds[()], dtype=np.float64)
    except (OSError, ValueError, TypeError):
        return None
    scale = number(attr(ds, "scale_factor"))
    offset = number(attr(ds, "add_offset"))
    if scale is not None:
        values = values * scale
    if offset is not None:
        values = values + offset
    return values


def _bounds_edges(coord: h5py.Dataset, n: int) -> np.ndarray | None:
    """Edges from a CF ``bounds`` attribute naming an (n, 2) dataset, or None."""
    name = attr_str(coord, "bounds")
    if not name:
        return None
    try:
        bnds = coord.parent.get(name)
        if not isinstance(bnds, h5py.Dataset) or bnds.shape != (n, 2):
            return None
        b = np.asarray(bnds[()], dtype=np.float64)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return np.concatenate([b[:, 0], b[-1:, 1]])


def _axis_from_dataset(coord: h5py.Dataset, name: str, n: int, read_values: bool) -> Axis | None:
    """An Axis from a 1-D coordinate dataset of length n (centres) or n + 1 (edges)."""
    if coord.ndim != 1 or coord.shape[0] not in (n, n + 1) or not is_numeric_dtype(coord.dtype):
        return None
    units = attr_str(coord, "units")
    long_name = attr_str(coord, "long_name")
    cf = {key: attr(coord, key) for key in ("axis", "positive", "standard_name", "units")}
    role, positive = role_from_attrs(cf), vertical_positive(cf)
    standard = cf["standard_name"].strip() if isinstance(cf["standard_name"], str) else ""
    if not read_values:
        return Axis(name, None, None, units, long_name, role, positive, standard)
    values = _read_1d(coord)
    if values is None:
        return None
    if values.shape[0] == n + 1:
        return Axis(name, 0.5 * (values[1:] + values[:-1]), values, units, long_name, role, positive, standard)
    return Axis(name, values, _bounds_edges(coord, n), units, long_name, role, positive, standard)


def _scale_axis(ds: h5py.Dataset, i: int, read_values: bool) -> Axis | None:
    """Axis i from an attached dimension scale (or a dimension label)."""
    n = ds.shape[i]
    try:
        dim = ds.dims[i]
        nscales = len(dim)
        label = dim.label or None
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        return None
    for j in range(nscales):
        try:
            scale = dim[j]
        except (OSError, ValueError, TypeError, KeyError, RuntimeError):
            continue
        if not isinstance(scale, h5py.Dataset):
            continue
        name = _basename(scale.name) or label or f"dim_{i}"
        phony = attr(scale, "NAME")
        if isinstance(phony, str) and phony.startswith(NETCDF_PHONY_PREFIX):
            return Axis(name, None, None)
        axis = _axis_from_dataset(scale, name, n, read_values)
        if axis is not None:
            return axis
    if label:
        return Axis(str(label), None, None)
    return None


def is_nxdata(group: h5py.Group) -> bool:
    """True if the group is tagged ``NX_class = NXdata``."""
    return attr_str(group, "NX_class") == "NXdata"


def _split_axes(value: Any) -> list[str] | None:
    if isinstance(value, str):
        sep = ":" if ":" in value else ","
        return [v.strip() for v in value.split(sep)] if (sep in value or value) else None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value]
    return None


def _nxdata_axis_names(ds: h5py.Dataset) -> list[str | None]:
    """Per dim, the NXdata axis dataset name (or None)."""
    names: list[str | None] = [None] * ds.ndim
    parent = ds.parent
    if is_nxdata(parent):
        axes = _split_axes(attr(parent, "axes"))
        if axes and len(axes) == ds.ndim:
            names = [None if a in (".", "") else a for a in axes]
        # AXIS_indices override / complete the list
        for key in list(parent.attrs.keys()):
            if not key.endswith("_indices"):
                continue
            value = attr(parent, key)
            if isinstance(value, list):
                value = value[0] if len(value) == 1 else None
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < ds.ndim:
                if names[value] is None:
                    names[value] = key[: -len("_indices")]
    if all(n is None for n in names):  # legacy NeXus: axes="z:y:x" on the signal itself
        legacy = _split_axes(attr(ds, "axes"))
        if legacy and len(legacy) == ds.ndim:
            names = [None if a in (".", "") else a for a in legacy]
    return names


def resolve_axes(ds: h5py.Dataset, read_values: bool = True) -> list[Axis]:
    """Resolve every dimension of ``ds`` (see the module docstring for the order).

    With ``read_values=False`` only names and units are resolved (cheap, for listings);
    ``centres`` is then None.
    """
    axes: list[Axis | None] = [_scale_axis(ds, i, read_values) for i in range(ds.ndim)]
    if any(a is None for a in axes):
        nx_names = _nxdata_axis_names(ds)
        for i, nx_name in enumerate(nx_names):
            if axes[i] is not None or not nx_name:
                continue
            try:
                coord = ds.parent.get(nx_name)
            except (OSError, ValueError, KeyError):
                coord = None
            if isinstance(coord, h5py.Dataset):
                axes[i] = _axis_from_dataset(coord, nx_name, ds.shape[i], read_values)
    out: list[Axis] = []
    seen: set[str] = set()
    for i, axis in enumerate(axes):
        if axis is None:
            axis = Axis(f"dim_{i}", None, None)
        name = axis.name
        k = 1
        while name in seen:  # xarray needs distinct dim names
            name = f"{axis.name}_{k}"
            k += 1
        axis.name = name
        if axis.role is None:
            axis.role = role_from_name(axis.name)
        axis.positive = implied_positive(axis)
        seen.add(name)
        out.append(axis)
    return out


def has_dimension_scales(ds: h5py.Dataset) -> bool:
    """True if any dimension of ``ds`` has a scale attached."""
    try:
        return any(len(ds.dims[i]) > 0 for i in range(ds.ndim))
    except (OSError, ValueError, TypeError, RuntimeError):
        return False


def is_dimension_scale(ds: h5py.Dataset) -> bool:
    """True for datasets that are themselves dimension scales (coordinates)."""
    return attr(ds, "CLASS") == "DIMENSION_SCALE"


def nxdata_signal(group: h5py.Group, allowed: Callable[[h5py.Group, str], bool] | None = None) -> str | None:
    """Path of the signal of an NXdata group (``signal`` attribute, or legacy ``signal=1``); members
    for which ``allowed(group, name)`` is False are not followed."""
    signal = attr_str(group, "signal")
    try:
        if signal:
            if allowed is not None and not allowed(group, signal):
                return None
            target = group.get(signal)
            return target.name if isinstance(target, h5py.Dataset) else None
        for key in group:
            if allowed is not None and not allowed(group, key):
                continue
            obj = group.get(key)
            if isinstance(obj, h5py.Dataset) and number(attr(obj, "signal")) == 1:
                return obj.name
    except (OSError, KeyError, ValueError):
        return None
    return None


def nexus_default_path(f: h5py.Group, allowed: Callable[[h5py.Group, str], bool] | None = None) -> str | None:
    """Follow the NeXus ``default`` chain from the file root (or a group) to a signal dataset path.

    A step for which ``allowed(group, name)`` is False ends the chain (None) before it is followed:
    the data layer uses it to refuse links that lead outside its root folder."""
    node: h5py.Group = f
    for _ in range(8):
        if is_nxdata(node):
            return nxdata_signal(node, allowed)
        nxt = attr_str(node, "default")
        if not nxt:
            return None
        if allowed is not None and not allowed(node, nxt):
            return None
        try:
            child = node.get(nxt)
        except (OSError, KeyError, ValueError):
            return None
        if isinstance(child, h5py.Dataset):
            return child.name
        if not isinstance(child, h5py.Group):
            return None
        node = child
    return None


#: What of complex values is shown (frequency-domain fields are complex): the first is the default.
COMPLEX_PARTS = ("amplitude", "phase", "real", "imaginary")
#: The unit of the phase of complex values.
PHASE_UNITS = "deg"


def checked_part(part: str) -> str:
    """`part` when it is one of `COMPLEX_PARTS`, else ValueError saying which there are."""
    if part not in COMPLEX_PARTS:
        raise ValueError(f"Unknown part of complex values {part!r}: choose one of {', '.join(COMPLEX_PARTS)}.")
    return part


def complex_part(values: np.ndarray, part: str) -> np.ndarray:
    """One real part of complex ``values`` (see `COMPLEX_PARTS`; the phase in degrees, -180 to 180)."""
    if checked_part(part) == "amplitude":
        return np.abs(values)
    if part == "phase":
        return np.degrees(np.angle(values))
    return values.real if part == "real" else values.imag


class CFDecoder:
    """Applies CF decoding to raw values: fill/missing -> NaN, valid range, scale/offset.

    The output dtype is floating: the dtype of ``scale_factor`` if packed, float32 for
    float16/float32 and integers of at most 2 bytes, else float64. Complex values become the real
    ``part`` asked for (`COMPLEX_PARTS`, default amplitude): float32 from complex64, else float64;
    fill values apply to them, a valid range does not (complex numbers have no order).
    """

    def __init__(self, ds: h5py.Dataset, part: str | None = None):
        self.is_complex = ds.dtype.kind == "c"
        if part is not None:
            checked_part(part)
        #: the part of complex values shown; None for real data
        self.part = (part or COMPLEX_PARTS[0]) if self.is_complex else None
        self.fills = []
        for key in ("_FillValue", "missing_value"):
            value = attr(ds, key)
            values = value if isinstance(value, list) else [value]
            self.fills += [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        vrange = attr(ds, "valid_range")
        vmin = attr(ds, "valid_min")
        vmax = attr(ds, "valid_max")
        if isinstance(vrange, list) and len(vrange) == 2:
            vmin, vmax = vrange
        self.vmin = None if self.is_complex else number(vmin)
        self.vmax = None if self.is_complex else number(vmax)
        self.scale = number(attr(ds, "scale_factor"))
        self.offset = number(attr(ds, "add_offset"))
        raw = ds.dtype
        if self.scale is not None or self.offset is not None:
            packed = [ds.attrs[k].dtype for k in ("scale_factor", "add_offset")
                      if k in ds.attrs and hasattr(ds.attrs[k], "dtype")]
            self.dtype = np.result_type(np.float32, *packed) if packed else np.dtype(np.float64)
        elif raw.kind == "c":
            self.dtype = np.dtype(np.float32) if raw.itemsize <= 8 else np.dtype(np.float64)
        elif raw.kind == "f":
            self.dtype = np.dtype(np.float32) if raw.itemsize <= 4 else np.dtype(raw)
        else:
            self.dtype = np.dtype(np.float32) if raw.itemsize <= 2 else np.dtype(np.float64)

    @property
    def is_identity(self) -> bool:
        """True if decoding only converts the dtype."""
        return not self.fills and self.vmin is None and self.vmax is None \
            and self.scale is None and self.offset is None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Decode ``raw`` into a new C-contiguous floating array (never a view of ``raw``)."""
        if self.is_complex:
            return self._complex(raw)
        out = np.array(raw, dtype=self.dtype, copy=True, order="C")
        if self.is_identity:
            return out
        bad = np.zeros(raw.shape, dtype=bool)
        for fill in self.fills:
            if isinstance(fill, float) and np.isnan(fill):
                continue
            bad |= raw == fill
        if self.vmin is not None:
            bad |= raw < self.vmin
        if self.vmax is not None:
            bad |= raw > self.vmax
        if self.scale is not None:
            out *= self.dtype.type(self.scale)
        if self.offset is not None:
            out += self.dtype.type(self.offset)
        out[bad] = np.nan
        return out

    def _complex(self, raw: np.ndarray) -> np.ndarray:
        values = raw
        if self.scale is not None or self.offset is not None:
            values = raw * (1.0 if self.scale is None else self.scale) + (0.0 if self.offset is None else self.offset)
        out = np.array(complex_part(values, self.part), dtype=self.dtype, copy=True, order="C")
        for fill in self.fills:
            if not (isinstance(fill, float) and np.isnan(fill)):
                out[raw == fill] = np.nan
        return out
