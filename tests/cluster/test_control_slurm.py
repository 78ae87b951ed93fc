"""ClusterControl driving the real local SLURM through dask-jobqueue (no mocks)."""

from __future__ import annotations

import stat
import subprocess

import dask
import pytest

from hpcdash.cluster import RequestError
from tests.cluster.cluster_helpers import fill_the_node, squeue_ids, wait_until

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_validate_good_request(slurm, make_control):
    cc = make_control(backend="slurm")
    v = cc.validate()
    assert v.ok is True, v.message
    assert v.expected_start is not None
    assert "partition debug" in v.message
    assert cc.error == ""


def test_memory_is_asked_for_as_typed(slurm, make_control):
    """3.5 GB is 3338 MiB: it fits the test node's 4000 MB (rounded up to whole GiB it did not)."""
    cc = make_control(backend="slurm", memory="3.5GB")
    assert "#SBATCH --mem=3338M" in cc.job_script().splitlines()
    v = cc.validate()
    assert v.ok is True, v.message


@pytest.mark.parametrize(
    ("change", "words", "field"),
    [
        ({"queue": "nosuch"}, "Invalid partition name specified", "queue"),
        ({"walltime": "02:00:00"}, "Requested time limit is invalid", "walltime"),
        ({"memory": "100GB"}, "Requested node configuration is not available", "memory"),
    ],
)
def test_validate_bad_request_shows_slurm_message(slurm, make_control, change, words, field):
    cc = make_control(backend="slurm", **change)
    v = cc.validate()
    assert v.ok is False
    assert words in v.message
    assert v.field == field
    assert words in cc.error and cc.error_field == field
    before = squeue_ids()
    with pytest.raises(RequestError, match=words.split()[0]) as info:
        cc.start(n=1)
    assert info.value.field == field
    assert cc.cluster is None and squeue_ids() <= before


def test_a_start_slurm_refuses_starts_nothing_and_is_recorded(slurm, make_control):
    cc = make_control(backend="slurm", queue="nosuch")
    heard: list[tuple[str, dict]] = []
    cc.on_activity(lambda summary, **details: heard.append((summary, details)))
    with pytest.raises(RequestError, match="Invalid partition name specified"):
        cc.start(1)
    assert cc.cluster is None and not cc.running
    assert [h[0] for h in heard] == ["SLURM refused to start the cluster"]
    assert "Invalid partition" in heard[0][1]["message"] and heard[0][1]["field"] == "queue"


def test_start_scale_compute_scale_down_close(slurm, make_control):
    cc = make_control(backend="slurm")
    cc.start()
    cc.scale(2)
    cc.client.wait_for_workers(2, timeout=120)
    assert cc.client.submit(sum, [1, 2, 3]).result(timeout=60) == 6
    st = wait_until(lambda: (s := cc.status()) and sum(j.state == "running" for j in s.jobs) == 2 and s, 60,
                    what="two running jobs")
    assert st.phase == "workers connected" and st.workers == 2 and st.cores == 2 and st.progress == 1.0
    assert st.memory > 1.5e9
    ids = {j.job_id for j in st.jobs}
    assert ids <= squeue_ids()
    for j in st.jobs:
        assert j.node and j.workers == 1 and 0 < j.time_left <= 600
    assert st.dashboard_link.endswith("/status")
    cc.scale(0)
    wait_until(lambda: not (ids & squeue_ids()), 60, what="jobs leave the queue after scale(0)")
    st = wait_until(lambda: (s := cc.status()) and s.workers == 0 and s, 30, what="no workers")
    assert all(j.state == "ended" and j.reason == "stopped by hpcdash" for j in st.jobs)
    cc.scale(1)
    cc.client.wait_for_workers(1, timeout=120)
    new = {j.job_id for j in cc.status().jobs if j.state == "running"}
    cc.close()
    assert not cc.running and cc.client is None
    wait_until(lambda: not (new & squeue_ids()), 30, what="queue empty after close")


