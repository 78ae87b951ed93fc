"""Access to the batch scheduler's command-line tools (SLURM first).

Plain subprocess calls parsed into dataclasses; no Panel, no Dask. Every call has a timeout and
failures become :class:`SchedulerError` whose ``str`` is the scheduler's own message, so the
state layer and the UI can show it to the user as it is.

Commands used (all read ``SLURM_CONF`` from the environment like any SLURM client):

- ``sbatch --test-only FILE``: validation of a job script, prints to stderr
  ``sbatch: Job 23 to start at 2026-11-25T17:03:25 using 1 processors on nodes vm in partition debug``
  or, with rc 1, ``allocation failure: <reason>``.
- ``squeue -h -t all -j IDS -o FMT``: state, reason, elapsed, time left, node of our jobs.
- ``squeue --start -h -j IDS -o FMT``: expected start of pending jobs (after a backfill pass).
- ``scancel IDS``, ``scontrol show job -o ID``, ``sinfo`` for partitions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = [
    "JobState",
    "Partition",
    "SchedulerError",
    "SchedulerUnavailableError",
    "SlurmJob",
    "SubmitCheck",
    "cancel_jobs",
    "guess_field",
    "job_details",
    "list_partitions",
    "parse_duration",
    "query_jobs",
    "slurm_available",
    "tail_file",
    "check_submission",
    "dependency_note",
    "explain_reason",
    "no_start_note",
    "script_dependency",
]

DEFAULT_TIMEOUT = 30.0


class SchedulerError(Exception):
    """A scheduler command failed; ``str(err)`` is the scheduler's own message (a user-facing sentence)."""

    def __init__(self, message: str, *, command: str = "", returncode: int | None = None):
        super().__init__(message)
        self.command = command
        self.returncode = returncode


class SchedulerUnavailableError(SchedulerError):
    """The scheduler's client commands are not installed or the controller cannot be reached."""


class JobState:
    """The five states hpcdash shows for a batch job (SLURM has about twenty)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETING = "completing"
    FAILED = "failed"
    ENDED = "ended"


# SLURM state (squeue %T) -> hpcdash state.
_STATE_MAP = {
    "PENDING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "SUSPENDED": JobState.PENDING,
    "CONFIGURING": JobState.RUNNING,
    "RUNNING": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.COMPLETING,
    "COMPLETING": JobState.COMPLETING,
    "FAILED": JobState.FAILED,
    "NODE_FAIL": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "DEADLINE": JobState.FAILED,
    "COMPLETED": JobState.ENDED,
    "CANCELLED": JobState.ENDED,
    "TIMEOUT": JobState.ENDED,
    "PREEMPTED": JobState.ENDED,
    "REVOKED": JobState.ENDED,
    "SPECIAL_EXIT": JobState.FAILED,
    "STOPPED": JobState.ENDED,
}


def map_state(slurm_state: str) -> str:
    """Map a SLURM job state (``RUNNING``, ``CANCELLED by 0``, ...) to a :class:`JobState` value."""
    key = slurm_state.split()[0].rstrip("+").upper() if slurm_state else ""
    return _STATE_MAP.get(key, JobState.PENDING if not key else JobState.ENDED)


@dataclass
class SubmitCheck:
    """Result of ``sbatch --test-only``: ``ok``, the scheduler's message and the expected start."""

    ok: bool
    message: str
    expected_start: datetime | None = None
    partition: str | None = None
    nodes: str | None = None
    returncode: int = 0


@dataclass
class SlurmJob:
    """One job as ``squeue`` reports it (durations in seconds, ``None`` when SLURM gives none)."""

    job_id: str
    slurm_state: str
    state: str
    reason: str | None
    start: datetime | None
    elapsed: float | None
    time_left: float | None
    time_limit: float | None
    node: str | None
    name: str = ""
    partition: str = ""
    #: what the job waits for (squeue %E, e.g. ``afterok:94(unfulfilled)``), None without a dependency
    dependency: str | None = None


@dataclass
class Partition:
    """A partition from ``sinfo``: name, time limit (seconds, ``None`` = unlimited), CPUs and memory per node (MB)."""

    name: str
    time_limit: float | None
    nodes: int
    cpus: int
    memory_mb: int
    available: bool
    default: bool = False
    extra: dict = field(default_factory=dict)


def slurm_available() -> bool:
    """True when the SLURM client commands (``sinfo``, ``sbatch``, ``squeue``) are on the PATH."""
    return all(shutil.which(cmd) for cmd in ("sinfo", "sbatch", "squeue"))


