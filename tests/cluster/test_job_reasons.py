"""Why a batch job waits, in words: SLURM's reason codes explained (the code kept), in the job table and
the sweep's message, and why a pending job has no expected start."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta

import pytest

from hpcdash.cluster import ClusterStatus, JobRecord
from hpcdash.cluster import scheduler as sched
from hpcdash.cluster.view import jobs_table_html
from tests.cluster.cluster_helpers import fill_the_node, wait_until


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("Resources", "Resources: waiting for free CPUs or memory on the partition's nodes"),
        ("Priority", "Priority: other jobs are ahead in the queue"),
        ("JobHeldUser", "JobHeldUser: held; `scontrol release 42` lets it run"),
        ("JobHeldAdmin", "JobHeldAdmin: held by an administrator"),
        ("Dependency", "Dependency: waiting for another job"),
        ("DependencyNeverSatisfied", "DependencyNeverSatisfied: its dependency can never be met"),
        ("BeginTime", "BeginTime: may not start before its begin time"),
        ("PartitionTimeLimit", "PartitionTimeLimit: its walltime is above the partition's limit"),
        ("PartitionNodeLimit", "PartitionNodeLimit: asks for more nodes than the partition allows"),
        ("QOSMaxJobsPerUserLimit", "QOSMaxJobsPerUserLimit: you run as many jobs as the QOS allows at once"),
        ("AssocGrpCpuLimit", "AssocGrpCpuLimit: your account (association) has reached its total limit of CPUs"),
        ("AssocMaxWallDurationPerJobLimit", "asks for more walltime than your account (association) allows per job"),
        ("ReqNodeNotAvail, UnavailableNodes:n1", "ReqNodeNotAvail: a node it needs is not available (in use, "
                                                 "reserved, down or drained) (UnavailableNodes:n1)"),
        ("Reservation", "Reservation: waiting for its advance reservation"),
        ("launch failed requeued held", "launch failed requeued held: SLURM could not launch it and held it; "
                                        "`scontrol release 42` tries again"),
        ("BadConstraints", "BadConstraints: no node meets its constraints"),
        ("InvalidAccount", "InvalidAccount: its account is not valid"),
        ("InvalidQOS", "InvalidQOS: its QOS is not valid"),
    ],
)
def test_slurm_reason_codes_are_explained_with_the_code_kept(code, words):
    said = sched.explain_reason(code, job_id="42")
    assert said.startswith(code.split(",")[0] + ": ") and words in said, said


@pytest.mark.parametrize("code", ["SomethingNew", "Nodes required for job are DOWN, DRAINED", ""])
def test_unknown_reasons_pass_through_unchanged(code):
    assert sched.explain_reason(code, job_id="1") == code
    assert sched.explain_reason(None) is None


def test_dependency_begin_time_and_why_there_is_no_expected_start():
    said = sched.explain_reason("Dependency", dependency="afterok:94(unfulfilled)")
    assert said == "Dependency: waiting for job 94 to end successfully (afterok)"
    assert sched.no_start_note("Dependency", dependency="afterok:94(unfulfilled)") == \
        "once job 94 ends successfully (afterok)"
    either = sched.explain_reason("Dependency", dependency="afterany:3(unfulfilled)?afternotok:4(unfulfilled)")
    assert either == "Dependency: waiting for job 3 to end (afterany) or job 4 to fail (afternotok)"
    never = sched.explain_reason("DependencyNeverSatisfied", dependency="afterok:94(failed)")
    assert "job 94 to end successfully (afterok, failed), which can never happen" in never
    begin = datetime.now() + timedelta(hours=2)
    said = sched.explain_reason("BeginTime", begin=begin)
    assert said.startswith("BeginTime: may not start before ") and said.endswith(f"{begin:%H:%M}")
    assert sched.no_start_note("JobHeldUser") == sched.no_start_note("JobHeldAdmin") == "none while held"
    assert sched.no_start_note("Resources") == "not estimated yet"


def test_a_refused_account_is_named_by_the_account_field():
    message = "Batch job submission failed: Invalid account or account/partition combination specified"
    assert sched.guess_field(message) == "account"
    assert sched.guess_field("Batch job submission failed: Invalid partition name specified") == "queue"


def test_a_held_job_shows_no_start_slurm_estimated_before_the_hold(monkeypatch):
    """SLURM keeps the start it estimated for a job before it was held (or made to wait for another
    job): the job table showed that time for a held job. Pending on resources or a begin time, the
    estimate stays. squeue's answers here are what it printed for such jobs."""
    fields = "RUNNING|None|2026-12-01T10:00:00|1:00|59:00|vm|1:00:00|(null)|w|debug"
    rows = {
        "1": "PENDING|JobHeldUser|2026-12-01T11:00:00|0:00|1:00:00||1:00:00|(null)|w|debug",
        "2": "PENDING|Dependency|2026-12-01T11:00:00|0:00|1:00:00||1:00:00|afterok:9(unfulfilled)|w|debug",
        "3": "PENDING|Resources|2026-12-01T11:00:00|0:00|1:00:00||1:00:00|(null)|w|debug",
        "4": "PENDING|BeginTime|2026-12-01T12:00:00|0:00|1:00:00||1:00:00|(null)|w|debug",
        "5": "PENDING|PartitionTimeLimit|2026-12-01T11:00:00|0:00|1:00:00||1:00:00|(null)|w|debug",
        "6": fields,
    }

    def squeue(cmd, **kwargs):
        if "--start" in cmd:  # no newer estimate: SLURM's stored one stands
            return subprocess.CompletedProcess(cmd, 0, "", "")
        return subprocess.CompletedProcess(cmd, 0, "".join(f"{j}|{r}\n" for j, r in rows.items()), "")

    monkeypatch.setattr(sched, "_run", squeue)
    jobs = sched.query_jobs(list(rows))
    assert [jobs[j].start for j in ("1", "2", "5")] == [None, None, None]
    assert jobs["3"].start == datetime(2026, 12, 1, 11) and jobs["4"].start == datetime(2026, 12, 1, 12)
    assert jobs["6"].start == datetime(2026, 12, 1, 10)  # a running job keeps when it started


