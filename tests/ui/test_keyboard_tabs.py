"""The page's tabs and the Explorer's run tabs from the keyboard alone (WAI-ARIA tabs pattern), in Debian
chromium against `hpcdash serve`."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import Page, expect

from tests.ui.hdf5_files import write_run
from tests.ui.test_browser import LOAD, STEP, open_view, readout

pytestmark = pytest.mark.ui

#: The element that has the focus, through open shadow roots: its role, selection and text
FOCUSED = """() => {
  let a = document.activeElement
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement
  return a == null ? null : {role: a.getAttribute("role"), selected: a.getAttribute("aria-selected"),
                             text: (a.innerText || "").trim()}
}"""


def selected(page: Page) -> list[str | None]:
    return [t.get_attribute("aria-selected") for t in page.get_by_role("tab").all()]


def test_the_tabs_are_reached_and_opened_from_the_keyboard(page: Page, hpcdash_server, demo_runs,
                                                            console_errors, blocked_requests):
    open_view(page, hpcdash_server, file=demo_runs[0])
    expect(readout(page)).to_contain_text("(slice ", timeout=LOAD)
    tablist = page.get_by_role("tablist", name="Sections")
    expect(tablist).to_be_visible()
    tabs = tablist.get_by_role("tab")
    expect(tabs).to_have_text(["Explorer", "Cluster", "Provenance"])
    assert selected(page) == ["true", "false", "false"]

    # from the top of the page: the sidebar's controls, then the open tab's header, before the Explorer's widgets
    presses, focused = 0, None
    while presses < 20 and not (focused and focused["role"] == "tab"):
        page.keyboard.press("Tab")
        presses += 1
        focused = page.evaluate(FOCUSED)
    assert focused == {"role": "tab", "selected": "true", "text": "Explorer"}, focused
    assert presses <= 12, presses
    # only the open tab's header is a Tab stop; the others are reached with the arrow keys
    assert [t.get_attribute("tabindex") for t in tabs.all()] == ["0", "-1", "-1"]

    page.keyboard.press("ArrowRight")  # moves the focus, opens nothing yet
    assert page.evaluate(FOCUSED) == {"role": "tab", "selected": "false", "text": "Cluster"}
    assert selected(page) == ["true", "false", "false"]
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="Cluster")).to_have_attribute("aria-selected", "true", timeout=STEP)
    expect(page.locator(".hpc-start button")).to_be_visible(timeout=STEP)
    assert selected(page) == ["false", "true", "false"]
    assert [t.get_attribute("tabindex") for t in tabs.all()] == ["-1", "0", "-1"]
    expect(page.get_by_role("tabpanel", name="Cluster")).to_be_visible()

    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    expect(page.get_by_role("tab", name="Provenance")).to_have_attribute("aria-selected", "true", timeout=STEP)
    expect(page.get_by_role("button", name="Export bundle")).to_be_visible(timeout=STEP)
    assert page.evaluate(FOCUSED)["text"] == "Provenance"  # the focus stays on the header

    page.keyboard.press("ArrowRight")  # wraps round to the first
    assert page.evaluate(FOCUSED)["text"] == "Explorer"
    page.keyboard.press("End")
    assert page.evaluate(FOCUSED)["text"] == "Provenance"
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="Explorer")).to_have_attribute("aria-selected", "true", timeout=STEP)
    expect(readout(page)).to_be_visible()

    # a click keeps the attributes in step
    page.locator(".bk-tab", has_text="Cluster").click()
    expect(page.get_by_role("tab", name="Cluster")).to_have_attribute("aria-selected", "true", timeout=STEP)
    assert selected(page) == ["false", "true", "false"]
    assert not console_errors
    assert not blocked_requests


def tab_states(tabs) -> list[tuple[str | None, str | None]]:
    """Each tab's aria-selected and tabindex."""
    return [(t.get_attribute("aria-selected"), t.get_attribute("tabindex")) for t in tabs.all()]


