"""The page's tabs from the keyboard alone (WAI-ARIA tabs pattern), in Debian chromium against `hpcdash serve`."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

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
