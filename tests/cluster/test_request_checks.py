"""The request's sizes are read before anything starts, on every backend, and the tab says which field is
wrong by the buttons; the job-script preview never shows a value it cannot read as if it were fine."""

from __future__ import annotations

import asyncio

import pytest

from hpcdash.cluster import ClusterControl, RequestError
from hpcdash.cluster.view import ClusterView


def run(coro):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.mark.parametrize("backend", ["local", "slurm", "pbs", "sge", "lsf", "htcondor"])
@pytest.mark.parametrize(
    ("change", "field"),
    [({"memory": "2 bananas"}, "memory"), ({"memory": "0"}, "memory"), ({"memory": ""}, "memory"),
     ({"cores": 1, "processes": 2}, "processes")],
)
def test_validate_names_the_field_it_cannot_read(backend, change, field):
    cc = ClusterControl(backend=backend, **change)
    v = cc.validate()
    assert v.ok is False and v.field == field, v
    assert (cc.error, cc.error_field) == (v.message, field)
    with pytest.raises(RequestError) as err:
        cc.job_script()
    assert err.value.field == field


@pytest.mark.parametrize("backend", ["slurm", "pbs", "sge", "lsf", "htcondor"])
@pytest.mark.parametrize("walltime", ["abc", "00:00:00", "1:xx:00"])
def test_a_batch_walltime_that_cannot_be_read_is_named(backend, walltime):
    v = ClusterControl(backend=backend, walltime=walltime).validate()
    assert v.ok is False and v.field == "walltime" and walltime in v.message


@pytest.mark.parametrize("backend", ["slurm", "pbs", "sge", "lsf"])
@pytest.mark.parametrize(("field", "value", "said"), [("queue", "<b>debug</b><img src=x>", "'<'"),
                                                      ("queue", "my queue", "a space"),
                                                      ("account", "geo;rm", "';'")])
def test_a_queue_or_account_name_no_scheduler_takes_is_named(backend, field, value, said):
    """A space, shell or markup character in a queue or account name: said by its field before any
    scheduler is asked (SLURM said "Invalid directive found in batch script: src=x", naming none)."""
    v = ClusterControl(backend=backend, **{field: value}).validate()
    assert v.ok is False and v.field == field and f"has {said} in it" in v.message, v
    assert ClusterControl(backend=backend, **{field: "normal@server1"}).job_script()  # PBS's queue@server


def test_a_number_below_its_limit_is_kept_and_named_not_undone():
    """Cores 0 or Workers -1 typed in the form stay what was typed and are named (they were set back to
    the last value without a word, and Validate then spoke of that one)."""
    from hpcdash.cluster.view import ClusterView

    cc = ClusterControl(backend="slurm", cores=3)
    view = ClusterView(cc)
    # the browser's number fields have no least value to set a typed one back to
    assert [w.start for w in (view.fields["cores"], view.fields["processes"], view.n, view.amin, view.amax)] \
        == [None] * 5
    view.fields["cores"].value = 0
    assert cc.cores == 0
    v = cc.validate()
    assert v.ok is False and v.field == "cores" and "at least 1 (it is 0)" in v.message
    assert "cannot build the job script: Cores per job must be at least 1" in view.script.object
    view.n.value = -1
    with pytest.raises(RequestError, match="fewer than 0"):
        cc.start(cc.n_workers)
    assert cc.cluster is None  # nothing was started
    with pytest.raises(RequestError, match="below 0"):
        cc.adapt(-1, 2)


def test_start_refuses_unreadable_memory_by_its_field_and_starts_nothing():
    cc = ClusterControl(backend="local", memory="2 bananas")
    with pytest.raises(RequestError) as err:
        cc.start(1)
    assert err.value.field == "memory" and cc.cluster is None and not cc.running
    assert cc.error_field == "memory"


def test_local_validation_states_what_it_checked():
    v = ClusterControl(backend="local", cores=2, processes=1, memory="2GB").validate()
    assert v.ok is True and "2 cores, 1 process and 2 GB (1.86 GiB) per job" in v.message


def test_local_preview_reads_as_a_sentence_with_both_units():
    cc = ClusterControl(backend="local", cores=1, processes=1, memory="2GB", encrypt=False)
    assert cc.job_script() == ("# local backend: no batch job; LocalCluster workers with 1 thread and "
                               "2 GB (1.86 GiB) of memory each")
    cc.param.update(cores=4, processes=2)
    text = cc.job_script()
    assert "with 2 threads and 1 GB (0.93 GiB) of memory each" in text
    assert "(the job's 2GB and 4 cores split over 2 processes)" in text and " / " not in text


def test_the_view_says_by_the_buttons_which_field_to_fix():
    view = ClusterView(ClusterControl(backend="local", memory="2 bananas"))
    assert "cannot build the job script" in view.script.object and "bananas" in view.script.object
    run(view._on_validate())
    assert view.field_alerts["memory"].visible and "2 bananas" in view.field_alerts["memory"].object
    assert view.error.visible and "Memory per job" in view.error.object
    assert not view.validation.visible
    run(view._on_start())
    assert view.control.cluster is None and view.field_alerts["memory"].visible and view.error.visible
    # fixing the field clears both
    view.control.memory = "1GB"
    assert not view.field_alerts["memory"].visible and not view.error.visible
    assert "1 GB (0.93 GiB) of memory each" in view.script.object


def test_validate_and_start_messages_sit_right_under_their_buttons():
    view = ClusterView(ClusterControl(backend="local"))
    form = view.__panel__()[0]
    view.stop_refresh()
    objects = list(form)
    buttons = next(i for i, o in enumerate(objects) if view.validate_btn in list(getattr(o, "objects", [])))
    assert objects[buttons + 1] is view.validation and objects[buttons + 2] is view.error
