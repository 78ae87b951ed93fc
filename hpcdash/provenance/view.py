"""The "Provenance" tab: what this session did (a timeline and a table), and the bundle export.

Presentation only: everything recorded and written lives in `ProvenanceState`. Events arrive from
worker threads (cluster work), so the view polls the state's `revision` once a second instead of
watching it, and runs the export in a thread, showing its progress.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - the timeline's options are Bokeh's
import panel as pn
import param
from bokeh.models import DatetimeTickFormatter
from dask.utils import format_bytes

from hpcdash.access import AccessibleColumn, name_plot
from hpcdash.explorer.views import STYLESHEETS
from hpcdash.panes import HTML, Markdown, labelled_checkbox
from hpcdash.sessions import at_session_end, in_session, release, watchers_added
from hpcdash.words import counted, plural

from .bundle import (
    LICENSES,
    NOT_CHOSEN,
    BundlePlan,
    affiliation_entity,
    author_entity,
    distinct_views,
    needed_bytes,
)
from .record import KINDS, Event, format_value, shown_path
from .state import ProvenanceState

#: words for the kinds of events (table and timeline)
KIND_LABELS = {
    "open": "file opened",
    "view": "view",
    "export": "slice exported",
    "cluster": "cluster",
    "run": "run",
    "bundle": "bundle",
}
KIND_COLOURS = {
    "open": "#1f77b4",
    "view": "#17becf",
    "export": "#9467bd",
    "cluster": "#ff7f0e",
    "run": "#2ca02c",
    "bundle": "#7f7f7f",
}
POLL_MS = 1000
#: data size above which the export form says what copying it costs
LARGE_BUNDLE_BYTES = 2**30
#: rows of the event table (newest first); every event still goes into the bundle
TABLE_ROWS = 200
#: Largest zip offered for download in the page (the browser gets it through the websocket, encoded);
#: a larger one is copied from the HPC file system with the user's usual tools.
DOWNLOAD_LIMIT_BYTES = 512 * 2**20

RECIPES = """\
**What a bundle holds.** The files used (inside the root folder) with their SHA-256,
`reproduce.ipynb` (checks the hashes, then reopens the views), `ro-crate-metadata.json`
(RO-Crate, Process Run Crate profile: files, runs and their parameters), `provenance.jsonl`
(every event below), exact package versions (`requirements.txt`, `runtime.txt`) and the hpcdash
code that ran, with its SHA-256 too (`hpcdash verify` checks them all).

