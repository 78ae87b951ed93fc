"""Path safety for the file browser: nothing outside the configured root is reachable.

``safe_path(root, path)`` resolves symlinks and ``..`` and raises
:class:`PathOutsideRootError` if the result is not inside ``root``.
``list_dir(root, rel)`` lists one folder below the root for the browser; entries whose
real location is outside the root (escaping symlinks) are left out.
"""

from __future__ import annotations

import os
import stat
import time
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
    is_hdf5: bool


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
        raise PathOutsideRootError(f"'{p}' is outside the folder this server may show.")
    return real


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


def list_dir(root: Path | str, rel: Path | str = "", show_hidden: bool = False) -> list[DirEntry]:
    """Entries of the folder ``rel`` below ``root``: folders first, then files, by name.

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
        names = sorted(os.listdir(folder))
    except PermissionError:
        raise VolumeError(f"{what} cannot be read (permission denied).") from None
    entries = []
    for name in names:
        if not show_hidden and name.startswith("."):
            continue
        try:
            real = safe_path(real_root, folder / name)
            st = os.stat(real)
        except (PathOutsideRootError, OSError):
            continue  # escaping or dangling symlink
        is_dir = stat.S_ISDIR(st.st_mode)
        rel_path = (folder / name).relative_to(real_root).as_posix()
        entries.append(DirEntry(
            name=name,
            path=rel_path,
            is_dir=is_dir,
            size=None if is_dir else st.st_size,
            is_hdf5=(not is_dir) and stat.S_ISREG(st.st_mode) and looks_like_hdf5(real),
        ))
    entries.sort(key=lambda e: (not e.is_dir, e.name.lower()))
    return entries
