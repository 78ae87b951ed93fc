"""One server, several pages (chromium tabs): they share the cluster and the record. A reload finds the
cluster still running, a Stop in one tab shows in the other, and once no tab has been open for the grace
time the server closes the cluster by itself and says so."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO, Server
from tests.ui.conftest import _serve
from tests.ui.test_browser import LOAD, STEP, open_view, readout, start_local_cluster

pytestmark = [pytest.mark.ui, pytest.mark.slow]

GRACE_S = 3


@pytest.fixture(scope="module")
def shared_server(data_root: Path, tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("shared") / "study"
    root.mkdir()
    shutil.copy(data_root / "a.h5", root / "a.h5")
    log = root.parent / "server.log"
    yield from _serve([sys.executable, "-m", "hpcdash", "serve", "--root", str(root), "--port", "{port}"], log,
                      env={"DASK_HPCDASH__CLUSTER_GRACE": f"{GRACE_S}s"})


def _cluster_tab(page: Page) -> None:
    page.locator(".bk-tab", has_text="Cluster").click()
    expect(page.locator(".hpc-start button")).to_be_visible(timeout=STEP)


def _provenance_tab(page: Page):
    page.locator(".bk-tab", has_text="Provenance").click()
    events = page.locator(".hpc-prov-events")  # the table, or the empty record's words
    expect(events).to_be_visible(timeout=STEP)
    return events


def test_pages_share_the_cluster_and_the_record(page: Page, shared_server, console_errors):
    first = page
    open_view(first, shared_server, file="a.h5")
    expect(readout(first)).to_contain_text("slice", timeout=LOAD)
    start_local_cluster(first, workers=1)
    # the worker's memory and CPU as bars
    expect(first.locator(".hpc-worker-load")).to_have_count(1, timeout=STEP)
    expect(first.locator(".hpc-worker-load .hpc-bar")).to_have_count(2)
    note = first.locator(".hpc-shared-note")
    expect(note).to_contain_text("every hpcdash tab shows it")
    expect(note).to_contain_text(f"{GRACE_S} s after the last hpcdash tab closed")
    # the README's picture of the tab: refreshed when missing or on request (HPCDASH_UPDATE_SCREENSHOT=1)
    first.wait_for_timeout(1500)
    readme_shot = REPO / "assets" / "cluster-local.png"
    if not readme_shot.exists() or os.environ.get("HPCDASH_UPDATE_SCREENSHOT") == "1":
        first.screenshot(path=str(readme_shot))

    # a second tab: the same cluster, and the first tab's work in the record
    second = first.context.new_page()
    open_view(second, shared_server)
    _cluster_tab(second)
    expect(second.locator(".hpc-nworkers")).to_have_text("1", timeout=STEP)
    expect(second.locator(".hpc-phase")).to_contain_text("workers connected")
    table = _provenance_tab(second)
    expect(table).to_contain_text("Opened a.h5", timeout=STEP)
    expect(table).to_contain_text("Started a local cluster")

    # the first tab reloads: the cluster is still there
    first.reload(timeout=LOAD)
    _cluster_tab(first)
    expect(first.locator(".hpc-nworkers")).to_have_text("1", timeout=STEP)

    # Stop in the second tab shows in the first
    _cluster_tab(second)
    second.locator(".hpc-stop button").click()
    expect(second.locator(".hpc-phase")).to_have_text("stopped", timeout=STEP)
    expect(first.locator(".hpc-phase")).to_have_text("stopped", timeout=STEP)
    expect(first.locator(".hpc-nworkers")).to_have_text("0", timeout=STEP)
    assert console_errors == []


def _fill(page: Page, css: str, value: str) -> None:
    box = page.locator(f"{css} input").first
    box.fill(value)
    box.press("Enter")


def _sweep_bar(page: Page) -> dict:
    return page.locator(".hpc-sweep-progress progress").evaluate(
        "e => ({value: e.value, max: e.max, classes: e.className})")


def test_one_sweep_at_a_time_on_the_shared_cluster(page: Page, shared_server, console_errors):
    """A sweep started in one tab shows in the other, whose Run sweep is disabled, saying why; Stop in the
    other tab warns of that sweep, then cancels it; both tabs show how far it got, the bar neither full
    nor in the colour of success."""
    first = page
    open_view(first, shared_server)
    start_local_cluster(first, workers=1)
    second = first.context.new_page()
    open_view(second, shared_server)
    _cluster_tab(second)
    expect(second.locator(".hpc-nworkers")).to_have_text("1", timeout=STEP)
    expect(second.locator(".hpc-sweep button")).to_be_enabled()

    _fill(first, ".hpc-sweep-runs", "40")
    _fill(first, ".hpc-sweep-cells", "48")  # about a second a run: 40 keep the worker busy long enough
    first.locator(".hpc-sweep button").click()
    expect(first.locator(".hpc-sweep-msg")).to_contain_text("/40 runs done", timeout=STEP)
    msg = second.locator(".hpc-sweep-msg")
    expect(msg).to_contain_text(re.compile(r"A sweep is running \(started at \d\d:\d\d on this server\): "),
                                timeout=STEP)
    expect(msg).to_contain_text("/40 runs done")
    expect(second.locator(".hpc-sweep button")).to_be_disabled()
    expect(first.locator(".hpc-sweep button")).to_be_disabled()
    expect(first.locator(".hpc-sweep-msg")).not_to_contain_text("A sweep is running (")
    expect(msg).to_contain_text(re.compile(r": [2-9]/40 runs done"), timeout=STEP)  # its progress, as it goes

    second.locator(".hpc-stop button").click()
    expect(second.locator(".hpc-error")).to_contain_text(re.compile(r"A sweep is running \(\d+ of 40 runs ended\)"),
                                                         timeout=STEP)
    second.locator(".hpc-stop button").click()
    cancelled = re.compile(r"The sweep was cancelled after \d+ of 40 runs")
    for p in (first, second):
        expect(p.locator(".hpc-sweep-msg")).to_contain_text(cancelled, timeout=STEP)
        expect(p.locator(".hpc-sweep-msg")).not_to_contain_text("A sweep is running (")
    done = _sweep_bar(first)["value"]
    assert 2 <= done < 40
    for p in (first, second):  # the bar and the message agree
        expect(p.locator(".hpc-sweep-msg")).to_contain_text(f"The sweep was cancelled after {done} of 40 runs")
        bar = _sweep_bar(p)
        assert (bar["value"], bar["max"]) == (done, 40), bar
        assert "success" not in bar["classes"] and "danger" in bar["classes"], bar
    assert console_errors == []


def test_a_page_reloaded_during_its_own_sweep_says_when_the_sweep_began(page: Page, shared_server, console_errors):
    """A reload makes a new page: the sweep it started before is said with the time it began on the server
    (true for whoever started it), its progress goes on, and Stop on the reloaded page still cancels it."""
    open_view(page, shared_server)
    start_local_cluster(page, workers=1)
    _fill(page, ".hpc-sweep-runs", "40")
    _fill(page, ".hpc-sweep-cells", "48")
    page.locator(".hpc-sweep button").click()
    expect(page.locator(".hpc-sweep-msg")).to_contain_text("/40 runs done", timeout=STEP)
    page.reload(timeout=LOAD)
    _cluster_tab(page)
    msg = page.locator(".hpc-sweep-msg")
    expect(msg).to_contain_text(re.compile(r"^A sweep is running \(started at \d\d:\d\d on this server\): \d+/40 "
                                           r"runs done"), timeout=STEP)
    expect(page.locator(".hpc-sweep button")).to_be_disabled()
    page.locator(".hpc-stop button").click()
    expect(page.locator(".hpc-error")).to_contain_text(re.compile(r"A sweep is running \(\d+ of 40 runs ended\)"),
                                                       timeout=STEP)
    page.locator(".hpc-stop button").click()
    expect(msg).to_contain_text(re.compile(r"The sweep was cancelled after \d+ of 40 runs"), timeout=STEP)
    expect(page.locator(".hpc-phase")).to_have_text("stopped", timeout=STEP)
    assert console_errors == []


def test_the_cluster_closes_once_no_tab_was_open_for_the_grace_time(page: Page, shared_server):
    open_view(page, shared_server)
    _cluster_tab(page)
    page.locator(".hpc-start button").click()
    expect(page.locator(".hpc-phase")).to_contain_text("workers connected", timeout=120_000)
    context = page.context
    for p in context.pages:  # every tab of this server closes
        p.close()
    # Bokeh ends a closed page's session after its unused-session checks (17 s + 15 s by default)
    later = context.new_page()
    later.wait_for_timeout((17 + 15 + GRACE_S + 5) * 1000)
    open_view(later, shared_server)
    table = _provenance_tab(later)
    expect(table).to_contain_text(f"Closed the cluster: no hpcdash page was open for {GRACE_S} s", timeout=STEP)
    _cluster_tab(later)
    expect(later.locator(".hpc-phase")).to_have_text("stopped", timeout=STEP)


def test_the_record_survives_a_restart_and_starts_afresh_on_request(page: Page, data_root: Path, tmp_path: Path,
                                                                    start_server, _private_state_dir):
    root = tmp_path / "study"
    root.mkdir()
    shutil.copy(data_root / "a.h5", root / "a.h5")
    argv = [sys.executable, "-m", "hpcdash", "serve", "--root", str(root), "--port", "{port}"]
    server = start_server(argv)
    open_view(page, server, file="a.h5")
    expect(readout(page)).to_contain_text("slice", timeout=LOAD)
    table = _provenance_tab(page)
    expect(table).to_contain_text("Opened a.h5", timeout=STEP)
    kept = page.locator(".hpc-prov-kept")
    expect(kept).to_contain_text(str(_private_state_dir / "hpcdash" / "records"))
    server.stop()

    again = start_server(argv)  # the server restarted (a new JupyterLab, a new job)
    open_view(page, again)
    table = _provenance_tab(page)
    expect(table).to_contain_text("Opened a.h5", timeout=STEP)
    page.get_by_role("button", name="Start a new record").click()
    expect(page.locator(".hpc-prov-status")).to_contain_text("the previous one is kept in", timeout=STEP)
    expect(table).to_contain_text("Nothing recorded yet", timeout=STEP)
    records = sorted((_private_state_dir / "hpcdash" / "records").glob("study-*.jsonl"))
    assert any("Opened a.h5" in r.read_text() for r in records)
