"""Find and read plottable volumes in HDF5 files.

``find_volumes(path)`` lists the numeric datasets of 2 or more dims (default pick first:
the NeXus ``default`` chain, else the largest dataset with dimension scales, else the
largest numeric dataset). ``open_volume(path, dataset=None)`` returns a :class:`Volume`
that keeps its ``h5py.File`` open and reads 2-D slices through the process-wide slab
cache (:mod:`hpcdash.data.cache`).

Reading strategy
    A slice along axis ``a`` at index ``i`` needs the *slab* of whole chunks that
    contains plane ``i``; HDF5 must decode all of it anyway for compressed data. The
    slab is read once, kept decoded in the shared LRU (memory budget, see
    :mod:`hpcdash.data.cache`), and every further slice inside it is a memory copy.
    gzip/shuffle chunks are inflated in parallel and uncompressed chunks read with plain
    ``preadv``, both outside HDF5's global lock (:mod:`hpcdash.data.chunks`); other
    filters go through h5py. Uncompressed chunked data: a random jump reads only its
    plane; the slab is read when a second plane of it is asked for, or by ``prefetch``.
    Contiguous data: blocks of 16 planes across the fast axes (they cost HDF5 about one
    plane), single planes along the slowest axis. A slab bigger than half the cache
    budget is cut to the largest divisor of the chunk length that fits.

Value range
    ``Volume.value_range()`` is computed once per (file identity, dataset, method) and
    kept in a process-wide dict: the CF/NetCDF ``actual_range`` attribute if present
    (``write_volume`` stores it), else a strided sample of at most 27 whole chunks spread
    over the volume (a 3 x 3 x 3 grid of chunk positions, each decoded once, no slab
    cache pollution): a few MB of reading even for a 4 GiB volume. ``method="exact"``
    streams the whole dataset chunk-slab by chunk-slab (bounded memory, slow for big
    files, still cached). Only finite values count; an all-NaN volume gives (0, 1) and a
    constant one (c - d, c + d) with d = max(0.5, |c| * 1e-6).

Files changing on disk
    Every slice first compares the file's (device, inode, mtime, size) with the values
    seen at open, through the path as opened: a symlink re-pointed to another file is a
    change too. If the file was deleted or replaced, :class:`FileChangedError` is
    raised (the Volume does not silently reopen: shapes and coordinates may have
    changed); the caller opens it again. Cache keys include the identity, so nothing
    stale is ever served; the offsets of the chunks, found once per open dataset
    (:mod:`hpcdash.data.chunk_index`), are dropped with the slabs.
"""

from __future__ import annotations

import operator
import os
import posixpath
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

if TYPE_CHECKING:  # xarray is imported on first slice(), not with the package
    import xarray as xr

try:  # registers blosc, bitshuffle, lz4, zstd, ... with HDF5
    import hdf5plugin  # noqa: F401
except ImportError:  # pragma: no cover - hdf5plugin is a dependency
    hdf5plugin = None

from hpcdash.words import counted

from .cache import prefetch_executor, slab_cache
from .chunks import RawReader, block_reader
from .conventions import (
    NON_COMPRESSING,
    PHASE_UNITS,
    CFDecoder,
    attr,
    attr_str,
    checked_part,
    compression_of,
    decoded_attrs,
    filters_of,
    has_dimension_scales,
    is_dimension_scale,
    is_numeric_dtype,
    is_nxdata,
    missing_filters,
    nexus_default_path,
    plane_order,
    resolve_axes,
    split_volume,
)
from .errors import (
    BrokenLinkError,
    CorruptFileError,
    FileBusyError,
    FileChangedError,
    FilterMissingError,
    MissingFileError,
    NotHDF5Error,
    NoVolumeError,
    PathOutsideRootError,
    SliceIndexError,
    UnsupportedDataError,
    VolumeError,
)
from .paths import safe_path

# HDF5's own chunk cache per open file: the slab cache does the heavy lifting, this only
# keeps partially read edge chunks from being decoded twice within one read. 4 MiB read
# planes across 64^3 chunks as fast as 16 MiB (1024^3: 37 vs 62 ms; blosc 256^3: 8 vs 10 ms)
# with ~12 MB less memory per open file; without a cache they took 380 ms.
RDCC_NBYTES = 4 * 1024 * 1024
RDCC_NSLOTS = 10007  # prime, per the HDF5 docs
MAX_WALK_OBJECTS = 20_000
SAMPLE_PER_DIM = 3
CONTIGUOUS_BLOCK = 16
NEAR_STEP = 4  # planes: an uncached uncompressed slab is read when the user steps at most this far


@dataclass(frozen=True)
class VolumeInfo:
    """Description of one plottable dataset, as listed by :func:`find_volumes`."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    dims: tuple[str, ...]
    units: str | None
    long_name: str | None
    chunks: tuple[int, ...] | None
    compression: str | None
    is_default: bool = False


def _display(path: Path | str) -> str:
    return Path(path).name or str(path)


def file_identity(path: Path | str) -> tuple[int, int, int, int]:
    """(device, inode, mtime_ns, size) of ``path``: changes when the file is replaced or rewritten."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _file_read(path: Path | str, root: Path | str | None) -> Path:
    """The file HDF5 opens for ``path``: its real path (symlinks resolved). With ``root``, checked to be
    inside it, and that very path opened: a link re-pointed after its caller checked it cannot lead
    HDF5 out of the root."""
    if root is None:
        return Path(os.path.realpath(path))
    try:
        return safe_path(root, os.path.abspath(path))
    except PathOutsideRootError:
        raise PathOutsideRootError(f"'{_display(path)}' is outside the root folder.") from None


