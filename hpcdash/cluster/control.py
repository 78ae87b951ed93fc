"""ClusterControl: request, validate, start, watch and stop a Dask cluster on a batch scheduler.

A ``param.Parameterized`` model (no Panel import) used directly from notebooks and rendered by
:mod:`hpcdash.cluster.view`. Backends: ``"local"`` (``distributed.LocalCluster``) and the
dask-jobqueue classes ``"slurm"``, ``"pbs"``, ``"sge"``, ``"lsf"``, ``"htcondor"``.

Configuration (dask config, e.g. ``~/.config/dask/jobqueue.yaml`` and ``~/.config/dask/hpcdash.yaml``):

- ``jobqueue.<backend>``: the usual dask-jobqueue section. Its ``cores``, ``processes``, ``memory``,
  ``walltime``, ``queue``, ``account`` (``project`` for SGE/LSF), ``job-extra-directives``,
  ``job-script-prologue``, ``interface``, ``log-directory`` and ``python`` become the form's defaults
  when that backend is picked.
- ``hpcdash.profiles``: named requests picked in one call (``control.profile = "debug"`` or
  ``control.apply_profile("debug")``)::

      hpcdash:
        profiles:
          interactive: {backend: slurm, queue: interactive, cores: 2, memory: 4GB, walltime: "02:00:00"}
          debug:       {backend: slurm, queue: debug, cores: 1, memory: 1GB, walltime: "00:10:00"}

  Keys are ClusterControl parameter names (``-`` or ``_``); unknown keys raise ``ValueError``.
- ``hpcdash.backend``: the backend the app's form starts with (default: the batch system whose commands
  are on the PATH, else ``local``; see :func:`default_backend`).
- ``hpcdash.charge-per-node-hour`` (float) and ``hpcdash.cores-per-node`` (int) for :meth:`estimate`.

Why the job class is wrapped: dask-jobqueue submits jobs inside ``cluster.scale()`` on its event loop
and only *logs* a failed ``sbatch``; the user would see a worker-start timeout. ClusterControl passes
a subclass of the backend's Job class that records every submission (job id, log file) and every
submission failure (the scheduler's own message) in a registry that :meth:`status` reports. A submission
the batch system refuses is logged as one warning line with its reason (not as a traceback: the status
says it already); any other failure of a submission is logged with its traceback, once.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dask
import dask_jobqueue  # noqa: F401  (loads the jobqueue.* defaults into dask.config)
import distributed  # noqa: F401  (loads the distributed.* defaults into dask.config)
import param
from dask.utils import format_bytes, parse_bytes

from hpcdash.words import counted

from . import scheduler as sched
from .scheduler import JobState

log = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "ClusterControl",
    "ClusterStatus",
    "Estimate",
    "JobRecord",
    "RequestError",
    "SweepOutcome",
    "SweepRunningError",
    "Validation",
    "describe_bytes",
]

BACKENDS = ("local", "slurm", "pbs", "sge", "lsf", "htcondor")
_CLUSTER_CLASSES = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
}
#: How each batch system is written in sentences
BACKEND_NAMES = {"local": "local", "slurm": "SLURM", "pbs": "PBS", "sge": "SGE", "lsf": "LSF",
                 "htcondor": "HTCondor"}
# Request parameters that can come from jobqueue.<backend> and from profiles.
REQUEST_FIELDS = ("cores", "processes", "memory", "walltime", "queue", "account", "job_extra_directives",
                  "job_script_prologue", "interface", "log_directory", "python", "encrypt")
#: characters no queue, partition or account name has: white space, shell and markup characters
_NAME_BREAKERS = re.compile(r"[\s<>'\"`$;&|\\(){}*?!#]")
#: what dask-jobqueue writes in a cluster's job script where each job's worker name goes
_DUMMY_NAME = "dummy-name"
_DUMMY_ADDRESS = "tcp://<insert-scheduler-address-here>:8786"
#: The Dask dashboard listens on loopback only (a free port), unless dask-jobqueue's config
#: (``jobqueue.<backend>.scheduler-options.dashboard_address``) says otherwise: it shows task names, file
#: paths and worker logs. The app links to it through jupyter-server-proxy when there is a Jupyter base
#: URL, else directly (a browser on the same machine, or through an SSH tunnel).
DASHBOARD_ADDRESS = "127.0.0.1:0"
#: How dask-jobqueue names the workers' copies of a cluster's TLS files (``<prefix><role>.<random>``).
_KEY_FILE_PREFIX = ".dask-jobqueue.worker."
#: Stand-in for the random part of those names in the job script preview (made when the cluster starts).
_KEY_PLACEHOLDER = "<made-at-start>"


class RequestError(Exception):
    """The request cannot be submitted; ``str(err)`` is a user-facing sentence (often the scheduler's own),
    ``field`` names the request parameter it concerns (``walltime``, ``queue``, ``memory``, ...) or None."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class SweepRunningError(RequestError):
    """A sweep was asked of a cluster on which another one still runs; ``running`` is that sweep's
    progress as :attr:`ClusterControl.last_sweep` held it when the request was refused."""

    def __init__(self, running: SweepOutcome):
        super().__init__(f"A sweep is already running on this cluster: {running.done} of {running.total} runs "
                         "done. Wait for it to end, or stop the cluster, before starting another.")
        self.running = running


@dataclass
class Validation:
    """Outcome of :meth:`ClusterControl.validate`.

    ``ok`` is True/False, or None when the backend offers no check (PBS, SGE, LSF, HTCondor).
    ``message`` is the scheduler's own words; ``field`` the request parameter it most likely concerns.
    ``start_note`` qualifies ``expected_start``: when the request asks for a dependency (an extra directive
    ``--dependency=afterok:94``), it says that the job also waits for that, which the expected start
    (resources only) does not count; "" otherwise.
    """

    ok: bool | None
    message: str
    expected_start: datetime | None = None
    field: str | None = None
    backend: str = ""
    start_note: str = ""


@dataclass
class JobRecord:
    """One batch job submitted by this ClusterControl (times in seconds)."""

    job_id: str | None
    worker_name: str
    state: str  # pending / running / completing / failed / ended
    reason: str | None = None
    expected_start: datetime | None = None
    elapsed: float | None = None
    time_left: float | None = None
    time_limit: float | None = None
    node: str | None = None
    workers: int = 0
    log_tail: str | None = None
    submitted_at: float | None = None
    slurm_state: str | None = None
    #: the reason with SLURM's code explained in words ("Priority: other jobs are ahead in the queue"),
    #: for a pending job; None where `reason` is words already
    reason_text: str | None = None
    #: why a pending job has no expected start ("none while held"); "" when it has one or is not pending
    start_note: str = ""

    def describe_reason(self) -> str:
        """The reason as the user reads it: SLURM's code explained when there is an explanation."""
        return self.reason_text or self.reason or ""


@dataclass
class WorkerLoad:
    """One connected worker as the scheduler last heard from it: memory in bytes (used, and the
    worker's limit; 0 = none), CPU in percent (100 = one core busy), tasks executing."""

    name: str
    memory: int
    memory_limit: int
    cpu: float
    executing: int = 0


def _executing(metrics: dict) -> int:
    """Tasks a worker is running, from its heartbeat's metrics: ``task_counts["executing"]`` in
    distributed's current heartbeats, ``executing`` in older ones."""
    counts = metrics.get("task_counts")
    if isinstance(counts, dict) and "executing" in counts:
        return int(counts["executing"] or 0)
    return int(metrics.get("executing") or 0)


@dataclass
class ClusterStatus:
    """Snapshot of the cluster: one :class:`JobRecord` per batch job plus the Dask view of it.

    ``memory`` is in bytes. ``phase`` is one of ``stopped``, ``idle``, ``requested``, ``queued``,
    ``starting workers``, ``workers connected``, or ``submission failed`` (workers are wanted, no job is
    queued or running, and the batch system refused a submission). ``errors`` holds submission failures
    in the scheduler's words.
    """

    backend: str
    running: bool
    phase: str
    requested_workers: int = 0
    workers: int = 0
    cores: int = 0
    memory: int = 0
    jobs: list[JobRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    adapt: tuple[int, int] | None = None
    dashboard_link: str | None = None
    #: each connected worker's memory and CPU (empty when stopped or when the scheduler did not answer)
    loads: list[WorkerLoad] = field(default_factory=list)

    @property
    def progress(self) -> float:
        """Fraction of requested workers connected (0..1; 1 when nothing is requested)."""
        if self.requested_workers <= 0:
            return 1.0 if self.running else 0.0
        return min(1.0, self.workers / self.requested_workers)


@dataclass(frozen=True)
class SweepOutcome:
    """The last sweep run on a cluster, as every page shows it: ``done`` of ``total`` runs were run to
    their end (successfully or not; runs cancelled because the cluster stopped are not counted),
    ``message`` a plain-text line (progress, or how it ended), ``paths`` the files written (set when it
    ended), ``running`` while it runs, ``failed`` when it ended with an error or was cancelled.
    ``sweep_id`` is the number :meth:`ClusterControl.begin_sweep` gave the sweep (0 for an outcome set
    on the control directly), ``started_at`` when it began there (``time.time()``; None for an outcome set
    on the control directly)."""

    total: int
    done: int = 0
    message: str = ""
    paths: tuple[Path, ...] = ()
    running: bool = True
    failed: bool = False
    sweep_id: int = 0
    started_at: float | None = None


@dataclass
class Estimate:
    """Cost of a request: ``jobs`` jobs for ``walltime_hours`` each."""

    jobs: int
    walltime_hours: float
    node_hours: float
    core_hours: float
    charge: float
    charge_unit: str = "units"


# --------------------------------------------------------------------------------------------------
# Observing dask-jobqueue's job submissions
# --------------------------------------------------------------------------------------------------
@dataclass
class _Submission:
    worker_name: str
    job_id: str | None = None
    submitted_at: float = 0.0
    error: str | None = None
    err_log: str | None = None
    closed_by_us: bool = False
    last: sched.SlurmJob | None = None
    gone: bool = False
    log_tail: str | None = None
    _log_size: int = -1
    lost: bool = False  # ended without us stopping it, and taken out of the cluster's count (see `_lost`)

    @property
    def ended(self) -> bool:
        """The job ended, or never started (a refused submission), as last seen."""
        return self.error is not None or self.gone or self.lost or (
            self.last is not None and self.last.state in (JobState.ENDED, JobState.FAILED))

    def seen_in(self, queried: dict[str, sched.SlurmJob]) -> None:
        """What the queue said when asked about this job: its line, or, not listed, that it left the queue."""
        if self.job_id in queried:
            self.last = queried[self.job_id]
        else:
            self.gone = True

    def log_tail_of(self, tail: Callable[[str], str | None]) -> str | None:
        """The job's stderr tail, read again only while the file still grows (a cancelled worker keeps
        writing its traceback for a moment after the batch system's own line)."""
        try:
            size = os.stat(self.err_log).st_size
        except (OSError, TypeError):
            return self.log_tail
        if size != self._log_size:
            self._log_size, self.log_tail = size, tail(self.err_log)
        return self.log_tail


class _JobRegistry:
    """Thread-safe record of the jobs a cluster submitted (written from the cluster's event loop)."""

    def __init__(self, tell: Callable[..., None] | None = None) -> None:
        self._lock = threading.Lock()
        self.items: list[_Submission] = []
        self.errors: list[str] = []
        self._tell = tell or (lambda summary, **details: None)

    def submitted(self, name: str, job_id: str, err_log: str | None) -> None:
        with self._lock:
            self.items.append(_Submission(name, job_id=str(job_id), submitted_at=time.time(), err_log=err_log))
            # a submission went through: earlier refusals no longer hold (the failed rows keep theirs)
            self.errors.clear()
        self._tell(f"Submitted job {job_id}", job_id=str(job_id), worker=name)

    def failed(self, name: str, message: str) -> None:
        with self._lock:
            self.items.append(_Submission(name, submitted_at=time.time(), error=message))
            self.errors.append(message)
        self._tell("A job submission was rejected", worker=name, message=message)

    def closing(self, job_id: str | None, intended: bool) -> None:
        with self._lock:
            for s in self.items:
                # a job that had already ended (cancelled outside, walltime) keeps why it ended
                if s.job_id == job_id and job_id is not None and not s.ended:
                    s.closed_by_us = s.closed_by_us or intended

    def snapshot(self) -> list[_Submission]:
        with self._lock:
            return list(self.items)

    def clear(self) -> None:
        with self._lock:
            self.items.clear()
            self.errors.clear()


def submission_message(err: BaseException) -> str:
    """The scheduler's own words from dask-jobqueue's ``RuntimeError('Command exited ... stderr: ...')``."""
    text = str(err)
    m = re.search(r"stderr:\n(.*)", text, re.S)
    msg = sched._clean_message(m.group(1) if m else text)
    return msg or text.strip() or type(err).__name__


class _SubmissionRefused(RuntimeError):
    """The batch system's submit command (sbatch, qsub, ...) exited with an error; ``str`` is its message."""


class _SubmissionFailed(Exception):
    """A job's submission failed and was recorded and logged where it failed (see `_observed_job_class`):
    the cluster's event loop has nothing left to say of it."""


def _observed_job_class(base: type, registry: _JobRegistry) -> type:
    """A subclass of dask-jobqueue's ``base`` Job that reports submissions and failures to ``registry``
    and logs each failure once: a refusal by the batch system as one warning line with its reason, any
    other failure with its traceback. The failure then reaches the cluster as :class:`_SubmissionFailed`
    (see `_failures_told`)."""

    class ObservedJob(base):
        async def _submit_job(self, script_filename):
            try:
                return await super()._submit_job(script_filename)
            except RuntimeError as err:  # dask-jobqueue's: the command exited with an error
                raise _SubmissionRefused(submission_message(err)) from err

        async def start(self):
            try:
                await super().start()
            except Exception as err:
                registry.failed(self.name, submission_message(err))
                if isinstance(err, _SubmissionRefused):
                    log.warning("%s refused the job of worker %s: %s", self.submit_command.split()[0],
                                self.name, err)
                else:
                    log.error("The job of worker %s could not be submitted", self.name, exc_info=True)
                raise _SubmissionFailed(str(err)) from err
            err_log = None
            if self.log_directory:
                err_log = os.path.join(self.log_directory, f"{self.job_name or 'worker'}-{self.job_id}.err")
            registry.submitted(self.name, self.job_id, err_log)

        async def close(self):
            ref = getattr(self, "_cluster", None)
            cluster = ref() if ref is not None else None
            # SpecCluster removes the name from worker_spec before closing on scale-down / close; a
            # worker that vanished (job cancelled outside, walltime reached) keeps its spec entry.
            intended = cluster is None or self.name not in cluster.worker_spec or cluster.status.name in (
                "closing", "closed")
            registry.closing(self.job_id, intended)
            await super().close()

    ObservedJob.__name__ = ObservedJob.__qualname__ = base.__name__
    return ObservedJob


def _failures_told(cluster_cls: type) -> type:
    """``cluster_cls`` that does not pass on submission failures already recorded and logged by the job
    (:class:`_SubmissionFailed`): SpecCluster starts new jobs in a task of its event loop, and tornado logs
    an error that task raises as a full traceback ("Exception in callback"). Its other errors are raised
    as before."""

    class FailuresTold(cluster_cls):
        async def _correct_state_internal(self):
            try:
                await super()._correct_state_internal()
            except _SubmissionFailed:
                pass  # each job that failed has told its own failure

    FailuresTold.__name__ = FailuresTold.__qualname__ = cluster_cls.__name__
    return FailuresTold


def _unique_names(cluster_cls: type) -> type:
    """``cluster_cls`` that never reuses a worker name.

    SpecCluster names new workers from a counter it only advances on collision, so after ``scale(0)``
    the next ``scale(n)`` reuses the old names; the lost-worker timer of an old worker
    (``distributed.deploy.lost-worker-timeout``, 15 s) then finds a *new* job under that name, not yet
    connected, and cancels it. Unique names also keep job -> worker attribution unambiguous.
    """

    class UniqueNames(cluster_cls):
        def new_worker_spec(self):
            spec = super().new_worker_spec()
            self._i += 1
            return spec

    UniqueNames.__name__ = UniqueNames.__qualname__ = cluster_cls.__name__
    return UniqueNames


#: The commands that tell the other batch systems' login nodes, in the order they are looked for after
#: SLURM (`scheduler.slurm_available`); PBS and SGE both have ``qsub``: their other commands tell them apart
_BATCH_COMMANDS = (("pbs", ("qsub", "pbsnodes")), ("sge", ("qsub", "qconf")), ("lsf", ("bsub", "bjobs")),
                   ("htcondor", ("condor_submit", "condor_q")))


def default_backend() -> str:
    """The backend a new form starts with: dask config ``hpcdash.backend`` when set, else the batch
    system whose commands are on this machine's PATH (a login node: workers are not started on it),
    else ``"local"`` (a laptop or a workstation). A configured name hpcdash does not know is logged
    and passed over."""
    configured = dask.config.get("hpcdash.backend", default=None)
    if configured:
        name = str(configured).strip().lower()
        if name in BACKENDS:
            return name
        log.warning("dask config hpcdash.backend is %r, which is none of %s: looking for a batch system",
                    configured, ", ".join(BACKENDS))
    if sched.slurm_available() and _slurm_configured():
        return "slurm"
    for backend, commands in _BATCH_COMMANDS:
        if all(shutil.which(c) for c in commands):
            return backend
    return "local"


def _slurm_configured() -> bool:
    """True when this machine has a SLURM configuration its commands read (``$SLURM_CONF``, the usual
    places, a configless node's cached copy, or ``etc/`` beside the commands' own folder): Debian's
    slurm-client installed on a workstation, with no cluster to talk to, does not count."""
    places = [os.environ.get("SLURM_CONF", ""), "/etc/slurm/slurm.conf", "/etc/slurm-llnl/slurm.conf",
              "/run/slurm/conf/slurm.conf", "/var/spool/slurmd/conf-cache/slurm.conf"]
    sbatch = shutil.which("sbatch")
    if sbatch:
        places.append(os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(sbatch))), "etc", "slurm.conf"))
    return any(p and os.path.isfile(p) for p in places)


