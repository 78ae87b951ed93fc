"""The Cluster tab's periodic refresh reads the status only while the tab is on screen, and at once
when it is shown again; the app tells each built tab whether it is the one shown."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import panel as pn

from hpcdash.app import create_app
from hpcdash.cluster import ClusterControl
from hpcdash.cluster.view import ClusterView


def in_thread(fn):
    """Run `fn` in a thread of its own (a browser test may have left an event loop running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_a_hidden_cluster_tab_reads_no_status_and_refreshes_when_shown():
    view = ClusterView(ClusterControl(backend="local"))
    view.__panel__()
    view.stop_refresh()
    real, calls = view.control.status, []

    def counted():
        calls.append(1)
        return real()

    view.control.status = counted
    in_thread(lambda: asyncio.run(view._tick()))
    assert len(calls) == 1
    view.set_shown(False)
    in_thread(lambda: asyncio.run(view._tick()))
    in_thread(lambda: asyncio.run(view._tick()))
    assert len(calls) == 1
    # shown again: one refresh at once, not at the next period (the periodic callback must exist)
    view._start_refresh()
    try:
        in_thread(lambda: view.set_shown(True))
        assert len(calls) == 2
        in_thread(lambda: view.set_shown(True))  # already shown: no extra read
        assert len(calls) == 2
    finally:
        view.stop_refresh()


def test_the_app_tells_its_tabs_which_one_is_shown(tmp_path):
    seen: list[tuple[str, bool]] = []

    class Tab(pn.viewable.Viewer):
        def __init__(self, name):
            super().__init__()
            self.name_ = name

        def set_shown(self, shown: bool) -> None:
            seen.append((self.name_, shown))

        def __panel__(self):
            return pn.pane.HTML(self.name_)

    app = create_app(root=tmp_path, template=False,
                     tabs=[("A", lambda ctx: Tab("A")), ("B", lambda ctx: Tab("B")), ("C", lambda ctx: pn.pane.HTML("c"))])
    tabs = app.objects[1]
    tabs.active = 1
    assert seen == [("A", False), ("B", True)]
    seen.clear()
    tabs.active = 2  # a tab without set_shown: the others are told they are hidden
    assert sorted(seen) == [("A", False), ("B", False)]
    seen.clear()
    tabs.active = 1
    assert sorted(seen) == [("A", False), ("B", True)]
