"""The "Cluster" tab: request form with live job-script preview, queue table, scaling, sweep.

``ClusterView(control)`` renders a :class:`~hpcdash.cluster.ClusterControl`; all scheduler and Dask
work stays in the model. Slow calls (validate, start, scale, status, sweeps) run in worker threads
from ``async`` callbacks, so the server keeps serving while SLURM answers; widgets are only touched
on the session's event loop. The job table refreshes itself with a periodic callback that stops
when the browser session ends (and, by default, the cluster is closed then too, so no job keeps
burning allocation without an owner).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import panel as pn
import param

from hpcdash.access import AccessibleColumn, AccessibleFlexBox, help_icon
from hpcdash.data.errors import PathOutsideRootError
from hpcdash.data.paths import safe_path
from hpcdash.panes import HTML, Alert, kept_in_view, labelled_checkbox
from hpcdash.sessions import at_session_end, held, release, watchers_added
from hpcdash.words import counted, plural

from .control import (
    ClusterControl,
    ClusterStatus,
    RequestError,
    SweepOutcome,
    SweepRunningError,
    default_backend,
    describe_duration,
    slurm_megabytes,
)
from .scheduler import SchedulerError, guess_field

#: The Stop button's label, and its label while a click on it would cancel a running sweep
STOP_LABEL = "Stop"
STOP_DURING_SWEEP = "Stop and cancel the sweep"
#: Said by the sweep's button while there is no cluster to run it on
NO_CLUSTER_FOR_SWEEP = "<small>Start a cluster above: the sweep runs on its workers.</small>"

__all__ = ["ClusterView", "cluster_tab"]

_FIELD_LABELS = {"walltime": "Walltime", "queue": "Queue / partition", "memory": "Memory per job",
                 "cores": "Cores per job", "processes": "Processes per job", "account": "Account",
                 "interface": "Network interface", "encrypt": "Encrypt (TLS)",
                 "job_extra_directives": "Extra directives"}
#: number fields take what is typed: the browser would set a number below the least one back to it without
#: a word; the request's checks name the field instead
_NO_CLAMP = {"start": None}
_PHASES = ["requested", "queued", "starting workers", "workers connected"]
#: Alerts a line or two high (the Bootstrap theme's padding and margins made a one-line message ~90 px),
#: so that on a 1280x720 screen what Validate and Start say stays in view under their buttons.
_COMPACT_ALERT = [":host(.alert){padding:4px 10px !important;margin-top:2px !important;"
                  "margin-bottom:4px !important} p{margin:0 !important}"]


def _heading(text: str) -> pn.pane.HTML:
    """A section heading sized like the sidebar's ("File browser"), not a page title."""
    return HTML(f"<b style='font-size:1.1em'>{html.escape(text)}</b>", margin=(10, 10, 0, 10))


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return ""
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}"


def _fmt_start(t: datetime | None) -> str:
    if t is None:
        return ""
    delta = (t - datetime.now()).total_seconds()
    when = t.strftime("%H:%M:%S") if t.date() == datetime.now().date() else t.strftime("%Y-%m-%d %H:%M")
    return f"{when} (now)" if delta <= 5 else f"{when} (in {_fmt_seconds(delta)})"


def sweep_elsewhere(outcome: SweepOutcome) -> str:
    """Put before the progress of a running sweep that this page did not start (its Run sweep button is
    disabled): another page's, or this page's own before it was reloaded (a reload makes a new page), so
    it names no page, only when the sweep began: "A sweep is running (started at 14:02 on this server)"."""
    if outcome.started_at is None:
        return "A sweep is running (started on this server)"
    began = datetime.fromtimestamp(outcome.started_at)
    when = f"{began:%H:%M}" if began.date() == datetime.now().date() else f"{began:%Y-%m-%d %H:%M}"
    return f"A sweep is running (started at {when} on this server)"


#: The job table is drawn anew at every refresh (its times change), which closed a stderr tail the user had
#: opened. The browser keeps the tails the user opened (and how far each is scrolled) by job id, for the
#: life of the page: `ontoggle`/`onscroll` on each tail note it, and the script at the end of the table,
#: which the HTML pane runs each time it draws the table, opens those tails again. Nothing goes back to the
#: server: the tail is the same text there either way.
_TAIL_ATTRS = ('ontoggle="const m = (window.hpcdashTails ??= new Map()), id = this.dataset.job; '
               'this.open ? m.set(id, m.get(id) || 0) : m.delete(id)"')
_PRE_ATTRS = ('onscroll="const m = window.hpcdashTails, id = this.parentNode.dataset.job; '
              'if (m?.has(id)) m.set(id, this.scrollTop)"')
_REOPEN_TAILS = """<script>(() => {
  const open = window.hpcdashTails
  if (open == null || open.size == 0 || window.Bokeh?.index == null)
    return
  for (const view of Bokeh.index.query((v) => v.container != null && v.model.css_classes?.includes("hpc-jobs")))
    for (const tail of view.container.querySelectorAll("details[data-job]"))
      if (open.has(tail.dataset.job) && !tail.open) {
        const top = open.get(tail.dataset.job)
        tail.open = true
        const pre = tail.querySelector("pre")
        if (pre != null)
          pre.scrollTop = top
      }
})()</script>"""


#: The job table's columns, in order, and the class of the cells that have one.
_JOB_COLUMNS = ("Job", "Worker", "State", "Reason", "Expected start", "Elapsed", "Walltime left", "Node", "Workers")
_JOB_CELL_CLASS = {"State": " class='hpc-state'", "Reason": " class='hpc-reason'"}
#: Below this width of its column the job table shows each job as a card (see `jobs_table_html`).
JOBS_CARD_WIDTH_PX = 560
_NARROW_JOBS_CSS = (
    f"@container (max-width:{JOBS_CARD_WIDTH_PX}px){{"
    ".hpc-jobs-table,.hpc-jobs-table tbody,.hpc-jobs-table tr,.hpc-jobs-table td{display:block}"
    ".hpc-jobs-table tr.hpc-jobs-head{display:none}"
    ".hpc-jobs-table tr.hpc-job{border-bottom:1px solid #ddd;padding:4px 0}"
    ".hpc-jobs-table td{border-bottom:none;padding:1px 5px}.hpc-jobs-table td:empty{display:none}"
    ".hpc-jobs-table td::before{content:attr(data-label) ': ';color:#555;font-weight:600}}")


