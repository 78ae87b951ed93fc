"""ClusterView without a browser: SLURM's messages land next to the field that caused them."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from hpcdash.cluster import ClusterControl
from hpcdash.cluster.view import _FIELD_LABELS, ClusterView
from tests.cluster.cluster_helpers import squeue_ids, wait_until

pytestmark = pytest.mark.slurm


def run(coro) -> None:
    """Run a coroutine to completion in its own thread and loop (Playwright's sync API may have left
    an event loop running in this thread)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"queue": "nosuch"}, "queue", "Invalid partition name specified"),
        ({"walltime": "02:00:00"}, "walltime", "Requested time limit is invalid"),
        ({"memory": "100GB"}, "memory", "Requested node configuration is not available"),
    ],
)
def test_validation_error_next_to_its_field(slurm, make_control, change, field, words):
    cc = make_control(backend="slurm", **change)
    view = ClusterView(cc)
    run(view._on_validate())
    shown = {k: a.object for k, a in view.field_alerts.items() if a.visible}
    assert list(shown) == [field] and words in shown[field]
    # and by the buttons, which field to fix (it may be scrolled out of view)
    assert view.error.visible and f"see {_FIELD_LABELS[field]} above" in view.error.object
    # the same message when Start is pressed: nothing starts
    run(view._on_start())
    assert cc.cluster is None and words in view.field_alerts[field].object
    # editing the field clears its error
    setattr(cc, field, {"queue": "debug", "walltime": "00:10:00", "memory": "1GB"}[field])
    assert not view.field_alerts[field].visible and cc.error == ""


def test_a_refused_extra_directive_is_named_by_its_field(slurm, make_control):
    """SLURM's "Invalid feature specification" names no option: the directive it refuses is found by
    testing the request without the extra directives, then with each alone (nothing is queued)."""
    cc = make_control(backend="slurm", job_extra_directives=["--comment=fine", "--constraint=nosuchfeature"])
    view = ClusterView(cc)
    before = squeue_ids()
    run(view._on_validate())
    shown = {k: a.object for k, a in view.field_alerts.items() if a.visible}
    assert list(shown) == ["job_extra_directives"]
    assert "Invalid feature specification" in shown["job_extra_directives"]
    assert "extra directive --constraint=nosuchfeature:" in shown["job_extra_directives"]
    assert "--comment" not in shown["job_extra_directives"]
    assert "see Extra directives above" in view.error.object
    assert squeue_ids() <= before
    # editing the directives clears the error; a request refused without them too names none of them
    view.extra.value = "--comment=fine"
    assert not view.field_alerts["job_extra_directives"].visible and cc.error == ""
    cc.queue = "nosuch"
    v = cc.validate()
    assert v.ok is False and v.field == "queue" and "extra directive" not in v.message


@pytest.mark.parametrize("directive", ["--dependency=afterok:{job}", "-d afterok:{job}"])
def test_validate_says_the_start_also_waits_for_a_dependency(slurm, make_control, filler_jobs, directive):
    """`sbatch --test-only` expects a start from the resources alone, as if the job it depends on had
    ended: the answer says the job also waits for that job, and Start then shows it waiting for it."""
    held = subprocess.run(["sbatch", "--parsable", "--hold", "-t", "00:01:00", "--wrap", "true"],
                          capture_output=True, text=True, check=True).stdout.strip()
    filler_jobs.append(held)
    cc = make_control(backend="slurm", job_extra_directives=[directive.format(job=held)], n_workers=1)
    view = ClusterView(cc)
    run(view._on_validate())
    said = view.validation.object
    assert view.validation.visible and said.startswith("Request accepted: ") and "Expected start: " in said
    assert said.endswith(f"The job also waits for job {held} to end successfully (afterok), which the expected "
                         "start does not count: it may start later.")
    run(view._on_start())
    job = wait_until(lambda: [j for j in cc.status().jobs if j.reason == "Dependency"], 60,
                     what="the job waiting for the held one")[0]
    assert job.expected_start is None and job.start_note == f"once job {held} ends successfully (afterok)"


def test_validate_without_a_dependency_adds_no_note(slurm, make_control):
    view = ClusterView(make_control(backend="slurm", job_extra_directives=["--comment=no-dependency"]))
    run(view._on_validate())
    assert "Expected start: " in view.validation.object and "also waits" not in view.validation.object