def test_job_cancelled_outside_shows_ended_and_adapt_replaces_it(slurm, make_control):
    cc = make_control(backend="slurm")
    cc.start()
    cc.adapt(2, 2, interval="1s")
    cc.client.wait_for_workers(2, timeout=120)
    victim = wait_until(lambda: [j for j in cc.status().jobs if j.state == "running"][:1], 60,
                        what="a running job")[0]
    subprocess.run(["scancel", victim.job_id], check=True)
    rec = wait_until(lambda: [j for j in cc.status().jobs if j.job_id == victim.job_id and j.state == "ended"],
                     60, what="cancelled job shows as ended")[0]
    assert rec.reason == "cancelled outside hpcdash"
    # slurmstepd's own line says why; the worker may still be writing its traceback when the job ends
    wait_until(lambda: [j for j in cc.status().jobs if j.job_id == victim.job_id
                        and "CANCELLED" in (j.log_tail or "")], 20, what="slurmstepd's line in the stderr tail")
    replacement = wait_until(
        lambda: [j for j in cc.status().jobs if j.state == "running" and j.job_id != victim.job_id],
        120, what="adapt submits a replacement job")
    assert replacement
    wait_until(lambda: cc.status().workers == 2, 120, what="two workers again")
    assert cc.status().adapt == (2, 2)


def test_a_job_cancelled_outside_is_replaced_and_the_count_stays_true(slurm, make_control):
    """Scale, not adapt: a job cancelled outside hpcdash leaves the count of requested workers and a new
    job replaces it, so the cluster keeps the size asked for; the job keeps why it ended, and both
    are said to the activity listeners (the provenance record)."""
    cc = make_control(backend="slurm")
    heard: list[str] = []
    cc.on_activity(lambda summary, **details: heard.append(summary))
    cc.start(2)
    cc.client.wait_for_workers(2, timeout=120)
    victim = wait_until(lambda: [j for j in cc.status().jobs if j.state == "running"][:1], 60,
                        what="a running job")[0]
    subprocess.run(["scancel", victim.job_id], check=True)
    said = f"Job {victim.job_id} ended: cancelled outside hpcdash; a new job replaces it"
    wait_until(lambda: cc.status() and said in heard, 60, what="the lost job said and replaced")  # (as a page asks)
    wait_until(lambda: len([j for j in cc.status().jobs if j.state == "running" and j.job_id != victim.job_id]) == 2,
               120, what="two running jobs again")
    st = cc.status()
    assert st.requested_workers == 2 and len(squeue_ids() & {j.job_id for j in st.jobs}) == 2
    wait_until(lambda: cc.status().workers == 2, 120, what="two workers again")
    ended = [j for j in cc.status().jobs if j.job_id == victim.job_id][0]
    assert ended.reason == "cancelled outside hpcdash"  # not "stopped by hpcdash" once it was replaced


def test_pending_job_shows_reason_and_expected_start(slurm, make_control, filler_jobs):
    filler = fill_the_node(filler_jobs)
    cc = make_control(backend="slurm")
    v = cc.validate()
    assert v.ok and v.expected_start is not None
    cc.start(n=1)
    job = wait_until(lambda: [j for j in cc.status().jobs if j.state == "pending" and j.reason
                              and j.expected_start is not None], 60, what="pending job with an expected start")[0]
    assert job.reason in ("Resources", "Priority")
    assert job.describe_reason() in ("Resources: waiting for free CPUs or memory on the partition's nodes",
                                     "Priority: other jobs are ahead in the queue")
    st = cc.status()
    assert st.phase == "queued" and st.workers == 0 and st.progress == 0.0
    subprocess.run(["scancel", filler], check=True)
    cc.client.wait_for_workers(1, timeout=120)
    assert wait_until(lambda: cc.status().phase == "workers connected", 60, what="worker connected")


def test_worker_without_distributed_carries_stderr_tail(slurm, make_control):
    cc = make_control(backend="slurm", python="/usr/bin/python3")
    cc.start(n=1)
    job = wait_until(lambda: [j for j in cc.status().jobs if j.state == "failed" and j.log_tail], 120,
                     what="failed job with a log tail")[0]
    assert "No module named 'distributed'" in job.log_tail
    assert cc.status().workers == 0


def test_failing_prologue_carries_stderr_tail(slurm, make_control):
    cc = make_control(backend="slurm", job_script_prologue=["echo 'module load failed: nosuchmodule' >&2", "exit 1"])
    assert "exit 1" in cc.job_script()
    cc.start(n=1)
    job = wait_until(lambda: [j for j in cc.status().jobs if j.state == "failed" and j.log_tail], 120,
                     what="failed job with a log tail")[0]
    assert "module load failed: nosuchmodule" in job.log_tail


def test_rejected_submission_inside_scale_is_reported(slurm, make_control):
    """sbatch failing inside dask-jobqueue's scale() is only logged there; ClusterControl reports it."""
    cc = make_control(backend="slurm", walltime="02:00:00")
    cc.start(validate=False)
    cc.scale(1, validate=False)
    st = wait_until(lambda: (s := cc.status()) and s.errors and s, 60, what="submission error in status")
    assert "Requested time limit is invalid" in st.errors[0]
    failed = [j for j in st.jobs if j.state == "failed"]
    assert failed and failed[0].job_id is None and "time limit" in failed[0].reason
    with pytest.raises(RequestError, match="time limit"):
        cc.scale(2)


