"""State of the "Provenance" tab: what was done (in every page of a server), and the bundle the user
exports.

`ProvenanceState` listens to the explorer (files and datasets opened, slices exported), the cluster
(started, scaled, jobs submitted or rejected, closed) and sweeps (runs with their parameters and
output files), records each into a `ProvenanceLog`, and writes bundles (`export_bundle`). No widgets
here: the view (`hpcdash.provenance.view`) renders it; a notebook can use it directly.
"""

from __future__ import annotations

import os
import threading
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import param

from hpcdash.words import counted

from .bundle import LICENSES, BundlePlan, default_name, distinct_views, plan_bundle, write_bundle
from .record import Event, ProvenanceLog, describe_parameters, file_sha256, file_stamp


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).replace(microsecond=0).isoformat()


def _opened_as(pane) -> dict[str, str]:
    """``{"opened_as": path}`` for a pane that reads its file through a symlink (`SliceState.opened_as`), else
    {}: the record names the file read and the link the user opened."""
    return {"opened_as": pane.opened_as} if pane.opened_as else {}


class ProvenanceState(param.Parameterized):
    """The record of a server's pages (or of one notebook) and the bundle export.

    Events may arrive from any thread (cluster work runs in worker threads); `revision` counts them,
    so a view can poll it cheaply. `export_bundle` is synchronous (a view runs it in a thread) and
    reports through `progress` / `progress_text`."""

    root = param.String(default=".", doc="The app's root folder: only files inside it go into a bundle.")
    bundle_dir = param.String(default="", doc="Where bundles are written ('' = <root>/bundles).")
    title = param.String(default="", label="Title", doc="Name of the bundle's content, e.g. the study.")
    license = param.Selector(
        default="",
        objects=["", *LICENSES],
        label="License",
        doc="SPDX license of the bundle's content ('' = none chosen).",
    )
    author = param.String(default="", label="Author", doc="Who made the bundle ('' = this machine's login name).")
    orcid = param.String(default="", label="ORCID iD", doc="The author's ORCID iD (optional).")
    affiliation = param.String(default="", label="Affiliation",
                               doc="The author's organisation (optional), its name and perhaps its ROR address.")
    include_data = param.Boolean(
        default=True,
        label="Include the data files",
        doc="Copy the files into the bundle (else record their paths and hashes).",
    )

    excluded = param.List(
        default=[],
        item_type=str,
        doc="Recorded files chosen to stay out of the bundle (real paths); every other recorded file "
        "inside the root goes in, files recorded later included.",
    )

    busy = param.Boolean(default=False, doc="A bundle is being written.")
    progress = param.Number(default=0.0, bounds=(0, 1))
    progress_text = param.String(default="")
    message = param.String(default="", doc="Outcome of the last export, plain text.")
    error = param.String(default="", doc="Why the last export failed, plain text.")
    warnings = param.List(
        default=[],
        item_type=str,
        doc="Warnings of the last export, plain text: the data files hpcdash could not open as HDF5 "
        "(bundled all the same), each named with why.",
    )
    bundle_zip = param.String(default="", doc="The last bundle's zip file.")

    def __init__(self, log: ProvenanceLog | None = None, **params):
        super().__init__(**params)
        self.root = str(Path(self.root).resolve())
        self.log = log or ProvenanceLog()
        self.revision = 0
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()  # pages of a server load in parallel: one "open" per content
        # the explorers recorded (one per page of a server); weak, so a closed page's goes with it
        self._explorers: weakref.WeakSet = weakref.WeakSet()
        # pane -> (file, dataset) last recorded; weak, so a closed pane goes (and a new one is never
        # mistaken for it)
        self._opened: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.log.on_record(self._count)

    def _count(self, event: Event) -> None:
        with self._lock:
            self.revision += 1

    # ------------------------------------------------------------------ sources
    def watch_explorer(self, explorer) -> None:
        """Record the files (and datasets) `explorer` (an ExplorerState) opens, and exported slices and
        comparisons; its panes' views are taken when a bundle is written. Several explorers may be
        watched (the pages of one server); `unwatch_explorer` drops one."""
        self._explorers.add(explorer)
        explorer.param.watch(lambda *e, x=explorer: self._on_panes(x), ["panes"])
        explorer.param.watch(lambda e: self._comparison_exported(e.new, explorer), ["comparison_export"])
        self._on_panes(explorer)

    def unwatch_explorer(self, explorer) -> None:
        """Stop taking `explorer`'s views into bundles (its page closed); what it did stays recorded."""
        self._explorers.discard(explorer)

    def _live_explorers(self) -> list:
        return sorted((x for x in list(self._explorers) if x.panes), key=id)

    def _on_panes(self, explorer) -> None:
        if explorer not in self._explorers:
            return
        for pane in explorer.panes:
            if pane not in self._opened:
                self._opened[pane] = ("", "", ())
                # the file read (a link re-pointed and reloaded reads another) and the dataset
                pane.param.watch(lambda e, p=pane: self._pane_changed(p), ["target", "dataset"])
                pane.param.watch(lambda e, p=pane: self._exported(p, e.new), ["last_export"])
                self._pane_changed(pane)

    def _pane_changed(self, pane) -> None:
        """Record the file a pane reads (`target`: a link's target, which is what is hashed and bundled;
        the link it was opened as is named in the details, `opened_as`) and its dataset."""
        # the file's content too: a Reload (or Follow) of a file a job rewrote in place reads another
        # version of it, recorded with its size and time
        stamp = file_stamp(pane.target) if pane.target else {}
        key = (pane.target, pane.dataset or "", tuple(sorted(stamp.items())))
        if not pane.target or pane.error or self._opened.get(pane) == key:
            return
        self._opened[pane] = key
        with self._open_lock:
            # a page (re)loaded, a second tab or another pane showing a file already recorded with this
            # content adds nothing: an "open" is recorded again only when the file changed since
            last = self.log.last("open", pane.target, dataset=pane.dataset)
            if last is not None and stamp and all(last.details.get(k) == v for k, v in stamp.items()):
                return
            vol = getattr(pane, "volume", None)
            details: dict[str, Any] = {"dataset": pane.dataset, **stamp, **_opened_as(pane)}
            if vol is not None:
                details.update(shape=list(vol.shape), dims=list(vol.dims), units=vol.units or "")
            self.log.record(
                "open",
                f"Opened {pane.file_label()}" + (f" {pane.dataset}" if pane.dataset else ""),
                paths=[pane.target],
                **details,
            )

    def _exported(self, pane, export: dict | None) -> None:
        """A downloaded slice: an "export" event, with the view it was taken from (`query`, the page's
        URL query items), which a bundle reopens."""
        if not export:
            return
        holder = next((x for x in list(self._explorers) if pane in x.panes), None)
        view = {"query": holder.to_query(targets=True)} if holder is not None else {}
        self.log.record(
            "export", f"Downloaded {export.get('filename', 'a slice')}", paths=[pane.target or pane.file],
            **export, **_opened_as(pane), **view
        )

    def _comparison_exported(self, export: dict | None, explorer=None) -> None:
        """An exported comparison is an "export" like a slice's, naming both runs (A first); its
        details say what it is (`compare`: difference or ratio) and which slices (`a`, `b`), and the
        view it was taken from."""
        if not export:
            return
        paths = [export[k]["file"] for k in ("a", "b") if export.get(k, {}).get("file")]
        view = {"query": explorer.to_query(targets=True)} if explorer is not None else {}
        self.log.record(
            "export", f"Downloaded {export.get('filename', 'a comparison')}", paths=paths, **export, **view
        )

    def exported_views(self) -> list[dict[str, str]]:
        """The views slices and comparisons were downloaded from (recorded with each download)."""
        return [dict(e.details["query"]) for e in self.log.events()
                if e.kind == "export" and isinstance(e.details.get("query"), dict)]

    def watch_cluster(self, control) -> None:
        """Record what is done to `control` (a ClusterControl): start, scale, adapt, jobs, close."""
        control.on_activity(lambda summary, **details: self.log.record("cluster", summary, **details))

    def record_runs(self, parameter_sets: list[dict], paths: list[str | os.PathLike], started: float) -> None:
        """Record a finished sweep: one "run" event per output file, with its parameters."""
        for params, path in zip(parameter_sets, paths, strict=False):
            self.record_run(params, path, started)

    def record_run(self, params: dict, path: str | os.PathLike, started: float, shown: dict | None = None) -> None:
        """Record one run of a sweep as it ends (callable from any thread): a "run" event naming its
        output file, with the SHA-256 of that file, all its `params` (the fixed ones too) and the time
        the sweep started (the event's own time is the run's end); the summary names `shown` (default:
        all `params`), the ones the sweep set."""
        try:
            digest = file_sha256(path)
        except OSError:
            digest = None
        self.log.record(
            "run",
            f"Forward model {Path(path).stem}: {describe_parameters(shown if shown is not None else params)}",
            paths=[path],
            parameters=dict(params),
            started=_iso(started),
            sha256=digest,
        )

    # ------------------------------------------------------------------ export
    def events(self) -> list[Event]:
        return self.log.events()

    def views(self) -> list[dict[str, str]]:
        """Each distinct view of the watched explorers as URL query items (explorers showing nothing left
        out; two pages showing the same view, a reloaded page not closed yet or a second tab, give it once)."""
        return distinct_views(x.to_query(targets=True) for x in self._live_explorers())

    def _views_to_record(self, shown: list[tuple[Any, dict[str, str]]]) -> list[tuple[Any, dict[str, str]]]:
        """Of `shown` (explorer, view), one for each distinct view, but those already recorded since the
        last bundle (by an export that failed and is tried again)."""
        since: list[dict] = []
        for e in reversed(self.log.events()):
            if e.kind == "bundle":
                break
            if e.kind == "view":
                since.append(e.details.get("query"))
        out: list[tuple[Any, dict[str, str]]] = []
        for x, view in shown:
            if view not in since and all(view != v for _, v in out):
                out.append((x, view))
        return out

    def _record_view(self, explorer, view: dict[str, str]) -> None:
        """A "view" event for an explorer's view as the bundle records it."""
        panes = explorer.panes
        files = [p.target or p.file for p in panes if p.file]
        where = "; ".join(f"{p.file_label()}: {p.readout}" if p.readout else p.file_label() for p in panes if p.file)
        self.log.record(
            "view",
            f"View of {counted(len(files), 'pane')}: {where}",
            paths=files,
            query=view,
        )

    def new_record(self) -> Path | None:
        """Start an empty record (e.g. after exporting a bundle, for the next piece of work); the one so
        far stays in its file, kept under a new name (returned; None when the record had no file)."""
        kept = self.log.start_afresh()
        self.param.update(message="A new record was started" + (f"; the previous one is kept in {kept}" if kept
                                                                 else "") + ".", error="", bundle_zip="")
        return kept

    @property
    def kept_in(self) -> str:
        """The file the record is kept in ("" when it lives in memory only)."""
        return str(self.log.path) if self.log.path is not None else ""

    def recorded_files(self) -> BundlePlan:
        """Every recorded file a bundle could hold (inside the root, still there), chosen or not."""
        return plan_bundle(self.log, self.root)

    def chosen_files(self) -> list[str]:
        """The recorded files that go into the bundle: all of them but `excluded`."""
        out = set(self.excluded)
        return [f.source for f in self.recorded_files().files if f.source not in out]

    def views_without_files(self) -> list[str]:
        """Files left out of the bundle (`excluded`) that an open view shows (real paths, in the order the
        panes show them): the bundle's notebook would reopen that view without them."""
        out = set(self.excluded)
        shown: list[str] = []
        for explorer in self._live_explorers():
            for pane in explorer.panes:
                real = (pane.target or os.path.realpath(pane.file)) if pane.file else ""
                if real in out and real not in shown:
                    shown.append(real)
        return shown

    def plan(self, files: list[str] | None = None) -> BundlePlan:
        """What the bundle holds: `files` among the recorded ones (paths relative to the root, or
        absolute), or all but `excluded`."""
        chosen = self.chosen_files() if files is None else [os.path.join(self.root, f) for f in files]
        return plan_bundle(self.log, self.root, files=chosen)

    def export_bundle(self, name: str | None = None, files: list[str] | None = None) -> Path | None:
        """Write a bundle of everything recorded (see `hpcdash.provenance.bundle`), with the data files
        `files` (among the recorded ones, relative to the root or absolute; None: all but `excluded`); returns its zip, or None with
        `error` set when it could not be written. Safe to call from a worker thread."""
        with self._lock:
            if self.busy:
                return None
            self.busy = True
        self.param.update(progress=0.0, progress_text="Starting", error="", message="", warnings=[])
        dest = Path(self.bundle_dir or Path(self.root) / "bundles")
        name = name or default_name(dest)
        shown = [(x, x.to_query(targets=True)) for x in self._live_explorers()]
        # the views open now, then those downloads were made from (a Compare view since closed)
        views = distinct_views([*(v for _, v in shown), *self.exported_views()])
        warnings: list[str] = []
        try:
            for explorer, view in self._views_to_record(shown):
                self._record_view(explorer, view)
            plan = self.plan(files)
            zip_path = write_bundle(
                plan,
                dest,
                log=self.log,
                views=views,
                include_data=self.include_data,
                name=name,
                title=self.title,
                license=self.license,
                author=self.author,
                orcid=self.orcid,
                affiliation=self.affiliation,
                progress=self._progress,
                warn=warnings.append,
            )
        except Exception as err:  # noqa: BLE001 - shown in words; nothing half-written is left
            self.param.update(busy=False, error=f"The bundle could not be written: {err}", progress_text="")
            return None
        n = len(plan.files)
        self.log.record(
            "bundle",
            f"Exported {zip_path.name}",
            paths=[],
            zip=str(zip_path),
            files=n,
            data_included=self.include_data,
            views=len(views),
            **({"warnings": warnings} if warnings else {}),
        )
        what = counted(n, "data file") + (
            "" if self.include_data else " (recorded, not copied)"
        )
        folder = zip_path.with_suffix("")
        try:  # where the file browser shows it
            where = f"{Path(self.root).name}/{folder.relative_to(self.root).as_posix()}/"
        except ValueError:
            where = str(folder)
        self.param.update(
            busy=False,
            bundle_zip=str(zip_path),
            progress=1.0,
            progress_text="Done",
            warnings=warnings,
            message=f"Wrote {zip_path.name}: {what}, {counted(len(views), 'view')}, "
            f"{len(self.log.events())} events; folder {where}",
        )
        return zip_path

    def _progress(self, fraction: float, text: str) -> None:
        self.param.update(progress=max(0.0, min(1.0, fraction)), progress_text=text)
