"""ClusterView without a browser: SLURM's messages land next to the field that caused them."""

from __future__ import annotations

import asyncio

import pytest

from hpcdash.cluster.view import ClusterView

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
    assert not view.error.visible
    # the same message when Start is pressed: nothing starts
    run(view._on_start())
    assert cc.cluster is None and words in view.field_alerts[field].object
    # editing the field clears its error
    setattr(cc, field, {"queue": "debug", "walltime": "00:10:00", "memory": "1GB"}[field])
    assert not view.field_alerts[field].visible and cc.error == ""


def test_partitions_listed_for_slurm(slurm, make_control):
    view = ClusterView(make_control(backend="slurm"))
    assert "debug (default): max 1:00:00" in view.partitions.object
    assert "interactive: max 8:00:00" in view.partitions.object
    assert view.fields["walltime"].visible and view.fields["queue"].visible
    view.control.backend = "local"
    assert view.partitions.object == ""
    assert not view.fields["walltime"].visible and not view.fields["queue"].visible and not view.extra.visible