def test_the_job_table_explains_reasons_escaped_and_says_why_there_is_no_start():
    st = ClusterStatus(backend="slurm", running=True, phase="queued", jobs=[
        JobRecord("7", "w-0", "pending", reason="JobHeldUser",
                  reason_text=sched.explain_reason("JobHeldUser", job_id="7"),
                  start_note=sched.no_start_note("JobHeldUser")),
        JobRecord("8", "w-1", "pending", reason="<b>odd</b>", reason_text=sched.explain_reason("<b>odd</b>"),
                  start_note="not estimated yet"),
    ])
    out = jobs_table_html(st)
    assert "JobHeldUser: held; `scontrol release 7` lets it run" in out
    assert "none while held" in out and "not estimated yet" in out
    assert "<b>odd</b>" not in out and "&lt;b&gt;odd&lt;/b&gt;" in out


@pytest.mark.slurm
@pytest.mark.slow
def test_the_job_table_and_the_phase_speak_to_screen_readers():
    """The table is named and its headers head columns; the step the cluster has reached is marked as
    the current one, not by its weight and colour alone."""
    import re

    from hpcdash.cluster.view import _phase_html

    st = ClusterStatus(backend="slurm", running=True, phase="queued", jobs=[JobRecord("7", "w-0", "pending")])
    table = jobs_table_html(st)
    assert "aria-label='Batch jobs of the cluster'" in table
    assert len(re.findall(r"<th scope='col'>", table)) == 9 and "<th>" not in table
    phase = _phase_html(st)
    assert re.findall(r"aria-current='step'>([a-z ]+)<", phase) == ["queued"]
    assert "aria-current" not in _phase_html(ClusterStatus(backend="slurm", running=False, phase="stopped"))


