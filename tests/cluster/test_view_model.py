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


@pytest.mark.parametrize("seconds,spinner", [(0.0, False), (0.6, True)])
def test_spinner_only_for_slow_calls_and_no_second_call_meanwhile(make_control, seconds, spinner):
    """A call that ends at once never switches the spinner on (on and off within one callback, the
    browser could get the two changes in the wrong order and keep the button covered); a slow one
    does, and ends with it off. A click while the call runs starts nothing."""
    import time

    view = ClusterView(make_control(backend="local"))
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