def test_scale_down_then_up_keeps_the_new_jobs(slurm, make_control):
    """After scale(0), the next scale(n) must not reuse worker names: dask's lost-worker timer of an old
    worker (15 s) would otherwise cancel the new job that carries the same name."""
    import time

    cc = make_control(backend="slurm")
    cc.start(n=2)
    cc.client.wait_for_workers(2, timeout=120)
    first = {j.worker_name for j in cc.status().jobs}
    cc.scale(0)
    wait_until(lambda: cc.status().workers == 0, 60, what="workers gone")
    cc.scale(2)
    cc.client.wait_for_workers(2, timeout=120)
    running = [j for j in cc.status().jobs if j.state == "running"]
    assert len(running) == 2 and not ({j.worker_name for j in running} & first)
    time.sleep(17)  # past distributed.deploy.lost-worker-timeout
    st = cc.status()
    assert st.workers == 2
    assert {j.job_id for j in st.jobs if j.state == "running"} == {j.job_id for j in running}


def test_scheduler_speaks_only_tls_with_the_clusters_own_key(slurm, make_control, tmp_path):
    """Encrypt (TLS) is on by default: batch workers get the cluster's key from the shared folder (files
    only the user can read), and nobody without that key reaches the scheduler: not in plain TCP, not
    with a key of their own."""
    from distributed import Client
    from distributed.security import Security

    folder = tmp_path / "tls"
    with dask.config.set({"jobqueue.slurm.shared-temp-directory": str(folder)}):
        cc = make_control(backend="slurm")
        assert cc.encrypt
        cc.start(n=1)
    cc.client.wait_for_workers(1, timeout=120)
    assert cc.client.submit(sum, [4, 5]).result(timeout=60) == 9
    address = cc.cluster.scheduler_address
    assert address.startswith("tls://")
    keys = sorted(folder.iterdir())
    assert len(keys) == 3 and all(k.name.startswith(".dask-jobqueue.worker.") for k in keys)
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    script = cc.job_script()  # the running cluster's: what sbatch got
    assert all(str(k) in script for k in keys) and f"dask_worker {address}" in script
    # the first job's worker name, as it was given (dask-jobqueue's own script says "dummy-name")
    names = {str(w["name"]) for w in cc.client.scheduler_info()["workers"].values()}
    assert "dummy-name" not in script and any(f"--name {n}" in script for n in names), (names, script)
    with pytest.raises(OSError):
        Client(address.replace("tls://", "tcp://"), timeout=5)
    with pytest.raises(OSError):
        Client(address, security=Security.temporary(), timeout=5)
    cc.close()
    wait_until(lambda: not any(folder.iterdir()), 30, what="the key files removed with the cluster")


def test_a_sweep_waiting_for_its_first_worker_says_why(slurm, make_control, filler_jobs, tmp_path):
    """The node is full: the sweep's progress says which job it waits for and why, then runs once the
    node frees up."""
    import asyncio

    from hpcdash.cluster.view import ClusterView

    filler = fill_the_node(filler_jobs)
    cc = make_control(backend="slurm")
    cc.start(n=1)
    view = ClusterView(cc, root=str(tmp_path), sweep_dir=str(tmp_path / "runs"))
    view.sweep_runs.value, view.sweep_cells.value = 2, 8
    seen: list[str] = []

    async def scenario():
        sweep = asyncio.ensure_future(view._on_sweep())
        for _ in range(240):  # the page's refresh, every half second
            await view.refresh()
            if cc.last_sweep is not None:
                seen.append(cc.last_sweep.message)
            if any(why in m for m in seen for why in ("is pending (Resources", "is pending (Priority")):
                break  # SLURM's reason, once its scheduler has looked at the job
            await asyncio.sleep(0.5)
        subprocess.run(["scancel", filler], check=True)
        await asyncio.wait_for(sweep, 240)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result(timeout=400)
    waiting = [m for m in seen if "waiting for a worker: job" in m and "(queued" not in m]
    assert waiting and waiting[-1].startswith("0/2 runs done; waiting for a worker: job ")
    assert "is pending (Resources: waiting for free CPUs" in waiting[-1] or \
        "is pending (Priority: other jobs are ahead" in waiting[-1], waiting[-1]
    assert cc.last_sweep.message.startswith("2/2 runs done in"), cc.last_sweep.message