def jobs_table_html(st: ClusterStatus) -> str:
    """The job table as escaped HTML: one row per batch job, SLURM's reasons explained in words, why a
    pending job has no expected start, stderr tails in a <details> that stays open across refreshes
    once the user opened it (see `_REOPEN_TAILS`)."""
    if st.backend == "local":
        return (f"<p class='hpc-nojobs'>Local cluster: {st.workers} worker process(es) on this machine; "
                "no batch jobs.</p>") if st.running else "<p class='hpc-nojobs'>No cluster running.</p>"
    if not st.jobs:
        return "<p class='hpc-nojobs'>No batch jobs yet.</p>"
    e = html.escape
    rows = []
    for j in st.jobs:
        tail = ""
        if j.log_tail:
            job = f" data-job='{e(j.job_id)}' {_TAIL_ATTRS}" if j.job_id else ""
            pre = f" {_PRE_ATTRS}" if j.job_id else ""
            tail = (f"<details class='hpc-tail'{job}><summary>stderr tail</summary>"
                    f"<pre class='hpc-logtail'{pre}>{e(j.log_tail)}</pre></details>")
        start = e(_fmt_start(j.expected_start)) or (f"<span class='hpc-nostart'>{e(j.start_note)}</span>"
                                                     if j.start_note else "")
        cells = (e(j.job_id or '-'), e(j.worker_name), e(j.state), f"{e(j.describe_reason())}{tail}", start,
                 e(_fmt_seconds(j.elapsed)), e(_fmt_seconds(j.time_left)), e(j.node or ''), str(j.workers))
        rows.append(f"<tr class='hpc-job hpc-job-{e(j.state)}'>" + "".join(
            f"<td data-label='{name}'{_JOB_CELL_CLASS.get(name, '')}>{cell}</td>"
            for name, cell in zip(_JOB_COLUMNS, cells, strict=True)) + "</tr>")
    head = ("<tr class='hpc-jobs-head'>" + "".join(f"<th scope='col'>{name}</th>" for name in _JOB_COLUMNS)
            + "</tr>")
    # the reason (and its stderr tail) wraps anywhere, so the table fits its column; in a column too
    # narrow for nine columns (a narrow window, a JupyterLab side panel) each job is a card of
    # "Column: value" lines, so the state, the reason, the expected start and the walltime left are
    # read without scrolling sideways
    return (
        "<style>.hpc-jobs-scroll{max-width:100%;overflow-x:auto;container-type:inline-size}"
        ".hpc-jobs-table{border-collapse:collapse;font-size:13px}"
        ".hpc-jobs-table td,.hpc-jobs-table th{border-bottom:1px solid #ddd;padding:3px 5px;text-align:left;"
        "vertical-align:top}.hpc-jobs-table td.hpc-reason{overflow-wrap:anywhere;min-width:7em}"
        ".hpc-job-pending .hpc-state{color:#8a6d00}.hpc-job-running .hpc-state{color:#1a7f37}"
        ".hpc-job-failed .hpc-state{color:#c62828;font-weight:bold}.hpc-nostart{color:#666}"
        ".hpc-logtail{max-width:640px;max-height:200px;overflow:auto;font-size:11px;background:#f6f6f6;"
        f"white-space:pre-wrap;overflow-wrap:anywhere}}{_NARROW_JOBS_CSS}</style>"
        f"<div class='hpc-jobs-scroll'><table class='hpc-jobs-table' aria-label='Batch jobs of the cluster'>{head}{''.join(rows)}</table></div>"
        + (_REOPEN_TAILS if any(j.log_tail and j.job_id for j in st.jobs) else ""))


def _bar(fraction: float, label: str) -> str:
    """A horizontal bar filled to `fraction` (green, amber from 60%, red from 85%) with `label` beside it:
    dark text on the coloured fill was hard to read."""
    f = min(max(fraction, 0.0), 1.0)
    colour = "#c62828" if f >= 0.85 else ("#d08a00" if f >= 0.6 else "#1a7f37")
    return (f"<div class='hpc-bar'><div class='hpc-bar-track'><div class='hpc-bar-fill' "
            f"style='width:{f * 100:.0f}%;background:{colour}'></div></div>"
            f"<span class='hpc-bar-label'>{label}</span></div>")


def worker_loads_html(st: ClusterStatus, describe_memory) -> str:
    """Each connected worker's memory (of its limit) and CPU as bars, names escaped; "" without workers."""
    if not st.loads:
        return ""
    e = html.escape
    rows = []
    for w in st.loads:
        if w.memory_limit:
            memory = _bar(w.memory / w.memory_limit,
                          f"{e(describe_memory(w.memory))} of {e(describe_memory(w.memory_limit))}")
        else:
            memory = f"<span>{e(describe_memory(w.memory))}</span>"
        rows.append(f"<tr class='hpc-worker-load'><td>{e(w.name)}</td><td>{memory}</td>"
                    f"<td>{_bar(w.cpu / 100.0, f'{w.cpu:.0f}%')}</td><td>{w.executing}</td></tr>")
    # in a narrow column a bar's figures go under it, and what is still too wide scrolls sideways
    # rather than running off the page
    return (
        "<style>.hpc-loads{border-collapse:collapse;font-size:12px}.hpc-loads td,.hpc-loads th{padding:2px 6px;"
        "text-align:left;vertical-align:top}.hpc-loads td:first-child{overflow-wrap:anywhere}"
        ".hpc-loads-scroll{max-width:100%;overflow-x:auto}"
        ".hpc-bar{display:flex;flex-wrap:wrap;align-items:center;column-gap:6px}"
        ".hpc-bar-track{position:relative;flex:none;width:90px;height:12px;background:#eee;border-radius:3px}"
        ".hpc-bar-fill{position:absolute;left:0;top:0;bottom:0;border-radius:3px}"
        ".hpc-bar-label{line-height:16px;white-space:nowrap}</style>"
        "<div class='hpc-loads-scroll'><table class='hpc-loads' aria-label='Workers of the cluster'>"
        "<tr><th scope='col'>Worker</th><th scope='col'>Memory</th><th scope='col'>CPU</th>"
        "<th scope='col'>Tasks</th></tr>" + "".join(rows) + "</table></div>")


def _phase_html(st: ClusterStatus) -> str:
    if not st.running:
        return "<span class='hpc-phase'>stopped</span>"
    if st.phase == "submission failed":
        return ("<span class='hpc-phase hpc-phase-failed' style='color:#c62828;font-weight:bold'>"
                "submission failed: no job is queued</span>")
    if st.phase == "idle":
        return "<span class='hpc-phase'>running, 0 workers requested</span>"
    parts = []
    cur = _PHASES.index(st.phase) if st.phase in _PHASES else -1
    for i, name in enumerate(_PHASES):
        style = "font-weight:bold;color:#1f3b57" if i == cur else ("color:#1a7f37" if i < cur else "color:#999")
        # the step reached is told to screen readers too, not by its weight and colour alone
        current = " aria-current='step'" if i == cur else ""
        parts.append(f"<span style='{style}'{current}>{name}</span>")
    return "<span class='hpc-phase'>" + " &rarr; ".join(parts) + "</span>"