def open_hdf5(path: Path | str) -> h5py.File:
    """Open ``path`` read-only, mapping every failure to a clear :class:`VolumeError`."""
    p = Path(path)
    name = _display(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MissingFileError(f"'{name}' does not exist.") from None
    except OSError as exc:
        raise MissingFileError(f"'{name}' cannot be read ({exc.strerror or exc}).") from None
    if p.is_dir():
        raise NotHDF5Error(f"'{name}' is a folder, not an HDF5 file.")
    if st.st_size == 0:
        raise NotHDF5Error(f"'{name}' is empty, not an HDF5 file.")
    try:
        with open(p, "rb"):
            pass
        is_h5 = h5py.is_hdf5(str(p))
    except PermissionError:
        raise MissingFileError(f"'{name}' cannot be read (permission denied).") from None
    except OSError:
        is_h5 = False
    if not is_h5:
        raise NotHDF5Error(f"'{name}' is not an HDF5 file.")
    kwargs = {"rdcc_nbytes": RDCC_NBYTES, "rdcc_nslots": RDCC_NSLOTS}
    try:
        try:
            # Without a lock: HDF5's default read lock lasts as long as the file is open, and a
            # writer (an inversion adding its next iteration to the file being viewed) would fail
            # to open the file for as long as a pane shows it. Also works on file systems without
            # lock support (common on HPC) and past a writer's own lock.
            return h5py.File(p, "r", locking=False, **kwargs)
        except OSError as exc:
            if "lock" not in str(exc).lower():
                raise
            # this process already has the file open with default locking (a notebook's own
            # h5py.File): HDF5 refuses one file open twice with different locking flags
            return h5py.File(p, "r", **kwargs)
    except OSError as exc:
        if not _open_for_writing(exc):
            raise CorruptFileError(
                f"'{name}' looks like HDF5 but cannot be opened: it is truncated or damaged ({_short(exc)})."
            ) from None
    # A program has the file open for writing (HDF5 marked it so): a job writing in SWMR mode (single
    # writer, multiple readers) lets readers in that say so; otherwise the file can be read once it is
    # closed, and a writer that ended without closing it (killed, crashed) left the mark behind.
    try:
        return h5py.File(p, "r", swmr=True, locking=False, **kwargs)
    except OSError:
        raise FileBusyError(
            f"'{name}' is open for writing by another program (a job still running, or one that ended "
            "without closing it): it can be read once the writer closes it, or while it writes when it "
            "opens the file in SWMR mode. If no program writes it any more, `h5clear -s` on the file "
            "clears the mark.") from None


def _open_for_writing(exc: OSError) -> bool:
    """True if HDF5 refused to open a file because it is marked as open for writing (its superblock's
    status flags: a writer of the newest file format has it open, or ended without closing it)."""
    text = str(exc).lower()
    return "already open for write" in text or "consistency flags" in text


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _unsupported_reason(ds: h5py.Dataset) -> str | None:
    """Why ``ds`` cannot be shown as an image, or None if it can."""
    dt = ds.dtype
    if dt.names:
        return "compound (table-like) data"
    if dt.kind in "SUa" or h5py.check_string_dtype(dt) is not None:
        return "text (string) data"
    if h5py.check_vlen_dtype(dt) is not None:
        return "variable-length data"
    if h5py.check_ref_dtype(dt) is not None:
        return "object references"
    if not is_numeric_dtype(dt) and dt.kind != "c":  # complex: one real part shows (Volume.part)
        return f"data of type {dt}"
    return None


def _is_plottable(ds: h5py.Dataset) -> bool:
    return (ds.ndim >= 2 and all(n > 0 for n in ds.shape) and _unsupported_reason(ds) is None)


@dataclass
class _Walk:
    datasets: list[tuple[str, h5py.Dataset]]
    broken: list[str]
    excluded: set[str]  # names of CF bounds datasets


def _walk(f: h5py.File, root: Path | str | None = None) -> _Walk:
    """All datasets reachable from the root, by their path in this file, following
    soft and external links (broken ones are recorded, not raised). With ``root``, an external
    link that can only lead outside it is not followed (HDF5 would open that file to look)."""
    out = _Walk([], [], set())
    seen: set[int] = set()
    stack: list[tuple[str, h5py.Group]] = [("/", f)]
    count = 0
    while stack and count < MAX_WALK_OBJECTS:
        gpath, group = stack.pop(0)
        try:
            keys = list(group.keys())
        except (OSError, KeyError, RuntimeError):
            continue
        for key in keys:
            count += 1
            path = posixpath.join(gpath, key)
            try:
                link = group.get(key, getlink=True)
            except (OSError, KeyError, RuntimeError):
                out.broken.append(path)
                continue
            if isinstance(link, h5py.ExternalLink) and not _external_link_allowed(link, group, root):
                continue
            try:
                obj = group[key]
            except (OSError, KeyError, RuntimeError, ValueError):
                if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                    out.broken.append(path)
                continue
            try:
                ident = hash(obj.id)
            except (TypeError, ValueError):
                ident = id(obj)
            if ident in seen:
                continue
            seen.add(ident)
            if isinstance(obj, h5py.Group):
                stack.append((path, obj))
            elif isinstance(obj, h5py.Dataset):
                out.datasets.append((path, obj))
                bounds = attr_str(obj, "bounds")
                if bounds and obj.ndim == 1:
                    out.excluded.add(posixpath.normpath(posixpath.join(gpath, bounds)))
    return out


def _candidates(name: Path, base: Path, prefix_variable: str) -> list[Path]:
    """Where HDF5 may find a relative file name: below each folder listed in the environment variable
    ``prefix_variable`` (``${ORIGIN}`` stands for the folder of the file), and below ``base``."""
    if name.is_absolute():
        return [name]
    prefixes = [p.replace("${ORIGIN}", str(base)) for p in os.environ.get(prefix_variable, "").split(os.pathsep) if p]
    return [Path(p) / name for p in prefixes] + [base / name]


def _external_link_allowed(link: h5py.ExternalLink, group: h5py.Group, root: Path | str | None) -> bool:
    """False if every file HDF5 may open for ``link`` (found in ``group``) lies outside ``root``:
    its name as given (absolute, or relative to the working directory), below the folder of the
    file holding the link and below each folder of ``HDF5_EXT_PREFIX``. Such a link is not followed,
    so HDF5 never opens the file; one that may resolve inside is followed, and the file HDF5 really
    opened is checked afterwards (`storage_files`)."""
    if root is None:
        return True
    name = Path(os.fsdecode(link.filename))
    base = Path(group.file.filename).absolute().parent
    candidates = _candidates(name, base, "HDF5_EXT_PREFIX") + ([] if name.is_absolute() else [Path.cwd() / name])
    for candidate in candidates:
        try:
            safe_path(root, candidate)
            return True
        except PathOutsideRootError:
            continue
    return False


def _refuse_links_outside(start: h5py.Group, name: str, root: Path | str | None) -> None:
    """Raise PathOutsideRootError if the path ``name`` (absolute, or relative to the group ``start``)
    passes through an external link that can only lead outside ``root``; checked link by link, before
    anything follows them."""
    if root is None:
        return
    f = start.file
    group: h5py.Group = f if name.startswith("/") else start
    parts = [p for p in name.split("/") if p]
    for k, part in enumerate(parts):
        try:
            link = group.get(part, getlink=True)
        except (OSError, KeyError, ValueError, RuntimeError):
            return
        if isinstance(link, h5py.ExternalLink) and not _external_link_allowed(link, group, root):
            raise PathOutsideRootError(
                f"'{name}' in '{_display(f.filename)}' goes through an external link to a file outside the "
                "allowed folder; it is not shown.")
        if k == len(parts) - 1:
            return
        try:
            group = group[part]
        except (OSError, KeyError, ValueError, RuntimeError):
            return
        if not isinstance(group, h5py.Group):
            return


def _links_inside(group: h5py.Group, name: str, root: Path | str | None) -> bool:
    """False if the path ``name`` from ``group`` passes through an external link to outside ``root``."""
    try:
        _refuse_links_outside(group, name, root)
    except PathOutsideRootError:
        return False
    return True


def storage_files(ds: h5py.Dataset, sources: list | None = None) -> list[Path]:
    """Every file the values of ``ds`` may be read from: the file holding it (another file when it
    was reached through an external link: the one HDF5 opened), raw external storage files and
    virtual-dataset sources. Relative names of raw external files are taken below the dataset's
    external-file prefix (``${ORIGIN}``, the folder of the file holding it, when hpcdash was imported
    before h5py: see ``hpcdash/__init__.py``), else below the process's working directory, as HDF5
    takes them, and below every folder of ``HDF5_EXTFILE_PREFIX``; a virtual dataset's source is the
    file HDF5 would open for it (`_sources`; ``sources``: those of ``ds``, when already found)."""
    holder = Path(ds.file.filename).absolute()
    base = holder.parent
    files = [holder]
    for name, opened in external_files(ds):
        files += _candidates(name, base, "HDF5_EXTFILE_PREFIX") + [opened]
    for _, _, tried, found in _sources(ds) if sources is None else sources:
        files.append(found if found is not None else tried[0])
    return files


def external_files(ds: h5py.Dataset) -> list[tuple[Path, Path]]:
    """The raw external files of ``ds`` (h5py's ``external=``; none for most datasets): each name as
    the dataset gives it and the file HDF5 opens for it: an absolute name as it is, a relative one
    below the dataset's external-file prefix when it has one (``${ORIGIN}``: the folder of the file
    holding it), else below the process's working directory."""
    try:
        external = ds.external or []
    except (OSError, ValueError):
        external = []
    if not external:
        return []
    base = Path(ds.file.filename).absolute().parent
    try:
        prefix = os.fsdecode(ds.id.get_access_plist().get_efile_prefix())
    except Exception:  # noqa: BLE001
        prefix = ""
    here = Path(os.path.abspath(prefix.replace("${ORIGIN}", str(base)))) if prefix else Path.cwd()
    out = []
    for entry in external:
        name = Path(os.fsdecode(entry[0]))
        out.append((name, name if name.is_absolute() else here / name))
    return out


def _sources(ds: h5py.Dataset) -> list[tuple[str, str, list[Path], Path | None]]:
    """Each source of a virtual dataset (none for other datasets): its file name and dataset as the
    dataset gives them, the files HDF5 tries for that file, in its order, and the first of them that
    exists (None: none does, and HDF5 reads the fill value in its place). A source in the dataset's own
    file (".") is that file. Each file is looked for once."""
    if not ds.is_virtual:
        return []
    holder = Path(ds.file.filename).absolute()
    looked: dict[str, tuple[list[Path], Path | None]] = {}
    out = []
    for src in ds.virtual_sources():
        if src.file_name not in looked:
            tried = [holder] if src.file_name == "." else virtual_source_candidates(src.file_name, holder.parent)
            looked[src.file_name] = (tried, next((t for t in tried if t.is_file()), None))
        out.append((src.file_name, src.dset_name, *looked[src.file_name]))
    return out


def virtual_sources(ds: h5py.Dataset) -> list[tuple[str, list[Path], Path | None]]:
    """For each source file of a virtual dataset (none for other datasets, or sources in its own
    file): its name as the dataset gives it, the files HDF5 tries for it, in its order, and the first
    of them that exists (None: none does, and HDF5 reads the fill value in its place)."""
    out: dict[str, tuple[str, list[Path], Path | None]] = {}
    for name, _, tried, found in _sources(ds):
        if name != "." and name not in out:
            out[name] = (name, tried, found)
    return list(out.values())


def virtual_source_candidates(name: str, base: Path) -> list[Path]:
    """The files HDF5 tries, in order, for a virtual dataset's source file ``name`` in a file whose
    folder is ``base``: an absolute name as it is; then the name (of an absolute one, its last part)
    below each folder of ``HDF5_VDS_PREFIX`` (``${ORIGIN}``: ``base``), below ``base``, and last below
    the process's working directory, which may be anywhere."""
    p = Path(os.fsdecode(name))
    rel = Path(p.name) if p.is_absolute() else p
    prefixes = [x.replace("${ORIGIN}", str(base)) for x in os.environ.get("HDF5_VDS_PREFIX", "").split(os.pathsep) if x]
    return [*([p] if p.is_absolute() else []), *(Path(x) / rel for x in prefixes), base / rel, Path.cwd() / rel]


def missing_sources(ds: h5py.Dataset) -> list[str]:
    """The source files of a virtual dataset that HDF5 cannot find (it reads the fill value in their
    place), as the dataset names them."""
    return [name for name, _, found in virtual_sources(ds) if found is None]


#: How deep virtual datasets may nest (a source that is itself virtual, ...) before one is refused.
MAX_SOURCE_DEPTH = 8


def _check_storage_inside(ds: h5py.Dataset, path: Path | str, root: Path | str | None, name: str) -> None:
    """Raise PathOutsideRootError if ``root`` is given and any value of ``ds`` lives outside it: its
    own files, and what a virtual dataset's source datasets read in turn (a source that is itself
    virtual, keeps raw external files, or is an external link in its file), however deep."""
    if root is None:
        return
    refused = PathOutsideRootError(f"The dataset '{name}' in '{_display(path)}' reads data from a file outside "
                                   "the allowed folder; it is not shown.")
    if not _storage_inside(ds, root, MAX_SOURCE_DEPTH, set()):
        raise refused


def _storage_inside(ds: h5py.Dataset, root: Path | str, depth: int, seen: set) -> bool:
    sources = _sources(ds)
    for f in storage_files(ds, sources):
        try:
            safe_path(root, f)
        except PathOutsideRootError:
            return False
    # each source dataset (one in the same file too) may read elsewhere in turn
    for _, dset_name, _, found in sources:
        if found is None:  # missing: read as the fill value
            continue
        key = (os.path.realpath(found), dset_name)
        if key in seen:
            continue
        if depth <= 0:
            return False
        seen.add(key)
        try:
            with h5py.File(found, "r", locking=False) as f:
                _refuse_links_outside(f, dset_name, root)
                inner = f.get(dset_name)
                if isinstance(inner, h5py.Dataset) and not _storage_inside(inner, root, depth - 1, seen):
                    return False
        except PathOutsideRootError:
            return False
        except (OSError, KeyError, ValueError, RuntimeError):
            continue  # a source HDF5 cannot open reads as the fill value
    return True


def _info(name: str, ds: h5py.Dataset, is_default: bool) -> VolumeInfo:
    axes = resolve_axes(ds, read_values=False)
    return VolumeInfo(
        name=name,
        shape=tuple(int(n) for n in ds.shape),
        dtype=str(ds.dtype),
        dims=tuple(a.name for a in axes),
        units=attr_str(ds, "units"),
        long_name=attr_str(ds, "long_name"),
        chunks=tuple(ds.chunks) if ds.chunks else None,
        compression=compression_of(ds),
        is_default=is_default,
    )


def _inside(ds: h5py.Dataset, path: Path | str | None, root: Path | str | None) -> bool:
    if root is None or path is None:
        return True
    try:
        _check_storage_inside(ds, path, root, ds.name)
    except PathOutsideRootError:
        return False
    return True


def _list_volumes(f: h5py.File, path: Path | str | None = None, root: Path | str | None = None) -> list[VolumeInfo]:
    walk = _walk(f, root)
    candidates = [(n, ds) for n, ds in walk.datasets
                  if n not in walk.excluded and not is_dimension_scale(ds) and _is_plottable(ds)
                  and _inside(ds, path, root)]
    if not candidates:
        return []
    default: str | None = None
    nx = nexus_default_path(f, partial(_links_inside, root=root))  # not through links to outside the root
    if nx is not None:
        for n, ds in candidates:
            if n == nx or ds.name == nx:
                default = n
                break
    if default is None:
        scaled = [(n, ds) for n, ds in candidates if has_dimension_scales(ds)]
        pool = scaled or candidates
        default = max(pool, key=lambda item: item[1].size)[0]  # first of equal sizes wins
    infos = [_info(n, ds, n == default) for n, ds in candidates]
    infos.sort(key=lambda i: not i.is_default)
    return infos


def find_volumes(path: Path | str, root: Path | str | None = None) -> list[VolumeInfo]:
    """List the plottable datasets (numeric, 2 or more dims) of an HDF5 file.

    The default pick comes first and has ``is_default=True``. Broken soft/external links
    are skipped; with ``root``, so are datasets whose values live in files outside it
    (external links, external storage, virtual datasets). Raises :class:`NotHDF5Error`, :class:`CorruptFileError`,
    :class:`MissingFileError`, or :class:`NoVolumeError` if nothing is plottable.
    """
    with open_hdf5(_file_read(path, root)) as f:
        try:
            infos = _list_volumes(f, path, root)
            why = "" if infos else _why_none(f, root)
        except OSError as exc:
            raise CorruptFileError(f"'{_display(path)}' cannot be read: it is truncated or damaged "
                                   f"({_short(exc)}).") from None
    if not infos:
        raise NoVolumeError(f"'{_display(path)}' contains no numeric dataset with 2 or more dimensions{why}.")
    return infos


def _why_none(f: h5py.File, root: Path | str | None) -> str:
    """Why a file's datasets of 2 or more dimensions cannot be shown (": '/a' holds complex numbers"),
    for the "no dataset" message; "" when it has none."""
    reasons = []
    for name, ds in _walk(f, root).datasets:
        if ds.ndim < 2:
            continue
        reason = _unsupported_reason(ds)
        if reason is None and not all(n > 0 for n in ds.shape):
            reason = f"no values (shape {' x '.join(map(str, ds.shape))})"
        if reason is not None:
            reasons.append(f"'{name}' holds {reason}")
        elif root is not None and not _inside(ds, f.filename, root):
            reasons.append(f"'{name}' reads its values from a file outside the allowed folder")
    if not reasons:
        return ""
    more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
    return ": " + "; ".join(reasons[:3]) + more


def open_volume(path: Path | str, dataset: str | None = None, root: Path | str | None = None,
                part: str | None = None) -> Volume:
    """Open one dataset of an HDF5 file as a :class:`Volume` (default pick if ``dataset`` is None).
    Complex values show as their ``part`` (``COMPLEX_PARTS``; default amplitude, see `Volume.part`).

    With ``root``, a dataset whose values live in a file outside ``root`` (through an external
    link, external storage or a virtual dataset) raises :class:`PathOutsideRootError`.

    Use as a context manager, or call ``close()``. A file that changes while it is being opened (a job
    writing it every moment) is opened again, up to three times in all.
    """
    for attempt in range(3):
        try:
            return Volume(path, dataset, root=root, part=part)
        except FileChangedError:
            if attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _sane_range(vmin: float, vmax: float) -> tuple[float, float]:
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        return (0.0, 1.0)
    if vmin == vmax:
        d = max(0.5, abs(vmin) * 1e-6)
        return (float(vmin - d), float(vmax + d))
    return (float(vmin), float(vmax))


_RANGES: dict[tuple, tuple[float, float]] = {}
_RANGES_LOCK = threading.Lock()


class Volume:
    """One open N-D (N >= 2) dataset; see the module docstring for the read strategy.

    Attributes: ``path`` (as given, made absolute: a symlink stays one), ``real_path`` (the file read),
    ``name`` (path in the file), ``shape``, ``ndim``, ``dtype``
    (stored dtype), ``dims``, ``coords`` (dim -> float64 cell centres; ``index_dims``: those the file
    gives none, whose coords are 0 to n-1), ``coord_units``, ``dim_roles`` (dim -> "vertical",
    "north", "east" or None: :func:`hpcdash.data.conventions.dim_role`), ``positive_down`` (the
    vertical dims that count downwards, depths drawn increasing downwards: CF ``positive="down"``, or
    a depth the file does not mark, :func:`hpcdash.data.conventions.implied_positive`),
    ``attrs``, ``units``, ``long_name``, ``chunks``, ``compression``.
    """

    def __init__(self, path: Path | str, dataset: str | None = None, root: Path | str | None = None,
                 part: str | None = None):
        self.path = Path(path).absolute()
        self._root = root
        self._fname = _display(self.path)
        #: the file read: ``path`` with its symlinks resolved (the target of a link, as it was at open)
        self.real_path = _file_read(self.path, root)
        # the identity of what `path` leads to, which changes when a link is re-pointed; checked against
        # the file opened below (a link re-pointed meanwhile: FileChangedError, and open_volume tries again)
        self._identity = file_identity(self.path) if self.path.exists() else None
        self._io_lock = threading.Lock()
        self._io_users = 0  # reads in progress: close() waits for them before closing the file
        self._file: h5py.File | None = open_hdf5(self.real_path)
        self._closed = False
        try:
            self._setup(dataset, part)
        except OSError as exc:
            self.close()
            raise CorruptFileError(f"'{self._fname}' cannot be read: it is truncated or damaged "
                                   f"({_short(exc)}).") from None
        except BaseException:
            self.close()
            raise
        slab_cache().use(self, self._key[0::2])  # one more budget while this file's dataset is open

    # -- opening ---------------------------------------------------------------
    def _resolve(self, dataset: str | None) -> tuple[str, h5py.Dataset]:
        f = self._file
        assert f is not None
        if dataset is None:
            infos = _list_volumes(f, self.path, self._root)
            if not infos:
                raise NoVolumeError(f"'{self._fname}' contains no numeric dataset with 2 or more "
                                    f"dimensions{_why_none(f, self._root)}.")
            dataset = infos[0].name
        name = "/" + dataset.strip("/") if dataset.strip("/") else "/"
        _refuse_links_outside(f, name, self._root)
        try:
            link = f.get(name, getlink=True)
        except (OSError, KeyError, ValueError):
            link = None
        try:
            obj = f[name]
        except (OSError, KeyError, ValueError):
            if isinstance(link, h5py.ExternalLink):
                raise BrokenLinkError(
                    f"'{name}' in '{self._fname}' is an external link to '{link.path}' in "
                    f"'{link.filename}', which cannot be opened.") from None
            if isinstance(link, h5py.SoftLink):
                raise BrokenLinkError(f"'{name}' in '{self._fname}' is a link to '{link.path}', "
                                      f"which does not exist.") from None
            raise NoVolumeError(f"There is no dataset '{name}' in '{self._fname}'.") from None
        if isinstance(obj, h5py.Group):
            refused: list[str] = []

            def allowed(group: h5py.Group, member: str) -> bool:
                inside = _links_inside(group, member, self._root)
                if not inside:
                    refused.append(posixpath.join(group.name, member))
                return inside

            target = nexus_default_path(obj, allowed) if (is_nxdata(obj) or attr(obj, "default")) else None
            if target is None and refused:
                raise PathOutsideRootError(
                    f"The data of '{name}' in '{self._fname}' is '{refused[0]}', an external link to a file "
                    "outside the allowed folder; it is not shown.")
            if target is None:
                raise NoVolumeError(f"'{name}' in '{self._fname}' is a group, not a dataset.")
            _refuse_links_outside(f, target, self._root)
            return target, f[target]
        if not isinstance(obj, h5py.Dataset):
            raise NoVolumeError(f"'{name}' in '{self._fname}' is not a dataset.")
        return name, obj

    def _setup(self, dataset: str | None, part: str | None = None) -> None:
        name, ds = self._resolve(dataset)
        _check_storage_inside(ds, self.path, self._root, name)
        gone = [str(n) for n, opened in external_files(ds) if not opened.is_file()]
        if gone:
            raise MissingFileError(
                f"The dataset '{name}' in '{self._fname}' keeps its values in the raw file"
                f"{'s' if len(gone) > 1 else ''} {', '.join(repr(g) for g in gone)}, which {'are' if len(gone) > 1 else 'is'} not there.")
        reason = _unsupported_reason(ds)
        if reason:
            raise UnsupportedDataError(f"The dataset '{name}' holds {reason}, which cannot be shown as an image.")
        if ds.ndim < 2:
            raise UnsupportedDataError(
                f"The dataset '{name}' has {counted(ds.ndim, 'dimension')}; "
                "an image needs at least 2.")
        if any(n == 0 for n in ds.shape):
            raise UnsupportedDataError(f"The dataset '{name}' is empty (shape {tuple(ds.shape)}).")
        missing = missing_filters(ds)
        if missing:
            fname = ", ".join(f"'{label}' (HDF5 filter id {code})" for code, label in missing)
            raise FilterMissingError(
                f"The dataset '{name}' is compressed with {fname}, which this installation cannot "
                "decode; install or update hdf5plugin (pip install hdf5plugin) or set HDF5_PLUGIN_PATH.")
        self._ds = ds
        self.name = name
        gone = missing_sources(ds)
        #: what a viewer should know of the values besides them (plain text): e.g. the source files
        #: of a virtual dataset that are missing, whose part reads as the fill value
        self.notes: list[str] = [
            f"{len(gone)} source file{'s' if len(gone) > 1 else ''} of this virtual dataset "
            f"{'are' if len(gone) > 1 else 'is'} missing ({', '.join(repr(g) for g in gone[:3])}"
            f"{', ...' if len(gone) > 3 else ''}): {'their parts show' if len(gone) > 1 else 'its part shows'} "
            "the fill value."] if gone else []
        self.shape: tuple[int, ...] = tuple(int(n) for n in ds.shape)
        self.ndim = ds.ndim
        self.dtype = np.dtype(ds.dtype)
        self.chunks: tuple[int, ...] | None = tuple(ds.chunks) if ds.chunks else None
        self.compression = compression_of(ds)
        axes = resolve_axes(ds, read_values=True)
        self.dims: tuple[str, ...] = tuple(a.name for a in axes)
        self.coords: dict[str, np.ndarray] = {}
        self._edges: dict[str, np.ndarray | None] = {}
        for axis, n in zip(axes, self.shape, strict=False):
            centres = axis.centres if axis.centres is not None else np.arange(n, dtype=np.float64)
            centres = np.asarray(centres, dtype=np.float64)
            centres.flags.writeable = False
            self.coords[axis.name] = centres
            self._edges[axis.name] = axis.edges
        self.coord_units: dict[str, str | None] = {a.name: a.units for a in axes}
        #: dimensions without coordinates in the file (their coords are the indices 0 to n-1)
        self.index_dims: frozenset[str] = frozenset(a.name for a in axes if a.centres is None)
        self.coord_long_names: dict[str, str | None] = {a.name: a.long_name for a in axes}
        self.dim_roles: dict[str, str | None] = {a.name: a.role for a in axes}
        self.positive_down: frozenset[str] = frozenset(a.name for a in axes if a.positive == "down")
        self.attrs: dict[str, Any] = decoded_attrs(ds)
        self._units: str | None = attr_str(ds, "units")
        self._long_name: str | None = attr_str(ds, "long_name")
        self._decoder = CFDecoder(ds, part)
        self._compressed = any(code not in NON_COMPRESSING for code, _ in filters_of(ds))
        self._fd = os.open(self.real_path, os.O_RDONLY)
        st = os.fstat(self._fd)
        if (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) != self._identity:
            raise FileChangedError(f"'{self._fname}' changed on disk while it was being opened; open it again.")
        try:  # datasets reached through an external link live in another file: h5py only
            same_file = os.path.samefile(ds.file.filename, self.real_path)
        except OSError:
            same_file = False
        self._direct = block_reader(ds, self._fd if same_file else None)
        self._last_plane_miss: tuple[tuple, int] | None = None  # (slab key, index) of the last lone plane
        self._prefetching: set[tuple] = set()  # slab keys handed to the read-ahead pool, not loaded yet
        self._plane_coords: dict[tuple[str, str], Any] = {}  # (dim, dim) -> xarray.Coordinates
        self._uniform: dict[str, bool] = {}  # dim -> is_uniform (coordinates do not change while open)
        self._key = (str(self.real_path), self._identity, name)  # one file's slabs, by whatever link it was opened

    # -- basic API ---------------------------------------------------------------
    def __enter__(self) -> Volume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        dims = ", ".join(f"{d}: {n}" for d, n in zip(getattr(self, "dims", ()), getattr(self, "shape", ()), strict=False))
        return f"<Volume {self._fname}:{getattr(self, 'name', '?')} ({dims}) {getattr(self, 'dtype', '')}>"

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def version(self) -> tuple:
        """What this volume read: the file (real path, device, inode, mtime, size when opened) and the
        dataset. Another after the file was written or replaced and opened again."""
        return self._key

    def changed_on_disk(self) -> bool:
        """True when the file was written, replaced or deleted since this volume opened it (one stat;
        the next read then raises :class:`FileChangedError`)."""
        try:
            return file_identity(self.path) != self._identity
        except OSError:
            return True

    def close(self) -> None:
        """Close the file (cached slabs stay in the shared cache until evicted).

        Safe while another thread is reading: the file is closed when that read ends.
        """
        with self._io_lock:
            self._closed = True
            if self._io_users == 0:
                self._release()
        slab_cache().release(self)

    def _forget_chunks(self) -> None:
        """Drop the reader's table of chunk offsets (the file changed or is closing)."""
        locator = getattr(getattr(self, "_direct", None), "locator", None)
        if locator is not None:
            locator.forget()

    def _release(self) -> None:
        self._forget_chunks()
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except Exception:  # closing a damaged file must not mask the real error
                pass

    def _enter_io(self) -> None:
        with self._io_lock:
            if self._closed:
                raise VolumeError(f"The volume '{self.name}' of '{self._fname}' is closed; open it again.")
            self._io_users += 1

    def _exit_io(self) -> None:
        with self._io_lock:
            self._io_users -= 1
            if self._closed and self._io_users == 0:
                self._release()

    @property
    def info(self) -> VolumeInfo:
        """This volume as a :class:`VolumeInfo`."""
        return VolumeInfo(self.name, self.shape, str(self.dtype), self.dims, self._units, self._long_name,
                          self.chunks, self.compression, False)

    @property
    def is_complex(self) -> bool:
        """True when the values are complex numbers: slices show one real `part` of them."""
        return self._decoder.is_complex

    @property
    def part(self) -> str | None:
        """What of complex values slices show (one of ``COMPLEX_PARTS``: amplitude, phase in degrees,
        real, imaginary); None for real data. Settable; the cache of stored values is kept."""
        return self._decoder.part

    @part.setter
    def part(self, value: str | None) -> None:
        if self.is_complex:
            self._decoder.part = checked_part(value)

    @property
    def units(self) -> str | None:
        """The units of the values shown (degrees for the phase of complex values)."""
        return PHASE_UNITS if self.part == "phase" else self._units

    @property
    def long_name(self) -> str | None:
        """What the values shown are ("amplitude of electric field" for complex ones), None when the
        file does not say (real values)."""
        if self.part is None:
            return self._long_name
        what = {"real": "real part", "imaginary": "imaginary part"}.get(self.part, self.part)
        return f"{what} of {self._long_name or posixpath.basename(self.name) or 'values'}"

    def axis_number(self, axis: int | str) -> int:
        """Dimension number of ``axis`` (a dim name or an int, negative allowed)."""
        if isinstance(axis, str):
            if axis in self.dims:
                return self.dims.index(axis)
            raise SliceIndexError(f"'{axis}' is not a dimension of '{self.name}' (dimensions: "
                                  f"{', '.join(self.dims)}).")
        try:
            i = operator.index(axis)
        except TypeError:
            raise SliceIndexError(f"Axis {axis!r} must be a dimension name or number.") from None
        if -self.ndim <= i < self.ndim:
            return i % self.ndim
        raise SliceIndexError(f"Axis {i} is out of range for '{self.name}', which has {self.ndim} dimensions.")

    def _index(self, dim: int, index: int) -> int:
        n = self.shape[dim]
        try:
            i = operator.index(index)
        except TypeError:
            raise SliceIndexError(f"Index {index!r} for '{self.dims[dim]}' must be an integer.") from None
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise SliceIndexError(f"Index {index} is out of range for '{self.dims[dim]}' (0 to {n - 1}).")
        return i

    def edges(self, dim: int | str) -> np.ndarray:
        """Cell edges of ``dim`` (length n + 1): CF ``bounds`` if given, else centre midpoints."""
        name = self.dims[self.axis_number(dim)]
        given = self._edges.get(name)
        if given is not None:
            return given.copy()
        c = self.coords[name]
        if c.size == 1:
            return np.array([c[0] - 0.5, c[0] + 0.5])
        mid = 0.5 * (c[1:] + c[:-1])
        return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])

    def plane_order(self, dims: tuple[str, str] | list[str]) -> tuple[str, str]:
        """Two dims of a slice plane in the order they are drawn: (up the screen, across it). The
        vertical dim goes up, an east one across, a north one up (by their roles, ``dim_roles``);
        dims whose roles tell nothing keep file order."""
        return plane_order(tuple(dims), self.dim_roles)

    def vertical_dim(self, dims: tuple[str, ...] | list[str] | None = None) -> str | None:
        """The first of ``dims`` (default: all) whose role is vertical, or None."""
        return next((d for d in (self.dims if dims is None else dims) if self.dim_roles.get(d) == "vertical"), None)

    def is_uniform(self, dim: int | str) -> bool:
        """True if the centre spacing of ``dim`` is constant within 1e-6 relative."""
        name = self.dims[self.axis_number(dim)]
        known = self._uniform.get(name)
        if known is None:
            c = self.coords[name]
            d = np.diff(c)
            scale = np.abs(d).mean() if d.size else 0.0
            known = self._uniform[name] = bool(c.size < 3 or scale == 0 or np.all(np.abs(d - d.mean()) <= 1e-6 * scale))
        return known

    # -- reading -----------------------------------------------------------------
    def _check_open(self) -> h5py.Dataset:
        if self._closed or self._file is None:
            raise VolumeError(f"The volume '{self.name}' of '{self._fname}' is closed; open it again.")
        try:
            ident = file_identity(self.path)
        except FileNotFoundError:
            old = self._key[:2]
            slab_cache().invalidate(lambda k: k[:2] == old)
            self._forget_chunks()
            raise FileChangedError(f"'{self._fname}' was deleted after it was opened.") from None
        except OSError as exc:
            raise FileChangedError(f"'{self._fname}' can no longer be read ({exc.strerror or exc}).") from None
        if ident != self._identity:
            old = self._key[:2]
            slab_cache().invalidate(lambda k: k[:2] == old)  # free the memory of the old version
            self._forget_chunks()  # where the chunks were is no longer known either
            raise FileChangedError(
                f"'{self._fname}' changed on disk after it was opened; open it again to see the new contents.")
        return self._ds

    def _fixed(self, ax: int, indices: dict[str, int], why_not_ax: str) -> dict[int, int]:
        """`indices` (dim name -> index) as dim number -> checked index; `ax` may not be among them
        ("'z' is <why_not_ax>.")."""
        fixed: dict[int, int] = {}
        for key, value in indices.items():
            d = self.axis_number(key)
            if d == ax:
                raise SliceIndexError(f"'{self.dims[d]}' is {why_not_ax}.")
            fixed[d] = self._index(d, value)
        return fixed

    def _plan(self, axis: int | str, index: int,
              other_indices: dict[str, int]) -> tuple[int, int, dict[int, int], list[int]]:
        ax = self.axis_number(axis)
        idx = self._index(ax, index)
        fixed = self._fixed(ax, other_indices, "the slicing axis; give its index once")
        display = [d for d in range(self.ndim) if d != ax and d not in fixed]
        for d in display[:-2]:  # extra dims default to index 0
            fixed[d] = 0
        display = display[-2:]
        if len(display) < 2:
            raise SliceIndexError(f"Too many fixed indices for '{self.name}': two dimensions must remain.")
        return ax, idx, fixed, display

    def _plane_bytes(self, display: list[int]) -> int:
        return self.dtype.itemsize * self.shape[display[0]] * self.shape[display[1]]

    def _block_len(self, ax: int, display: list[int]) -> int:
        """Planes per slab along ``ax``: the chunk length if the slab fits in half the cache
        budget, else the largest divisor of it that fits (at least 1).

        Contiguous datasets: 1 along the slowest axis (a plane is one contiguous run), else
        CONTIGUOUS_BLOCK planes, which cost HDF5 about as much as one plane (every row is
        touched anyway; measured 55 ms for 1 or 16 planes of [:, :, i] at 512^3).
        """
        plane_bytes = self._plane_bytes(display)
        if not self.chunks:
            first_kept = min(d for d in range(self.ndim) if d == ax or d in display)
            block = 1 if ax == first_kept else min(CONTIGUOUS_BLOCK, self.shape[ax])
        else:
            block = self.chunks[ax]
        cache = slab_cache()
        if block > 1 and cache.fits(block * plane_bytes):
            return block
        if block > 1 and self.chunks:
            # keep as many planes of the chunk slab as fit (compressed chunks are decoded
            # whole anyway); a divisor of the chunk length, so blocks never straddle chunks
            fit = max(1, (cache.budget // 2) // max(plane_bytes, 1))
            while fit > 1 and block % fit:
                fit -= 1
            return fit
        return 1

    def _read_block(self, ds: h5py.Dataset, ax: int, b0: int, b1: int, fixed: dict[int, int],
                    background: bool = False) -> np.ndarray:
        sel: list[Any] = []
        for d in range(self.ndim):
            if d == ax:
                sel.append(slice(b0, b1))
            elif d in fixed:
                sel.append(fixed[d])
            else:
                sel.append(slice(None))
        self._enter_io()
        try:
            use_direct = self._direct is not None and ds is self._ds
            if use_direct and b1 - b0 == 1 and isinstance(self._direct, RawReader):
                # one uncompressed plane across the fast axes: HDF5 reads just its rows
                # (measured 62-118 ms against 109-250 ms for whole-chunk spans at 1024^3), unless
                # it crosses thousands of small chunks, which HDF5 visits one by one (128^3 chunked
                # (1, 1, 128): 0.4-1.1 s) and the batched reads take together
                use_direct = (ax == min(d for d in range(self.ndim) if d not in fixed)
                              or self._chunks_crossed(ax, fixed) > RawReader.GATHER_MAX_RUNS)
            if use_direct:
                ranges = [(b0, b1) if d == ax else (fixed[d], fixed[d] + 1) if d in fixed else (0, self.shape[d])
                          for d in range(self.ndim)]
                # Uncompressed data is copied in this thread for read-ahead (the other core stays
                # free for the slice the user is waiting for) and for one plane (a few kB per
                # chunk: linked panes already read their planes in parallel, and handing the
                # pieces to the shared pool made four panes wait on each other)
                one_core = isinstance(self._direct, RawReader) and (background or b1 - b0 == 1)
                block = self._direct.read(ranges, first_axis=ax, parallel=not one_core)
                raw = block[tuple(0 if d in fixed else slice(None) for d in range(self.ndim))]
            else:
                raw = ds[tuple(sel)]
        except OSError as exc:
            raise self._read_error(exc) from None
        except zlib.error as exc:
            raise CorruptFileError(f"Reading '{self.name}' from '{self._fname}' failed: a compressed chunk is "
                                   f"damaged ({_short(exc)}).") from None
        finally:
            self._exit_io()
        pos = sum(1 for d in range(ax) if d not in fixed)  # position of ax among kept dims
        slab = np.moveaxis(raw, pos, 0)
        if b1 - b0 > 1 and not slab.flags.c_contiguous:
            # one transpose per slab instead of a strided gather on every step inside it
            # (blosc 512^3, axis 2: 12.8 ms -> about 1 ms per step)
            slab = np.ascontiguousarray(slab)
        return slab

    def _chunks_crossed(self, ax: int, fixed: dict[int, int]) -> int:
        """Chunks one plane across ``ax`` (other dims in ``fixed`` held) lies in."""
        assert self.chunks is not None
        counts = [1 if d == ax or d in fixed else -(-n // c)
                  for d, (n, c) in enumerate(zip(self.shape, self.chunks, strict=True))]
        return int(np.prod(counts))

    def _read_error(self, exc: OSError) -> VolumeError:
        text = str(exc).lower()
        if "filter" in text and ("not registered" in text or "not available" in text or "can't open" in text):
            return FilterMissingError(
                f"The dataset '{self.name}' uses a compression filter that this installation cannot decode "
                f"({_short(exc)}); install or update hdf5plugin.")
        return CorruptFileError(f"Reading '{self.name}' from '{self._fname}' failed: the file may be truncated "
                                f"or damaged ({_short(exc)}).")

    def _slab_key(self, ax: int, b0: int, fixed: dict[int, int]) -> tuple:
        return self._key + (ax, b0, tuple(sorted(fixed.items())))

    def _plane(self, ax: int, idx: int, fixed: dict[int, int], display: list[int]) -> np.ndarray:
        ds = self._check_open()
        block = self._block_len(ax, display)
        b0 = (idx // block) * block
        b1 = min(b0 + block, self.shape[ax])
        cache = slab_cache()
        key = self._slab_key(ax, b0, fixed)
        if block > 1 and self.chunks and not self._compressed and not cache.cached(key):
            # Uncompressed: one plane reads only its own bytes (several times cheaper than
            # the slab). A random jump pays only for its plane; the slab is read once the user
            # steps (another plane within NEAR_STEP of the last lone one, same slab) or by
            # prefetch(). Two jumps that happen to land in one slab (1 in 8 at 512^3) stay
            # planes. While read-ahead is still loading the slab, this plane is read on its
            # own rather than waiting for it.
            on_its_way = cache.contains(key) or key in self._prefetching
            last = self._last_plane_miss
            stepping = last is not None and last[0] == key and 0 < abs(idx - last[1]) <= NEAR_STEP
            if on_its_way or not stepping:
                self._last_plane_miss = (key, idx)
                plane_key = self._slab_key(ax, idx, fixed) + ("plane",)
                return cache.get_or_load(plane_key, lambda: self._read_block(ds, ax, idx, idx + 1, fixed))[0]
        slab = cache.get_or_load(key, lambda: self._read_block(ds, ax, b0, b1, fixed),
                                 nbytes=(b1 - b0) * self._plane_bytes(display))
        return slab[idx - b0]

    def read_raw(self, axis: int | str, index: int, /, **other_indices: int) -> np.ndarray:
        """The stored (undecoded) 2-D values of a slice, a read-only view of the cache."""
        ax, idx, fixed, display = self._plan(axis, index, other_indices)
        return self._plane(ax, idx, fixed, display)

    def slice(self, axis: int | str, index: int, /, **other_indices: int) -> xr.DataArray:
        """A 2-D slice as an ``xarray.DataArray`` (float, CF-decoded, with coordinates).

        ``axis`` is the normal axis (name or number) and ``index`` the position along it
        (both positional, so dims named "axis" or "index" can be given as keywords).
        The two remaining dims keep file order; further dims (N-D > 3) take their index
        from ``other_indices`` (by dim name), default 0. For a 2-D dataset the whole
        array is returned whatever ``axis``/``index`` say (index must still be valid).
        The normal axis and the fixed dims are attached as scalar coordinates.
        """
        return self._slice(axis, index, other_indices, upright=False)

    def display_slice(self, axis: int | str, index: int, /, **other_indices: int) -> xr.DataArray:
        """The slice :meth:`slice` gives, its dims in the order they are drawn (:meth:`plane_order`):
        rows up the screen (the vertical dim of a section, north of a map), columns across it, so
        data stored (x, y, z) shows as the same picture as (z, y, x). The values are C-contiguous."""
        return self._slice(axis, index, other_indices, upright=True)

    def _slice(self, axis: int | str, index: int, other_indices: dict[str, int], upright: bool) -> xr.DataArray:
        import xarray as xr

        if self.ndim == 2:
            self._index(self.axis_number(axis), index)  # validate even though unused
            if other_indices:
                raise SliceIndexError(f"'{self.name}' is 2-D: no other indices are needed.")
            display = [0, 1]
            raw = self._whole_2d()
            scalar: dict[str, int] = {}
        else:
            ax, idx, fixed, display = self._plan(axis, index, other_indices)
            raw = self._plane(ax, idx, fixed, display)
            scalar = {self.dims[ax]: idx, **{self.dims[d]: i for d, i in fixed.items()}}
        d0, d1 = (self.dims[d] for d in display)
        if upright and self.plane_order((d0, d1)) != (d0, d1):
            d0, d1, raw = d1, d0, raw.T  # the decoder's copy is C-ordered: one pass, no extra copy
        data = self._decoder(raw)
        plane = self._plane_coords.get((d0, d1))
        if plane is None:
            # the two axes' coordinates and their indexes, built once per pair of dims (rebuilding
            # them cost more than reading a cached plane)
            plane = xr.Coordinates({d: xr.Variable((d,), self.coords[d], self._coord_attrs(d)) for d in (d0, d1)})
            self._plane_coords[(d0, d1)] = plane
        variables = {**{k: v.copy(deep=False) for k, v in plane.variables.items()},  # own attrs per slice
                     **{dim: xr.Variable((), self.coords[dim][i], self._coord_attrs(dim)) for dim, i in scalar.items()}}
        attrs = {k: v for k, v in (("units", self.units), ("long_name", self.long_name)) if v is not None}
        name = posixpath.basename(self.name) or "data"
        try:
            # xarray's own fast constructor: the parts are already checked (0.07 ms against 0.5 ms, under
            # the GIL that linked panes' reads share)
            return xr.DataArray(xr.Variable((d0, d1), data, attrs), variables, name=name,
                                indexes=dict(plane.xindexes), fastpath=True)
        except (TypeError, AssertionError, ValueError):  # an xarray without it
            return xr.DataArray(data, dims=(d0, d1), name=name, attrs=attrs,
                                coords=xr.Coordinates(variables, indexes=plane.xindexes))

    def profile(self, axis: int | str, /, **indices: int) -> xr.DataArray:
        """The values along ``axis`` through one point: a 1-D ``xarray.DataArray`` (float, CF-decoded,
        with the axis's coordinates), the point given by the index of every other dim (by name; the
        ones not given are 0, like the extra dims of :meth:`slice`), attached as scalar coordinates.
        Reads only the chunks the line passes through (a depth sounding of a 1024^3 volume chunked
        64^3 is 16 chunks), not the slices it crosses, and leaves the slab cache alone."""
        import xarray as xr

        ax = self.axis_number(axis)
        fixed = self._fixed(ax, indices, "the profile's axis; it takes no index")
        fixed.update({d: 0 for d in range(self.ndim) if d != ax and d not in fixed})
        ds = self._check_open()
        self._enter_io()
        try:
            raw = ds[tuple(slice(None) if d == ax else fixed[d] for d in range(self.ndim))]
        except OSError as exc:
            raise self._read_error(exc) from None
        finally:
            self._exit_io()
        dim = self.dims[ax]
        coords = {dim: xr.Variable((dim,), self.coords[dim], self._coord_attrs(dim)),
                  **{self.dims[d]: xr.Variable((), self.coords[self.dims[d]][i], self._coord_attrs(self.dims[d]))
                     for d, i in fixed.items()}}
        attrs = {k: v for k, v in (("units", self.units), ("long_name", self.long_name)) if v is not None}
        return xr.DataArray(self._decoder(np.asarray(raw)), dims=(dim,), coords=coords,
                            name=posixpath.basename(self.name) or "data", attrs=attrs)

    def series(self, dim: int | str) -> dict[str, xr.DataArray]:
        """The figures a run kept per step of ``dim`` beside this dataset: the 1-D numeric datasets of its
        group along ``dim``'s dimension scale (``append_mesh_model(..., history=...)``: the data misfit
        per iteration), by name, each a 1-D ``xarray.DataArray`` (CF-decoded, NaN where a step gave
        none). {} for a dim without a scale. Links are not followed (nothing outside this file is read)."""
        import xarray as xr

        d = self.axis_number(dim)
        ds = self._check_open()
        self._enter_io()
        try:
            scales = list(ds.dims[d].values())
            if not scales:
                return {}
            scale, group, out = scales[0], ds.parent, {}
            for key in group:
                link = group.get(key, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    continue
                obj = group[key]
                if (not isinstance(obj, h5py.Dataset) or obj.ndim != 1 or obj.dtype.kind not in "iuf"
                        or obj == scale or obj.is_scale or obj == ds):
                    continue
                if not any(s == scale for s in obj.dims[0].values()):
                    continue
                values = np.full(self.shape[d], np.nan)
                got = CFDecoder(obj)(obj[: self.shape[d]])
                values[: got.shape[0]] = got
                attrs = {k: v for k in ("units", "long_name") if (v := attr_str(obj, k))}
                out[str(key)] = xr.DataArray(values, dims=(self.dims[d],), name=str(key), attrs=attrs,
                                             coords={self.dims[d]: xr.Variable((self.dims[d],), self.coords[self.dims[d]],
                                                                               self._coord_attrs(self.dims[d]))})
            return out
        except OSError as exc:
            raise self._read_error(exc) from None
        finally:
            self._exit_io()

    def _coord_attrs(self, dim: str) -> dict[str, str]:
        return {k: v for k, v in (("units", self.coord_units.get(dim)), ("long_name", self.coord_long_names.get(dim)))
                if v}

    def _whole_2d(self) -> np.ndarray:
        ds = self._check_open()
        return slab_cache().get_or_load(self._key + ("2d",), lambda: self._read_block(ds, 0, 0, self.shape[0], {}))

    def prefetch(self, axis: int | str, index: int, direction: int = 1, /,
                 **other_indices: int) -> Future | None:
        """Load, in the background, the slab that follows ``index`` in ``direction`` (+1/-1).

        Also loads the slab of ``index`` itself if it is not cached. Returns a Future (or
        None if there is nothing to do); errors in the background are swallowed, the
        next :meth:`slice` reports them.
        """
        if self._closed or self.ndim == 2:
            return None
        try:
            ax, idx, fixed, display = self._plan(axis, index, other_indices)
            ds = self._check_open()
        except VolumeError:
            return None
        block = self._block_len(ax, display)
        cache = slab_cache()
        b0 = (idx // block) * block
        targets = [b0]
        nxt = b0 + block if direction >= 0 else b0 - block
        if 0 <= nxt < self.shape[ax]:
            targets.append(nxt)
        # a slab already cached that the user is heading into counts as used now: linked panes share
        # the cache, and another volume's read-ahead must not evict it before the user gets there
        wanted = [(b, self._slab_key(ax, b, fixed)) for b in targets]
        todo = [(b, key) for b, key in wanted
                if not cache.touch(key) and not cache.contains(key) and key not in self._prefetching]
        if not todo:
            return None
        keys = [key for _, key in todo]
        self._prefetching.update(keys)

        def load() -> None:
            try:
                for b, key in todo:
                    if self._closed:
                        return
                    b1 = min(b + block, self.shape[ax])
                    cache.get_or_load(key, lambda b=b, b1=b1: self._read_block(ds, ax, b, b1, fixed, background=True),
                                      nbytes=(b1 - b) * self._plane_bytes(display))
                    self._prefetching.discard(key)
            except Exception:  # noqa: BLE001 - the next slice() reports read errors
                return
            finally:
                self._prefetching.difference_update(keys)

        return prefetch_executor().submit(load)

    # -- value range -------------------------------------------------------------
    def value_range(self, method: str = "sample") -> tuple[float, float]:
        """Whole-volume (vmin, vmax) of finite decoded values, cached per file version.

        ``method="sample"`` (default): ``actual_range`` attribute if present, else a
        sample of up to 27 whole chunks spread over the volume. ``method="exact"``:
        stream the whole dataset (slow for big files; computed once).
        """
        if method not in ("sample", "exact"):
            raise ValueError("method must be 'sample' or 'exact'")
        key = self._key + ("range", method, self.part)
        with _RANGES_LOCK:
            if key in _RANGES:
                return _RANGES[key]
        ds = self._check_open()
        result = None
        if method == "sample":
            result = self._range_from_attrs()
            if result is None:
                result = self._range_from_blocks(ds, self._sample_blocks())
                if result is None and self.dtype.itemsize * int(np.prod(self.shape)) <= 64 * 2**20:
                    result = self._range_from_blocks(ds, self._all_blocks())
        else:
            result = self._range_from_blocks(ds, self._all_blocks())
        result = _sane_range(*(result if result is not None else (np.nan, np.nan)))
        with _RANGES_LOCK:
            _RANGES[key] = result
        return result

    def _range_from_attrs(self) -> tuple[float, float] | None:
        value = None if self.is_complex else self.attrs.get("actual_range")
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            lo, hi = float(value[0]), float(value[1])
            if np.isfinite(lo) and np.isfinite(hi) and lo <= hi:
                return (lo, hi)
        return None

    def _block_shape(self) -> tuple[int, ...]:
        if self.chunks:
            return self.chunks
        return tuple(min(n, 64) for n in self.shape)

    def _sample_blocks(self) -> Iterator[tuple[slice, ...]]:
        c = self._block_shape()
        leading, _ = split_volume(self.shape)
        per_dim = []
        for d, (n, cd) in enumerate(zip(self.shape, c, strict=False)):
            nblocks = -(-n // cd)
            k = SAMPLE_PER_DIM if d >= len(leading) else 1  # one position along each leading dim
            picks = sorted(set(np.linspace(0, nblocks - 1, min(k, nblocks)).round().astype(int).tolist()))
            per_dim.append([slice(b * cd, min((b + 1) * cd, n)) for b in picks])
        grids = np.meshgrid(*[np.arange(len(p)) for p in per_dim], indexing="ij")
        for combo in zip(*(g.ravel() for g in grids), strict=False):
            yield tuple(per_dim[d][i] for d, i in enumerate(combo))

    def _all_blocks(self) -> Iterator[tuple[slice, ...]]:
        # slabs of whole chunks along axis 0, split further so each read stays <= 64 MiB
        c = self._block_shape()
        row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:]))
        step = max(1, min(self.shape[0], max(c[0], (64 * 2**20) // max(row_bytes, 1))))
        step = max(c[0], (step // c[0]) * c[0]) if step >= c[0] else step
        for b in range(0, self.shape[0], step):
            yield (slice(b, min(b + step, self.shape[0])),) + (slice(None),) * (self.ndim - 1)

    def _range_from_blocks(self, ds: h5py.Dataset, blocks: Iterator[tuple[slice, ...]]) -> tuple[float, float] | None:
        lo, hi = np.inf, -np.inf
        for sel in blocks:
            self._enter_io()
            try:
                raw = ds[sel]
            except OSError as exc:
                raise self._read_error(exc) from None
            finally:
                self._exit_io()
            data = self._decoder(raw)
            finite = data[np.isfinite(data)]
            if finite.size:
                lo = min(lo, float(finite.min()))
                hi = max(hi, float(finite.max()))
        return (lo, hi) if lo <= hi else None
