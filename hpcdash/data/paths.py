"""Path safety for the file browser: nothing outside the configured root is reachable.

``safe_path(root, path)`` resolves symlinks and ``..`` and raises
:class:`PathOutsideRootError` if the result is not inside ``root``; ``kept_path(root, path)`` checks the
same and returns the path as the user named it, a symlink kept (``latest.h5``, which a job re-points to
its newest results, is opened again as ``latest.h5``).
``list_dir(root, rel)`` lists one folder below the root for the browser; entries whose
real location is outside the root (escaping symlinks) are left out.
``named_path(root, path)`` is the rule for a path the user typed in a shell or a notebook
(``hpcdash serve``, ``hpcdash bundle``, ``SliceExplorer``): the working directory first, else below the
root, and still inside the root; ``default_root(paths)`` is the root a notebook gets when it names none.
Paths coming from a browser (the file browser, the URL) go through ``safe_path`` alone: below the root.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import MissingFileError, PathOutsideRootError, VolumeError

#: file name endings of HDF5 files (netCDF-4 and NeXus files are HDF5 too)
HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".nc", ".nc4", ".nxs", ".hdf")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 looks for its superblock at 0, 512, 1024, 2048, ... (after a user block)
_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)


@dataclass(frozen=True)
class DirEntry:
    """One entry of :func:`list_dir`. ``path`` is relative to the root, '/'-separated."""

    name: str
    path: str
    is_dir: bool
    size: int | None
    #: None when not checked (``list_dir(check_signature=False)``)
    is_hdf5: bool | None


def safe_path(root: Path | str, path: Path | str) -> Path:
    """The real path of ``path`` (relative to ``root`` or absolute), guaranteed inside ``root``.

    Symlinks and '..' are resolved first; the path need not exist. Raises
    :class:`PathOutsideRootError` otherwise.
    """
    real_root = Path(os.path.realpath(root))
    p = Path(path)
    if "\x00" in str(p):
        raise PathOutsideRootError("The path contains a NUL character.")
    candidate = p if p.is_absolute() else real_root / p
    real = Path(os.path.realpath(candidate))
    if real != real_root and real_root not in real.parents:
        raise PathOutsideRootError(f"'{p}' is outside the root folder.")
    return real


def kept_path(root: Path | str, path: Path | str) -> Path:
    """``path`` (relative to ``root`` or absolute) as the user named it, guaranteed to lead inside ``root``:
    absolute, '.' and '..' taken out, symlinks kept, so that a link re-pointed later (``latest.h5``) leads
    to its new target when the path is opened again. Raises :class:`PathOutsideRootError` like
    :func:`safe_path`; callers check again each time they open it (a link may lead out of the root by then).
    """
    real = safe_path(root, path)
    p = Path(path)
    real_root = Path(os.path.realpath(root))
    return _as_named(real_root, p if p.is_absolute() else real_root / p, real)


def _as_named(real_root: Path, candidate: Path, real: Path) -> Path:
    """``candidate`` (absolute, leading to ``real`` inside ``real_root``) with its symlinks kept and '.' and
    '..' taken out, below ``real_root`` as it is spelt. Where that would mean another file (a '..' after
    a link to a folder) or lie elsewhere (the root reached through another name): its folder resolved
    and its own name kept (a link's name); else ``real``."""
    lexical = Path(os.path.normpath(candidate))
    if _within(lexical, real_root) and os.path.realpath(lexical) == str(real):
        return lexical
    if candidate.name not in ("", ".", ".."):
        named = Path(os.path.realpath(candidate.parent)) / candidate.name
        if _within(named.parent, real_root) and os.path.realpath(named) == str(real):
            return named
    return real


def named_path(root: Path | str, path: Path | str, cwd: Path | str | None = None, *,
               keep_links: bool = False) -> Path:
    """The real path of a file the user named in a shell or a notebook, guaranteed inside ``root``;
    with ``keep_links``, the path as named instead (see :func:`kept_path`: a link stays a link).

    An absolute ``path`` is taken as it is. A relative one means what it means in the shell: below the
    working directory ``cwd`` (default: the process's) when it exists there, else below ``root``.
    Raises :class:`MissingFileError` naming every path tried when it exists nowhere, and
    :class:`PathOutsideRootError` naming the path and the root when it (or the symlink it is) leads
    outside ``root``. Unlike :func:`safe_path` it may say that a file outside the root exists: use it
    for what the person who chose the root typed, never for what a browser sends.
    """
    real_root = Path(os.path.realpath(root))
    text = os.fspath(path)
    if "\x00" in text:
        raise PathOutsideRootError("The path contains a NUL character.")
    if os.path.isabs(text):
        tried = [Path(os.path.normpath(text))]
    else:
        here = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
        tried = [Path(os.path.normpath(here / text))]
        if os.path.realpath(here) != str(real_root):
            tried.append(Path(os.path.normpath(real_root / text)))
    found = next((t for t in tried if os.path.exists(t)), None)
    if found is None:
        later = [t for t in tried if _within(Path(os.path.realpath(t)), real_root)]
        if not later:  # it could never be opened, even once written
            raise PathOutsideRootError(f"{tried[0]} does not exist, and it is outside the root folder {real_root}.")
        if os.path.isabs(text):
            raise MissingFileError(f"{tried[0]} does not exist.")
        if len(tried) == 1:
            raise MissingFileError(f"{tried[0]} does not exist; paths are relative to the working directory, "
                                   f"which is the root folder {real_root}.")
        raise MissingFileError(f"{tried[0]} does not exist, nor does {tried[1]}: a relative path is taken from "
                               f"the working directory, else from the root folder {real_root}.")
    real = Path(os.path.realpath(found))
    if real != real_root and real_root not in real.parents:
        leads = "" if real == found else f" (it leads to {real})"
        raise PathOutsideRootError(f"{found} is outside the root folder {real_root}{leads}.")
    return _as_named(real_root, found, real) if keep_links else real


def relative_below(root: Path | str, path: Path | str) -> str | None:
    """`path` relative to `root` as written (no link resolved: see `safe_path` for what a path
    reaches), "." for the root itself, or None when it lies outside (``..`` leads out of the root; a
    name such as ``..dots`` does not)."""
    rel = os.path.relpath(path, root)
    return None if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def default_root(paths: Iterable[Path | str], cwd: Path | str | None = None) -> Path:
    """The root folder for files named in a notebook without one: the working directory when every
    existing path is inside it (symlinks resolved), else the deepest folder holding them all.

    The people who name files may see them; the root is no wider than that, so that the file browser
    does not show the whole machine because one data folder is a symlink to scratch space. Paths that
    do not exist are left out (they are reported when opened)."""
    here = Path(os.path.realpath(cwd if cwd is not None else os.getcwd()))
    found = []
    for p in paths:
        candidate = Path(p) if os.path.isabs(p) else here / p
        if os.path.exists(candidate):
            real = Path(os.path.realpath(candidate))
            found.append(real if real.is_dir() else real.parent)
    if all(f == here or here in f.parents for f in found):
        return here
    return Path(os.path.commonpath(found))


def filename_part(text: str) -> str:
    """``text`` (a name read from a file, or typed by a user) made safe as part of a file name: runs of
    anything but letters and digits (of any script: "λ_1", "数据" stay), '.', '_' and '-' become one '-',
    and leading or trailing '.' and '-' go (no hidden files, no '..'). Empty if nothing usable is left."""
    return re.sub(r"[^\w.-]+", "-", str(text)).strip(".-")


def looks_like_hdf5(path: Path | str) -> bool:
    """True if the file carries the HDF5 signature at 0 or a user-block offset (cheap, 8-byte reads)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            for off in _SIGNATURE_OFFSETS:
                if off + 8 > size:
                    break
                fh.seek(off)
                if fh.read(8) == HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


def folder_stamp(root: Path | str, rel: Path | str = "") -> int | None:
    """When the folder ``rel`` below ``root`` last gained, lost or renamed an entry (its mtime, ns);
    None when it cannot be read. One stat: cheap enough to poll, unlike a listing on a busy parallel
    file system."""
    try:
        return os.stat(safe_path(Path(os.path.realpath(root)), rel)).st_mtime_ns
    except (PathOutsideRootError, OSError):
        return None


#: How coarse a folder's mtime may be: 1 s on some file systems (ext3, HFS+, some NFS servers), 2 s on FAT.
STAMP_GRANULARITY_NS = 2_000_000_000


class FolderWatch:
    """Whether the folder ``rel`` below ``root`` may have gained, lost or renamed an entry since it was
    last listed: one stat per check (:func:`folder_stamp`).

    Call :meth:`listed` just before listing the folder. A folder changed within
    :data:`STAMP_GRANULARITY_NS` of that listing may change again without a new mtime (a file created
    in the same tick of a coarse clock), so :meth:`changed` stays True until a listing was taken after
    the folder's last change had settled."""

    def __init__(self, root: Path | str, rel: Path | str = ""):
        self.root, self.rel = root, rel
        self._stamp: int | None = None
        self._settled = False

    def listed(self, stamp: int | None = None) -> None:
        """Note a listing of the folder now (``stamp``: its :func:`folder_stamp`, if just taken)."""
        self._stamp = folder_stamp(self.root, self.rel) if stamp is None else stamp
        self._settled = self._stamp is not None and time.time_ns() - self._stamp >= STAMP_GRANULARITY_NS

    def changed(self) -> int | None:
        """The folder's stamp if it should be listed again, else None (also when it cannot be read)."""
        stamp = folder_stamp(self.root, self.rel)
        if stamp is None or (stamp == self._stamp and self._settled):
            return None
        return stamp


def list_dir(root: Path | str, rel: Path | str = "", show_hidden: bool = False,
             suffixes: Iterable[str] | None = None, check_signature: bool = True) -> list[DirEntry]:
    """Entries of the folder ``rel`` below ``root``: folders first, then files, by name.

    ``suffixes``: only files whose names end with one of them (any case), e.g. :data:`HDF5_SUFFIXES`;
    ``check_signature``: whether to read each file's first bytes for ``is_hdf5`` (else None). A run
    folder on a parallel file system may hold tens of thousands of logs and checkpoints, and each stat
    or open there is a round trip to a metadata server: files the suffixes leave out cost nothing, and
    only symlinks are resolved (anything else in a folder inside the root is inside it).

    Raises :class:`PathOutsideRootError` if ``rel`` escapes the root and
    :class:`VolumeError` if it is not a readable folder.
    """
    real_root = Path(os.path.realpath(root))
    folder = safe_path(real_root, rel)
    # the root itself by its full path (the server's --root), a folder below it by its relative one
    what = f"The root folder {real_root}" if folder == real_root else f"'{rel}'"
    if not folder.exists():
        raise MissingFileError(f"{what} does not exist.")
    if not folder.is_dir():
        raise VolumeError(f"{what} is not a folder.")
    try:
        with os.scandir(folder) as it:
            found = list(it)
    except PermissionError:
        raise VolumeError(f"{what} cannot be read (permission denied).") from None
    wanted = None if suffixes is None else tuple(x.lower() for x in suffixes)
    entries = []
    for item in found:
        name = item.name
        if not show_hidden and name.startswith("."):
            continue
        try:
            if item.is_symlink():  # it may lead out of the root, or nowhere
                real = safe_path(real_root, folder / name)
                st = os.stat(real)
                is_dir = stat.S_ISDIR(st.st_mode)
            else:
                real, st = folder / name, None
                is_dir = item.is_dir(follow_symlinks=False)
            if not is_dir and wanted is not None and not name.lower().endswith(wanted):
                continue
            if not is_dir and st is None:
                st = item.stat(follow_symlinks=False)
        except (PathOutsideRootError, OSError):
            continue  # escaping or dangling symlink, or gone meanwhile
        regular = st is not None and stat.S_ISREG(st.st_mode)
        entries.append(DirEntry(
            name=name,
            path=(folder / name).relative_to(real_root).as_posix(),
            is_dir=is_dir,
            size=None if is_dir else st.st_size,
            is_hdf5=(regular and looks_like_hdf5(real)) if check_signature else None,
        ))
    entries.sort(key=lambda e: (not e.is_dir, e.name.lower()))
    return entries