class ClusterView(pn.viewable.Viewer):
    """The cluster tab for one browser session (or one notebook cell)."""

    SPINNER_DELAY_S = 0.2  # calls that end sooner show no spinner (see _spinner_if_slow)

    control = param.ClassSelector(class_=ClusterControl, doc="The model this tab renders.")
    refresh_seconds = param.Number(default=2.0, bounds=(0.2, None), doc="Job table refresh period.")
    close_on_session_end = param.Boolean(default=True, doc="Close the cluster when the browser session ends.")
    sweep_dir = param.String(default="", doc="Where sweep runs are written ('' = ./runs).")
    root = param.String(default="", doc="The server's root folder: sweeps may write only inside it, where "
                                        "the Explorer and the bundles can reach their runs ('' = anywhere).")
    shared_note = param.String(default="", doc="Shown under the cluster's status: who else sees this cluster "
                                               "and when it stops (plain text).")

    def __init__(self, control: ClusterControl | None = None, *,
                 open_runs: Callable[[list[Path]], None] | None = None,
                 ran: Callable[..., None] | None = None, **params):
        """``open_runs(paths)``, when given, backs an "Open in Explorer" button shown after a sweep (it
        returns a sentence to show by the button, or None); ``ran(params, path, started, shown)`` hears
        of every run of a sweep as it ends with its output (all its parameters, the fixed ones too; the
        sweep's start as a Unix time; the parameters the sweep set), in the sweep's thread. How a sweep
        that did not complete ended goes to the cluster's activity listeners (`ClusterControl.note`)."""
        super().__init__(control=control or ClusterControl(backend=default_backend()), **params)
        self._open_runs = open_runs
        self._ran = ran
        self._shown_sweep: SweepOutcome | None = None  # the control's last sweep as this page shows it
        self._own_sweep: int | None = None  # the `sweep_id` of the sweep this page started, while it runs
        self._cluster_up = False  # as last drawn (see _update_buttons)
        self._periodic = None
        self._ticking = False
        #: False while the page shows another tab: the periodic refresh then reads and sends nothing
        self._shown = True
        self._running_calls: set[int] = set()  # buttons whose call is running (see _busy)
        self._layout = None
        self._model_error = ("", "")
        self._shown_running = False
        self._last_status: ClusterStatus | None = None  # as last drawn
        self._submit_error = ""  # the refused submission last shown by its field
        # what this view registers on the control (its widgets, its watchers) goes when its page closes:
        # the control may be the server's, shared with other pages and outliving this one
        with watchers_added(self.control) as self._control_watchers:
            self._build()
        at_session_end(lambda: release(self._control_watchers))

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        c = self.control
        p = c.param
        self.backend = pn.widgets.Select.from_param(
            p.backend, label="Backend", css_classes=["hpc-backend"],
            description="Where workers run: as jobs of a batch system, or 'local' (processes on this machine). "
                        "A new form starts with the batch system found on this machine (its commands on the "
                        "PATH), else local; dask config hpcdash.backend chooses.")
        self.profile = pn.widgets.Select.from_param(p.profile, label="Profile", css_classes=["hpc-profile"],
                                                    visible=len(p.profile.objects) > 1)
        self.fields = {
            "cores": pn.widgets.IntInput.from_param(p.cores, label=_FIELD_LABELS["cores"], css_classes=["hpc-cores"],
                                                    **_NO_CLAMP),
            "processes": pn.widgets.IntInput.from_param(p.processes, label=_FIELD_LABELS["processes"], **_NO_CLAMP,
                                                        css_classes=["hpc-processes"]),
            "memory": pn.widgets.TextInput.from_param(p.memory, label=_FIELD_LABELS["memory"],
                                                      css_classes=["hpc-memory"]),
            "walltime": pn.widgets.TextInput.from_param(p.walltime, label=_FIELD_LABELS["walltime"] + " (HH:MM:SS)",
                                                        css_classes=["hpc-walltime"]),
            "queue": pn.widgets.TextInput.from_param(p.queue, label=_FIELD_LABELS["queue"], css_classes=["hpc-queue"]),
            "account": pn.widgets.TextInput.from_param(p.account, label=_FIELD_LABELS["account"],
                                                       css_classes=["hpc-account"]),
            "interface": pn.widgets.TextInput.from_param(p.interface, label=_FIELD_LABELS["interface"],
                                                         css_classes=["hpc-interface"]),
            "encrypt": labelled_checkbox(c, "encrypt", _FIELD_LABELS["encrypt"], css_classes=["hpc-encrypt"]),
        }
        self.field_alerts = {k: Alert("", alert_type="danger", visible=False, stylesheets=_COMPACT_ALERT,
                                      css_classes=["hpc-field-error", f"hpc-error-{k}"], margin=(0, 10))
                             for k in [*self.fields, "job_extra_directives"]}
        self.partitions = HTML("", css_classes=["hpc-partitions"], margin=(0, 10))
        self.extra = pn.widgets.TextAreaInput(label="Extra directives (one per line)", height=70,
                                              value="\n".join(c.job_extra_directives), css_classes=["hpc-extra"])
        self.prologue = pn.widgets.TextAreaInput(label="Job script prologue (shell, one per line)", height=70,
                                                 value="\n".join(c.job_script_prologue), css_classes=["hpc-prologue"])
        self.extra.param.watch(lambda e: setattr(c, "job_extra_directives", _lines(e.new)), "value")
        self.prologue.param.watch(lambda e: setattr(c, "job_script_prologue", _lines(e.new)), "value")

        self.script = HTML("", css_classes=["hpc-script"], sizing_mode="stretch_width")
        self.estimate = HTML("", css_classes=["hpc-estimate"])
        # Validate's and Start's answers, under their buttons: scrolled into view (a laptop screen shows
        # the buttons near its bottom edge, and a field's own error above them pushes them down)
        self.validation = kept_in_view(Alert("", alert_type="info", visible=False, css_classes=["hpc-validation"],
                                             stylesheets=_COMPACT_ALERT, margin=(0, 10)))
        self.error = kept_in_view(Alert("", alert_type="danger", visible=False, css_classes=["hpc-error"],
                                        stylesheets=_COMPACT_ALERT, margin=(0, 10)))

        self.validate_btn = pn.widgets.Button(label="Validate", color="default", css_classes=["hpc-validate"])
        self.start_btn = pn.widgets.Button(label="Start", color="primary", css_classes=["hpc-start"])
        self.n = pn.widgets.IntInput.from_param(p.n_workers, label="Workers", width=90, css_classes=["hpc-n"],
                                                **_NO_CLAMP)
        self.scale_btn = pn.widgets.Button(label="Scale", css_classes=["hpc-scale"], align="end")
        self.amin = pn.widgets.IntInput.from_param(p.adapt_minimum, label="Adapt min", width=90, **_NO_CLAMP)
        self.amax = pn.widgets.IntInput.from_param(p.adapt_maximum, label="Adapt max", width=90, **_NO_CLAMP)
        self.adapt_btn = pn.widgets.Button(label="Adapt", css_classes=["hpc-adapt"], align="end")
        self.stop_btn = pn.widgets.Button(label=STOP_LABEL, color="danger", css_classes=["hpc-stop"])
        self.validate_btn.on_click(self._on_validate)
        self.start_btn.on_click(self._on_start)
        self.scale_btn.on_click(self._on_scale)
        self.adapt_btn.on_click(self._on_adapt)
        self.stop_btn.on_click(self._on_stop)

        st = c.status()  # one snapshot for the panes built here (it asks squeue and the scheduler)
        self.phase = HTML(_phase_html(st), css_classes=["hpc-phase-pane"])
        self.progress = pn.indicators.Progress(value=0, max=1, width=300, bar_color="success", visible=False,
                                               css_classes=["hpc-progress"])
        self.workers = HTML("", css_classes=["hpc-workers"])
        self.dashboard = HTML("", css_classes=["hpc-dashboard"])
        # each worker's memory and CPU at a glance (the Dask dashboard has the details)
        self.loads = HTML("", css_classes=["hpc-worker-loads"], sizing_mode="stretch_width")
        self.jobs = HTML(jobs_table_html(st), css_classes=["hpc-jobs"], sizing_mode="stretch_width")
        self.submit_errors = Alert("", alert_type="danger", visible=False, css_classes=["hpc-submit-error"])
        self.shared_pane = HTML(f"<small>{html.escape(self.shared_note)}</small>",
                                visible=bool(self.shared_note), css_classes=["hpc-shared-note"],
                                sizing_mode="stretch_width")

        # sweep
        from hpcdash.sim.sweep import SWEEP_RANGES

        # each parameter's range as last shown (its default until the user types another): Vary puts it back
        self._sweep_ranges = dict(SWEEP_RANGES)
        self.sweep_param = pn.widgets.Select(label="Vary", options=list(SWEEP_RANGES), value="source_x",
                                             width=130)
        start, stop = self._sweep_ranges["source_x"]
        self.sweep_from = pn.widgets.FloatInput(label="from", value=start, width=90)
        self.sweep_to = pn.widgets.FloatInput(label="to", value=stop, width=90)
        # no lower bound on the widget: it would put back the old value without a word; Run sweep says why
        self.sweep_runs = pn.widgets.IntInput(label="Runs", value=4, width=80, css_classes=["hpc-sweep-runs"])
        self.sweep_cells = pn.widgets.IntInput(label="Core cells", value=24, start=4, width=90,
                                              css_classes=["hpc-sweep-cells"])
        self.sweep_out = pn.widgets.TextInput(label="Output folder", value=self.sweep_dir or str(Path.cwd() / "runs"),
                                              css_classes=["hpc-sweep-out"])
        self.sweep_btn = pn.widgets.Button(label="Run sweep", color="primary", css_classes=["hpc-sweep"],
                                           align="end")
        self.sweep_bar = pn.indicators.Progress(value=0, max=1, width=300, visible=False,
                                                css_classes=["hpc-sweep-progress"])
        self.sweep_msg = HTML("", css_classes=["hpc-sweep-msg"])
        # what the form's values mean before anything runs (sources outside the mesh's core)
        self.sweep_note = HTML("", css_classes=["hpc-sweep-note"], sizing_mode="stretch_width")
        self.sweep_param.param.watch(self._on_vary, "value")
        for w in (self.sweep_from, self.sweep_to, self.sweep_runs, self.sweep_cells):
            w.param.watch(lambda e: self._update_sweep_note(), "value")
        self._update_sweep_note()
        self.sweep_btn.on_click(self._on_sweep)
        self.open_btn = pn.widgets.Button(label="Open first and last run in the Explorer", visible=False,
                                          css_classes=["hpc-open-runs"])
        self.open_msg = HTML("", css_classes=["hpc-open-msg"], align="center")
        self.open_btn.on_click(self._on_open_runs)

        c.param.watch(self._on_request_change, list(c.param.objects("existing").keys() & {
            "backend", "cores", "processes", "memory", "walltime", "queue", "account", "job_extra_directives",
            "job_script_prologue", "interface", "log_directory", "python", "encrypt", "n_workers",
            "charge_per_node_hour", "cores_per_node", "profile"}))
        self._update_partitions()  # before the preview, whose estimate says what fits on them
        self._update_preview()
        self._update_batch_fields()
        self._update_buttons(c.running)
        self._render_sweep(c.last_sweep)  # a sweep run from another page (or from this one before a reload)

    # ------------------------------------------------------------------ layout
    def _with_help(self, name: str, widget):
        """A checkbox has no help icon of its own (other widgets show their parameter's doc): one next
        to it."""
        if not isinstance(widget, pn.widgets.CheckBoxGroup):
            return widget
        doc = self.control.param[name].doc or ""
        return pn.Row(widget, help_icon(doc, _FIELD_LABELS[name], margin=(5, 0)), margin=0)

    def __panel__(self):
        if self._layout is not None:
            return self._layout
        form = pn.Column(
            _heading("Request"),
            pn.Row(self.backend, self.profile),
            *[pn.Column(self._with_help(k, w), self.field_alerts[k], *([self.partitions] if k == "queue" else []),
                        margin=0)
              for k, w in self.fields.items()],
            self.extra, self.field_alerts["job_extra_directives"], self.prologue,
            self.estimate,
            pn.Row(self.validate_btn, self.start_btn, self.stop_btn),
            # what Validate and Start answer, right under their buttons (a field's own error stays by it too)
            self.validation, self.error,
            pn.Row(self.n, self.scale_btn),
            pn.Row(self.amin, self.amax, self.adapt_btn),
            width=400, css_classes=["hpc-form"],
        )
        status = AccessibleColumn(  # (in a notebook, it carries the page's hooks: the FlexBox cannot)
            _heading("Cluster"),
            self.phase, self.progress, self.workers, self.loads, self.dashboard, self.submit_errors, self.shared_pane,
            _heading("Batch jobs"), self.jobs,
            pn.Card(self.script, title="Job script (exactly what is submitted for the first job)", collapsed=False,
                    sizing_mode="stretch_width"),
            # the fields wrap onto a second line in a narrow card (1280 px with the sidebar open)
            pn.Card(pn.FlexBox(self.sweep_param, self.sweep_from, self.sweep_to, self.sweep_runs, self.sweep_cells,
                               flex_wrap="wrap", sizing_mode="stretch_width"),
                    self.sweep_note, pn.Row(self.sweep_out, self.sweep_btn), self.sweep_bar, self.sweep_msg,
                    pn.Row(self.open_btn, self.open_msg),
                    title="Run sweep (DC-resistivity forward model on the cluster)", sizing_mode="stretch_width",
                    css_classes=["card", "hpc-sweep-card"]),
            sizing_mode="stretch_width", styles={"flex": "1 1 420px", "min-width": "0"},
        )
        # the status goes under the form on a narrow screen (side by side it ran off the right edge)
        self._layout = AccessibleFlexBox(form, status, flex_wrap="wrap", align_items="flex-start",
                                         sizing_mode="stretch_width", css_classes=["hpc-cluster-tab"])
        self._start_refresh()
        return self._layout

    def _start_refresh(self) -> None:
        if self._periodic is not None:
            return
        self._periodic = pn.state.add_periodic_callback(self._tick, period=int(self.refresh_seconds * 1000),
                                                        start=True)
        at_session_end(self._session_destroyed)

    def _session_destroyed(self) -> None:
        self.stop_refresh()
        if self.close_on_session_end:
            self.control.close()

    def set_shown(self, shown: bool) -> None:
        """The app tells whether this tab is the one on screen. A hidden tab skips its periodic refresh
        (the job table's times change every period, and each change is a message to the browser); shown
        again, it refreshes at once."""
        was, self._shown = self._shown, shown
        if shown and not was and self._periodic is not None:
            pn.state.execute(self._tick)

    def stop_refresh(self) -> None:
        """Stop the periodic job-table refresh."""
        if self._periodic is not None:
            self._periodic.stop()
            self._periodic = None

    # ------------------------------------------------------------------ rendering
    def _on_request_change(self, *events) -> None:
        names = {e.name for e in events}
        if "backend" in names or "profile" in names:
            # a profile or backend change may set the list fields too
            self.extra.value = "\n".join(self.control.job_extra_directives)
            self.prologue.value = "\n".join(self.control.job_script_prologue)
            self._update_partitions()
            self._update_batch_fields()
        if any(a.visible for k, a in self.field_alerts.items() if k in names):
            self._show_error("", None)
        self._update_preview()

    def _update_batch_fields(self) -> None:
        backend = self.control.backend
        batch = backend != "local"  # walltime, queue, ... mean nothing to a LocalCluster
        # HTCondor's jobs have no queue or account, and no walltime limit: the walltime is kept for the
        # estimate (how long the workers are meant to run), and says so
        self.fields["walltime"].visible = batch
        self.fields["walltime"].name = _FIELD_LABELS["walltime"] + (
            " (HH:MM:SS; HTCondor: for the estimate, not sent)" if backend == "htcondor" else " (HH:MM:SS)")
        for k in ("queue", "account"):
            self.fields[k].visible = batch and backend != "htcondor"
        self.extra.visible = self.prologue.visible = batch

    def _update_partitions(self) -> None:
        parts = self._partitions = self.control.partitions()
        if not parts:
            self.partitions.object = ""
            return
        items = []
        for part in parts:
            limit = _fmt_seconds(part.time_limit) if part.time_limit is not None else "no limit"
            items.append(f"{html.escape(part.name)}{' (default)' if part.default else ''}: max {limit}, "
                         f"{part.cpus} CPUs / {part.memory_mb} MB per node")
        self.partitions.object = "<small>Partitions: " + "; ".join(items) + "</small>"

    def _update_preview(self) -> None:
        c = self.control
        try:
            script = c.job_script()
        except (RequestError, ValueError) as err:  # never a value it cannot read shown as if it were fine
            script = f"# cannot build the job script: {err}"
        self.script.object = (f"<pre class='hpc-script-text' style='font-size:12px;white-space:pre-wrap;"
                              f"word-break:break-all'>{html.escape(script)}</pre>")
        if c.backend == "local":
            self.estimate.object = "<small>Local cluster: no allocation is charged.</small>"
        else:
            # partitions as listed when the backend was chosen: sinfo is not asked on every keystroke
            parts = getattr(self, "_partitions", [])
            fit = c.fit_note(parts)
            name = c.queue or next((p.name for p in parts if p.default), "")
            node = next((p for p in parts if p.name == name and p.cpus > 0), None)
            per_node = c.cores_per_node or (node.cpus if node else 0)
            fractions = [c.cores / per_node] if per_node else []
            try:  # memory takes a share of the node too: the larger one is what others cannot use
                if node is not None and node.memory_mb > 0 and per_node:
                    fractions.append(slurm_megabytes(c.memory) / node.memory_mb)
            except ValueError:
                pass
            node_share = min(1.0, max(fractions)) if fractions else 1.0
            e = c.estimate(node_share=node_share)
            if node_share >= 1.0:
                share = "each job a whole node"
            elif len(fractions) > 1 and fractions[1] > fractions[0]:
                share = f"each job {node_share:.0%} of a node (its memory; {c.cores} of {per_node} cores)"
            else:
                share = f"each job {c.cores} of a node's {per_node} cores"
            per = plural(c.charge_per_node_hour, "unit") if e.charge_unit == "units" else e.charge_unit
            rate = (f"at {c.charge_per_node_hour:g} {html.escape(per)} per node-hour"
                    + (" (your site's rate: dask config hpcdash.charge-per-node-hour and charge-unit)"
                       if e.charge_unit == "units" else ""))
            self.estimate.object = (
                f"<small class='hpc-estimate-text'>Estimate: {counted(e.jobs, 'job')} &times; "
                f"{e.walltime_hours:.2f} h, {share}: <b>{e.node_hours:.2f} node-hours</b> "
                f"({e.core_hours:.1f} core-hours) &asymp; {e.charge:.2f} {html.escape(e.charge_unit)} {rate}</small>"
                + (f"<br><small class='hpc-fit'>&#9888; {html.escape(fit)}</small>" if fit else ""))

    def _show_error(self, message: str, field: str | None) -> None:
        for k, alert in self.field_alerts.items():
            on = bool(message) and k == field
            alert.object = html.escape(message) if on else ""
            alert.visible = on
        general = bool(message) and field not in self.field_alerts
        if message and not general:
            # the field may be scrolled away: say by the buttons which one to fix
            text = f"Not accepted: see {_FIELD_LABELS.get(field, field)} above."
        else:
            text = message
        self.error.object = html.escape(text)
        self.error.visible = bool(message)

    def _render_status(self, st: ClusterStatus) -> None:
        self._last_status = st
        with held():
            self.phase.object = _phase_html(st)
            self.progress.visible = st.running and st.requested_workers > 0 and st.phase != "submission failed"
            self.progress.max = max(1, st.requested_workers)
            self.progress.value = min(st.workers, max(1, st.requested_workers))
            mem = self.control.describe_memory(st.memory) if st.memory else "0 B"
            adapt = f", adaptive {st.adapt[0]}&ndash;{st.adapt[1]}" if st.adapt else ""
            self.workers.object = (
                f"<span class='hpc-workers-text'>Workers: <b class='hpc-nworkers'>{st.workers}</b> / "
                f"{st.requested_workers} requested &middot; {counted(st.cores, 'core')} &middot; {mem}{adapt}</span>")
            if st.dashboard_link:
                link = html.escape(st.dashboard_link, quote=True)
                self.dashboard.object = f"<a href='{link}' target='_blank' class='hpc-dashboard-link'>Dask dashboard</a>"
            else:
                self.dashboard.object = ""
            jobs = jobs_table_html(st)
            if jobs != self.jobs.object:  # drawn again only when it changed
                self.jobs.object = jobs
            loads = worker_loads_html(st, self.control.describe_memory)
            if loads != self.loads.object:
                self.loads.object = loads
            # a refused submission concerns the running cluster: said while it runs, by the field it names
            refused = st.errors[-1] if st.errors and st.running else ""
            if refused:
                self.submit_errors.object = "Submission failed: " + html.escape(refused)
            self.submit_errors.visible = bool(refused)
            self._show_refused(refused)
            if st.running != self._shown_running:  # the preview shows the running cluster's real script
                self._shown_running = st.running
                self._update_preview()
            self._update_buttons(st.running)
            self._render_sweep(self.control.last_sweep)

    def _show_refused(self, message: str) -> None:
        """Show a new refused submission by the request field it concerns (as Validate shows its errors),
        once; take it away when there is none any more (the cluster stopped) and it is still shown."""
        if message == self._submit_error:
            return
        said, self._submit_error = self._submit_error, message
        if said and any(a.visible and a.object == html.escape(f"Submission failed: {said}")
                        for a in self.field_alerts.values()):
            self._show_error("", None)
        field = guess_field(message) if message else None
        if field in self.field_alerts:
            self._show_error(f"Submission failed: {message}", field)

    def _update_buttons(self, running: bool) -> None:
        self._cluster_up = running
        self.start_btn.disabled = running
        self.backend.disabled = running
        self.stop_btn.disabled = not running
        self.scale_btn.disabled = not running
        self.adapt_btn.disabled = not running
        self._update_sweep_btn()
        # a greyed-out button says nothing: say what it needs (until a sweep has something to say)
        hint = "" if running or self.control.last_sweep is not None else NO_CLUSTER_FOR_SWEEP
        if self.sweep_msg.object in ("", NO_CLUSTER_FOR_SWEEP) and self.sweep_msg.object != hint:
            self.sweep_msg.object = hint

    def _update_sweep_btn(self) -> None:
        """Run sweep is enabled while the cluster runs and no sweep (of any page) runs on it."""
        disabled = not self._cluster_up or self.control.sweep_running is not None
        if self.sweep_btn.disabled != disabled:
            self.sweep_btn.disabled = disabled

    async def refresh(self) -> ClusterStatus:
        """Read the status in a worker thread and render it (on the event loop)."""
        st = await asyncio.to_thread(self.control.status)
        self._render_status(st)
        err = (self.control.error, self.control.error_field)
        if err != self._model_error:  # an error the model found by itself (e.g. the queue is unreadable)
            self._model_error = err
            self._show_error(err[0], err[1] or None)
        return st

    async def _tick(self) -> None:
        if self._ticking or not self._shown:
            return
        self._ticking = True
        try:
            await self.refresh()
        except Exception as err:  # noqa: BLE001 - keep refreshing; show what went wrong
            self._show_error(f"Status could not be read: {err}", None)
        finally:
            self._ticking = False

    # ------------------------------------------------------------------ actions
    async def _spinner_if_slow(self, button: pn.widgets.Button, task: asyncio.Future) -> None:
        """Wait up to ``SPINNER_DELAY_S`` for ``task``; if it still runs, show ``button``'s spinner.

        A call that ended at once (a request refused before reaching the scheduler) used to switch the
        spinner on and off within one callback, and the browser could receive the two changes in the
        wrong order and keep the button covered by the spinner.
        """
        await asyncio.wait({task}, timeout=self.SPINNER_DELAY_S)
        if not task.done():
            button.loading = True

    @contextlib.asynccontextmanager
    async def _busy(self, button: pn.widgets.Button, task: asyncio.Future):
        """While ``task`` runs for ``button``: its clicks are ignored (the callers check
        ``_running_calls``) and its spinner shows once the task has taken ``SPINNER_DELAY_S``."""
        self._running_calls.add(id(button))
        try:
            await self._spinner_if_slow(button, task)
            yield
        finally:
            button.loading = False
            self._running_calls.discard(id(button))

    async def _run(self, button: pn.widgets.Button, fn: Callable, *args, **kwargs):
        """Run ``fn`` in a thread, ``button`` showing a loading spinner if it takes longer than
        ``SPINNER_DELAY_S``; errors go to the alerts. A click while the button's call runs is ignored."""
        if id(button) in self._running_calls:
            return None
        self._show_error("", None)
        call = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        async with self._busy(button, call):
            try:
                return await call
            except RequestError as err:
                self._show_error(str(err), err.field)
            except SchedulerError as err:
                self._show_error(str(err), None)
            except Exception as err:  # noqa: BLE001 - shown to the user in words
                self._show_error(f"{type(err).__name__}: {err}", None)
        return None

    async def _on_validate(self, event=None) -> None:
        v = await self._run(self.validate_btn, self.control.validate)
        if v is None:
            return
        if v.ok is False:
            self.validation.visible = False
            self._show_error(v.message, v.field)
            return
        start = f" Expected start: {v.expected_start:%Y-%m-%d %H:%M:%S}." if v.expected_start else ""
        note = f" {v.start_note}" if v.start_note else ""
        self.validation.alert_type = "success" if v.ok else "warning"
        self.validation.object = html.escape(("Request accepted: " if v.ok else "") + v.message + start + note)
        self.validation.visible = True

    async def _on_start(self, event=None) -> None:
        self.validation.visible = False
        self.phase.object = "<span class='hpc-phase'>starting the scheduler&hellip;</span>"
        await self._run(self.start_btn, self.control.start, self.control.n_workers)
        await self._tick()

    async def _on_scale(self, event=None) -> None:
        await self._run(self.scale_btn, self.control.scale, self.control.n_workers)
        await self._tick()

    async def _on_adapt(self, event=None) -> None:
        await self._run(self.adapt_btn, self.control.adapt, self.control.adapt_minimum, self.control.adapt_maximum)
        await self._tick()

    async def _on_stop(self, event=None) -> None:
        sweep = self.control.last_sweep
        if sweep is not None and sweep.running and self.stop_btn.label != STOP_DURING_SWEEP:
            # a second click stops it: the runs not done yet would be lost
            self.stop_btn.label = STOP_DURING_SWEEP
            self._show_error(f"A sweep is running ({sweep.done} of {sweep.total} runs ended). Stopping the cluster "
                             "cancels its other runs: press the button again to stop anyway.", None)
            return
        await self._run(self.stop_btn, self.control.close)
        self.stop_btn.label = STOP_LABEL
        await self._tick()

    def sweep_params(self) -> list[dict]:
        """Parameter sets of the sweep the form describes. Raises ``ValueError`` with a sentence for the
        user when the form cannot describe one (fewer than 1 run, a block above the ground)."""
        from hpcdash.sim.sweep import check_run_params, sweep_values

        values = sweep_values(float(self.sweep_from.value), float(self.sweep_to.value), self.sweep_runs.value)
        sets = [{self.sweep_param.value: v, "core_cells": int(self.sweep_cells.value)} for v in values]
        for params in sets:
            check_run_params(params)
        return sets

    def sweep_warning(self) -> str:
        """A sentence when the form's sweep puts a source outside the mesh's core ("" when it does not).
        Such runs still go, only coarser; the ends of the range are checked (the runs lie between them)."""
        from hpcdash.sim.sweep import source_outside_core

        ends = (self.sweep_from.value, self.sweep_to.value)
        if None in ends or self.sweep_cells.value is None:
            return ""
        name, cells = self.sweep_param.value, int(self.sweep_cells.value)
        said = [w for w in (source_outside_core({name: float(v), "core_cells": cells}) for v in ends) if w]
        return f"{said[0]} Narrow the range or raise Core cells." if said else ""

    def _update_sweep_note(self) -> None:
        text = self.sweep_warning()
        self.sweep_note.object = f"<small style='color:#8a6d00'>&#9888; {html.escape(text)}</small>" if text else ""

    def _on_vary(self, event) -> None:
        """Another parameter to vary: keep the range shown for the one before, show the new one's."""
        start, stop = self.sweep_from.value, self.sweep_to.value
        if start is not None and stop is not None:
            self._sweep_ranges[event.old] = (start, stop)
        start, stop = self._sweep_ranges[event.new]
        with held():
            self.sweep_from.value, self.sweep_to.value = start, stop
        self._update_sweep_note()

    def sweep_folder(self) -> Path:
        """The output folder the form names (relative to the root when there is one, else to the working
        directory), resolved. Raises ``ValueError`` with a sentence for the user when it is outside the
        root: this server would never show or bundle the runs written there."""
        text = os.path.expanduser(self.sweep_out.value.strip())
        if not text:
            raise ValueError("Give an output folder for the runs.")
        if not self.root:
            return Path(text).resolve()
        try:
            return safe_path(self.root, text)  # the file browser's own rule (symlinks and '..' resolved)
        except PathOutsideRootError:
            raise ValueError(f"The output folder {text} is outside the root folder {self.root}: "
                             "the Explorer could not open runs written there, nor a bundle include them. "
                             "Choose a folder inside the root.") from None

    def _set_sweep(self, outcome: SweepOutcome) -> None:
        """Keep this page's sweep's progress or outcome on the control (every page of the server shows it
        from there at its next refresh) and show it here now."""
        if self.control.update_sweep(outcome):
            self._render_sweep(outcome)

    def _started_elsewhere(self, outcome: SweepOutcome | None) -> bool:
        """``outcome`` is a running sweep that this page did not start."""
        return outcome is not None and outcome.running and outcome.sweep_id != self._own_sweep

    def _render_sweep(self, outcome: SweepOutcome | None) -> None:
        if outcome is self._shown_sweep:
            return
        self._shown_sweep = outcome
        if (outcome is None or not outcome.running) and self.stop_btn.label == STOP_DURING_SWEEP:
            self.stop_btn.label = STOP_LABEL  # no sweep to warn of any more
        with held():
            self._update_sweep_btn()
            if outcome is None:
                self.sweep_bar.visible = self.open_btn.visible = False
                self.sweep_msg.object = ""
                return
            self.sweep_bar.max = max(1, outcome.total)
            self.sweep_bar.value = min(outcome.done, max(1, outcome.total))
            # a sweep that failed or was cancelled must not look like a success, whatever its count
            self.sweep_bar.bar_color = "danger" if outcome.failed else "success"
            self.sweep_bar.visible = True
            message = outcome.message
            if self._started_elsewhere(outcome):  # why this page's button is disabled
                message = f"{sweep_elsewhere(outcome)}: {message}"
            text = html.escape(message)
            self.sweep_msg.object = f"<span style='color:#c62828'>{text}</span>" if outcome.failed else text
            self.open_btn.visible = self._open_runs is not None and not outcome.running and bool(outcome.paths)
            if outcome.running:
                self.open_msg.object = ""

    def _refuse_sweep(self, running: SweepOutcome) -> None:
        """Say that ``running``, a sweep this page did not start, runs on the cluster (drawn again even if shown)."""
        self._shown_sweep = None
        self._render_sweep(running)

    async def _on_sweep(self, event=None) -> None:
        client = self.control.client
        if id(self.sweep_btn) in self._running_calls:  # this page's sweep is running (see _busy)
            return
        if client is None:
            self._show_error("Start the cluster before running a sweep.", None)
            return
        running = self.control.sweep_running
        if running is not None:  # not this page's (the button is disabled from this page's next refresh)
            self._refuse_sweep(running)
            return
        try:
            sets = self.sweep_params()
            out = self.sweep_folder()
        except ValueError as err:  # said by the button, and stays until the next sweep
            with held():
                self.sweep_msg.object = f"<span style='color:#c62828'>{html.escape(str(err))}</span>"
                self.sweep_bar.visible = self.open_btn.visible = False
            # the last sweep's outcome is not drawn again over it by the next refresh
            self._shown_sweep = self.control.last_sweep
            return
        try:  # the check above and this claim are not one step: another page may have claimed it since
            begun = self.control.begin_sweep(len(sets), f"0/{len(sets)} runs done")
        except SweepRunningError as err:
            self._refuse_sweep(err.running)
            return
        self._own_sweep = begun.sweep_id
        try:
            await self._sweep(begun, sets, out, client)
        finally:
            self._own_sweep = None
            last = self.control.last_sweep
            if last is not None and last.sweep_id == begun.sweep_id and last.running:
                # ended without an outcome (its callback was cancelled): no page may wait for it for ever
                self.control.update_sweep(replace(last, running=False, failed=True,
                                                  message=f"The sweep stopped without an outcome after "
                                                          f"{last.done} of {last.total} runs."))

    async def _sweep(self, begun: SweepOutcome, sets: list[dict], out: Path, client) -> None:
        """Run the sweep ``begun`` (claimed on the control) of ``sets`` into ``out`` on ``client``, its
        progress and then its outcome published on the control and shown here."""
        from hpcdash.sim import run_sweep
        from hpcdash.sim.dc import DEFAULT_PARAMS

        # done: runs run to their end (ok or failed); a run cancelled by a stopped cluster was not
        state = {"done": 0, "ok": 0, "failed": 0, "cancelled": 0, "total": len(sets), "last": None,
                 "unrecorded": ""}
        t0, started = time.perf_counter(), time.time()

        def ended(event) -> None:  # in the sweep's thread, as each run ends
            state["total"] = event.total
            if event.cancelled:
                state["cancelled"] += 1
                return
            state["done"] += 1
            if not event.ok:
                state["failed"] += 1
                return
            state["ok"] += 1
            state["last"] = event.path
            if self._ran is not None:
                try:
                    self._ran({**DEFAULT_PARAMS, **event.params}, event.path, started, event.params)
                except Exception as err:  # noqa: BLE001 - recording must not stop the sweep
                    state["unrecorded"] = str(err)

        def said() -> str:
            failed = f", {state['failed']} failed" if state["failed"] else ""
            cancelled = f", {state['cancelled']} cancelled" if state["cancelled"] else ""
            return f"{state['ok']}/{state['total']} runs done{failed}{cancelled}" + waiting()

        def waiting() -> str:
            """Why nothing runs yet, when no worker is connected (jobs pending, failed)."""
            st = self._last_status
            if state["done"] or st is None or st.workers:
                return ""
            pending = [j for j in st.jobs if j.state == "pending"]
            if pending:
                j = pending[0]
                when = f", expected to start {j.expected_start:%H:%M}" if j.expected_start else ""
                return f"; waiting for a worker: job {j.job_id} is pending ({j.describe_reason() or 'queued'}{when})"
            if st.jobs and all(j.state in ("failed", "ended") for j in st.jobs):
                return "; waiting for a worker, but every job has ended: see the job table"
            return "; waiting for a worker to connect"

        self._render_sweep(begun)

        def run() -> list[Path]:
            with self.control.working():  # the cluster is not closed under a running sweep
                return run_sweep(sets, out, client, on_event=ended)

        shown = begun
        task = asyncio.ensure_future(asyncio.to_thread(run))
        async with self._busy(self.sweep_btn, task):
            try:
                while not task.done():
                    await asyncio.wait([task], timeout=0.5)
                    last = state["last"]
                    message = said() + (f": {Path(last).name}" if last else "")
                    if state["done"] != shown.done or message != shown.message:
                        shown = replace(begun, total=state["total"], done=state["done"], message=message)
                        self._set_sweep(shown)
                paths = task.result()
            except Exception as err:  # noqa: BLE001 - SweepError or a lost cluster, shown in words
                self.control.note(f"Sweep of {len(sets)} runs did not complete: {err}", runs_done=state["ok"],
                                  runs=len(sets), folder=str(out))
                self._set_sweep(replace(begun, done=state["done"], message=str(err),
                                        paths=tuple(getattr(err, "paths", ()) or ()), running=False,
                                        failed=True))
                return
        took = time.perf_counter() - t0
        message = f"{len(paths)}/{len(sets)} runs done in {took:.1f} s; files in {out}"
        self.control.note(f"Sweep of {len(sets)} runs done in {took:.1f} s", runs=len(sets), folder=str(out),
                          varied=self.sweep_param.value)
        if state["unrecorded"]:
            message += f" (not recorded: {state['unrecorded']})"
        self._set_sweep(replace(begun, done=len(paths), message=message, paths=tuple(paths), running=False))

    def _on_open_runs(self, event=None) -> None:
        outcome = self.control.last_sweep
        paths = list(outcome.paths) if outcome is not None else []
        if self._open_runs is None or not paths:
            return
        picks = [paths[0]] + ([paths[-1]] if len(paths) > 1 else [])
        try:
            said = self._open_runs(picks)
        except Exception as err:  # noqa: BLE001 - shown in words
            self.open_msg.object = f"<span style='color:#c62828'>{html.escape(f'Could not open the runs: {err}')}</span>"
            return
        n = len(picks)
        self.open_msg.object = html.escape(said or f"Opened {counted(n, 'run')} in the Explorer.")