def _run(cmd: list[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which(cmd[0]) is None:
        raise SchedulerUnavailableError(f"'{cmd[0]}' is not installed on this machine.", command=" ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    except subprocess.TimeoutExpired as err:
        raise SchedulerUnavailableError(
            f"'{' '.join(cmd)}' did not answer within {timeout:.0f} s; is the SLURM controller running?",
            command=" ".join(cmd),
        ) from err
    if check and proc.returncode != 0:
        raise SchedulerError(_clean_message(proc.stderr or proc.stdout) or f"{cmd[0]} failed",
                             command=" ".join(cmd), returncode=proc.returncode)
    return proc


def _clean_message(text: str) -> str:
    """Join SLURM's stderr lines into one readable message, dropping the tool prefixes."""
    lines = []
    for line in text.strip().splitlines():
        line = line.strip()
        line = re.sub(r"^(sbatch|squeue|scancel|scontrol|sinfo): (error: |fatal: )?", "", line)
        if line and line not in lines:
            lines.append(line)
    return " ".join(x if x[-1] in ".!?:" else x + "." for x in lines).rstrip(".") if lines else ""


_START_RE = re.compile(
    r"Job (?P<id>\d+) to start at (?P<start>\S+) using \d+ processors on nodes (?P<nodes>\S+)"
    r"(?: in partition (?P<part>\S+))?"
)


def parse_time(text: str | None) -> datetime | None:
    """Parse SLURM's ``2026-11-25T17:16:00`` (local time); ``N/A``/``Unknown``/empty -> None."""
    if not text or text in ("N/A", "Unknown", "None", "(null)"):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_duration(text: str | None) -> float | None:
    """Seconds from SLURM's ``[D-]HH:MM:SS`` / ``MM:SS`` / ``MM``; ``UNLIMITED``/``INVALID``/``N/A`` -> None."""
    if text is None:
        return None
    text = text.strip()
    if not text or text.upper() in ("UNLIMITED", "INVALID", "N/A", "NOT_SET", "INFINITE"):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:  # minutes (sbatch -t convention)
        secs = parts[0] * 60 if days == 0 else parts[0] * 3600
    elif len(parts) == 2:
        secs = parts[0] * 60 + parts[1]
    else:
        secs = parts[0] * 3600 + parts[1] * 60 + parts[2]
    return float(days * 86400 + secs)


def check_submission(script: str, *, timeout: float = DEFAULT_TIMEOUT) -> SubmitCheck:
    """Run ``sbatch --test-only`` on ``script`` (the text of a job script). Nothing is queued.

    Returns ``SubmitCheck(ok=True, expected_start=...)`` or ``ok=False`` with SLURM's reason.
    Raises :class:`SchedulerUnavailableError` if sbatch is missing or the controller does not answer.
    Note: SLURM consumes a job id for every test submission.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="hpcdash-check-", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        proc = _run(["sbatch", "--test-only", path], timeout=timeout, check=False)
    finally:
        os.unlink(path)
    out = (proc.stderr + "\n" + proc.stdout).strip()
    if proc.returncode == 0:
        m = _START_RE.search(out)
        if m:
            # not SLURM's "Job 107 to start at ...": that job id was never queued (a test only)
            where = f"on {m['nodes']}" + (f" in partition {m['part']}" if m["part"] else "")
            return SubmitCheck(ok=True, message=f"SLURM would run it {where} (a test only: nothing was queued).",
                               expected_start=parse_time(m["start"]), partition=m["part"], nodes=m["nodes"])
        return SubmitCheck(ok=True, message=_clean_message(out))
    msg = _clean_message(out)
    if "Unable to contact slurm controller" in msg or "Could not establish a configuration source" in msg:
        raise SchedulerUnavailableError(msg, command="sbatch --test-only", returncode=proc.returncode)
    msg = re.sub(r"allocation failure: ", "", msg)
    return SubmitCheck(ok=False, message=msg, returncode=proc.returncode)


_SQUEUE_FIELDS = ["%i", "%T", "%r", "%S", "%M", "%L", "%N", "%l", "%E", "%j", "%P"]


def query_jobs(job_ids: list[str] | tuple[str, ...], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, SlurmJob]:
    """State of the given jobs from ``squeue -t all`` (jobs SLURM already forgot are absent from the result).

    Pending jobs get their expected start from ``squeue --start`` (SLURM fills it after a backfill pass).
    """
    ids = [str(j) for j in job_ids if j]
    if not ids:
        return {}
    fmt = "|".join(_SQUEUE_FIELDS)
    proc = _run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", fmt], timeout=timeout, check=False)
    if proc.returncode != 0:
        msg = _clean_message(proc.stderr)
        if "Invalid job id" in msg:  # all of them are gone from slurmctld's memory
            return {}
        raise SchedulerError(msg or "squeue failed", command="squeue", returncode=proc.returncode)
    jobs: dict[str, SlurmJob] = {}
    for line in proc.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < len(_SQUEUE_FIELDS):
            continue
        jid, st, reason, start, elapsed, left, node, limit, dep, name, part = parts[: len(_SQUEUE_FIELDS)]
        state = map_state(st)
        jobs[jid] = SlurmJob(
            job_id=jid, slurm_state=st, state=state,
            reason=None if reason in ("None", "") else reason,
            start=parse_time(start), elapsed=parse_duration(elapsed),
            time_left=parse_duration(left) if state in (JobState.RUNNING, JobState.COMPLETING) else None,
            time_limit=parse_duration(limit), node=node or None, name=name, partition=part,
            dependency=None if dep in ("", "(null)", "None") else dep,
        )
    pending = [j for j, job in jobs.items() if job.state == JobState.PENDING]
    if pending:
        for jid, start, reason in _expected_starts(pending, timeout=timeout):
            if jid in jobs:
                jobs[jid].start = start
                if reason:
                    jobs[jid].reason = reason
    for job in jobs.values():
        if job.state == JobState.PENDING and job.start is not None and (
                job.start.year > 9000 or not start_can_be_expected(job.reason)):
            job.start = None
    return jobs


def start_can_be_expected(reason: str | None) -> bool:
    """False for a pending job whose reason rules out a start time (held, waiting for a dependency,
    or a request that can never run): SLURM keeps the start it estimated before the job was held, and
    the table showed it for a while."""
    return no_start_note(reason) in (NOT_ESTIMATED, _NO_START["BeginTime"])


def _expected_starts(job_ids: list[str], *, timeout: float) -> list[tuple[str, datetime | None, str | None]]:
    proc = _run(["squeue", "--start", "-h", "-j", ",".join(job_ids), "-o", "%i|%S|%r"], timeout=timeout, check=False)
    rows = []
    if proc.returncode != 0:
        return rows
    for line in proc.stdout.splitlines():
        parts = line.split("|")
        if len(parts) == 3:
            rows.append((parts[0], parse_time(parts[1]), None if parts[2] in ("None", "") else parts[2]))
    return rows


def cancel_jobs(job_ids: list[str] | tuple[str, ...], *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """``scancel`` the given jobs (jobs already gone are ignored)."""
    ids = [str(j) for j in job_ids if j]
    if ids:
        _run(["scancel", *ids], timeout=timeout, check=False)


def job_details(job_id: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
    """``scontrol show job -o ID`` as a dict (``JobState``, ``Reason``, ``ExitCode``, ``StdErr``, ...).

    Empty dict when SLURM no longer knows the job.
    """
    proc = _run(["scontrol", "show", "job", "-o", str(job_id)], timeout=timeout, check=False)
    if proc.returncode != 0:
        return {}
    out: dict[str, str] = {}
    for token in re.findall(r"(\S+?)=(\S*)", proc.stdout):
        out.setdefault(token[0], token[1])
    return out


def list_partitions(*, timeout: float = DEFAULT_TIMEOUT) -> list[Partition]:
    """Partitions from ``sinfo`` (name, time limit, node count, CPUs and memory per node, up/down)."""
    proc = _run(["sinfo", "-h", "-o", "%P|%l|%D|%c|%m|%a"], timeout=timeout)
    parts = []
    for line in proc.stdout.splitlines():
        p = line.split("|")
        if len(p) != 6:
            continue
        name = p[0]
        default = name.endswith("*")
        parts.append(Partition(
            name=name.rstrip("*"), time_limit=parse_duration(p[1]), nodes=int(p[2] or 0),
            cpus=int(re.sub(r"\D.*", "", p[3]) or 0), memory_mb=int(re.sub(r"\D.*", "", p[4]) or 0),
            available=p[5] == "up", default=default,
        ))
    return parts


#: A line in the batch system's own words: SLURM's daemons (``slurmstepd:``, or with the node's name,
#: ``slurmstepd-n042:``, as recent SLURM writes it), srun's errors, PBS's job messages.
BATCH_SYSTEM_LINE = re.compile(r"\s*(?:(?:slurmstepd|slurmd)(?:-[^\s:]+)?:|srun: error|=>> PBS:)")


def tail_file(path: str | os.PathLike, lines: int = 20, max_bytes: int = 64_000,
              keep: re.Pattern[str] = BATCH_SYSTEM_LINE) -> str | None:
    """The last ``lines`` lines of a text file (reads at most ``max_bytes`` from its end); None if missing.

    Lines that ``keep`` matches at their start (the batch system's own words, e.g. ``slurmstepd: ...
    CANCELLED AT ... DUE TO TIME LIMIT``) are kept even when a long traceback written after them pushes
    them out of the last ``lines``: they say why a job ended, which a worker's traceback rarely does."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return None
    all_lines = data.decode("utf-8", errors="replace").splitlines()
    last = all_lines[-lines:]
    earlier = [ln for ln in all_lines[:len(all_lines) - len(last)] if keep.match(ln)]
    if earlier:
        last = earlier + ["..."] + last
    return "\n".join(last)


# Words in SLURM's messages -> the request field that caused them.
_FIELD_HINTS = [
    (("invalid account",), "account"),  # "Invalid account or account/partition combination specified"
    (("time limit", "--time", "timelimit", "time specification"), "walltime"),
    (("partition", "queue"), "queue"),
    (("memory", "--mem", "node configuration is not available"), "memory"),
    (("processors", "cpus", "cpu count", "--cpus-per-task"), "cores"),
    (("account", "qos", "association"), "account"),
]


def guess_field(message: str) -> str | None:
    """The request field a scheduler message most likely concerns (``walltime``, ``queue``, ``memory``,
    ``cores``, ``account``) or None."""
    low = message.lower()
    for words, name in _FIELD_HINTS:
        if any(w in low for w in words):
            return name
    return None


# --------------------------------------------------------------------------------------------------
# Why a job waits, in words (SLURM's squeue man page, "JOB REASON CODES", and its resource limits page)
# --------------------------------------------------------------------------------------------------
#: SLURM's reason codes for a pending job -> a short explanation; ``{id}`` is the job's id.
_REASON_WORDS = {
    "Resources": "waiting for free CPUs or memory on the partition's nodes",
    "Priority": "other jobs are ahead in the queue",
    "Dependency": "waiting for another job",
    "DependencyNeverSatisfied": "its dependency can never be met, so it will not run: cancel it",
    "JobHeldUser": "held; `scontrol release {id}` lets it run",
    "JobHeldAdmin": "held by an administrator; `scontrol release {id}` (by an administrator) lets it run",
    "launch failed requeued held": "SLURM could not launch it and held it; `scontrol release {id}` tries again",
    "BeginTime": "may not start before its begin time",
    "PartitionTimeLimit": "its walltime is above the partition's limit, so it will not start: ask for less time",
    "PartitionNodeLimit": "asks for more nodes than the partition allows, or the nodes it needs are down or drained",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive and starts no jobs",
    "ReqNodeNotAvail": "a node it needs is not available (in use, reserved, down or drained)",
    "Reservation": "waiting for its advance reservation to become available",
    "BadConstraints": "no node meets its constraints (--constraint), so it will not start",
    "InvalidAccount": "its account is not valid, so it will not run: cancel it and fix the account",
    "InvalidQOS": "its QOS is not valid, so it will not run: cancel it and fix the QOS",
    "AssociationJobLimit": "your account has reached its limit of jobs; it starts when one of them ends",
    "AssociationResourceLimit": "your account has reached a resource limit; it starts when others of it end",
    "AssociationTimeLimit": "your account has reached its time limit",
    "QOSJobLimit": "the QOS has reached its limit of jobs; it starts when one of them ends",
    "QOSResourceLimit": "the QOS has reached a resource limit; it starts when others of it end",
    "QOSTimeLimit": "the QOS has reached its time limit",
    "QOSUsageThreshold": "the QOS's usage threshold has been reached",
    "Licenses": "waiting for a license",
    "NodeDown": "a node it needs is down",
    "Cleaning": "being requeued, still cleaning up from its previous run",
    "Prolog": "the site's job prolog is still running",
    "WaitingForScheduling": "the scheduler has not looked at it yet",
    "JobLaunchFailure": "it could not be launched (a file system problem, a missing program, ...)",
    "SystemFailure": "a failure of SLURM, a file system or the network",
    "FrontEndDown": "no front-end node is available to run it",
    "InactiveLimit": "it reached the system's InactiveLimit",
    "NonZeroExitCode": "it ended with a non-zero exit code",
    "TimeLimit": "it used up its time limit",
    "BurstBufferResources": "waiting for burst buffer space",
    "BurstBufferStageIn": "its files are being staged in to the burst buffer",
}

#: The resource in SLURM's ``Assoc|QOS`` + ``Grp|Max`` + resource + ``Limit`` codes (AssocGrpCpuLimit, ...).
_LIMIT_RESOURCES = [
    ("cpurunmin", "CPU-minutes of running jobs"), ("cpumin", "CPU-minutes"), ("cpu", "CPUs"),
    ("memrunmin", "memory-minutes of running jobs"), ("mem", "memory"), ("node", "nodes"),
    ("submitjob", "queued jobs"), ("jobs", "running jobs"), ("wall", "walltime"), ("billing", "billing units"),
    ("gres", "generic resources (GPUs, ...)"), ("energy", "energy"), ("tres", "trackable resources"),
]
_LIMIT_RE = re.compile(r"^(Assoc|QOS)(Grp|Max)(\w+?)(?:Per(User|Job|Node|Account))?(?:Limit)?$")

#: SLURM's dependency types -> what the job waits for the other job to do (as "waiting for job 94 to
#: ..." and as "once job 94 ...").
_DEPENDENCY_WORDS = {"after": ("to start", "starts"), "afterany": ("to end", "ends"),
                     "afterok": ("to end successfully", "ends successfully"),
                     "afternotok": ("to fail", "fails"),
                     "aftercorr": ("to end successfully, task by task", "ends successfully, task by task"),
                     "afterburstbuffer": ("to end", "ends")}
#: one dependency as squeue's %E gives it (``afterok:94(unfulfilled)``) or as sbatch takes it (``afterok:94``)
_DEPENDENCY_RE = re.compile(r"(?P<type>[a-z]+)(?::(?P<ids>[^(),?]+))?(?:\((?P<state>\w+)\))?")


def _limit_words(code: str) -> str | None:
    """Words for SLURM's association and QOS limit codes (AssocGrpCpuLimit, QOSMaxJobsPerUserLimit, ...)."""
    m = _LIMIT_RE.match(code)
    if m is None:
        return None
    who = "your account (association)" if m[1] == "Assoc" else "the QOS"
    key = m[3].lower()
    what = next((words for k, words in _LIMIT_RESOURCES if key.startswith(k)), None)
    if what is None:
        return None
    if m[2] == "Grp" and "min" in key and "run" not in key:  # used over time, not freed when jobs end
        return f"{who} has used up its {what}; it waits until the limit is raised or the usage decays"
    if m[2] == "Grp":
        return f"{who} has reached its total limit of {what}; it starts when other jobs end"
    per = (m[4] or "Job").lower()
    if per == "job":
        return f"asks for more {what} than {who} allows per job, so it will not start"
    if per == "user" and what == "running jobs":
        return f"you run as many jobs as {who} allows at once; it starts when one of them ends"
    return f"{who}'s limit of {what} per {per} is reached; it starts when others end"


def _dependency_words(dependency: str | None, once: bool = False) -> str | None:
    """``afterok:94(unfulfilled)`` (squeue) or ``afterok:94`` (sbatch) -> ``job 94 to end successfully
    (afterok)`` (with ``once``: ``job 94 ends successfully (afterok)``); None when there is none or it
    cannot be read."""
    if not dependency:
        return None
    joiner = " or " if "?" in dependency else " and "
    items = []
    for m in _DEPENDENCY_RE.finditer(dependency):
        state = f", {m['state']}" if m["state"] not in (None, "unfulfilled") else ""
        if m["type"] == "singleton":
            verb = "end" if once else "to end"
            items.append(f"the other jobs of its name and user {verb} (singleton{state})")
            continue
        ids = [i.split("+")[0] for i in (m["ids"] or "").split(":") if i]
        if not ids:
            continue
        jobs = f"job {ids[0]}" if len(ids) == 1 else "jobs " + ", ".join(ids)
        words = _DEPENDENCY_WORDS.get(m["type"])
        verb = (words[1] if once else words[0]) if words else ""
        items.append(f"{jobs} {verb} ({m['type']}{state})" if verb else f"{jobs} ({m['type']}{state})")
    return joiner.join(items) or None


def _when(t: datetime) -> str:
    return t.strftime("%H:%M") if t.date() == datetime.now().date() else t.strftime("%Y-%m-%d %H:%M")


def explain_reason(reason: str | None, *, job_id: str | None = None, dependency: str | None = None,
                   begin: datetime | None = None) -> str | None:
    """SLURM's reason code for a pending job (squeue ``%r``) followed by a short explanation, the
    code kept: ``"Priority: other jobs are ahead in the queue"``. ``job_id`` goes into the commands
    it names (``scontrol release <id>``), ``dependency`` (squeue ``%E``) says which job a
    ``Dependency`` waits for, ``begin`` when a ``BeginTime`` job may start. Codes it does not know
    come back unchanged; None stays None. Plain text (escape it for HTML)."""
    if not reason:
        return reason
    code = reason.split(",")[0].strip()  # "ReqNodeNotAvail, UnavailableNodes:n1"
    words = _REASON_WORDS.get(code) or _limit_words(code)
    if words is None:
        return reason
    waits = _dependency_words(dependency)
    if code == "Dependency" and waits:
        words = f"waiting for {waits}"
    elif code == "DependencyNeverSatisfied" and waits:
        words = f"it waits for {waits}, which can never happen, so it will not run: cancel it"
    elif code == "BeginTime" and begin is not None:
        words = f"may not start before {_when(begin)}"
    words = words.replace("{id}", job_id or "<job id>")
    rest = reason[len(code):].lstrip(", ")
    return f"{code}: {words}" + (f" ({rest})" if rest else "")


#: Reasons for which SLURM gives no expected start, and why there is none.
#: `no_start_note` for a pending job whose start SLURM can still estimate (its backfill pass has not yet)
NOT_ESTIMATED = "not estimated yet"
_NO_START = {
    "JobHeldUser": "none while held", "JobHeldAdmin": "none while held",
    "launch failed requeued held": "none while held", "Dependency": "once its dependency is met",
    "DependencyNeverSatisfied": "never (its dependency failed)", "BeginTime": "not before its begin time",
    "PartitionTimeLimit": "never, as requested", "BadConstraints": "never, as requested",
    "InvalidAccount": "never, as requested", "InvalidQOS": "never, as requested",
}


def no_start_note(reason: str | None, *, dependency: str | None = None) -> str:
    """For a pending job SLURM gives no expected start: why, in a few words ("none while held",
    "once job 94 ends successfully (afterok)"); "not estimated yet" for other reasons (SLURM's
    backfill pass has not estimated it)."""
    code = (reason or "").split(",")[0].strip()
    if code == "Dependency":
        waits = _dependency_words(dependency, once=True)
        if waits:
            return f"once {waits}"
    if code in _NO_START:
        return _NO_START[code]
    m = _LIMIT_RE.match(code)
    if m and m[2] == "Max" and (m[4] or "Job") == "Job":
        return "never, as requested"
    return NOT_ESTIMATED


def script_dependency(script: str) -> str | None:
    """The dependency a SLURM job script asks for in its ``#SBATCH`` lines (``--dependency=afterok:94``,
    ``--dependency afterok:94``, ``-d afterok:94``, ``-dafterok:94``, or a long option shortened as sbatch
    takes it, ``--depend=...``), as written; the last one when there are several (sbatch keeps the last);
    None without one. SLURM reads ``#SBATCH`` lines up to the first command, and so does this."""
    found = None
    for line in script.splitlines()[1:]:
        text = line.strip()
        if text and not text.startswith("#"):
            break
        if not text.startswith("#SBATCH"):
            continue
        tokens = text[len("#SBATCH"):].split()
        for i, tok in enumerate(tokens):
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if tok == "-d":
                found = following or found
            elif tok.startswith("-d"):
                found = tok[2:]
            elif tok.startswith("--dep"):  # "--dep" is the shortest prefix no other sbatch option has
                name, eq, value = tok[2:].partition("=")
                if "dependency".startswith(name):
                    found = (value if eq else following) or found
    return found


def dependency_note(dependency: str) -> str:
    """A sentence for a request that asks for ``dependency`` (sbatch's form, ``afterok:94``): the job also
    waits for it, which the start ``sbatch --test-only`` expects does not count (it looks at resources
    only). Plain text (escape it for HTML)."""
    waits = _dependency_words(dependency) or f"its dependency ({dependency})"
    return f"The job also waits for {waits}, which the expected start does not count: it may start later."
