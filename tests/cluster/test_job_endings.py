"""How jobs end, as the status says it: Stop relabels only the jobs it stops; submissions the batch
system refuses end the wait ("submission failed"), are shown by the field they name, and go with Stop."""

from __future__ import annotations

import asyncio
import logging
import shutil
import stat
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

from hpcdash.cluster import ClusterControl
from hpcdash.cluster import scheduler as sched
from hpcdash.cluster.scheduler import JobState, SlurmJob
from hpcdash.cluster.view import ClusterView
from tests.cluster.cluster_helpers import wait_until


def run(coro):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _job(job_id: str, slurm_state: str) -> SlurmJob:
    return SlurmJob(job_id=job_id, slurm_state=slurm_state, state=sched.map_state(slurm_state), reason=None,
                    start=None, elapsed=60.0, time_left=None, time_limit=600.0, node="n1")


def test_stop_relabels_only_the_jobs_live_at_stop(monkeypatch, tmp_path):
    """The queue is faked (squeue, scancel): a job that hit its walltime before the last refresh, one
    cancelled outside hpcdash, one that hit its walltime since the last refresh, and one still running.
    After Stop, only the running one is "stopped by hpcdash"; the others keep why they ended and
    their stderr tails."""
    queue = {"1": _job("1", "TIMEOUT"), "2": _job("2", "CANCELLED by 1000"), "3": _job("3", "RUNNING"),
             "4": _job("4", "RUNNING")}
    cancelled: list[str] = []

    def scancel(ids, **kw):
        cancelled.extend(ids)
        for i in ids:
            queue[i] = _job(i, "CANCELLED by 1000")

    monkeypatch.setattr(sched, "query_jobs", lambda ids, **kw: {i: queue[i] for i in ids if i in queue})
    monkeypatch.setattr(sched, "cancel_jobs", scancel)
    cc = ClusterControl(backend="slurm", log_directory=str(tmp_path))
    for i in "1234":
        log = tmp_path / f"w-{i}.err"
        log.write_text(f"slurmstepd: error: *** JOB {i} ON n1 CANCELLED ***\n")
        cc._registry.submitted(f"w-{i}", i, str(log))
    cc._backend_running = "slurm"
    before = {j.job_id: j.reason for j in cc.status().jobs}
    assert before == {"1": "walltime reached", "2": "cancelled outside hpcdash", "3": None, "4": None}
    queue["3"] = _job("3", "TIMEOUT")  # since the last refresh
    cc._cluster = types.SimpleNamespace(close=lambda: None)  # the dask cluster, closed with its jobs
    cc.running = True
    cc.close()
    assert cancelled == ["4"]
    after = {j.job_id: j for j in cc.status().jobs}
    assert {i: j.reason for i, j in after.items()} == {
        "1": "walltime reached", "2": "cancelled outside hpcdash", "3": "walltime reached", "4": "stopped by hpcdash"}
    assert all(f"JOB {i} ON n1" in after[i].log_tail for i in "123")
    assert after["4"].log_tail is None and after["4"].state == JobState.ENDED


def test_a_queue_that_does_not_answer_ends_no_job(monkeypatch, tmp_path):
    """squeue failing once (the controller busy): the status says the queue could not be read and the
    jobs stay as last seen; they were all taken as ended (and lost ones would have been replaced)."""
    queue = {"1": _job("1", "RUNNING"), "2": _job("2", "PENDING")}
    answers = {"ok": True}

    def squeue(ids, **kw):
        if not answers["ok"]:
            raise sched.SchedulerError("slurm_load_jobs error: Socket timed out on send/recv operation")
        return {i: queue[i] for i in ids if i in queue}

    monkeypatch.setattr(sched, "query_jobs", squeue)
    cc = ClusterControl(backend="slurm", log_directory=str(tmp_path))
    for i in "12":
        cc._registry.submitted(f"w-{i}", i, None)
    cc._backend_running = "slurm"
    def states() -> dict:
        return {j.job_id: j.state for j in cc.status().jobs}

    assert states() == {"1": JobState.RUNNING, "2": JobState.PENDING}
    answers["ok"] = False
    assert states() == {"1": JobState.RUNNING, "2": JobState.PENDING}
    assert cc.error.startswith("The queue could not be read")
    answers["ok"] = True
    del queue["1"]  # it ended meanwhile and left the queue
    assert states() == {"1": JobState.ENDED, "2": JobState.PENDING}