def open_only(n: int, i: int) -> list[tuple[str, str]]:
    """What `tab_states` says of `n` tabs of which the i-th is open."""
    return [("true", "0") if k == i else ("false", "-1") for k in range(n)]


#: The tabpanel a tab names (aria-controls, in the tab's shadow root): its role and whether it is
#: labelled by that tab.
CONTROLLED = """(tab) => {
  const panel = tab.getRootNode().getElementById(tab.getAttribute("aria-controls"))
  return panel == null ? null : [panel.getAttribute("role"), panel.getAttribute("aria-labelledby") == tab.id]
}"""


def keydown_listeners(page: Page, locator) -> int:
    """How many keydown listeners the element `locator` finds has (Chrome's DevTools protocol: a second
    listener on the same list would go unseen otherwise, as it would move the focus to the same tab)."""
    locator.evaluate("(el) => { window.__hpcdash_probe = el }")
    cdp = page.context.new_cdp_session(page)
    try:
        probe = cdp.send("Runtime.evaluate", {"expression": "window.__hpcdash_probe"})["result"]["objectId"]
        listeners = cdp.send("DOMDebugger.getEventListeners", {"objectId": probe})["listeners"]
    finally:
        page.evaluate("() => { delete window.__hpcdash_probe }")
        cdp.detach()
    return sum(1 for listener in listeners if listener["type"] == "keydown")


