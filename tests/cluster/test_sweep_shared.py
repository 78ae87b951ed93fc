"""One sweep at a time on a cluster shared by several pages: the claim is made in the model, every page
shows the running sweep (and why its own button is disabled), Stop on any page warns of that sweep, and a
cancelled sweep counts only the runs that ran to their end."""

from __future__ import annotations

import asyncio
import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from hpcdash.cluster import ClusterControl, SweepOutcome, SweepRunningError
from hpcdash.cluster.view import ClusterView, sweep_elsewhere
from tests.cluster.test_sweep_form import run


def test_of_simultaneous_sweep_requests_only_one_is_granted():
    control = ClusterControl()
    n = 8
    barrier = threading.Barrier(n)

    def claim(total: int):
        barrier.wait()
        try:
            return control.begin_sweep(total, "starting")
        except SweepRunningError as err:
            return err

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(claim, range(1, n + 1)))
    granted = [a for a in answers if isinstance(a, SweepOutcome)]
    assert len(granted) == 1 and control.last_sweep is granted[0] and control.sweep_running is granted[0]
    mine = granted[0]
    refused = [a for a in answers if isinstance(a, SweepRunningError)]
    assert len(refused) == n - 1 and all(err.running is mine for err in refused)
    assert str(refused[0]) == (f"A sweep is already running on this cluster: 0 of {mine.total} runs done. Wait "
                               "for it to end, or stop the cluster, before starting another.")

    # only the running sweep's own progress replaces it
    assert not control.update_sweep(SweepOutcome(total=3, done=3, message="another's", sweep_id=mine.sweep_id + 1))
    assert control.last_sweep is mine
    assert control.update_sweep(replace(mine, done=1, message="1 done"))
    assert control.last_sweep.message == "1 done"
    # once it ended, the next one may start
    assert control.update_sweep(replace(mine, running=False, message="ended"))
    assert control.sweep_running is None
    nxt = control.begin_sweep(2)
    assert nxt.sweep_id != mine.sweep_id and control.last_sweep is nxt


def test_a_second_page_cannot_start_a_sweep_while_one_runs_and_sees_it_to_its_end(tmp_path):
    """Two pages of one server (two views of one control, on one event loop) and a local cluster: while
    the first page's sweep runs, the second shows its progress, its own button is disabled and a click
    that gets through is refused; Stop on the second page warns of the sweep that runs. Cancelled, the
    sweep's bar stops at the runs that ran to their end (as many as its message says) and is not green,
    on both pages."""
    control = ClusterControl(backend="local", memory="1GB", interface="lo", encrypt=False)
    out = tmp_path / "runs"
    first = ClusterView(control, root=str(tmp_path), sweep_dir=str(out))
    second = ClusterView(control, root=str(tmp_path), sweep_dir=str(out))
    first.sweep_runs.value, first.sweep_cells.value = 40, 48  # ~1 s a run: far from done when stopped
    second.sweep_runs.value, second.sweep_cells.value = 3, 8

    async def scenario():
        await first.refresh()
        await second.refresh()
        assert not first.sweep_btn.disabled and not second.sweep_btn.disabled
        sweep = asyncio.ensure_future(first._on_sweep())
        for _ in range(1200):
            if control.last_sweep is not None and control.last_sweep.done >= 2:
                break
            await asyncio.sleep(0.05)
        claimed = control.last_sweep
        assert claimed.running and claimed.total == 40 and claimed.done >= 2

        await second.refresh()  # its next periodic refresh
        shown = second._shown_sweep
        assert shown.sweep_id == claimed.sweep_id and shown.total == 40
        assert second.sweep_btn.disabled and first.sweep_btn.disabled
        assert second.sweep_msg.object == html.escape(f"{sweep_elsewhere(shown)}: {shown.message}")
        assert second.sweep_bar.visible and (second.sweep_bar.value, second.sweep_bar.max) == (shown.done, 40)
        await first.refresh()
        assert not first.sweep_msg.object.startswith("A sweep is running (")  # the page that started it

        await second._on_sweep()  # a click that got through before the button was disabled
        assert control.last_sweep.sweep_id == claimed.sweep_id and control.last_sweep.total == 40
        assert second.sweep_msg.object.startswith(html.escape(sweep_elsewhere(claimed)))

        await second._on_stop()  # warns of the sweep that runs, the first page's
        assert control.client is not None
        assert "A sweep is running (" in second.error.object and "of 40 runs ended)" in second.error.object
        await second._on_stop()
        await asyncio.wait_for(sweep, 120)
        await first.refresh()
        await second.refresh()

    try:
        control.start(1)
        control.client.wait_for_workers(1, timeout=60)
        run(scenario())
        outcome = control.last_sweep
        assert outcome.failed and not outcome.running and outcome.total == 40
        assert outcome.message.startswith(f"The sweep was cancelled after {outcome.done} of 40 runs"), outcome.message
        assert 2 <= outcome.done < 40 and len(outcome.paths) == outcome.done
        # none of a second sweep (a run under way when the cluster stopped may have finished its file)
        sweep_name = outcome.paths[0].name.rsplit("_", 1)[0]
        assert {p.name.rsplit("_", 1)[0] for p in out.glob("*.h5")} == {sweep_name}
        for page in (first, second):
            assert (page.sweep_bar.value, page.sweep_bar.max) == (outcome.done, 40)
            assert page.sweep_bar.bar_color != "success"
            assert html.escape(outcome.message) in page.sweep_msg.object
            assert not page.sweep_msg.object.startswith("A sweep is running (")
            assert page.sweep_btn.disabled  # no cluster now
    finally:
        control.close()


def test_a_page_opened_while_a_sweep_runs_says_when_it_began_not_who_started_it():
    """A page reloaded during its own sweep is a new page, as another person's is: the running sweep is
    said with the time it began on the server, which is true for both; "another page" would not be."""
    control = ClusterControl()
    before = time.time()
    begun = control.begin_sweep(3, "1/3 runs done")
    assert before <= begun.started_at <= time.time()
    page = ClusterView(control)  # the page opened again while the sweep runs
    said = f"A sweep is running (started at {datetime.fromtimestamp(begun.started_at):%H:%M} on this server)"
    assert sweep_elsewhere(begun) == said
    assert page.sweep_msg.object == html.escape(f"{said}: 1/3 runs done")
    assert "another page" not in page.sweep_msg.object
    # begun on another day: the date too; set on the control by hand (no time known): no time
    yesterday = replace(begun, started_at=begun.started_at - 86400)
    assert sweep_elsewhere(yesterday) == "A sweep is running (started at " \
        f"{datetime.fromtimestamp(yesterday.started_at):%Y-%m-%d %H:%M} on this server)"
    control.last_sweep = SweepOutcome(total=2, message="0/2 runs done")
    assert ClusterView(control).sweep_msg.object == html.escape(
        "A sweep is running (started on this server): 0/2 runs done")
    # ended, it is said as it ended, on every page
    control.last_sweep = replace(begun, running=False, done=3, message="3/3 runs done")
    assert ClusterView(control).sweep_msg.object == "3/3 runs done"
