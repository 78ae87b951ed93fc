"""The cluster tab in Debian's chromium (Playwright): fill the form, start, watch the job table and the
worker count change, stop. Served alone with `panel serve`; SLURM variant on the real local SLURM."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.a11y import focused, tab_stops

pytestmark = [pytest.mark.ui, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("serve_cluster_tab.py")


@pytest.fixture
def tab(start_server, tmp_path, request):
    """Start `panel serve` of the tab alone; returns (url, env) and cancels leftover test jobs at the end."""
    backend = request.param
    name = f"hpcdash-ui-{uuid.uuid4().hex[:8]}"
    env = {"HPCDASH_TEST_BACKEND": backend, "HPCDASH_TEST_LOGS": str(tmp_path / "logs"),
           "HPCDASH_TEST_RUNS": str(tmp_path / "runs")}
    if backend == "slurm":
        request.getfixturevalue("slurm")
        env["HPCDASH_TEST_JOBNAME"] = name
    server = start_server([sys.executable, "-m", "panel", "serve", str(SCRIPT), "--port", "{port}",
                           "--address", "127.0.0.1", "--allow-websocket-origin", "127.0.0.1:{port}"],
                          path="/serve_cluster_tab", env=env)
    yield server.url + "/serve_cluster_tab", backend, tmp_path / "runs"
    if backend == "slurm":
        subprocess.run(["scancel", f"--name={name}"], capture_output=True)


def _click_until(page, button_css: str, target, text: str, tries: int = 3) -> None:
    """Click a button until `target` shows `text`. Under heavy load a click that lands while Bokeh is
    re-rendering the form after an edit can be dropped by the browser; a user clicks again."""
    button = page.locator(button_css)
    for attempt in range(tries):
        expect(button).to_be_enabled(timeout=30_000)
        button.click()
        try:
            expect(target).to_contain_text(text, timeout=30_000)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def _box(locator, timeout_s: float = 10.0) -> dict:
    """The element's bounding box, asked again while the element is being replaced (the job table is
    drawn anew every second; one asked at that moment has no box)."""
    deadline = time.monotonic() + timeout_s
    while (box := locator.bounding_box()) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert box is not None, f"{locator} has no box"
    return box


def _fill(page, css: str, value: str) -> None:
    box = page.locator(f"{css} input").first
    box.fill(value)
    box.press("Enter")


@pytest.mark.parametrize("tab", ["local", "slurm"], indirect=True)
def test_fill_start_watch_stop(page, tab, console_errors, blocked_requests):
    url, backend, runs = tab
    page.goto(url, timeout=120_000)
    start = page.locator(".hpc-start button")
    expect(start).to_be_visible(timeout=60_000)
    script = page.locator(".hpc-script-text")
    if backend == "slurm":
        # a request SLURM rejects: the message appears next to the walltime field, nothing is queued
        _fill(page, ".hpc-walltime", "02:00:00")
        expect(script).to_contain_text("#SBATCH -t 02:00:00")
        page.locator(".hpc-validate button").click()
        expect(page.locator(".hpc-error-walltime")).to_contain_text("time limit", timeout=60_000)
        _fill(page, ".hpc-walltime", "00:10:00")
        expect(page.locator(".hpc-error-walltime")).to_be_hidden()
        _fill(page, ".hpc-memory", "900MB")
        expect(script).to_contain_text("#SBATCH --mem=859M")
        _click_until(page, ".hpc-validate button", page.locator(".hpc-validation"), "Request accepted")
    else:
        _fill(page, ".hpc-memory", "1500MB")
        expect(script).to_contain_text("1.5 GB (1.40 GiB) of memory each")
    _fill(page, ".hpc-n", "2")
    start.click()
    nworkers = page.locator(".hpc-nworkers")
    expect(nworkers).to_have_text("2", timeout=120_000)
    expect(page.locator(".hpc-phase")).to_contain_text("workers connected")
    if backend == "slurm":
        expect(page.locator("tr.hpc-job-running")).to_have_count(2, timeout=60_000)
        expect(page.locator("tr.hpc-job-running").first).to_contain_text("vm" if os.uname().nodename == "vm" else "")
    else:
        expect(page.locator(".hpc-jobs")).to_contain_text("Local cluster: 2 worker")
    expect(page.locator(".hpc-dashboard-link")).to_have_attribute("href", lambda_href_ok())
    _fill(page, ".hpc-n", "1")
    page.locator(".hpc-scale button").click()
    expect(nworkers).to_have_text("1", timeout=120_000)
    if backend == "slurm":
        expect(page.locator("tr.hpc-job-running")).to_have_count(1, timeout=60_000)
        expect(page.locator("tr.hpc-job-ended")).to_have_count(1, timeout=60_000)
    if backend == "local":
        # a sweep on the running cluster, with its progress bar and files in the output folder
        _fill(page, ".hpc-sweep-runs", "2")
        _fill(page, ".hpc-sweep-cells", "8")
        page.locator(".hpc-sweep button").click()
        expect(page.locator(".hpc-sweep-msg")).to_contain_text("2/2 runs done in", timeout=180_000)
        files = sorted(p.name for p in runs.iterdir())
        assert len(files) == 2 and all(f.endswith(".h5") for f in files), files
    page.locator(".hpc-stop button").click()
    expect(page.locator(".hpc-phase")).to_have_text("stopped", timeout=60_000)
    expect(nworkers).to_have_text("0")
    assert not blocked_requests, blocked_requests
    assert not [e for e in console_errors if "favicon" not in e], console_errors


def lambda_href_ok():
    import re

    return re.compile(r"^http://127\.0\.0\.1:\d+/status$")


@pytest.mark.parametrize("tab", ["slurm"], indirect=True)
def test_closing_the_page_stops_refresh_and_cluster(page, tab):
    """When the browser session ends the periodic refresh stops and the cluster is closed: no job keeps
    running without an owner."""
    from hpcdash.cluster.scheduler import query_jobs
    from tests.cluster.cluster_helpers import wait_until

    url, _, _ = tab
    page.goto(url, timeout=120_000)
    page.locator(".hpc-start button").click()
    row = page.locator("tr.hpc-job-running")
    expect(row).to_have_count(1, timeout=120_000)
    job_id = row.locator("td").first.inner_text().strip()
    assert query_jobs([job_id])[job_id].state == "running"
    page.close()
    # bokeh ends a closed page's session after its unused-session checks (17 s + 15 s by default)
    wait_until(lambda: query_jobs([job_id]).get(job_id) is None or query_jobs([job_id])[job_id].state == "ended",
               120, what="job cancelled after the session ended")


def test_job_table_escapes_untrusted_text():
    from hpcdash.cluster import ClusterStatus, JobRecord
    from hpcdash.cluster.view import jobs_table_html

    st = ClusterStatus(backend="slurm", running=True, phase="queued", jobs=[
        JobRecord("7", "w-0", "failed", reason="<b>boom</b>", log_tail="<script>alert(1)</script>")])
    out = jobs_table_html(st)
    assert "<script>alert(1)" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;b&gt;boom&lt;/b&gt;" in out and "stderr tail" in out


@pytest.mark.parametrize("tab", ["slurm"], indirect=True)
def test_an_opened_stderr_tail_stays_open_while_the_table_refreshes(page, tab, console_errors):
    """A job cancelled outside hpcdash: its stderr tail, opened by the user, stays open (and the table
    inside its column) while the table is drawn again every second for the job that replaced it; closed,
    it stays closed."""
    url, _, _ = tab
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url, timeout=120_000)
    page.locator(".hpc-start button").click()
    row = page.locator("tr.hpc-job-running")
    expect(row).to_have_count(1, timeout=120_000)
    subprocess.run(["scancel", row.locator("td").first.inner_text().strip()], check=True)
    tail = page.locator(".hpc-jobs details")
    expect(tail).to_have_count(1, timeout=60_000)
    expect(page.locator("tr.hpc-job-running")).to_have_count(1, timeout=120_000)  # the job replacing it
    tail.locator("summary").click()
    table = page.locator(".hpc-jobs-table")
    table.evaluate("t => { t.dataset.before = 'yes' }")
    page.wait_for_timeout(3500)
    assert table.evaluate("t => t.dataset.before") is None  # the table was drawn again meanwhile
    assert tail.evaluate("d => d.open")
    # what the job wrote last (SLURM's CANCELLED line, or a worker's traceback after it when the job was
    # cancelled while its worker started)
    expect(page.locator(".hpc-logtail")).not_to_be_empty()
    box, column = _box(table), _box(page.locator(".hpc-jobs"))
    assert box["x"] + box["width"] <= column["x"] + column["width"] + 1, (box, column)
    tail.locator("summary").click()
    page.wait_for_timeout(2500)
    assert not tail.evaluate("d => d.open")
    page.locator(".hpc-stop button").click()
    expect(page.locator(".hpc-phase")).to_have_text("stopped", timeout=60_000)
    assert not [e for e in console_errors if "favicon" not in e], console_errors


def test_the_job_table_fits_its_column_with_long_reasons_and_an_open_tail(page):
    """A refused submission's long message, an explained reason and an opened stderr tail of long
    traceback lines wrap inside a 600 px column (the Workers column was cut off)."""
    from hpcdash.cluster import ClusterStatus, JobRecord
    from hpcdash.cluster.view import jobs_table_html

    tail = "\n".join(["slurmstepd: error: *** JOB 130 ON vm CANCELLED AT 2026-12-01T17:30:00 ***"] + [
        f'  File "/work/main/.venv/lib/python3.11/site-packages/distributed/nanny.py", line {i}, in start_unsafe'
        for i in range(10)])
    st = ClusterStatus(backend="slurm", running=True, phase="queued", jobs=[
        JobRecord(None, "SLURMCluster-0", "failed", reason="Batch job submission failed: Invalid account or "
                                                           "account/partition combination specified"),
        JobRecord("130", "SLURMCluster-1", "ended", reason="cancelled outside hpcdash", log_tail=tail, elapsed=70),
        JobRecord("131", "SLURMCluster-2", "pending", reason="Resources", start_note="not estimated yet",
                  reason_text="Resources: waiting for free CPUs or memory on the partition's nodes")])
    page.set_content(f"<div style='width:600px'>{jobs_table_html(st)}</div>")
    page.locator("details summary").click()
    assert page.locator("details").evaluate("d => d.open")
    assert page.locator(".hpc-jobs-table").bounding_box()["width"] <= 600
    assert page.locator("th", has_text="Workers").bounding_box()["width"] >= 40


def test_in_a_narrow_column_each_job_is_a_card_and_the_worker_bars_fit(page):
    """In a 350 px column (a 700 px window beside the file browser, a JupyterLab side panel) the job
    table's columns ran past the edge: the expected start and the walltime left were out of sight. There
    each job shows as "Column: value" lines and the worker table fits; at 900 px the job table is a table."""
    from hpcdash.cluster import ClusterStatus, JobRecord, WorkerLoad
    from hpcdash.cluster.view import jobs_table_html, worker_loads_html

    st = ClusterStatus(backend="slurm", running=True, phase="queued", jobs=[
        JobRecord("131", "SLURMCluster-0", "pending", reason="Priority", expected_start=datetime.now() + timedelta(hours=1)),
        JobRecord("132", "SLURMCluster-1", "running", elapsed=61, time_left=1739, node="vm", workers=1)],
        loads=[WorkerLoad("SLURMCluster-1", memory=85_000_000, memory_limit=1_950_000_000, cpu=4.0)])
    page.set_content(f"<div id='col' style='width:350px'>{jobs_table_html(st)}"
                     f"{worker_loads_html(st, lambda n: f'{n / 2**20:.2f} MiB')}</div>")

    col = page.locator("#col").bounding_box()
    for sel in (".hpc-jobs-table", ".hpc-loads"):
        box = page.locator(sel).bounding_box()
        assert box["x"] + box["width"] <= col["x"] + col["width"] + 0.5, (sel, box, col)
    expect(page.locator(".hpc-jobs-table th").first).to_be_hidden()
    # each value on its own line after its column's name (empty ones left out)
    shown = """row => [...row.cells].filter(td => td.offsetParent !== null).map(td =>
        [getComputedStyle(td, '::before').content + td.innerText, Math.round(td.getBoundingClientRect().y)])"""
    running = page.locator("tr.hpc-job-running").evaluate(shown)
    assert [text for text, _ in running] == [
        '"Job: "132', '"Worker: "SLURMCluster-1', '"State: "running', '"Elapsed: "0:01:01',
        '"Walltime left: "0:28:59', '"Node: "vm', '"Workers: "1'], running
    assert len({y for _, y in running}) == len(running), running
    pending = [text for text, _ in page.locator("tr.hpc-job-pending").evaluate(shown)]
    assert '"Reason: "Priority' in pending, pending
    assert any(t.startswith('"Expected start: "') and "(in 0:59:" in t for t in pending), pending
    page.locator("#col").evaluate("e => e.style.width = '900px'")
    expect(page.locator(".hpc-jobs-table th", has_text="Walltime left")).to_be_visible()
    row = page.locator("tr.hpc-job-running td")
    assert row.count() == 9 and row.nth(6).inner_text() == "0:28:59"
    tops = {round(row.nth(i).bounding_box()["y"]) for i in range(9)}
    assert len(tops) == 1, tops  # one line: a table row again


def _app_on_its_cluster_tab(page, start_server, tmp_path) -> None:
    """`hpcdash serve` of an empty root, its page open on the Cluster tab."""
    root = tmp_path / "root"
    root.mkdir()
    server = start_server([sys.executable, "-m", "hpcdash", "serve", "--root", str(root), "--port", "{port}"])
    page.goto(server.url + "/", timeout=120_000)
    page.locator(".bk-tab", has_text="Cluster").click()


def test_laptop_screen_messages_by_the_buttons_and_sweep_fields_inside_their_card(page, start_server, tmp_path,
                                                                                   console_errors):
    """The whole app on a 1280x720 laptop screen (a 1280x640 page under the browser's bars; sidebar open):
    a memory the request cannot read is refused by Validate and by Start with a message under the
    buttons, brought into view (the buttons sit near the bottom edge, and the message below them), and
    next to the field; the preview does not show the value as if it were fine; the Run sweep card's
    fields stay inside it."""
    height = 640
    page.set_viewport_size({"width": 1280, "height": height})
    _app_on_its_cluster_tab(page, start_server, tmp_path)
    validate = page.locator(".hpc-validate button")
    expect(validate).to_be_visible(timeout=60_000)

    def in_view(locator) -> bool:
        """`locator` within the window, waiting up to 10 s for the page to settle (and scroll)."""
        def now() -> bool:
            box = locator.bounding_box()
            return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height

        deadline = time.monotonic() + 10
        while not now() and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        return now()

    card = page.locator(".hpc-sweep-card").bounding_box()
    for css in (".hpc-sweep-runs", ".hpc-sweep-cells"):
        field = page.locator(f"{css} input").bounding_box()
        assert field["x"] + field["width"] <= card["x"] + card["width"], (css, field, card)

    _fill(page, ".hpc-memory", "2 bananas")
    expect(page.locator(".hpc-script-text")).to_contain_text("cannot build the job script")
    assert in_view(validate), validate.bounding_box()
    validate.click()
    said = page.locator(".hpc-error")
    expect(said).to_contain_text("Not accepted: see Memory per job above.", timeout=30_000)
    expect(page.locator(".hpc-error-memory")).to_contain_text("'2 bananas' is not a size")
    expect(page.locator(".hpc-validation")).to_be_hidden()
    assert in_view(said), said.bounding_box()
    page.locator(".hpc-start button").click()
    expect(page.locator(".hpc-phase")).to_have_text("stopped", timeout=30_000)
    expect(said).to_contain_text("Memory per job")
    assert in_view(said), said.bounding_box()
    _fill(page, ".hpc-memory", "1GB")
    expect(said).to_be_hidden()
    validate.click()
    expect(page.locator(".hpc-validation")).to_contain_text("Request accepted", timeout=30_000)
    assert in_view(page.locator(".hpc-validation")), page.locator(".hpc-validation").bounding_box()
    # the check box is named by its label (screen readers), and the label ticks it
    encrypt = page.get_by_label("Encrypt (TLS)", exact=True)  # not its help icon, "Help: Encrypt (TLS)"
    expect(encrypt).to_be_checked()
    page.get_by_text("Encrypt (TLS)", exact=True).click()
    expect(encrypt).not_to_be_checked()
    expect(page.locator(".hpc-script-text")).not_to_contain_text("talking TLS", timeout=10_000)
    page.get_by_text("Encrypt (TLS)", exact=True).click()
    expect(page.locator(".hpc-script-text")).to_contain_text("talking TLS", timeout=10_000)
    # side by side at 1280 px; on an 800 px screen the status goes under the form (it ran off the edge)
    form, status = page.locator(".hpc-form").bounding_box(), page.locator(".hpc-sweep-card").bounding_box()
    assert status["x"] >= form["x"] + form["width"], (form, status)
    page.set_viewport_size({"width": 800, "height": 600})

    def wrapped() -> bool:
        form, status = page.locator(".hpc-form").bounding_box(), page.locator(".hpc-sweep-card").bounding_box()
        return status["y"] >= form["y"] + form["height"] and status["x"] + status["width"] <= 800

    deadline = time.monotonic() + 15
    while not wrapped() and time.monotonic() < deadline:  # the page lays itself out again
        page.wait_for_timeout(200)
    form, status = page.locator(".hpc-form").bounding_box(), page.locator(".hpc-sweep-card").bounding_box()
    assert wrapped(), (form, status)
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert not [e for e in console_errors if "favicon" not in e], console_errors


#: Components whose styles the page asks of a host other than its server (in any shadow root).
_STYLES_ELSEWHERE = """() => { const out = [];
    const walk = (root) => { for (const el of root.querySelectorAll('*')) if (el.shadowRoot) {
        for (const l of el.shadowRoot.querySelectorAll('link[rel="stylesheet"]'))
            if (new URL(l.href, location.href).host !== location.host) out.push(l.href);
        walk(el.shadowRoot); } };
    walk(document); return out; }"""


def test_runs_opened_from_the_cluster_tab_keep_the_page_on_its_server(page, start_server, tmp_path,
                                                                      console_errors, blocked_requests):
    """A sweep on the local cluster, its first and last run opened in the Explorer from the Cluster
    tab: the Explorer shows them, and no component of the page asks another host for its styles (the
    panes, built while the Explorer tab was hidden, sent every component to cdn.holoviz.org)."""
    page.set_viewport_size({"width": 1400, "height": 900})
    _app_on_its_cluster_tab(page, start_server, tmp_path)
    _click_until(page, ".hpc-start button", page.locator(".hpc-phase"), "workers connected")
    _fill(page, ".hpc-sweep-runs", "2")
    _fill(page, ".hpc-sweep-cells", "8")
    _click_until(page, ".hpc-sweep button", page.locator(".hpc-sweep-msg"), "2/2 runs done")
    page.locator(".hpc-open-runs button").click()
    panes = page.locator(".hpcdash-pane")
    expect(panes).to_have_count(2, timeout=60_000)
    expect(panes.first.locator(".hpcdash-readout-text")).to_contain_text("slice", timeout=60_000)
    expect(panes.first.locator(".hpcdash-plot canvas").first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.evaluate(_STYLES_ELSEWHERE) == []
    assert blocked_requests == []
    page.locator(".bk-tab", has_text="Cluster").click()
    page.locator(".hpc-stop button").click()
    expect(page.locator(".hpc-phase")).to_have_text("stopped", timeout=60_000)
    assert not [e for e in console_errors if "favicon" not in e], console_errors


@pytest.mark.parametrize("tab", ["local"], indirect=True)
def test_the_form_from_the_keyboard_every_stop_named_help_reached_no_step_buttons(page, tab, console_errors,
                                                                                  blocked_requests):
    """Tab through the whole tab from the Backend field: every focus stop has a name; each field's "?" is
    a stop named "Help: <field>" just before its field, and its text is the description of both; the
    number fields are spin buttons, whose step buttons are not stops, but are named and step the value
    when a screen reader activates them; the check box with a "?" beside it is described by its text; the
    cards' headers are named by their titles and say whether they are open."""
    url, _, _ = tab
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url, timeout=120_000)
    expect(page.locator(".hpc-start button")).to_be_visible(timeout=60_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Accessibility.enable")
    stops = tab_stops(page, cdp, ".hpc-backend select")
    names = [s["name"] for s in stops]
    assert all(names), stops
    assert not [s for s in stops if "bk-spin-btn" in s["class"]], stops
    # the local backend's form, in order (the batch fields are hidden), then the two cards' fields
    assert names == [
        "Backend", "Help: Cores per job", "Cores per job", "Help: Processes per job", "Processes per job",
        "Help: Memory per job", "Memory per job", "Help: Network interface", "Network interface",
        "Encrypt (TLS)", "Help: Encrypt (TLS)", "Validate", "Start", "Help: Workers", "Workers", "Adapt min",
        "Adapt max", "Job script (exactly what is submitted for the first job)",
        "Run sweep (DC-resistivity forward model on the cluster)", "Vary", "from", "to", "Runs", "Core cells",
        "Output folder"], names
    by_name = {s["name"]: s for s in stops}
    memory_help = "Memory per job, e.g. '4GB'"
    assert by_name["Help: Memory per job"]["role"] == "button"
    assert by_name["Help: Memory per job"]["description"].startswith(memory_help)
    assert by_name["Memory per job"]["description"].startswith(memory_help)
    assert by_name["Help: Encrypt (TLS)"]["description"].startswith("Scheduler, workers and client talk TLS")
    assert by_name["Encrypt (TLS)"]["description"] == by_name["Help: Encrypt (TLS)"]["description"]
    # the number fields are spin buttons
    assert {by_name[f]["role"] for f in ("Cores per job", "Workers", "Adapt max", "Runs")} == {"spinbutton"}

    # the tooltip shows while its icon has the keyboard focus; Escape hides it, Enter shows it again
    tooltip = page.get_by_role("tooltip").filter(has_text=memory_help)
    page.locator(".hpc-processes input").focus()
    page.keyboard.press("Tab")
    assert focused(page, cdp)["name"] == "Help: Memory per job"
    expect(tooltip).to_be_visible()
    page.keyboard.press("Escape")
    expect(tooltip).to_have_count(0)
    assert focused(page, cdp)["name"] == "Help: Memory per job"
    page.keyboard.press("Enter")
    expect(tooltip).to_be_visible()
    page.keyboard.press("Tab")  # on to the field: the tooltip goes
    assert focused(page, cdp)["name"] == "Memory per job"
    expect(tooltip).to_have_count(0)

    # the step buttons: out of the Tab order, named, and a screen reader's click (no mouse press) steps
    cores = page.locator(".hpc-cores input")
    up, down = (page.get_by_role("button", name=f"{w} Cores per job") for w in ("Increase", "Decrease"))
    expect(up).to_have_attribute("tabindex", "-1")
    expect(down).to_have_attribute("tabindex", "-1")
    expect(cores).to_have_value("1")
    expect(cores).to_have_attribute("aria-valuenow", "1")
    up.evaluate("b => b.click()")
    expect(cores).to_have_value("2")
    expect(cores).to_have_attribute("aria-valuenow", "2")
    expect(page.locator(".hpc-script-text")).to_contain_text("2 threads")
    down.evaluate("b => b.click()")
    expect(cores).to_have_value("1")
    cores.focus()
    page.keyboard.press("ArrowUp")  # the keyboard's own way
    expect(cores).to_have_value("2")

    # a card's header: named, and aria-expanded follows Enter and clicks
    header = page.get_by_role("button", name="Job script (exactly what is submitted for the first job)")
    expect(header).to_have_attribute("aria-expanded", "true")
    header.focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-expanded", "false")
    expect(page.locator(".hpc-script-text")).to_be_hidden()
    header.click()
    expect(header).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".hpc-script-text")).to_be_visible()

    # a field drawn again (its label changes with the backend) gets all of it too
    page.locator(".hpc-backend select").select_option("htcondor")
    walltime = "Walltime (HH:MM:SS; HTCondor: for the estimate, not sent)"
    expect(page.get_by_role("button", name=f"Help: {walltime}")).to_have_attribute("tabindex", "0")
    expect(page.get_by_role("textbox", name=walltime)).to_be_visible()
    assert not blocked_requests, blocked_requests
    assert not [e for e in console_errors if "favicon" not in e], console_errors
