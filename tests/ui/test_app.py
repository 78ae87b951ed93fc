"""The app's tabs: the first is built with the page, the others when first opened, broken ones say why."""

from __future__ import annotations

import panel as pn

from hpcdash.app import create_app


def test_later_tabs_are_built_when_first_opened(tmp_path):
    calls: list[str] = []

    def first(ctx):
        calls.append("first")
        return pn.pane.HTML("one")

    def second(ctx):
        calls.append("second")
        return pn.pane.HTML("two")

    def broken(ctx):
        raise RuntimeError("<b>no scheduler</b>")

    app = create_app(root=tmp_path, template=False, tabs=[("A", first), ("B", second), ("C", broken)])
    tabs = app.objects[1]
    assert isinstance(tabs, pn.Tabs) and tabs._names == ["A", "B", "C"]
    assert calls == ["first"]
    tabs.active = 1
    assert calls == ["first", "second"]
    assert tabs[1].objects[0].object == "two"
    tabs.active = 0
    tabs.active = 1
    assert calls == ["first", "second"]  # built once
    tabs.active = 2
    message = tabs[2].objects[0].object
    assert "could not be built" in message and "&lt;b&gt;no scheduler" in message and "<b>no" not in message
