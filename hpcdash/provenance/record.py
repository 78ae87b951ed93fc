"""What was done: an append-only log of events (files opened, views, exports, cluster jobs, runs).

Data layer: no Panel, no param. The app's state objects record into a `ProvenanceLog`; a bundle
(`hpcdash.provenance.bundle`) is written from it. Thread-safe: cluster work reports from worker threads.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: kinds of events, in the words the Provenance tab shows
KINDS = ("open", "view", "export", "cluster", "run", "bundle")


def now_iso() -> str:
    """UTC time to the second, ``+00:00`` (the form RO-Crate validators accept)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Event:
    """One thing done. `paths` are the files involved (absolute); `details` is JSON-serialisable."""

    kind: str
    summary: str
    time: str = field(default_factory=now_iso)
    paths: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "kind": self.kind,
            "summary": self.summary,
            "paths": list(self.paths),
            "details": self.details,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Event:
        return cls(
            kind=str(d["kind"]),
            summary=str(d.get("summary", "")),
            time=str(d.get("time", "")),
            paths=tuple(str(p) for p in d.get("paths", ())),
            details=dict(d.get("details") or {}),
        )


class ProvenanceLog:
    """Events of one working session, in order; mirrored to a JSON-lines file when `path` is given
    (one event per line, appended as it happens, so nothing is lost if the server stops)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else None
        self.write_error = ""  # why the file could not be written ("" = fine)
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Event], None]] = []

    def record(
        self, kind: str, summary: str, paths: Iterable[str | os.PathLike] = (), **details: Any
    ) -> Event:
        """Add an event and tell the listeners (in the calling thread)."""
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r} (one of {', '.join(KINDS)})")
        event = Event(kind, summary, paths=tuple(str(p) for p in paths), details=_jsonable(details))
        with self._lock:
            self._events.append(event)
            if self.path is not None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    # the owner's alone: a record names files and jobs
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                    with open(fd, "a", encoding="utf-8") as f:
                        f.write(json.dumps(event.to_json(), sort_keys=True) + "\n")
                except OSError as err:  # a read-only folder: the events stay in memory
                    self.write_error = str(err)
            listeners = list(self._listeners)
        for fn in listeners:
            fn(event)
        return event

    def events(self, kind: str | None = None) -> list[Event]:
        with self._lock:
            return [e for e in self._events if kind is None or e.kind == kind]

    def on_record(self, fn: Callable[[Event | None], None]) -> None:
        """Call `fn(event)` after each new event (`fn(None)` when the record starts afresh)."""
        with self._lock:
            self._listeners.append(fn)

    def last(self, kind: str, path: str | os.PathLike, **details: Any) -> Event | None:
        """The latest event of `kind` naming `path` whose details hold `details` (None when there is none)."""
        path = str(path)
        for e in reversed(self.events(kind)):
            if path in e.paths and all(e.details.get(k) == v for k, v in details.items()):
                return e
        return None

    def files(self) -> list[str]:
        """Every file named by an event, once, in the order first named (absolute paths)."""
        seen: dict[str, None] = {}
        for e in self.events():
            for p in e.paths:
                seen.setdefault(p, None)
        return list(seen)

    @classmethod
    def read(cls, path: str | os.PathLike) -> ProvenanceLog:
        """A log from a JSON-lines file written by one (lines that do not parse are skipped)."""
        log = cls()
        log._events.extend(_parse_events(Path(path).read_text(encoding="utf-8")))
        return log

    @classmethod
    def resume(cls, path: str | os.PathLike) -> ProvenanceLog:
        """A log that goes on where the JSON-lines file at `path` stopped: its events first, new ones
        appended to it (a server restarted keeps its record). A missing file starts an empty record; a
        line cut short by a crash is skipped; a file that cannot be read leaves `write_error` set and the
        record in memory only."""
        log = cls(path)
        try:
            text = log.path.read_text(encoding="utf-8", errors="replace")
            log._events.extend(_parse_events(text))
            if text and not text.endswith("\n"):  # a line cut short: the next event starts on a line of its own
                with open(log.path, "a", encoding="utf-8") as f:
                    f.write("\n")
        except FileNotFoundError:
            pass
        except OSError as err:
            log.write_error, log.path = str(err), None
        return log

    def start_afresh(self) -> Path | None:
        """Begin an empty record. The file so far (if any) is kept next to it as
        ``<name>-<UTC time>.jsonl``, whose path is returned."""
        with self._lock:
            kept = None
            if self.path is not None and self.path.exists():
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
                try:
                    self.path.rename(kept)
                except OSError as err:
                    self.write_error = str(err)
                    kept = None
            self._events.clear()
            listeners = list(self._listeners)
        for fn in listeners:
            fn(None)
        return kept


def _parse_events(text: str) -> list[Event]:
    """The events of a JSON-lines record; lines that do not parse are skipped."""
    events = []
    for line in text.splitlines():
        try:
            events.append(Event.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return events


def record_path(root: str | os.PathLike, state_dir: str | os.PathLike | None = None) -> Path:
    """Where a server keeps the record of its pages for `root`: ``$XDG_STATE_HOME/hpcdash/records``
    (default ``~/.local/state/hpcdash/records``), one file per root folder
    (``<folder name>-<hash of its path>.jsonl``)."""
    root = os.path.realpath(root)
    base = Path(state_dir or os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in (os.path.basename(root) or "root"))[:40]
    digest = hashlib.sha256(root.encode()).hexdigest()[:10]
    return base / "hpcdash" / "records" / f"{name}-{digest}.jsonl"


def file_stamp(path: str | os.PathLike) -> dict[str, int]:
    """What tells one content of a file from another without reading it: ``{"size": bytes,
    "mtime_ns": modification time in ns}`` (empty when the file cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def shown_path(path: str | os.PathLike, root: str | os.PathLike | None) -> str:
    """A file as hpcdash names it to others (the Provenance tab, a bundle's README): its path under
    `root` (two runs of one name in two folders stay apart), else its name alone (the folders of the
    machine it was recorded on are nobody else's business)."""
    p = Path(path)
    if root is not None and p.is_relative_to(root):
        return p.relative_to(root).as_posix()
    return p.name


def format_value(value: Any) -> str:
    """A value as shown to people: floats to 6 significant digits (``-166.667``, ``100``, ``1e-07``),
    anything else as ``str``. The full value stays in the event's details."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):  # numpy's too
        return f"{float(value):.6g}"
    return str(value)


def describe_parameters(params: dict[str, Any]) -> str:
    """``source_x = -166.667, core_cells = 24`` (the ``name`` entry left out)."""
    return ", ".join(f"{k} = {format_value(v)}" for k, v in params.items() if k != "name")


def _jsonable(value: Any) -> Any:
    """`value` with every leaf JSON-serialisable (paths and other objects as text)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        try:
            return _jsonable(value.tolist())
        except Exception:  # noqa: BLE001
            pass
    return str(value)


def file_sha256(
    path: str | os.PathLike,
    progress: Callable[[int], None] | None = None,
    block: int = 8 << 20,
    copy_to: str | os.PathLike | None = None,
) -> str:
    """SHA-256 of a file's bytes (hex), read once; `progress(n)` is called with the bytes read after each
    block. With `copy_to`, the bytes are written there on the same pass (file times kept)."""
    h = hashlib.sha256()
    with open(path, "rb") as f, open(copy_to, "wb") if copy_to is not None else nullcontext() as out:
        while chunk := f.read(block):
            h.update(chunk)
            if out is not None:
                out.write(chunk)
            if progress is not None:
                progress(len(chunk))
    if copy_to is not None:
        shutil.copystat(path, copy_to)
    return h.hexdigest()