@pytest.mark.parametrize(
    ("directives", "dependency"),
    [
        (["--dependency=afterok:94"], "afterok:94"),
        (["--dependency afterany:3?afternotok:4"], "afterany:3?afternotok:4"),
        (["-d afterok:94:95"], "afterok:94:95"),
        (["-dsingleton"], "singleton"),
        (["--depend=after:7+10"], "after:7+10"),  # sbatch takes a long option shortened
        (["--qos=debug --dependency=afterok:1", "--comment=x"], "afterok:1"),  # several options on a line
        (["--dependency=afterok:1", "-d afterany:2"], "afterany:2"),  # the last one holds
        (["--deadline=now+1hour", "--delay-boot=5", "--comment=-d"], None),
        ([], None),
    ],
)
def test_the_dependency_a_job_script_asks_for(directives, dependency):
    script = "#!/usr/bin/env bash\n\n#SBATCH -J w\n" + "".join(f"#SBATCH {d}\n" for d in directives) + \
        "echo start\n#SBATCH --dependency=afterok:666\n"  # after the first command: sbatch reads no further
    assert sched.script_dependency(script) == dependency


def test_the_note_names_what_the_job_waits_for():
    assert sched.dependency_note("afterok:94") == ("The job also waits for job 94 to end successfully (afterok), "
                                                   "which the expected start does not count: it may start later.")
    assert "job 3 to end (afterany) or job 4 to fail (afternotok)," in sched.dependency_note("afterany:3?afternotok:4")
    assert "jobs 94, 95 to end successfully (afterok)," in sched.dependency_note("afterok:94:95")
    assert "the other jobs of its name and user to end (singleton)," in sched.dependency_note("singleton")
    assert "waits for its dependency (1234)," in sched.dependency_note("1234")  # named even if not read


def test_a_held_or_dependent_job_says_why_it_waits(slurm, make_control, filler_jobs):
    """On the real SLURM: a job of ours held with `scontrol uhold`, then made to wait for another job:
    the status and the job table say it in words, with the command or the job it waits for."""
    filler = fill_the_node(filler_jobs)
    cc = make_control(backend="slurm")
    cc.start(n=1)
    job = wait_until(lambda: [j for j in cc.status().jobs if j.state == "pending" and j.job_id], 60,
                     what="a pending job")[0]
    subprocess.run(["scontrol", "uhold", job.job_id], check=True)
    rec = wait_until(lambda: [j for j in cc.status().jobs if j.job_id == job.job_id and j.reason == "JobHeldUser"],
                     60, what="the job held")[0]
    assert rec.describe_reason() == f"JobHeldUser: held; `scontrol release {job.job_id}` lets it run"
    assert rec.expected_start is None and rec.start_note == "none while held"
    out = jobs_table_html(cc.status())
    assert f"JobHeldUser: held; `scontrol release {job.job_id}` lets it run" in out and "none while held" in out
    subprocess.run(["scontrol", "update", f"jobid={job.job_id}", f"dependency=afterok:{filler}"], check=True)
    subprocess.run(["scontrol", "release", job.job_id], check=True)
    rec = wait_until(lambda: [j for j in cc.status().jobs if j.job_id == job.job_id and j.reason == "Dependency"],
                     60, what="the job waiting for the filler")[0]
    assert rec.describe_reason() == f"Dependency: waiting for job {filler} to end successfully (afterok)"
    assert rec.start_note == f"once job {filler} ends successfully (afterok)"


def test_the_sweep_waiting_for_a_worker_says_the_reason_in_words(make_control, tmp_path):
    """The sweep's progress repeats the pending job's reason as the table shows it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from hpcdash.cluster.view import ClusterView

    view = ClusterView(make_control(backend="local"), root=str(tmp_path), sweep_dir=str(tmp_path / "runs"))
    view.control.start()
    held = JobRecord("9", "w-0", "pending", reason="JobHeldUser",
                     reason_text=sched.explain_reason("JobHeldUser", job_id="9"))
    view._last_status = ClusterStatus(backend="slurm", running=True, phase="queued", jobs=[held])
    view._tick = lambda: None
    seen: list[str] = []

    async def scenario():
        sweep = asyncio.ensure_future(view._on_sweep())
        for _ in range(40):
            await asyncio.sleep(0.1)
            if view.control.last_sweep is not None:
                seen.append(view.control.last_sweep.message)
            if any("waiting for a worker" in m for m in seen):
                break
        view.control.close()
        await asyncio.wait_for(asyncio.gather(sweep, return_exceptions=True), 60)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result(timeout=120)
    assert any("job 9 is pending (JobHeldUser: held; `scontrol release 9` lets it run)" in m for m in seen), seen
