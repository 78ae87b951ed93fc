"""A server's cluster outlives its pages for a grace time (ClusterLease, Workspace), and views of shared
objects leave no watchers behind. Real local Dask clusters, no browser."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dask
import panel as pn
import pytest

from hpcdash.app import Workspace
from hpcdash.cluster import ClusterControl, ClusterLease
from hpcdash.cluster.control import describe_duration
from hpcdash.sessions import _watchers, release, watchers_added
from tests.cluster.cluster_helpers import wait_until


@pytest.fixture
def control():
    cc = ClusterControl(backend="local", cores=1, processes=1, memory="1GB")
    yield cc
    cc.close()


def _closes(cc: ClusterControl) -> list[str]:
    said: list[str] = []
    cc.on_activity(lambda summary, **details: said.append(summary))
    return said


def test_the_cluster_closes_a_grace_time_after_the_last_holder(control):
    said = _closes(control)
    lease = ClusterLease(control, grace_s=0.5)
    a, b = lease.hold(), lease.hold()
    control.start()
    lease.release(a)
    time.sleep(1.0)
    assert control.running  # b still holds it
    lease.release(b)
    wait_until(lambda: not control.running, 20, what="the cluster closed after the grace time")
    assert said[-1] == "Closed the cluster: no hpcdash page was open for 0.5 s"


def test_a_holder_back_within_the_grace_time_keeps_it(control):
    lease = ClusterLease(control, grace_s=1.0)
    token = lease.hold()
    control.start()
    lease.release(token)
    time.sleep(0.3)
    again = lease.hold()  # the page reloaded
    time.sleep(1.5)
    assert control.running
    lease.release(again)
    wait_until(lambda: not control.running, 20, what="closed once the reloaded page went too")


def test_work_in_progress_keeps_the_cluster_until_it_ends(control):
    lease = ClusterLease(control, grace_s=0.3)
    control.start()
    done = threading.Event()

    def sweep():
        with control.working():
            done.wait(10)

    t = threading.Thread(target=sweep)
    t.start()
    wait_until(lambda: control.busy, 5, what="the sweep under way")
    lease.release(lease.hold())
    time.sleep(1.2)  # several grace times
    assert control.running
    done.set()
    t.join()
    wait_until(lambda: not control.running, 20, what="closed once the sweep ended")


def test_a_stopped_cluster_is_left_alone(control):
    said = _closes(control)
    lease = ClusterLease(control, grace_s=0.1)
    lease.release(lease.hold())
    time.sleep(0.5)
    assert not control.running and said == []


def test_the_workspace_pages_hold_the_cluster_made_after_them(tmp_path: Path):
    with dask.config.set({"hpcdash.cluster-grace": "400ms"}):
        ws = Workspace(str(tmp_path))
    first = ws.page_opened()
    assert ws.lease is None  # no cluster yet: the Cluster tab makes it
    control = ws.cluster()
    assert ws.cluster() is control and ws.lease.holders == 1 and ws.grace_seconds() == 0.4
    second = ws.page_opened()
    control.param.update(backend="local", memory="1GB")
    control.start()
    try:
        ws.page_closed(first)
        time.sleep(0.8)
        assert control.running
        ws.page_closed(second)
        wait_until(lambda: not control.running, 20, what="closed after the last page")
        # the record the pages share heard all of it
        words = [e.summary for e in ws.provenance.events()]
        assert "Started a local cluster" in words and words[-1].startswith("Closed the cluster: no hpcdash page")
    finally:
        ws.close()


def test_the_server_closes_its_cluster_when_it_stops(tmp_path: Path):
    ws = Workspace(str(tmp_path))
    ws.page_opened()
    control = ws.cluster()
    control.param.update(backend="local", memory="1GB")
    control.start()
    ws.close()
    assert not control.running
    assert ws.provenance.events()[-1].summary == "Closed the cluster: the hpcdash server stopped"


def test_views_of_a_shared_control_leave_no_watchers_behind():
    from hpcdash.cluster.view import ClusterView

    pn.extension()
    control = ClusterControl(backend="local")
    before = len(_watchers(control))
    views = []
    for _ in range(3):  # three pages
        with watchers_added(control) as added:
            views.append(ClusterView(control, close_on_session_end=False))
        assert len(added) > 5  # its form's widgets and its own watchers
        # the view's page closing releases what it registered (ClusterView does this at session end)
        release(views[-1]._control_watchers)
    assert len(_watchers(control)) == before
    control.memory = "3GB"  # nothing of the released views is woken any more
    assert all(v.fields["memory"].value != "3GB" for v in views)


@pytest.mark.parametrize("seconds, words", [(5, "5 s"), (0.5, "0.5 s"), (600, "10 min"), (90, "1.5 min")])
def test_durations_in_words(seconds, words):
    assert describe_duration(seconds) == words
