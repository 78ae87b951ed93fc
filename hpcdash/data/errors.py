"""Errors of the data layer.

Every failure a user can cause (a wrong file, a path outside the root, a missing
compression filter, ...) raises a :class:`VolumeError` subclass whose ``str()`` is one
clear sentence meant to be shown to that user (HTML-escape it first: it may quote file
names and dataset paths, which are untrusted). UI layers catch ``VolumeError``, show the
message and keep running.
"""

from __future__ import annotations


class VolumeError(Exception):
    """Base class: ``str(err)`` is a user-facing sentence."""


class NotHDF5Error(VolumeError):
    """The path is not an HDF5 file (wrong signature, a folder, an empty file)."""


class CorruptFileError(VolumeError):
    """The file has an HDF5 signature but cannot be read (truncated or damaged)."""


class FileBusyError(VolumeError):
    """Another program has the file open for writing, not in SWMR mode (or ended without closing it)."""


class MissingFileError(VolumeError):
    """The path does not exist (or cannot be read because of permissions)."""


class NoVolumeError(VolumeError):
    """The file (or the requested dataset path) holds no plottable dataset."""


class BrokenLinkError(NoVolumeError):
    """A soft or external link in the file points to something that does not exist."""


class UnsupportedDataError(VolumeError):
    """The dataset exists but cannot be shown: fewer than 2 dims, strings, compound, ..."""


class FilterMissingError(VolumeError):
    """The dataset is compressed with a filter that this installation cannot decode."""


class PathOutsideRootError(VolumeError):
    """A requested path resolves (through '..' or symlinks) outside the allowed root."""


class FileChangedError(VolumeError):
    """The file was deleted or replaced on disk while a Volume had it open."""


class SliceIndexError(VolumeError, IndexError):
    """A slice index or an axis name is out of range for the dataset."""


__all__ = [
    "VolumeError",
    "NotHDF5Error",
    "CorruptFileError",
    "MissingFileError",
    "NoVolumeError",
    "BrokenLinkError",
    "UnsupportedDataError",
    "FilterMissingError",
    "PathOutsideRootError",
    "FileChangedError",
    "SliceIndexError",
]