def _job_classes(backend: str) -> tuple[type, type]:
    import dask_jobqueue as djq

    cluster_cls = getattr(djq, _CLUSTER_CLASSES[backend])
    return cluster_cls, cluster_cls.job_cls


def _package_default(backend: str, key: str) -> Any:
    """dask-jobqueue's shipped default for ``jobqueue.<backend>.<key>`` (from its jobqueue.yaml)."""
    global _PACKAGE_DEFAULTS
    if _PACKAGE_DEFAULTS is None:
        import yaml

        path = Path(dask_jobqueue.__file__).with_name("jobqueue.yaml")
        try:
            _PACKAGE_DEFAULTS = yaml.safe_load(path.read_text())["jobqueue"]
        except (OSError, KeyError, TypeError):
            _PACKAGE_DEFAULTS = {}
    return _PACKAGE_DEFAULTS.get(backend, {}).get(key)


_PACKAGE_DEFAULTS: dict | None = None


def _workers_wanted(n: int) -> int:
    """``n`` as a number of workers; RequestError (field ``n_workers``) below 0."""
    n = int(n)
    if n < 0:
        raise RequestError(f"Workers cannot be fewer than 0 (it is {n}).", "n_workers")
    return n


def _lsf_walltime(walltime: str) -> str:
    """LSF's ``-W`` takes ``[HH:]MM``: the walltime (``[D-]HH:MM:SS``, as the form takes it) in hours and
    minutes, seconds rounded up to the next whole minute (a job is never given less time than asked for);
    days are counted in hours. A text that is not a time is passed on as it is (the check of the request
    says so)."""
    try:
        seconds = sched.parse_duration(walltime)
    except ValueError:
        return walltime
    if seconds is None:
        return walltime
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --------------------------------------------------------------------------------------------------
class ClusterControl(param.Parameterized):
    """Request, validate, start, scale, watch and stop a Dask cluster (local or on a batch scheduler).

    Typical notebook use::

        cc = ClusterControl(backend="slurm", queue="debug", cores=1, memory="1GB", walltime="00:10:00")
        print(cc.job_script())       # exactly what sbatch will get
        cc.validate()                # Validation(ok=True, expected_start=...)
        cc.start(n=2); cc.client.wait_for_workers(2)
        cc.status()                  # ClusterStatus with one JobRecord per job
        cc.close()
    """

    backend = param.Selector(default="local", objects=list(BACKENDS), doc="Where workers run.")
    profile = param.Selector(default="", objects=[""], doc="Named request from dask config 'hpcdash.profiles'.")

    # no hard bounds on the sizes a form sets: a value below them was undone in the browser without a
    # word; `check_request` (and scale/adapt) name the field instead
    cores = param.Integer(default=1, softbounds=(1, None), doc="Cores per job.")
    processes = param.Integer(default=1, softbounds=(1, None), doc="Dask worker processes per job.")
    memory = param.String(default="2GB", doc="Memory per job, e.g. '4GB' (GB = 10^9 bytes; '4GiB' = 4 x 2^30 "
                          "bytes). Workers' memory is shown in binary units (GiB), as Dask shows it.")
    walltime = param.String(default="00:30:00", doc="Time limit per job, HH:MM:SS.")
    queue = param.String(default="", doc="Queue / partition ('' = the scheduler's default).")
    account = param.String(default="", doc="Account / project to charge ('' = none).")
    job_extra_directives = param.List(default=[], item_type=str, doc="Extra scheduler directives, e.g. '--qos=debug'.")
    job_script_prologue = param.List(default=[], item_type=str, doc="Shell lines run before the worker starts.")
    interface = param.String(default="", doc="Network interface for scheduler and workers ('' = default).")
    log_directory = param.String(default="", doc="Where batch jobs write stdout/stderr ('' = "
                                                    "$XDG_CACHE_HOME/hpcdash/worker-logs, ~/.cache by default).")
    python = param.String(default="", doc="Python of the workers ('' = this Python).")
    encrypt = param.Boolean(default=True, label="Encrypt (TLS)",
                            doc="Scheduler, workers and client talk TLS with a key made for this cluster alone: "
                                "no one else on the machine or the HPC network can connect to the scheduler "
                                "(which runs any code it is sent) or read the data. Batch workers read the "
                                "key from a folder of yours they can reach (dask config "
                                "'jobqueue.<backend>.shared-temp-directory', default $XDG_CACHE_HOME/hpcdash/tls, "
                                "~/.cache by default).")

    n_workers = param.Integer(default=2, softbounds=(0, None), doc="Workers for scale() without argument.")
    adapt_minimum = param.Integer(default=0, softbounds=(0, None))
    adapt_maximum = param.Integer(default=2, softbounds=(0, None))

    charge_per_node_hour = param.Number(default=1.0, bounds=(0, None), doc="Charge per node-hour for estimate().")
    charge_unit = param.String(default="units")
    cores_per_node = param.Integer(default=0, bounds=(0, None),
                                   doc="Cores of a node; 0 = each job is charged a whole node.")
    base_url = param.String(default="", doc="Jupyter base URL; when set the dashboard link goes through "
                            "jupyter-server-proxy ({base_url}proxy/{port}/status).")
    dashboard_proxy = param.String(default="", doc="Link to the dashboard through the app's own proxy, "
                                   "relative to the app's page (`hpcdash serve` mounts one at dask/).")

    last_sweep = param.ClassSelector(class_=SweepOutcome, default=None, allow_None=True,
                                     doc="The last sweep sent to this cluster (progress, then its outcome): "
                                         "the control is shared by a server's pages, each of which shows it.")

    running = param.Boolean(default=False, doc="A cluster is up.")
    error = param.String(default="", doc="Last error, in words.")
    error_field = param.String(default="", doc="Request parameter the last error concerns.")

    def __init__(self, **params: Any):
        explicit = set(params)
        profile = params.pop("profile", "")
        super().__init__(**params)
        self._cluster = None
        self._client = None
        self._listeners: list[Callable[..., None]] = []
        self._registry = _JobRegistry(tell=self._tell)
        self._lock = threading.RLock()
        self._adapt_bounds: tuple[int, int] | None = None
        self._replaced = 0  # jobs that ended outside hpcdash replaced since the cluster started
        self._validated: tuple[str, float] | None = None
        self._work = 0  # blocks of work in progress on the cluster (see `working`)
        self._sweeps = 0  # sweeps begun on this control (the last one's `sweep_id`)
        if not self.base_url:
            self.base_url = os.environ.get("HPCDASH_BASE_URL") or os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or ""
        cfg = dask.config.get("hpcdash", default={}) or {}
        if "charge_per_node_hour" not in explicit and cfg.get("charge-per-node-hour") is not None:
            self.charge_per_node_hour = float(cfg["charge-per-node-hour"])
        if "cores_per_node" not in explicit and cfg.get("cores-per-node") is not None:
            self.cores_per_node = int(cfg["cores-per-node"])
        self.param.profile.objects = [""] + self.profiles()
        self._apply_config_defaults(skip=explicit)
        if profile:
            self.apply_profile(profile, skip=explicit - {"profile"})
            with param.parameterized.discard_events(self):
                self.profile = profile
        self.param.watch(self._on_backend, ["backend"])
        self.param.watch(self._on_field_edit, list(REQUEST_FIELDS))
        self.param.watch(self._on_profile, ["profile"])

    def on_activity(self, fn: Callable[..., None]) -> None:
        """Call ``fn(summary, **details)`` after each thing done to the cluster: started, scaled,
        adapted, closed, a job submitted or rejected (in the thread that did it)."""
        self._listeners.append(fn)

    def note(self, summary: str, **details: Any) -> None:
        """Tell the activity listeners (see `on_activity`) of something run on this cluster, e.g. how a
        sweep ended."""
        self._tell(summary, **details)

    def _tell(self, summary: str, **details: Any) -> None:
        for fn in list(self._listeners):
            try:
                fn(summary, backend=self._backend_running or self.backend, **details)
            except Exception:  # noqa: BLE001 - a listener must not break the cluster
                log.debug("activity listener failed", exc_info=True)

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def profiles() -> list[str]:
        """Names of the profiles in dask config ``hpcdash.profiles``."""
        return sorted((dask.config.get("hpcdash.profiles", default={}) or {}).keys())

    def apply_profile(self, name: str, skip: set[str] | frozenset = frozenset()) -> None:
        """Set the request from profile ``name`` (dask config ``hpcdash.profiles.<name>``) in one step."""
        prof = (dask.config.get("hpcdash.profiles", default={}) or {}).get(name)
        if prof is None:
            raise ValueError(f"No profile {name!r} in dask config 'hpcdash.profiles' (have: {self.profiles()}).")
        values = {k.replace("-", "_"): v for k, v in prof.items()}
        unknown = set(values) - set(self.param) - {"profile"}
        if unknown:
            raise ValueError(f"Profile {name!r} has unknown keys: {sorted(unknown)}.")
        backend = values.pop("backend", None)
        self._in_profile = True
        try:
            # watchers (widgets, the view) see one batch of events once every value is in place
            with param.parameterized.batch_call_watchers(self):
                if backend and "backend" not in skip:
                    self.backend = backend
                    self._apply_config_defaults(skip=skip)
                self.param.update(**{k: self._coerce(k, v) for k, v in values.items() if k not in skip})
        finally:
            self._in_profile = False

    def _coerce(self, name: str, value: Any) -> Any:
        if name in ("job_extra_directives", "job_script_prologue"):
            if isinstance(value, dict):  # HTCondor style
                return [f"{k} = {v}" for k, v in value.items()]
            return [str(v) for v in (value or [])]
        if name in ("queue", "account", "interface", "log_directory", "python", "memory", "walltime"):
            return "" if value is None else str(value)
        return value

    def _apply_config_defaults(self, skip: set[str] | frozenset = frozenset()) -> None:
        if self.backend == "local":
            return
        cfg = dask.config.get(f"jobqueue.{self.backend}", default={}) or {}
        values = {}
        for key in REQUEST_FIELDS:
            if key in skip:
                continue
            ckey = key.replace("_", "-")
            if key == "account" and self.backend in ("sge", "lsf"):
                ckey = "project"
            val = cfg.get(ckey)
            # only what the user configured: dask-jobqueue's shipped defaults must not overwrite the form
            if val is None or val == [] or val == _package_default(self.backend, ckey):
                continue
            values[key] = self._coerce(key, val)
        if values:
            self.param.update(**values)

    _in_profile = False

    def _on_backend(self, event) -> None:
        if event.old != event.new and not self._in_profile:
            self._apply_config_defaults()

    def _on_field_edit(self, *events) -> None:
        # editing the field an error was about makes that error stale
        if self.error_field and self.error_field in {e.name for e in events}:
            self.param.update(error="", error_field="")

    def _on_profile(self, event) -> None:
        if event.new:
            self.apply_profile(event.new)

    # ------------------------------------------------------------------ request -> dask-jobqueue
    def _log_dir(self) -> str:
        return self.log_directory or os.path.join(_cache_home(), "hpcdash", "worker-logs")

    def _scheduler_options(self) -> dict[str, Any]:
        """dask-jobqueue's configured ``scheduler-options`` for the backend, the dashboard on loopback
        unless they name an address."""
        configured = dask.config.get(f"jobqueue.{self.backend}.scheduler-options", default=None) or {}
        return {"dashboard_address": DASHBOARD_ADDRESS, **configured}

    def tls_directory(self) -> str:
        """Where batch workers find the cluster's TLS key and certificates: dask config
        ``jobqueue.<backend>.shared-temp-directory`` if set (it must be visible from the compute nodes,
        as a home folder is), else ``~/.cache/hpcdash/tls``."""
        configured = dask.config.get(f"jobqueue.{self.backend}.shared-temp-directory", default=None)
        if configured:
            return os.path.expanduser(os.path.expandvars(configured))
        return os.path.join(_cache_home(), "hpcdash", "tls")

    def security_options(self) -> dict[str, Any]:
        """Keyword arguments that make the cluster about to start use TLS (none when `encrypt` is off):
        a key and certificates made for it alone (``Security.temporary()``); for batch jobs, the folder
        dask-jobqueue writes the workers' copies to (files of mode 0600, in a folder of mode 0700)."""
        if not self.encrypt:
            return {}
        from distributed.security import Security

        try:
            security = Security.temporary()
        except ImportError as err:  # the `cryptography` package makes the key
            raise RequestError(f"Encryption needs the 'cryptography' package ({err}); install it, or turn "
                               "Encrypt (TLS) off.", "encrypt") from err
        if self.backend == "local":
            return {"security": security}
        folder = self.tls_directory()
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as err:
            raise RequestError(f"The folder for the cluster's TLS key, {folder}, cannot be made: {err}.",
                               "encrypt") from err
        return {"security": security, "shared_temp_directory": folder}

    def _preview_security(self) -> dict[str, Any]:
        """For the job script preview: the TLS options the workers will get, with the key files' names
        (made when the cluster starts) shown as a placeholder."""
        if not self.encrypt:
            return {"protocol": None, "security": None}
        from distributed.security import Security

        folder = self.tls_directory()

        def key_file(role: str) -> str:
            return os.path.join(folder, f"{_KEY_FILE_PREFIX}{role}.{_KEY_PLACEHOLDER}")

        return {"protocol": "tls://", "security": Security(
            tls_ca_file=key_file("ca_file"), tls_worker_cert=key_file("cert"), tls_worker_key=key_file("key"),
            require_encryption=True)}

    def check_request(self) -> None:
        """Raise :class:`RequestError` naming the field (``cores``, ``processes``, ``memory``, ``walltime``)
        when the request's sizes cannot be read, for every backend; the walltime only where a batch
        scheduler gets it (the local backend has none)."""
        if self.cores < 1:
            raise RequestError(f"Cores per job must be at least 1 (it is {self.cores}).", "cores")
        if self.processes < 1:
            raise RequestError(f"Processes per job must be at least 1 (it is {self.processes}).", "processes")
        if self.processes > self.cores:
            raise RequestError(f"{self.processes} processes need at least {self.processes} cores.", "processes")
        try:
            nbytes = parse_bytes(self.memory)
        except (ValueError, TypeError):
            nbytes = None
        if nbytes is None or nbytes <= 0:
            raise RequestError(f"Memory {self.memory!r} is not a size such as '4GB' or '1500MB'.", "memory")
        if nbytes // self.processes < 1 << 20:
            raise RequestError(f"Memory {self.memory!r} leaves less than 1 MiB for each of the "
                               f"{self.processes} worker processes.", "memory")
        if self.backend != "local" and self.walltime:
            try:
                seconds = sched.parse_duration(self.walltime)
            except (ValueError, TypeError):
                seconds = -1.0
            if seconds is not None and seconds <= 0:
                raise RequestError(f"Walltime {self.walltime!r} is not a time such as '01:30:00' (HH:MM:SS).",
                                   "walltime")
        if self.backend not in ("local", "htcondor"):  # HTCondor jobs have no queue or account
            # a name with a space or a shell or markup character would break the job script's directive
            # line (SLURM then said "Invalid directive found in batch script: src=x", naming no field)
            for name, label in (("queue", "Queue / partition"), ("account", "Account")):
                value = getattr(self, name).strip()
                bad = _NAME_BREAKERS.search(value)
                if bad:
                    what = "a space" if bad.group().isspace() else repr(bad.group())
                    raise RequestError(f"{label} {value!r} has {what} in it, which no scheduler takes in a "
                                       f"{name} name.", name)

    def job_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the backend's dask-jobqueue cluster/job class from the current request."""
        self.check_request()
        kw: dict[str, Any] = dict(
            cores=self.cores, processes=self.processes, memory=self.memory,
            job_script_prologue=list(self.job_script_prologue),
            interface=self.interface or None, log_directory=self._log_dir(),
            python=self.python or sys.executable,
        )
        b = self.backend
        if b == "htcondor":
            extra = {}
            for line in self.job_extra_directives:
                k, _, v = line.partition("=")
                extra[k.strip()] = v.strip()
            kw["job_extra_directives"] = extra
            kw["disk"] = dask.config.get("jobqueue.htcondor.disk", default=None) or "1GB"
        else:
            kw["job_extra_directives"] = list(self.job_extra_directives)
            if self.queue:
                kw["queue"] = self.queue
            if self.account:
                kw["project" if b in ("sge", "lsf") else "account"] = self.account
            if self.walltime:
                kw["walltime"] = _lsf_walltime(self.walltime) if b == "lsf" else self.walltime
        # the memory asked for as typed (to the MiB), unless the site's dask config says otherwise
        if b == "slurm" and dask.config.get("jobqueue.slurm.job-mem", default=None) is None:
            kw["job_mem"] = f"{slurm_megabytes(self.memory)}M"
        if b == "sge" and dask.config.get("jobqueue.sge.resource-spec", default=None) is None:
            kw["resource_spec"] = f"h_vmem={slurm_megabytes(self.memory)}M"
        return kw

    def job_script(self) -> str:
        """The exact batch script of the first job (the running cluster's, else with a placeholder
        scheduler address; later jobs differ only in the number ending the worker's name). Nothing is
        submitted. For ``local`` a one-line description."""
        if self.backend == "local":
            self.check_request()
            threads = max(1, self.cores // self.processes)
            each = parse_bytes(self.memory) // self.processes
            split = (f" (the job's {self.memory.strip()} and {self.cores} cores split over {self.processes} processes)"
                     if self.processes > 1 else "")
            return (f"# local backend: no batch job; LocalCluster workers with {counted(threads, 'thread')}"
                    f" and {describe_bytes(each)} of memory each{split}" + (", talking TLS" if self.encrypt else ""))
        # dask-jobqueue writes "dummy-name" where each job's worker name goes: the first job's is shown
        # (the cluster's name and the job's number), so that the script is the one submitted
        if self._cluster is not None and self._backend_running == self.backend:
            namer = getattr(self._cluster, "_new_worker_name", None)
            script = self._cluster.job_script()
            return script.replace(_DUMMY_NAME, namer(0)) if callable(namer) else script
        cluster_cls, job_cls = _job_classes(self.backend)
        kw = self.job_kwargs()
        kw.update(config_name=job_cls.config_name, **self._preview_security())
        address = _DUMMY_ADDRESS.replace("tcp://", "tls://") if self.encrypt else _DUMMY_ADDRESS
        try:
            return job_cls(address, name=f"{cluster_cls.__name__}-0", **kw).job_script()
        except (ValueError, TypeError) as err:
            raise RequestError(str(err)) from err

    # ------------------------------------------------------------------ validation
    def validate(self) -> Validation:
        """Check the request before anything is queued.

        SLURM: ``sbatch --test-only`` on :meth:`job_script`, returning SLURM's message and expected start.
        Other batch backends: ``ok=None`` (no check available). Local: checks the sizes only.
        Sets ``error``/``error_field`` for the UI.
        """
        try:
            script = self.job_script()  # checks the sizes first (check_request)
        except RequestError as err:
            return self._record_validation(Validation(False, str(err), field=err.field, backend=self.backend))
        if self.backend == "local":
            return self._record_validation(Validation(
                True, f"{counted(self.cores, 'core')}, {counted(self.processes, 'process', 'processes')} "
                f"and {describe_bytes(parse_bytes(self.memory))} per job "
                "(the local cluster has no scheduler to ask).", backend="local"))
        missing = self.missing_command()
        if missing:
            return self._record_validation(Validation(False, missing, backend=self.backend))
        if self.backend != "slurm":
            return self._record_validation(Validation(
                None, f"Validation is not available for {BACKEND_NAMES[self.backend]}: hpcdash can check a "
                "request before queueing it only on SLURM (sbatch --test-only).", backend=self.backend))
        return self._record_validation(self._check_slurm(script))

    def _check_slurm(self, script: str) -> Validation:
        try:
            chk = sched.check_submission(script)
        except sched.SchedulerError as err:
            return Validation(False, str(err), backend="slurm")
        if chk.ok:
            self._validated = (script, time.time())
            dependency = sched.script_dependency(script)
            return Validation(True, chk.message, chk.expected_start, None, "slurm",
                              start_note=sched.dependency_note(dependency) if dependency else "")
        message, field = chk.message, sched.guess_field(chk.message)
        refused = self._refused_directives(script) if field is None else []
        if refused:
            message += (f" (SLURM refuses the extra directive{'s' if len(refused) > 1 else ''} "
                        f"{', '.join(refused)}: the request passes without {'them' if len(refused) > 1 else 'it'})")
            field = "job_extra_directives"
        return Validation(False, message, chk.expected_start, field, "slurm")

    #: At most this many extra directives are tested one by one to find those SLURM refuses.
    MAX_DIRECTIVES_TESTED = 6

    def _refused_directives(self, script: str) -> list[str]:
        """The extra directives of a refused `script` that SLURM refuses (its messages, such as "Invalid
        feature specification", name no option): the script is tested without them, and if SLURM takes
        that, with each alone. Nothing is queued (``sbatch --test-only``); [] when the request is refused
        without them too, or SLURM cannot be asked."""
        directives = [d for d in self.job_extra_directives if d.strip()][: self.MAX_DIRECTIVES_TESTED]
        lines = script.splitlines()
        ours = {f"#SBATCH {d.strip()}" for d in directives}
        bare = [line for line in lines if line.strip() not in ours]
        if not directives or len(bare) == len(lines):
            return []
        at = max((i for i, line in enumerate(bare) if line.startswith("#SBATCH")), default=0) + 1
        try:
            if not sched.check_submission("\n".join(bare) + "\n").ok:
                return []
            return [d for d in directives
                    if not sched.check_submission("\n".join([*bare[:at], f"#SBATCH {d.strip()}", *bare[at:]]) + "\n").ok]
        except sched.SchedulerError:
            return []

    def _record_validation(self, v: Validation) -> Validation:
        self.param.update(error="" if v.ok is not False else v.message,
                          error_field=(v.field or "") if v.ok is False else "")
        return v

    # ------------------------------------------------------------------ lifecycle
    @property
    def client(self):
        """The ``distributed.Client`` of the running cluster (None when stopped)."""
        return self._client

    def missing_command(self) -> str:
        """A sentence when the batch system's submit command (sbatch, qsub, bsub, condor_submit) is not
        on this machine's PATH, so no job can be submitted from here; "" when it is (or for local)."""
        if self.backend == "local":
            return ""
        command = _job_classes(self.backend)[1].submit_command
        if shutil.which(command):
            return ""
        name = BACKEND_NAMES[self.backend]
        return (f"{command} was not found on this machine, so no {name} job can be submitted from here: run "
                f"hpcdash on a login node of the {name} system, or load its module (e.g. `module load "
                f"{self.backend}`) before starting hpcdash.")

    @property
    def cluster(self):
        """The running dask cluster object (LocalCluster or a dask-jobqueue cluster), or None."""
        return self._cluster

    def start(self, n: int | None = None, *, validate: bool = True) -> None:
        """Start the cluster (scheduler in this process) and a Client; then ``scale(n)`` if ``n`` is given.

        For SLURM the request is validated first (unless ``validate=False``); a rejected request raises
        :class:`RequestError` with SLURM's message and nothing is started.
        """
        if n is not None:
            _workers_wanted(n)
        with self._lock:
            if self._cluster is not None:
                if n is not None:
                    self.scale(n, validate=validate)
                return
            try:
                self.check_request()  # a size that cannot be read is named by its field, on every backend
                missing = self.missing_command()
                if missing:  # every submission would fail: nothing is started
                    raise RequestError(missing)
            except RequestError as err:
                self.param.update(error=str(err), error_field=err.field or "")
                raise
            if self.backend == "slurm" and validate:
                v = self.validate()
                if not v.ok:
                    self._tell("SLURM refused to start the cluster", message=v.message, field=v.field,
                               request=self.request())
                    raise RequestError(v.message, v.field)
            self._registry.clear()
            self._adapt_bounds = None
            self._replaced = 0
            from distributed import Client

            try:
                if self.backend == "local":
                    from distributed import LocalCluster

                    cluster = _unique_names(LocalCluster)(
                        n_workers=0, threads_per_worker=max(1, self.cores // self.processes),
                        memory_limit=parse_bytes(self.memory) // self.processes, processes=True,
                        dashboard_address=DASHBOARD_ADDRESS, silence_logs=logging.ERROR,
                        host="127.0.0.1" if self.interface in ("", "lo") else None, **self.security_options(),
                    )
                else:
                    cluster_cls, job_cls = _job_classes(self.backend)
                    kw = self.job_kwargs()
                    kw.update(self.security_options())
                    cluster = _unique_names(_failures_told(cluster_cls))(
                        job_cls=_observed_job_class(job_cls, self._registry),
                        scheduler_options=self._scheduler_options(), **kw)
            except RequestError:
                raise
            except Exception as err:
                self.param.update(error=f"The cluster could not start: {err}", error_field="")
                raise
            self._cluster = cluster
            self._backend_running = self.backend
            self._client = Client(cluster)
            self.param.update(running=True, error="", error_field="")
            if self.last_sweep is not None and self.last_sweep.failed:
                self.last_sweep = None  # the failure of a sweep on the cluster before: not this one's
        self._tell(f"Started a {self.backend} cluster", request=self.request())
        if n is not None:
            self.scale(n, validate=validate)

    _backend_running: str | None = None

    def _workers_per_job(self) -> int:
        return self.processes if self._backend_running not in (None, "local") else 1

    def scale(self, n: int | None = None, *, validate: bool = True) -> None:
        """Ask for ``n`` workers (``n_workers`` when omitted); stops adaptive scaling.

        On SLURM the running job script is checked with ``sbatch --test-only`` first (re-used for 60 s),
        so a request SLURM would reject raises :class:`RequestError` instead of a silent worker timeout.
        Submissions that fail anyway are reported by :meth:`status` (``errors`` and a failed JobRecord).
        """
        n = _workers_wanted(self.n_workers if n is None else n)
        with self._lock:
            if self._cluster is None:
                raise RequestError("No cluster is running: start it first.")
            if n > 0 and validate:
                self._precheck()
            adaptive = getattr(self._cluster, "_adaptive", None)
            if adaptive is not None:
                adaptive.stop()
            self._adapt_bounds = None
            self._cluster.scale(n)
        self._tell(f"Asked for {counted(n, 'worker')}", workers=n)

    def adapt(self, minimum: int | None = None, maximum: int | None = None, *, validate: bool = True,
              **kwargs: Any) -> None:
        """Let Dask scale between ``minimum`` and ``maximum`` workers with the load (``kwargs`` go to
        ``distributed.Adaptive``, e.g. ``interval="1s"``). Lost jobs are replaced while adapting."""
        lo = self.adapt_minimum if minimum is None else int(minimum)
        hi = self.adapt_maximum if maximum is None else int(maximum)
        if lo < 0:
            raise RequestError(f"Adapt minimum cannot be below 0 (it is {lo}).", "adapt_minimum")
        if hi < lo:
            raise RequestError(f"Adapt maximum {hi} is below minimum {lo}.")
        with self._lock:
            if self._cluster is None:
                raise RequestError("No cluster is running: start it first.")
            if hi > 0 and validate:
                self._precheck()
            self._cluster.adapt(minimum=lo, maximum=hi, **kwargs)
            self._adapt_bounds = (lo, hi)
        self._tell(f"Adaptive scaling between {lo} and {hi} workers", minimum=lo, maximum=hi)

    def _precheck(self) -> None:
        if self._backend_running != "slurm":
            return
        script = self._cluster.job_script()
        if self._validated and self._validated[1] > time.time() - 60 and \
                self._validated[0].split("\n")[:-2] == script.split("\n")[:-2]:
            return
        v = self._record_validation(self._check_slurm(script))
        if not v.ok:
            raise RequestError(v.message, v.field)

    @contextmanager
    def working(self) -> Iterator[None]:
        """Mark work in progress on the cluster (a sweep) for as long as the block runs: a
        :class:`ClusterLease` does not close a cluster that is busy."""
        with self._lock:
            self._work += 1
        try:
            yield
        finally:
            with self._lock:
                self._work -= 1

    def begin_sweep(self, total: int, message: str = "") -> SweepOutcome:
        """Claim the cluster for a sweep of ``total`` runs: a new running :class:`SweepOutcome` with its
        own ``sweep_id`` becomes :attr:`last_sweep` and is returned. Raises :class:`SweepRunningError`,
        changing nothing, while another sweep runs; the check and the claim are one step, so pages
        sharing this control cannot both start one."""
        with self._lock:
            current = self.last_sweep
            if current is not None and current.running:
                raise SweepRunningError(current)
            self._sweeps += 1
            outcome = SweepOutcome(total=int(total), message=message, sweep_id=self._sweeps, started_at=time.time())
            self.last_sweep = outcome
        return outcome

    def update_sweep(self, outcome: SweepOutcome) -> bool:
        """Make ``outcome`` (the progress or the end of the sweep numbered ``outcome.sweep_id``) the
        :attr:`last_sweep`. Returns False, changing nothing, when ``last_sweep`` is another sweep's."""
        with self._lock:
            current = self.last_sweep
            if current is None or current.sweep_id != outcome.sweep_id:
                return False
            self.last_sweep = outcome
        return True

    @property
    def sweep_running(self) -> SweepOutcome | None:
        """The progress of the sweep running on this cluster, or None when none runs."""
        current = self.last_sweep
        return current if current is not None and current.running else None

    @property
    def busy(self) -> bool:
        """Work started with :meth:`working` is still running."""
        return self._work > 0

    def close(self, reason: str = "") -> None:
        """Close client and cluster; cancel any job of ours the scheduler still runs. Safe to call twice.
        `reason`, when given, goes with the "Closed the cluster" activity (e.g. why it closed by itself)."""
        with self._lock:
            client, cluster = self._client, self._cluster
            if cluster is not None and self._backend_running == "slurm":
                self._see_jobs_end()  # before closing the cluster cancels them: which ones were still live
            self._client = self._cluster = None
            self._adapt_bounds = None
            if client is not None:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing must not fail the caller
                    pass
            if cluster is not None:
                try:
                    cluster.close()
                except Exception:  # noqa: BLE001 - e.g. AssertionError after a failed submission
                    pass
                _remove_key_files(cluster)
            if self._backend_running == "slurm":
                # only jobs live at Stop are stopped by us: the others keep why they ended, and their stderr
                live = [s for s in self._registry.snapshot() if s.job_id and not s.ended]
                active = [s.job_id for s in live]
                for s in live:
                    s.closed_by_us = True
                try:
                    sched.cancel_jobs(active)
                except sched.SchedulerError:
                    pass
            self.running = False
        if cluster is not None:
            jobs = [s.job_id for s in self._registry.snapshot() if s.job_id]
            self._tell("Closed the cluster" + (f": {reason}" if reason else ""), jobs=jobs)

    def _see_jobs_end(self) -> None:
        """Ask the queue once more about our jobs not known to have ended (a job may have ended since the
        last status), so that closing tells the jobs it stops from those that ended by themselves."""
        subs = [s for s in self._registry.snapshot() if s.job_id and not s.ended]
        if not subs:
            return
        try:
            queried = sched.query_jobs([s.job_id for s in subs], timeout=10)
        except sched.SchedulerError:
            return
        for s in subs:
            s.seen_in(queried)

    def __del__(self):
        try:
            if self._cluster is not None:
                self.close()
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------------ status
    def status(self) -> ClusterStatus:
        """One :class:`JobRecord` per batch job plus connected workers, cores and memory (bytes).

        Job states come from ``squeue`` (``squeue --start`` for the expected start of pending jobs); a job
        that left the queue shows as ``ended``; failed jobs and jobs that ended without us stopping them
        carry the tail of their stderr log.
        """
        cluster = self._cluster
        backend = self._backend_running or self.backend
        winfo: dict = {}
        if cluster is not None:
            try:
                winfo = dict(cluster.scheduler_info.get("workers", {}))
            except Exception:  # noqa: BLE001 - the info dict is replaced concurrently
                winfo = {}
        names = [str(w.get("name", "")) for w in winfo.values()]
        jobs = self._job_records(names) if backend not in ("local",) else []
        if cluster is not None and jobs:
            self._lost(cluster, jobs)
        requested = 0
        if cluster is not None:
            requested = len(cluster.worker_spec) * self._workers_per_job()
        connected = len(winfo)
        if cluster is None:
            phase = "stopped"
        elif requested == 0 and connected == 0:
            phase = "idle"
        elif connected >= requested:
            phase = "workers connected"
        elif any(j.state == JobState.RUNNING for j in jobs):
            phase = "starting workers"
        elif any(j.state == JobState.PENDING for j in jobs):
            phase = "queued"
        elif not any(j.state == JobState.COMPLETING for j in jobs) and \
                any(j.job_id is None and j.state == JobState.FAILED for j in jobs):
            phase = "submission failed"  # nothing is on its way: waiting would be for nothing
        else:
            phase = "requested"
        return ClusterStatus(
            backend=backend, running=cluster is not None, phase=phase, requested_workers=requested,
            workers=connected, cores=sum(int(w.get("nthreads", 0)) for w in winfo.values()),
            memory=sum(int(w.get("memory_limit", 0) or 0) for w in winfo.values()),
            jobs=jobs, errors=list(self._registry.errors), adapt=self._adapt_bounds,
            dashboard_link=self.dashboard_url(), loads=self._worker_loads() if connected else [],
        )

    #: At most this many jobs that ended outside hpcdash are replaced per cluster (a partition that
    #: cancels every job would otherwise be sent new ones for ever)
    MAX_REPLACEMENTS = 20

    def _lost(self, cluster, jobs: list[JobRecord]) -> None:
        """Jobs that ended without hpcdash stopping them (cancelled outside, walltime reached, a failed
        worker): each leaves the cluster's count of requested workers (dask-jobqueue keeps counting it),
        and is said to the activity listeners. Without adaptive scaling (which replaces jobs itself),
        one that was cancelled or ran out of time is replaced by a new job, so the cluster keeps the size
        asked for; a job that failed is not (its successor would most likely fail the same way)."""
        by_id = {s.job_id: s for s in self._registry.snapshot() if s.job_id}
        replace = 0
        with self._lock:
            if self._cluster is not cluster:
                return
            for rec in jobs:
                s = by_id.get(rec.job_id)
                if s is None or s.lost or s.closed_by_us or rec.state not in (JobState.ENDED, JobState.FAILED):
                    continue
                s.lost = True
                if cluster.worker_spec.pop(s.worker_name, None) is None:
                    continue
                again = rec.state == JobState.ENDED and self._adapt_bounds is None \
                    and self._replaced < self.MAX_REPLACEMENTS
                replace += again
                self._replaced += again
                self._tell(f"Job {rec.job_id} ended: {rec.reason or rec.state}"
                           + ("; a new job replaces it" if again else ""), job_id=rec.job_id, reason=rec.reason)
            if replace:
                cluster.scale(len(cluster.worker_spec) + replace)

    def _worker_loads(self) -> list[WorkerLoad]:
        """Memory and CPU of each worker, from the scheduler (one call; its cached view of the cluster
        carries no metrics). [] when it cannot be asked, e.g. while the cluster closes."""
        client = self._client
        if client is None:
            return []
        try:
            workers = dict(client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception:  # noqa: BLE001 - a cluster going away: no loads this time
            return []
        loads = []
        for w in workers.values():
            m = w.get("metrics") or {}
            loads.append(WorkerLoad(name=str(w.get("name", "")), memory=int(m.get("memory") or 0),
                                    memory_limit=int(w.get("memory_limit") or 0), cpu=float(m.get("cpu") or 0.0),
                                    executing=_executing(m)))
        return sorted(loads, key=lambda load: load.name)

    def _job_records(self, worker_names: list[str]) -> list[JobRecord]:
        subs = self._registry.snapshot()
        live_ids = [s.job_id for s in subs if s.job_id and not s.gone]
        queried: dict[str, sched.SlurmJob] = {}
        asked: list[str] = []  # the jobs the queue answered for (none when it could not be read)
        if live_ids and (self._backend_running or self.backend) == "slurm":
            try:
                queried = sched.query_jobs(live_ids)
                asked = live_ids
            except sched.SchedulerError as err:
                # the jobs are as last seen: a queue that did not answer says nothing of their end
                self.error = f"The queue could not be read: {err}"
        records = []
        for s in subs:
            if s.error is not None:
                records.append(JobRecord(None, s.worker_name, JobState.FAILED, reason=s.error,
                                         submitted_at=s.submitted_at))
                continue
            if s.job_id in asked:
                s.seen_in(queried)
            j = s.last
            state = JobState.ENDED if s.gone else (j.state if j else JobState.PENDING)
            rec = JobRecord(
                job_id=s.job_id, worker_name=s.worker_name, state=state,
                reason=_reason(j, state, s), expected_start=j.start if (j and state == JobState.PENDING) else None,
                elapsed=j.elapsed if j else None, time_left=j.time_left if (j and state == JobState.RUNNING) else None,
                time_limit=j.time_limit if j else None, node=j.node if j else None,
                workers=sum(1 for n in worker_names if n == s.worker_name or n.startswith(s.worker_name + "-"))
                if state in (JobState.RUNNING, JobState.COMPLETING) else 0,
                submitted_at=s.submitted_at, slurm_state=j.slurm_state if j else None,
            )
            if state == JobState.PENDING and j is not None:
                rec.reason_text = sched.explain_reason(rec.reason, job_id=s.job_id, dependency=j.dependency,
                                                       begin=j.start)
                if rec.expected_start is None:
                    rec.start_note = sched.no_start_note(rec.reason, dependency=j.dependency)
            if state in (JobState.FAILED, JobState.ENDED) and (state == JobState.FAILED or not s.closed_by_us):
                if s.err_log:
                    s.log_tail = s.log_tail_of(sched.tail_file)
                rec.log_tail = s.log_tail
            records.append(rec)
        # active first, then the most recent ended ones
        active = [r for r in records if r.state not in (JobState.ENDED, JobState.FAILED)]
        done = [r for r in records if r.state in (JobState.ENDED, JobState.FAILED)]
        return active + done[-20:]

    # ------------------------------------------------------------------ cost, links
    def estimate(self, n_jobs: int | None = None, cores_per_node: int | None = None,
                 node_share: float | None = None) -> Estimate:
        """Node-hours, core-hours and charge of ``n_jobs`` jobs (default: enough for ``n_workers``) for the
        full walltime. A job counts as ``node_share`` of a node when given, else as the share its cores
        take of ``cores_per_node`` (the parameter, else the setting), else as a whole node."""
        if n_jobs is None:
            n_jobs = math.ceil(self.n_workers / max(1, self.processes))
        try:
            hours = (sched.parse_duration(self.walltime) or 0.0) / 3600.0
        except ValueError:  # check_request names it; the estimate counts no time meanwhile
            hours = 0.0
        per_node = cores_per_node or self.cores_per_node
        node_frac = 1.0 if not per_node else min(1.0, self.cores / per_node)
        if node_share is not None:
            node_frac = min(1.0, max(0.0, node_share))
        node_hours = n_jobs * hours * node_frac
        return Estimate(jobs=n_jobs, walltime_hours=hours, node_hours=node_hours,
                        core_hours=n_jobs * hours * self.cores,
                        charge=node_hours * self.charge_per_node_hour, charge_unit=self.charge_unit)

    def dashboard_url(self) -> str | None:
        """Link to the Dask dashboard: ``{base_url}proxy/{port}/status`` when a Jupyter base URL is known
        (``base_url``, ``HPCDASH_BASE_URL`` or ``JUPYTERHUB_SERVICE_PREFIX``), else through the app's own
        proxy when it has one (``dashboard_proxy``), else the direct link."""
        link = self._dashboard_link()
        if not link:
            return None
        if self.dashboard_proxy and not self.base_url:
            return self.dashboard_proxy
        return proxied_dashboard_link(link, self.base_url)

    def _dashboard_link(self) -> str | None:
        """The running cluster's own dashboard link (``http://host:port/status``); None or "" without one."""
        cluster = self._cluster
        if cluster is None:
            return None
        try:
            return cluster.dashboard_link
        except Exception:  # noqa: BLE001 - no dashboard (bokeh missing), or a cluster closing
            return None

    def dashboard_target(self) -> str | None:
        """Where the running cluster's dashboard answers on this machine (``http://127.0.0.1:PORT``), for
        a proxy; None without a cluster or dashboard. The dashboard listens on loopback unless
        dask-jobqueue's ``scheduler-options`` name another address (then that one)."""
        link = self._dashboard_link()
        port = urlparse(link).port if link else None
        if port is None:
            return None
        address = DASHBOARD_ADDRESS if self.backend == "local" else self._scheduler_options()["dashboard_address"]
        host = str(address).rpartition(":")[0].strip("[]") if ":" in str(address) else ""
        if host in ("", "0.0.0.0", "::", "localhost") or host.startswith("127."):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def fit_note(self, partitions: list[sched.Partition] | None = None) -> str:
        """For SLURM: a sentence when the requested jobs cannot all run at once on the chosen partition
        (its default when no queue is set) because of the CPUs or memory per job, or when one job does
        not fit on a node at all; "" otherwise (and for other backends or unknown partitions).
        `partitions`: as from `partitions()` (asked for when not given)."""
        if self.backend != "slurm":
            return ""
        parts = self.partitions() if partitions is None else partitions
        name = self.queue or next((p.name for p in parts if p.default), "")
        part = next((p for p in parts if p.name == name), None)
        if part is None or part.cpus <= 0 or part.memory_mb <= 0:
            return ""
        try:
            mem_mb = slurm_megabytes(self.memory)
        except ValueError:
            return ""
        by_cpus = part.cpus // max(1, self.cores)
        by_memory = part.memory_mb // mem_mb if mem_mb else by_cpus
        per_node = min(by_cpus, by_memory)
        sizes = f"{self.cores} of {part.cpus} CPUs and {mem_mb} of {part.memory_mb} MB per node"
        if per_node == 0:
            return f"A job of this size does not fit on a node of {part.name}: it asks for {sizes}."
        jobs = self.estimate().jobs
        at_once = per_node * max(1, part.nodes)
        if jobs <= at_once:
            return ""
        limit = "memory" if by_memory < by_cpus else "CPUs"
        return (f"Only {at_once} of the {jobs} jobs fit on {part.name} at a time ({per_node} per node, "
                f"limited by {limit}: each asks for {sizes}); the others wait until those end.")

    def partitions(self) -> list[sched.Partition]:
        """The scheduler's partitions (SLURM ``sinfo``: name, time limit, CPUs, memory per node); [] for
        other backends or when the scheduler cannot be asked."""
        if self.backend != "slurm" or not sched.slurm_available():
            return []
        try:
            return sched.list_partitions(timeout=10)
        except sched.SchedulerError:
            return []

    def request(self) -> dict[str, Any]:
        """The request as a plain dict (parameter name -> value), e.g. to save as a profile."""
        return {k: getattr(self, k) for k in ("backend",) + REQUEST_FIELDS}

    def describe_memory(self, nbytes: int) -> str:
        """``format_bytes`` for the UI (binary units: GiB, as Dask shows a worker's memory)."""
        return format_bytes(nbytes)


def describe_bytes(nbytes: int) -> str:
    """A size in the decimal units the request is written in, with its binary value as workers show it:
    ``2_000_000_000`` -> ``"2 GB (1.86 GiB)"``."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit} ({format_bytes(nbytes)})"
    return f"{nbytes} B"


def _cache_home() -> str:
    """$XDG_CACHE_HOME, else ~/.cache (a folder the compute nodes see when it is in the home folder)."""
    return os.path.expanduser(os.environ.get("XDG_CACHE_HOME") or "~/.cache")


def slurm_megabytes(memory: str) -> int:
    """The memory a job asks the batch system for (SLURM's ``--mem=<n>M``, SGE's ``h_vmem``), in MB as
    SLURM counts them (MiB), rounded up: ``"3.5GB"`` -> 3338 (dask-jobqueue's own rounding to whole
    GiB asked SLURM for 4096, more than a node of 4000 MB has)."""
    return math.ceil(parse_bytes(memory) / 2**20)


class ClusterLease:
    """Keeps a cluster shared by several holders (the browser tabs of one server) until nobody holds it.

    `hold()` returns a token, `release(token)` gives it back. When the last holder has gone, the cluster
    is closed once `grace_s` seconds pass without a new holder (a page reloaded, a laptop back from
    sleep, a dropped connection: the cluster is still there) and without work in progress
    (:meth:`ClusterControl.working`; checked again every `grace_s` while busy). A cluster that was
    never started, or was stopped, costs nothing and is left alone. `control` may be set later (a server
    makes its ClusterControl when a page first opens the Cluster tab; its pages hold the lease from the
    start)."""

    def __init__(self, control: ClusterControl | None = None, grace_s: float = 600.0):
        self.control = control
        self.grace_s = float(grace_s)
        self._holders: set[int] = set()
        self._next = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    @property
    def holders(self) -> int:
        return len(self._holders)

    def hold(self) -> int:
        with self._lock:
            self._next += 1
            self._holders.add(self._next)
            self._disarm()
            return self._next

    def release(self, token: int) -> None:
        with self._lock:
            self._holders.discard(token)
            if not self._holders:
                self._arm()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        self._disarm()
        self._timer = threading.Timer(self.grace_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self._timer = None
            if self._holders:
                return
            control = self.control
            if control is None:
                return
            if control.busy:
                self._arm()  # a sweep still runs: look again later
                return
        if control.running:
            control.close(reason=f"no hpcdash page was open for {describe_duration(self.grace_s)}")

    def cancel(self) -> None:
        """Stop the countdown (the server is closing the cluster itself)."""
        with self._lock:
            self._disarm()


def describe_duration(seconds: float) -> str:
    """``90`` -> ``"1.5 min"``, ``600`` -> ``"10 min"``, ``5`` -> ``"5 s"``."""
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes.is_integer() else f"{minutes:.1f} min"


def _remove_key_files(cluster) -> None:
    """Delete the copies of a closed cluster's TLS key and certificates that dask-jobqueue wrote for its
    workers (temporary files it keeps open on the cluster object, removed only when that object is
    collected, which a reference elsewhere can put off indefinitely)."""
    for name, value in list(vars(cluster).items()):
        path = getattr(value, "name", None)
        if name.startswith("_job_") and isinstance(path, str) and hasattr(value, "close") \
                and os.path.basename(path).startswith(_KEY_FILE_PREFIX):
            try:
                value.close()  # a NamedTemporaryFile deletes its file when closed
            except OSError:
                pass


def proxied_dashboard_link(link: str, base_url: str | None) -> str:
    """Rewrite a direct dashboard ``link`` for jupyter-server-proxy: ``{base_url}proxy/{port}/status``."""
    if not base_url:
        return link
    port = urlparse(link).port
    if port is None:
        return link
    return f"{base_url.rstrip('/')}/proxy/{port}/status"


def _reason(j: sched.SlurmJob | None, state: str, s: _Submission) -> str | None:
    if state == JobState.PENDING:
        return j.reason if j else "submitted"
    if state in (JobState.ENDED, JobState.FAILED):
        if s.closed_by_us:
            return "stopped by hpcdash"
        if j is None:
            return "left the queue"
        st = j.slurm_state.split()[0]
        return {"TIMEOUT": "walltime reached", "CANCELLED": "cancelled outside hpcdash",
                "OUT_OF_MEMORY": "out of memory", "NODE_FAIL": "node failure",
                "COMPLETED": "worker exited", "FAILED": "worker exited with an error",
                "PREEMPTED": "preempted"}.get(st, st.lower())
    return None