def test_the_explorer_tabs_are_a_tablist_however_often_the_layout_changes(page: Page, hpcdash_server, data_root,
                                                                            console_errors, blocked_requests):
    """The runs shown as tabs (layout "tabs") follow the same pattern as the page's tabs: a tablist named
    "Open files", Left/Right/Home/End move the focus, Enter or Space opens. Switching between grid and
    tabs again and again, or opening a run later, draws new tabs that behave the same: one key press
    moves one tab. A file name that looks like markup is shown as text."""
    odd = data_root / "odd"
    odd.mkdir(exist_ok=True)
    name = "<b>bold & co.h5"
    write_run(odd / name, 5, 1.0)
    try:
        open_view(page, hpcdash_server, file="a.h5", file2="b.h5", file3=f"odd/{name}")
        expect(page.locator(".hpcdash-pane")).to_have_count(3, timeout=LOAD)
        expect(readout(page, 2)).to_contain_text("(slice ", timeout=LOAD)
        page.get_by_role("button", name="tabs", exact=True).click()

        tablist = page.get_by_role("tablist", name="Open files")
        expect(tablist).to_be_visible(timeout=STEP)
        tabs = tablist.get_by_role("tab")
        titles = ["1. a.h5", "2. b.h5", f"3. {name}"]
        expect(tabs).to_have_text(titles)
        expect(tabs.nth(2).locator("b")).to_have_count(0)  # the name's markup stays text
        assert tab_states(tabs) == open_only(3, 0)
        assert [tabs.nth(i).evaluate(CONTROLLED) for i in range(3)] == [["tabpanel", True]] * 3

        def shows(i: int) -> None:
            """The i-th run's pane is the one shown, as the tabpanel its tab names."""
            expect(tabs.nth(i)).to_have_attribute("aria-selected", "true", timeout=STEP)
            expect(page.get_by_role("tabpanel", name=titles[i])).to_be_visible(timeout=STEP)
            for k, title in enumerate(["a.h5 · ", "b.h5 · ", f"{name} · "]):
                shown = page.locator(".hpcdash-title").filter(has_text=title)
                if k == i:
                    expect(shown).to_be_visible()
                else:
                    expect(shown).to_be_hidden()
            assert tab_states(tabs) == open_only(3, i)

        shows(0)
        assert keydown_listeners(page, tablist) == 1
        # the headers come first in the page (Tab reaches them before the pane's widgets) and stay above it
        header, panel = tablist.bounding_box(), page.get_by_role("tabpanel", name=titles[0]).bounding_box()
        assert header["y"] + header["height"] <= panel["y"] + 1, (header, panel)
        assert tablist.evaluate("""(list) => {
          const panel = list.getRootNode().getElementById(list.querySelector("[role=tab]").getAttribute("aria-controls"))
          return (list.compareDocumentPosition(panel) & Node.DOCUMENT_POSITION_FOLLOWING) != 0
        }""")
        tabs.nth(0).focus()
        page.keyboard.press("ArrowRight")  # moves the focus, opens nothing yet
        assert page.evaluate(FOCUSED) == {"role": "tab", "selected": "false", "text": "2. b.h5"}
        assert tab_states(tabs) == open_only(3, 0)
        page.keyboard.press("Enter")
        shows(1)
        assert page.evaluate(FOCUSED)["text"] == "2. b.h5"  # the focus stays on the tab
        page.keyboard.press("End")
        assert page.evaluate(FOCUSED)["text"] == titles[2]
        page.keyboard.press(" ")
        shows(2)
        page.keyboard.press("ArrowRight")  # wraps round to the first
        assert page.evaluate(FOCUSED)["text"] == "1. a.h5"
        page.keyboard.press("ArrowLeft")  # and back to the last
        assert page.evaluate(FOCUSED)["text"] == titles[2]
        page.keyboard.press("Home")
        assert page.evaluate(FOCUSED)["text"] == "1. a.h5"
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        shows(1)
        assert keydown_listeners(page, tablist) == 1  # opening tabs binds the list again, adding nothing

        for _ in range(3):  # each switch draws new tabs
            page.get_by_role("button", name="grid", exact=True).click()
            expect(tablist).to_have_count(0, timeout=STEP)
            expect(page.locator(".hpcdash-title").filter(has_text="a.h5 · ")).to_be_visible(timeout=STEP)
            page.get_by_role("button", name="tabs", exact=True).click()
            expect(tablist).to_be_visible(timeout=STEP)
        shows(1)  # the tab last opened is open again
        assert keydown_listeners(page, tablist) == 1
        tabs.nth(1).focus()
        page.keyboard.press("ArrowRight")  # exactly one tab further
        assert page.evaluate(FOCUSED) == {"role": "tab", "selected": "false", "text": titles[2]}
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        assert page.evaluate(FOCUSED)["text"] == "1. a.h5"
        page.keyboard.press("Enter")
        shows(0)

        # a run opened after the page was drawn: its tab is open, and the new list works the same
        page.locator(".hpcdash-browser select").select_option("c.h5")
        page.get_by_role("button", name="Open", exact=True).click()
        expect(tabs).to_have_text([*titles, "4. c.h5"], timeout=STEP)
        expect(tabs.nth(3)).to_have_attribute("aria-selected", "true", timeout=STEP)
        expect(page.get_by_role("tabpanel", name="4. c.h5")).to_be_visible(timeout=STEP)
        assert tab_states(tabs) == open_only(4, 3)
        assert tabs.nth(3).evaluate(CONTROLLED) == ["tabpanel", True]
        assert keydown_listeners(page, tablist) == 1
        tabs.nth(3).focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate(FOCUSED)["text"] == "1. a.h5"
        page.keyboard.press("Enter")
        expect(tabs.nth(0)).to_have_attribute("aria-selected", "true", timeout=STEP)
        expect(page.get_by_role("tabpanel", name="1. a.h5")).to_be_visible(timeout=STEP)

        # the page's own tabs are untouched by all this
        expect(page.get_by_role("tablist", name="Sections").get_by_role("tab")).to_have_text(
            ["Explorer", "Cluster", "Provenance"])
        assert page.get_by_role("tab", name="Explorer").get_attribute("aria-selected") == "true"
        assert keydown_listeners(page, page.get_by_role("tablist", name="Sections")) == 1
        assert not console_errors
        assert not blocked_requests
    finally:
        shutil.rmtree(odd, ignore_errors=True)