def test_partitions_listed_for_slurm(slurm, make_control):
    view = ClusterView(make_control(backend="slurm"))
    assert "debug (default): max 1:00:00" in view.partitions.object
    assert "interactive: max 8:00:00" in view.partitions.object
    assert view.fields["walltime"].visible and view.fields["queue"].visible
    view.control.backend = "local"
    assert view.partitions.object == ""
    assert not view.fields["walltime"].visible and not view.fields["queue"].visible and not view.extra.visible
    # HTCondor jobs have no queue, account or walltime limit: the walltime stays, for the estimate only
    view.control.backend = "htcondor"
    assert not view.fields["queue"].visible and not view.fields["account"].visible and view.extra.visible
    assert view.fields["walltime"].visible and "for the estimate, not sent" in view.fields["walltime"].name
    view.control.backend = "slurm"
    assert view.fields["queue"].visible and view.fields["walltime"].name == "Walltime (HH:MM:SS)"


@pytest.mark.parametrize("seconds,delay,spinner", [(0.0, 2.0, False), (0.6, 0.2, True)])
def test_spinner_only_for_slow_calls_and_no_second_call_meanwhile(make_control, seconds, delay, spinner):
    """A call that ends before the spinner's delay never switches the spinner on (on and off within one
    callback, the browser could get the two changes in the wrong order and keep the button covered); a
    slow one does, and ends with it off. A click while the call runs starts nothing. (The delay is
    `delay` here: on a busy test machine the thread of an instant call may take longer than 0.2 s to run.)"""
    import time

    view = ClusterView(make_control(backend="local"))
    view.SPINNER_DELAY_S = delay
    seen, calls = [], []
    view.validate_btn.param.watch(lambda e: seen.append(e.new), "loading")

    def work():
        calls.append(1)
        time.sleep(seconds)
        return "done"

    async def click_twice():
        first = asyncio.ensure_future(view._run(view.validate_btn, work))
        await asyncio.sleep(0)
        second = await view._run(view.validate_btn, work)  # while the first runs
        return await first, second

    results = []
    run(_collect(click_twice(), results))
    assert results == [("done", None)] and calls == [1]
    assert seen == ([True, False] if spinner else []) and view.validate_btn.loading is False


async def _collect(coro, out: list) -> None:
    out.append(await coro)


def test_the_form_says_when_jobs_cannot_all_run_at_once(slurm, make_control):
    """The request against the partition's nodes as sinfo lists them (4000 MB per node here): 2.5 GB
    jobs (2385 MB as SLURM is asked) run one at a time, said under the estimate; 1 GB jobs fit together;
    more CPUs than a node has is said too."""
    cc = make_control(backend="slurm", queue="debug", memory="2.5GB", n_workers=3)
    node = next(p for p in cc.partitions() if p.name == "debug")
    assert node.memory_mb == 4000
    view = ClusterView(cc)
    said = view.estimate.object
    assert "Only 1 of the 3 jobs fit on debug at a time (1 per node, limited by memory" in said
    assert f"1 of {node.cpus} CPUs and 2385 of 4000 MB per node" in said
    cc.param.update(memory="1GB", n_workers=2)  # 954 MB: four per node by memory
    assert "hpc-fit" not in view.estimate.object
    cc.cores = node.cpus + 1
    assert "A job of this size does not fit on a node of debug" in view.estimate.object


def test_the_estimate_counts_the_share_of_a_node_a_job_takes(slurm, make_control):
    """On SLURM a job of 1 core on the test partition's 2-CPU nodes is half a node (sinfo says so); where
    the node size is unknown a job counts as a whole node, and the estimate says which it assumed."""
    cc = make_control(backend="slurm", queue="debug", cores=1, walltime="01:00:00", n_workers=2)
    node = next(p for p in cc.partitions() if p.name == "debug")
    assert node.cpus == 2
    said = ClusterView(cc).estimate.object
    assert "2 jobs &times; 1.00 h, each job 1 of a node's 2 cores: <b>1.00 node-hours</b> (2.0 core-hours)" in said
    assert "dask config hpcdash.charge-per-node-hour" in said  # what "units" are, and where they are set
    assert "&asymp; 1.00 units at 1 unit per node-hour" in said
    cc.charge_per_node_hour = 2.5
    assert "&asymp; 2.50 units at 2.5 units per node-hour" in ClusterView(cc).estimate.object
    cc.charge_per_node_hour = 1
    pbs = ClusterView(ClusterControl(backend="pbs", cores=1, walltime="01:00:00", n_workers=2)).estimate.object
    assert "each job a whole node: <b>2.00 node-hours</b>" in pbs
    cc.memory = "3.5GB"  # 3338 of the node's 4000 MB: no second job fits beside it, whatever its cores
    said = ClusterView(cc).estimate.object
    assert "each job 83% of a node (its memory; 1 of 2 cores): <b>1.67 node-hours</b>" in said