**Where it runs.** The folder is a Binder repository: push it to a git host and open it on a
BinderHub, or run it on a laptop (`pip install -r requirements.txt jupyterlab ipykernel`: the
bundle's README has the commands). On an HPC system, build a
Docker image with `repo2docker`, then run it with Shifter, podman-hpc or Apptainer:
`hpc/RECIPES.md` in the bundle has the commands, `hpc/apptainer.def` and a SLURM job script.
"""


def _time(e: Event) -> str:
    try:
        return datetime.fromisoformat(e.time).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return e.time


_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[+-]?\d+)?(?![\w.])")


def shown_summary(e: Event) -> str:
    """An event's summary as shown: a run's parameter values with 6 significant digits (records written
    before they were kept so carry them in full; the details keep the full values)."""
    if e.kind == "run" and ": " in e.summary:
        head, tail = e.summary.split(": ", 1)
        return f"{head}: " + _DECIMAL.sub(lambda m: format_value(float(m.group())), tail)
    return e.summary


def _open_key(e: Event) -> tuple | None:
    if e.kind != "open":
        return None
    d = e.details
    return (e.paths, d.get("dataset"), d.get("size"), d.get("mtime_ns"))


def collapse_repeats(events: list[Event]) -> list[tuple[Event, int, Event]]:
    """(event, times, last): opens of the same file, dataset and content once, at the first, with how
    many times and the last one recorded (records kept before one open per content was recorded hold
    an open for each page load); every other event as it is."""
    rows: list[list] = []
    first: dict[tuple, int] = {}
    for e in events:
        key = _open_key(e)
        if key is not None and key in first:
            row = rows[first[key]]
            row[1] += 1
            row[2] = e
            continue
        if key is not None:
            first[key] = len(rows)
        rows.append([e, 1, e])
    return [tuple(r) for r in rows]


def _details_cell(e: Event, again: str) -> str:
    """An event's summary; a run's opens (a click) onto all its parameters and its output's SHA-256."""
    summary = html.escape(shown_summary(e)) + again
    params, digest = e.details.get("parameters") or {}, e.details.get("sha256")
    if e.kind != "run" or not (params or digest):
        return summary
    lines = ", ".join(f"{html.escape(str(k))} = {html.escape(format_value(v))}" for k, v in sorted(params.items()))
    sha = f"<br>SHA-256 of the output: <code>{html.escape(str(digest))}</code>" if digest else ""
    return (f"<details class='hpc-prov-run'><summary>{summary}</summary>"
            f"<small>{'All parameters: ' + lines if lines else ''}{sha}</small></details>")


def events_table_html(events: list[Event], root: str | os.PathLike | None = None) -> str:
    """Newest first; every text from files and schedulers escaped; files named under `root`."""
    if not events:
        return (
            "<div class='hpc-prov-empty'>Nothing recorded yet. Open a file in the Explorer, export a "
            "slice, or start a cluster and run a sweep: each step appears here, and goes into the "
            "bundle.</div>"
        )
    rows = []
    collapsed = collapse_repeats(events)
    for e, times, last in reversed(collapsed[-TABLE_ROWS:]):
        names = ", ".join(shown_path(p, root) for p in e.paths)
        again = (
            f" <span class='hpc-prov-again'>({times} times, last at {html.escape(_time(last))})</span>"
            if times > 1 else ""
        )
        rows.append(
            f"<tr class='hpc-prov-{html.escape(e.kind)}'><td>{html.escape(_time(e))}</td>"
            f"<td><span class='hpc-prov-kind' style='background:{KIND_COLOURS.get(e.kind, '#777')}'>"
            f"{html.escape(KIND_LABELS.get(e.kind, e.kind))}</span></td>"
            f"<td>{_details_cell(e, again)}</td>"
            f"<td title='{html.escape(' '.join(e.paths))}'>{html.escape(names)}</td></tr>"
        )
    more = len(collapsed) - TABLE_ROWS
    tail = (
        (
            f"<div class='hpc-prov-more'>{counted(more, 'earlier event')} not shown here; "
            "all are in the bundle's provenance.jsonl.</div>"
        )
        if more > 0
        else ""
    )
    return (
        "<table class='hpc-prov-table'><thead><tr><th>Time</th><th>What</th><th>Details</th><th>Files</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + tail
    )


def counts_html(events: list[Event], n_files: int, n_views: int) -> str:
    """The record's counts in one line; `n_views`: the views a bundle would reopen (open now, or
    downloaded from), which "view" events record only when a bundle is made: "to reopen" says so."""
    c = Counter(e.kind for e in events)
    parts = [
        (n_files, "file", ""),
        (n_views, "view", " to reopen"),
        (c["run"], "run", ""),
        (c["export"], "export", ""),
        (c["cluster"], "cluster event", ""),
    ]
    return (
        "<div class='hpc-prov-counts'>"
        + " · ".join(f"<b>{n}</b> {plural(n, word)}{tail}" for n, word, tail in parts)
        + "</div>"
    )


def _timeline_name(plot, element) -> None:
    """What a screen reader calls the timeline (its canvas takes the keyboard focus)."""
    n = len(element)
    name_plot(plot.state, f"Timeline of what was done: {counted(n, 'event')}, by kind and time")


def _clock_ticks(plot, element) -> None:
    """Time-axis labels as clock times and dates; Bokeh's default formatter adds a line of context
    ("Dec 01, 2026") under the ticks and labels short spans in milliseconds. HoloViews copies only
    the options that differ from the defaults onto the axis' formatter, so a formatter given as
    ``xformatter`` could not switch the context off: the hook sets the drawn one."""
    for axis in plot.state.xaxis:
        if isinstance(axis.formatter, DatetimeTickFormatter):
            axis.formatter.update(
                milliseconds="%H:%M:%S", seconds="%H:%M:%S", minsec="%H:%M:%S", minutes="%H:%M",
                hourmin="%H:%M", hours="%H:%M", days="%d %b", months="%b %Y", years="%Y", context=None)


def timeline(events: list[Event]) -> hv.Scatter:
    """One dot per event: time across, kind down (hover: what it was)."""
    data = {"time": [], "kind": [], "what": [], "colour": []}
    for e in events:
        try:
            t = datetime.fromisoformat(e.time).astimezone().replace(tzinfo=None)
        except ValueError:
            continue
        data["time"].append(t)
        data["kind"].append(KIND_LABELS.get(e.kind, e.kind))
        data["what"].append(shown_summary(e))
        data["colour"].append(KIND_COLOURS.get(e.kind, "#777"))
    kinds = [KIND_LABELS[k] for k in KINDS]
    extra = {}
    if data["time"]:
        # events seconds apart are shown on a span of at least a few minutes: clock times on the
        # axis rather than milliseconds
        t0, t1 = min(data["time"]), max(data["time"])
        pad = max(timedelta(minutes=2) - (t1 - t0), timedelta(0)) / 2 + timedelta(seconds=15)
        extra["xlim"] = (t0 - pad, t1 + pad)
    return hv.Scatter(data, "time", ["kind", "what", "colour"]).opts(
        hooks=[_clock_ticks, _timeline_name],
        **extra,
        color="colour",
        size=11,
        responsive=True,
        height=190,
        tools=["hover"],
        toolbar=None,
        xlabel="",
        ylabel="",
        yticks=None,
        default_tools=[],
        show_grid=True,
        hover_tooltips=[("", "@what"), ("at", "@time{%H:%M:%S}")],
        hover_formatters={"@time": "datetime"},
        backend_opts={"y_range.factors": kinds[::-1]},
        title="",
        backend="bokeh",
    )


def _natural(text: str) -> list:
    """A sort key that orders numbers in names by value (run_9 before run_10)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


class ProvenanceView(pn.viewable.Viewer):
    """Renders a `ProvenanceState`: counts, timeline, table of events, export form with progress."""

    state = param.ClassSelector(class_=ProvenanceState)

    def __init__(self, state: ProvenanceState, **params):
        super().__init__(state=state, **params)
        # the state may be the server's, shared by its pages: what this view registers on it goes when
        # this page closes
        with watchers_added(state) as self._state_watchers:
            self._build(state)
        at_session_end(self._page_closed)

    def _page_closed(self) -> None:
        release(self._state_watchers)
        if self._periodic is not None:
            self._periodic.stop()
            self._periodic = None

    def _build(self, state: ProvenanceState) -> None:
        s = state
        self.counts = HTML(
            "", css_classes=["hpc-prov-counts-pane"], stylesheets=STYLESHEETS, sizing_mode="stretch_width"
        )
        self.picture = pn.pane.HoloViews(None, sizing_mode="stretch_width", visible=False)
        self._timeline: hv.streams.Pipe | None = None  # feeds the drawn timeline its events
        self.table = HTML(
            "", css_classes=["hpc-prov-events"], stylesheets=STYLESHEETS, sizing_mode="stretch_width"
        )
        self.title_w = pn.widgets.TextInput.from_param(
            s.param.title, placeholder="e.g. Line 3 inversion, beta sweep", label="Title"
        )
        self.license_w = pn.widgets.Select(
            label="License",
            options={"none chosen": "", **{f"{k} ({v})": k for k, v in LICENSES.items()}},
            value=s.license,
            width=320,
        )
        self.license_w.link(s, value="license")
        self.author_w = pn.widgets.TextInput.from_param(s.param.author, placeholder="your name (default: login name)",
                                                        label="Author", css_classes=["hpc-prov-author"])
        self.orcid_w = pn.widgets.TextInput.from_param(s.param.orcid, placeholder="0000-0002-1825-0097",
                                                       label="ORCID iD (optional)", width=200,
                                                       css_classes=["hpc-prov-orcid"])
        # a wrong iD is said as it is typed, not only when Export bundle refuses it
        self.orcid_msg = HTML("", css_classes=["hpc-prov-orcid-msg"], stylesheets=STYLESHEETS, visible=False,
                              sizing_mode="stretch_width")
        self.affiliation_w = pn.widgets.TextInput.from_param(
            s.param.affiliation, placeholder="your institute (optional; its https://ror.org/ address may follow)",
            label="Affiliation", sizing_mode="stretch_width", css_classes=["hpc-prov-affiliation"])
        s.param.watch(self._check_orcid, ["orcid", "affiliation"])
        self._check_orcid()  # values given before the tab is built are checked too
        self.data_w = labelled_checkbox(s, "include_data", "Include the data files")
        # which recorded files go into the bundle (all by default, files recorded later too)
        self.files_w = pn.widgets.CheckBoxGroup(
            options={}, value=[], inline=False, css_classes=["hpc-prov-files"]
        )
        self.files_w.param.watch(self._on_choose, "value")
        self.all_btn = pn.widgets.Button(label="All", width=70, css_classes=["hpc-prov-files-all"])
        self.none_btn = pn.widgets.Button(label="None", width=70, css_classes=["hpc-prov-files-none"])
        self.all_btn.on_click(lambda e: self._choose_all(True))
        self.none_btn.on_click(lambda e: self._choose_all(False))
        self.files_box = pn.Column(
            HTML("<b>Files in the bundle</b>", margin=(5, 10, 0, 10)),
            pn.Row(self.all_btn, self.none_btn),
            pn.Column(self.files_w, scroll=True, max_height=240, sizing_mode="stretch_width"),
            visible=False,
            sizing_mode="stretch_width",
        )
        self._showing_choice = False  # files_w being set from the state, not by the user
        self.plan_w = HTML(
            "", css_classes=["hpc-prov-plan"], stylesheets=STYLESHEETS, sizing_mode="stretch_width"
        )
        self.export_btn = pn.widgets.Button(
            label="Export bundle", color="primary", css_classes=["hpc-prov-export"], width=180
        )
        self.export_btn.on_click(self._on_export)
        self.bar = pn.indicators.Progress(
            value=0, max=1000, visible=False, sizing_mode="stretch_width", css_classes=["hpc-prov-progress"]
        )
        self.status = HTML(
            "", css_classes=["hpc-prov-status"], stylesheets=STYLESHEETS, sizing_mode="stretch_width"
        )
        self.download = pn.widgets.FileDownload(
            label="Download the bundle (.zip)",
            visible=False,
            color="success",
            css_classes=["hpc-prov-download"],
            width=260,
        )
        # a record kept in a file (a server's) can start afresh: the old one stays in its file
        self.new_btn = pn.widgets.Button(label="Start a new record", css_classes=["hpc-prov-new"], width=180,
                                         visible=bool(s.kept_in))
        self.new_btn.on_click(self._on_new_record)
        self.kept_w = HTML(
            f"<small>Kept in {html.escape(s.kept_in)}: it survives a restart of the server.</small>"
            if s.kept_in else "", css_classes=["hpc-prov-kept"], sizing_mode="stretch_width")
        self._seen: tuple | None = None  # (revision, views) last shown
        self._periodic = None
        self._refresh()
        if not in_session():
            # a notebook: no server session to poll from; events recorded on the kernel's thread (the
            # explorer's) show at once, those from worker threads at the next one or a new display
            state.log.on_record(self._on_record)

    def _on_record(self, event) -> None:
        if threading.current_thread() is threading.main_thread():
            self._refresh()

    def __panel__(self):
        export = pn.Card(
            self.title_w,
            # one under the other where the tab is narrow (a split JupyterLab tab)
            pn.FlexBox(self.author_w, self.orcid_w, sizing_mode="stretch_width", margin=0),
            self.affiliation_w,
            self.orcid_msg,
            self.license_w,
            self.data_w,
            self.files_box,
            self.plan_w,
            pn.Row(self.export_btn, self.download),
            self.bar,
            self.status,
            Markdown(RECIPES, css_classes=["hpc-prov-recipes"], sizing_mode="stretch_width"),
            title="Reproducible bundle",
            sizing_mode="stretch_width",
            collapsible=False,
        )
        record = pn.Card(
            self.counts,
            self.picture,
            self.table,
            pn.Row(self.new_btn, self.kept_w, sizing_mode="stretch_width"),
            title="What was done",
            sizing_mode="stretch_width",
            collapsible=False,
        )
        if self._periodic is None and in_session():
            self._periodic = pn.state.add_periodic_callback(self._refresh, period=POLL_MS)
        return AccessibleColumn(record, export, sizing_mode="stretch_width", css_classes=["hpc-provenance"])

    def _refresh(self) -> None:
        """Show what changed since the last call: the events (table, timeline) when there are new ones,
        the counts and the files a bundle would hold when those or the open views changed."""
        s = self.state
        # the views a bundle reopens: those open now, then those downloads were made from
        views = distinct_views([*s.views(), *s.exported_views()])
        key = (s.revision, tuple(tuple(sorted(v.items())) for v in views), tuple(s.excluded))
        if key == self._seen:
            return
        new_events = self._seen is None or self._seen[0] != s.revision
        self._seen = key
        events = s.events()
        recorded = s.recorded_files()
        self._show_choice(recorded)
        plan = s.plan()
        self.counts.object = counts_html(events, len(recorded.files), len(views))
        self.plan_w.object = self._plan_html(plan) + self._views_note(s)
        if new_events:
            self.table.object = events_table_html(events, s.root)
            if events and self._timeline is None:
                self._timeline = hv.streams.Pipe(data=events)
                self.picture.object = hv.DynamicMap(lambda data: timeline(data).opts(framewise=True),
                                                    streams=[self._timeline])
            elif events:
                # the drawn figure takes the new dots: a new figure in its place made the browser
                # scroll the page up to it (an export, which adds a row, lost the reader's place)
                self._timeline.send(events)
            self.picture.visible = bool(events)

    def _check_orcid(self, event=None) -> None:
        """Say a wrong ORCID iD or ROR address under the fields as it is typed."""
        said = []
        for check in (lambda: author_entity(self.state.author, self.state.orcid),
                      lambda: affiliation_entity(self.state.affiliation)):
            try:
                check()
            except ValueError as err:
                said.append(str(err))
        text = " ".join(said)
        self.orcid_msg.param.update(object=f"<span class='hpc-prov-error'>{html.escape(text)}</span>" if text else "",
                                    visible=bool(text))

    def _show_choice(self, recorded: BundlePlan) -> None:
        """The recorded files as check boxes (path in the root and size, in path order: a folder's
        files together, a sweep's runs in their order), ticked unless excluded."""
        s = self.state
        options = {
            f"{f.dest.removeprefix('data/')} ({format_bytes(f.size)})": f.source
            for f in sorted(recorded.files, key=lambda f: _natural(f.dest))
        }
        excluded = set(s.excluded)
        value = [p for p in options.values() if p not in excluded]
        self._showing_choice = True
        try:
            if options != self.files_w.options:
                self.files_w.param.update(options=options, value=value)
            elif value != self.files_w.value:
                self.files_w.value = value
        finally:
            self._showing_choice = False
        self.files_box.visible = bool(options)

    def _on_choose(self, event) -> None:
        if self._showing_choice:
            return
        shown = list(self.files_w.options.values())
        chosen = set(event.new)
        # files not shown now (gone for a while) keep their choice
        self.state.excluded = [p for p in self.state.excluded if p not in shown] + [
            p for p in shown if p not in chosen
        ]
        self._refresh()

    def _choose_all(self, chosen: bool) -> None:
        self.files_w.value = list(self.files_w.options.values()) if chosen else []

    @staticmethod
    def _plan_html(plan) -> str:
        not_chosen = sum(why == NOT_CHOSEN for _, why in plan.left_out)
        if not plan.files and len(plan.left_out) == not_chosen:
            return (
                "<span class='hpc-prov-plan-empty'>"
                + ("No data files chosen" if not_chosen else "No data files yet")
                + ": the bundle will hold the record and recipes only.</span>"
            )
        size = plan.total_bytes
        n = len(plan.files)
        text = (f"{n} of {n + not_chosen}" if not_chosen else f"{n}") + (
            f" {plural(n + not_chosen, 'file')}, {format_bytes(size)}"
        )
        out = [f"Data: {html.escape(text)}"]
        if size > LARGE_BUNDLE_BYTES:
            out.append(
                f"<br><span class='hpc-prov-large'>Copying them takes a while and needs about "
                f"{format_bytes(needed_bytes(plan))} of free space (folder and zip); leave them out to "
                "record their paths and SHA-256 only.</span>"
            )
        for path, why in plan.left_out:
            if why == NOT_CHOSEN:  # unticked above
                continue
            out.append(
                f"<br><span class='hpc-prov-left-out'>Left out: {html.escape(Path(path).name)} "
                f"({html.escape(why)})</span>"
            )
        return "".join(out)

    def _views_note(self, s: ProvenanceState) -> str:
        """A warning naming the unticked files an open view shows ("" when there are none)."""
        missing = s.views_without_files()
        if not missing:
            return ""
        names = ", ".join(html.escape(shown_path(p, s.root)) for p in missing)
        one = len(missing) == 1
        return (f"<br><span class='hpc-prov-view-missing'>&#9888; Not in the bundle but shown in an open view: "
                f"{names}. The bundle's notebook would reopen that view without {'it' if one else 'them'}: "
                f"tick {'it' if one else 'them'} above to include {'it' if one else 'them'}.</span>")

    def _on_new_record(self, event=None) -> None:
        s = self.state
        if s.busy:
            return
        s.new_record()
        self.download.visible = False
        self.status.object = f"<span class='hpc-prov-done'>{html.escape(s.message)}</span>"
        self._refresh()

    async def _on_export(self, event=None) -> None:
        s = self.state
        if s.busy:
            return
        self.export_btn.disabled = True
        self.download.visible = False
        self.bar.param.update(value=0, visible=True)
        self.status.object = "Starting…"
        task = asyncio.ensure_future(asyncio.to_thread(s.export_bundle))
        try:
            while not task.done():
                await asyncio.wait([task], timeout=0.2)
                self.bar.value = int(s.progress * 1000)
                self.status.object = html.escape(s.progress_text + "…") if s.progress_text else ""
            zip_path = task.result()
        finally:
            self.export_btn.disabled = False
        self.bar.visible = False
        if zip_path is None:
            self.status.object = (
                f"<span class='hpc-prov-error'>{html.escape(s.error or 'The bundle was not written.')}</span>"
            )
            return
        size = zip_path.stat().st_size
        note = ""
        if size <= DOWNLOAD_LIMIT_BYTES:
            self.download.param.update(file=str(zip_path), filename=zip_path.name, visible=True)
        else:
            note = (
                f" The zip is {format_bytes(size)}, too large to send through the page: copy it from "
                f"{zip_path} with scp, rsync or Globus."
            )
        self.status.object = f"<span class='hpc-prov-done'>{html.escape(s.message + note)}</span>" + "".join(
            f"<br><span class='hpc-prov-warning'>&#9888; {html.escape(w)}</span>" for w in s.warnings
        )
        self._refresh()


def provenance_tab(ctx) -> ProvenanceView:
    """The "Provenance" tab of the hpcdash app (``hpcdash.app.TABS``): the ProvenanceState made with
    the page (served: the server's, which every page records into), so it has heard of everything since."""
    state = ctx.shared.get("provenance") or ProvenanceState(root=ctx.root)
    return ProvenanceView(state)