def cluster_tab(ctx) -> ClusterView:
    """The "Cluster" tab of the hpcdash app (``hpcdash.app.TABS``): the server's ClusterControl (shared
    by its pages; one of its own outside a server), sweeps written to ``<root>/runs`` (never outside the
    root) and opened in the Explorer tab on request, which it then shows."""
    explorer = ctx.shared.get("explorer")
    open_runs = None
    if explorer is not None:
        def open_runs(paths: list[Path]) -> None:
            for i, p in enumerate(paths):  # the first of them scrolled into view
                explorer.open(p, background=True, reveal=i == 0)
            show_tab = ctx.shared.get("show_tab")  # the app's tabs, where there are some
            if show_tab is not None:
                show_tab("Explorer")
    provenance = ctx.shared.get("provenance")
    ran = provenance.record_run if provenance is not None else None
    ws = ctx.shared.get("workspace")
    if ws is None:  # a page of its own (notebook, script): its own cluster, closed with it
        control = ClusterControl(backend=default_backend())
        if provenance is not None:
            provenance.watch_cluster(control)
        view = ClusterView(control, sweep_dir=str(Path(ctx.root) / "runs"), root=ctx.root, open_runs=open_runs,
                           ran=ran)
    else:  # the server's cluster, shared by its pages; it outlives this one
        control = ws.cluster()
        view = ClusterView(control, sweep_dir=str(Path(ctx.root) / "runs"), root=ctx.root, open_runs=open_runs,
                           ran=ran, close_on_session_end=False,
                           shared_note=f"This cluster belongs to the hpcdash server: every hpcdash tab shows it, "
                                       f"and it keeps running when a tab reloads or closes. It stops with "
                                       f"Stop, with the server, or {describe_duration(ws.grace_seconds())} after the "
                                       f"last hpcdash tab closed (unless a sweep is still running).")
    ctx.shared["cluster"] = control
    return view


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