@pytest.fixture
def refusing_sbatch(tmp_path, monkeypatch, slurm) -> None:
    """An `sbatch` first on the PATH that hands `--test-only` to SLURM's and refuses real submissions
    with SLURM's words for a refused account (as a site enforcing accounts does; this test SLURM
    accepts any account)."""
    real = shutil.which("sbatch")
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "sbatch"
    fake.write_text(f"""#!/bin/bash
for a in "$@"; do [ "$a" = "--test-only" ] && exec {real} "$@"; done
echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified" >&2
exit 1
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:{shutil.os.environ['PATH']}")


@pytest.mark.slurm
def test_every_submission_refused_ends_the_wait_and_is_shown_by_its_field(refusing_sbatch, make_control):
    cc = make_control(backend="slurm", account="nosuchacct", n_workers=2)
    view = ClusterView(cc)
    run(view._on_start())
    assert cc.running

    def refused():
        st = run(view.refresh())
        return st.phase == "submission failed" and len(st.errors) == 2 and st

    st = wait_until(refused, 60, what="both submissions refused")
    assert [j.state for j in st.jobs] == ["failed", "failed"]
    assert "submission failed" in view.phase.object and "requested" not in view.phase.object
    assert not view.progress.visible
    assert view.submit_errors.visible and "Invalid account" in view.submit_errors.object
    account = view.field_alerts["account"]
    assert account.visible and "Submission failed: Batch job submission failed: Invalid account" in account.object
    assert [k for k, a in view.field_alerts.items() if a.visible] == ["account"]
    assert "see Account above" in view.error.object
    run(view._on_stop())
    run(view.refresh())
    assert "stopped" in view.phase.object
    assert not view.submit_errors.visible and not account.visible and not view.error.visible


@pytest.mark.slurm
def test_a_partition_slurm_refuses_at_submission_is_shown_by_the_queue_field(slurm, make_control):
    """Not validated first: SLURM's own refusal of the real submission (no such partition)."""
    cc = make_control(backend="slurm", queue="nosuch")
    cc.start(validate=False)
    cc.scale(1, validate=False)
    view = ClusterView(cc)
    st = wait_until(lambda: (s := run(view.refresh())) and s.phase == "submission failed" and s, 60,
                    what="the submission refused")
    assert "Invalid partition name specified" in st.errors[0]
    assert view.field_alerts["queue"].visible and "Invalid partition" in view.field_alerts["queue"].object
    cc.close()
    run(view.refresh())
    assert not view.field_alerts["queue"].visible and not view.submit_errors.visible


class _Records(logging.Handler):
    """Every record that reaches the loggers it is put on, whatever the levels of the other handlers (a
    dask-jobqueue cluster sets the handlers of the `distributed` logger to ERROR while it runs)."""

    #: where a failed submission could be logged: hpcdash, tornado's callbacks, distributed, asyncio's tasks
    LOGGERS = ("", "hpcdash", "tornado", "tornado.application", "distributed", "asyncio")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not any(r is record for r in self.records):  # a record seen by two of its loggers
            self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(formatter.format(r) for r in self.records)


@pytest.fixture
def log_records():
    records = _Records()
    loggers = [logging.getLogger(name) for name in _Records.LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(records)
    logging.getLogger("hpcdash").setLevel(logging.WARNING)
    yield records
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(records)
        lg.setLevel(level)


@pytest.mark.slurm
def test_a_refused_submission_is_logged_as_one_line_with_its_reason(slurm, make_control, log_records):
    """The server log says each refusal in one warning line with SLURM's reason; no traceback (tornado
    logged one for every refused sbatch: the status and the tab say the refusal already)."""
    cc = make_control(backend="slurm", queue="nosuch", encrypt=False)
    cc.start(validate=False)
    cc.scale(2, validate=False)
    wait_until(lambda: len(cc.status().errors) == 2, 60, what="both submissions refused")
    cc.close()  # runs what the cluster's event loop still had to do, such as logging what it raised
    told = [r for r in log_records.records if "Invalid partition name specified" in r.getMessage()]
    assert len(told) == 2, log_records.text()
    assert all(r.levelno == logging.WARNING and r.name == "hpcdash.cluster.control" for r in told)
    assert {r.getMessage() for r in told} == {
        f"sbatch refused the job of worker SLURMCluster-{i}: invalid partition specified: nosuch. Batch job "
        "submission failed: Invalid partition name specified" for i in (0, 1)}
    assert not [r for r in log_records.records if r.exc_info], log_records.text()
    assert "Traceback" not in log_records.text()


def test_a_submission_failing_otherwise_keeps_its_traceback(tmp_path, monkeypatch, make_control, log_records):
    """A submission that fails for another reason than a refusal (here sbatch answers without a job id)
    is logged with its traceback, once, and shown in the status as before."""
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "sbatch"
    fake.write_text("#!/bin/bash\necho 'all good'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:{shutil.os.environ['PATH']}")
    cc = make_control(backend="slurm", encrypt=False)
    cc.start(validate=False)
    cc.scale(1, validate=False)
    st = wait_until(lambda: (s := cc.status()) and s.errors and s, 60, what="the submission failed")
    assert "Could not parse job id" in st.errors[0]
    cc.close()
    told = [r for r in log_records.records if r.exc_info]
    assert len(told) == 1, log_records.text()
    assert told[0].levelno == logging.ERROR and isinstance(told[0].exc_info[1], ValueError)
    assert told[0].getMessage() == "The job of worker SLURMCluster-0 could not be submitted"


def test_a_refusal_no_longer_holds_once_a_later_submission_goes_through():
    """The alert names refusals since the last accepted submission (a fixed account, a limit that
    cleared); the refused jobs' rows keep their reasons."""
    from hpcdash.cluster.control import _JobRegistry

    reg = _JobRegistry()
    reg.submitted("w-0", "11", None)
    reg.failed("w-1", "Batch job submission failed: Job violates accounting/QOS policy")
    assert reg.errors == ["Batch job submission failed: Job violates accounting/QOS policy"]
    reg.submitted("w-2", "12", None)
    assert reg.errors == []
    assert [s.error for s in reg.snapshot()] == [None, "Batch job submission failed: Job violates accounting/QOS "
                                                 "policy", None]
