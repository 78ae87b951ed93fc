"""The Provenance tab in chromium against `hpcdash serve`: what the session did is listed, and the
exported bundle downloads with the files and their hashes."""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from dask.utils import format_bytes
from playwright.sync_api import Page, expect

from hpcdash.provenance import file_sha256, verify_bundle
from tests.conftest import REPO, Server
from tests.ui.conftest import _serve
from tests.ui.test_browser import LOAD, STEP, open_view, pane, readout

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def prov_server(data_root: Path, tmp_path_factory) -> Iterator[Server]:
    """A server of its own: the bundles it writes stay out of the other tests' root."""
    root = tmp_path_factory.mktemp("prov") / "study"
    (root / "runs").mkdir(parents=True)
    shutil.copy(data_root / "a.h5", root / "runs" / "a.h5")
    shutil.copy(data_root / "b.h5", root / "runs" / "b <x>.h5")
    log = root.parent / "server.log"
    for server in _serve(
        [sys.executable, "-m", "hpcdash", "serve", "--root", str(root), "--port", "{port}"], log
    ):
        server.root = root
        yield server


def test_the_session_is_recorded_and_exported_as_a_bundle(
    page: Page, prov_server, tmp_path: Path, console_errors
):
    root = prov_server.root
    open_view(page, prov_server, file="runs/a.h5", file2="runs/b <x>.h5", axis="y", slice="2")
    expect(readout(page, 1)).to_contain_text("(slice 2 of 16)", timeout=LOAD)
    with page.expect_download(timeout=STEP) as info:
        pane(page, 0).get_by_role("button", name=".npy").click()
    npy = tmp_path / info.value.suggested_filename
    info.value.save_as(npy)

    page.locator(".bk-tab", has_text="Provenance").click()
    table = page.locator(".hpc-prov-table")
    expect(table).to_contain_text("Opened a.h5", timeout=STEP)
    expect(table).to_contain_text("Opened b <x>.h5")  # shown as text, not markup
    expect(table).to_contain_text(f"Downloaded {npy.name}", timeout=STEP)
    expect(page.locator(".hpc-prov-counts")).to_contain_text("2 files")
    # the timeline's canvas (a keyboard stop) is an image named for a screen reader, with its count
    n_rows = table.locator("tbody tr").count()
    expect(page.get_by_role("img", name=f"Timeline of what was done: {n_rows} events, by kind and time")
           ).to_be_visible(timeout=STEP)
    expect(page.locator(".hpc-prov-plan")).to_contain_text("Data: 2 files")

    page.get_by_placeholder("e.g. Line 3 inversion, beta sweep").fill("Line 3 <b>beta</b> sweep")
    page.get_by_role("button", name="Export bundle").click()
    download_btn = page.get_by_text("Download the bundle (.zip)")
    expect(download_btn).to_be_visible(timeout=STEP)
    expect(page.locator(".hpc-prov-status")).to_contain_text("2 data files, 1 view, ")
    with page.expect_download(timeout=STEP) as info:
        download_btn.click()
    z = tmp_path / info.value.suggested_filename
    info.value.save_as(z)
    assert z.name.startswith("hpcdash-bundle-") and z.suffix == ".zip"
    name = z.stem
    with zipfile.ZipFile(z) as zf:
        zf.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped" / name
    graph = {
        unquote(e["@id"]): e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]
    }
    assert graph["./"]["name"] == "Line 3 <b>beta</b> sweep"
    for rel in ("runs/a.h5", "runs/b <x>.h5"):
        assert graph[f"data/{rel}"]["sha256"] == file_sha256(root / rel) == file_sha256(folder / "data" / rel)
    events = [json.loads(line) for line in (folder / "provenance.jsonl").read_text().splitlines()]
    exported = next(e for e in events if e["kind"] == "export")
    assert exported["details"]["sha256"] == file_sha256(npy)
    view = next(e for e in events if e["kind"] == "view")
    assert view["details"]["query"]["file2"] == "runs/b <x>.h5" and view["details"]["query"]["slice"] == "2"
    # the bundle's own event shows in the tab after the export
    expect(page.locator(".hpc-prov-table")).to_contain_text(f"Exported {z.name}", timeout=STEP)
    assert (root / "bundles" / z.name).is_file()
    assert all(c.ok for c in verify_bundle(folder)) and len(verify_bundle(folder)) >= 4
    # the README's picture: refreshed when missing or on request (HPCDASH_UPDATE_SCREENSHOT=1)
    shot = tmp_path / "provenance.png"
    page.screenshot(path=str(shot))
    readme_shot = REPO / "assets" / "provenance.png"
    if not readme_shot.exists() or os.environ.get("HPCDASH_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, readme_shot)
    assert console_errors == []


@pytest.mark.slow
def test_cluster_work_started_in_the_app_is_recorded(page: Page, prov_server, console_errors):
    """The whole app: a local cluster started from the Cluster tab, a small sweep run on it and the cluster
    stopped appear in the Provenance tab with the runs' files."""

    def fill(css: str, value: str) -> None:
        box = page.locator(f"{css} input").first
        box.fill(value)
        box.press("Enter")

    open_view(page, prov_server, file="runs/a.h5")
    expect(readout(page)).to_contain_text("slice", timeout=LOAD)
    page.locator(".bk-tab", has_text="Cluster").click()
    start = page.locator(".hpc-start button")
    expect(start).to_be_visible(timeout=STEP)
    fill(".hpc-n", "1")
    start.click()
    expect(page.locator(".hpc-nworkers")).to_have_text("1", timeout=120_000)
    fill(".hpc-sweep-runs", "2")
    fill(".hpc-sweep-cells", "8")
    page.locator(".hpc-sweep button").click()
    expect(page.locator(".hpc-sweep-msg")).to_contain_text("2/2 runs done in", timeout=180_000)
    page.locator(".hpc-stop button").click()
    expect(page.locator(".hpc-phase")).to_have_text("stopped", timeout=STEP)

    page.locator(".bk-tab", has_text="Provenance").click()
    table = page.locator(".hpc-prov-table")
    for words in ("Started a local cluster", "Asked for 1 worker", "source_x = -100", "source_x = 100",
                  "Closed the cluster"):
        expect(table).to_contain_text(words, timeout=STEP)
    runs = sorted(p.name for p in (prov_server.root / "runs").glob("dc-*.h5"))
    assert len(runs) == 2
    for name in runs:
        expect(table).to_contain_text(name)
    expect(page.locator(".hpc-prov-counts")).to_contain_text("2 runs")
    assert console_errors == []


def test_reloads_add_no_rows_and_the_bundles_files_are_chosen(page: Page, prov_server, console_errors):
    """A page reloaded shows the same files without recording them again; unticking a file in the
    bundle form leaves it out of the data the form announces, with the size that remains."""
    for _ in range(3):
        open_view(page, prov_server, file="runs/a.h5", file2="runs/b <x>.h5")
        expect(readout(page, 1)).to_contain_text("(slice ", timeout=LOAD)
    page.locator(".bk-tab", has_text="Provenance").click()
    table = page.locator(".hpc-prov-table")
    expect(table).to_contain_text("Opened a.h5", timeout=STEP)
    expect(table.locator("tr", has_text="Opened a.h5")).to_have_count(1)
    expect(table.locator("tr", has_text="Opened b <x>.h5")).to_have_count(1)

    files = page.locator(".hpc-prov-files")
    b_size = format_bytes((prov_server.root / "runs" / "b <x>.h5").stat().st_size)
    b = files.get_by_label(f"runs/b <x>.h5 ({b_size})")
    expect(b).to_be_checked(timeout=STEP)
    plan = page.locator(".hpc-prov-plan")
    # the server's record is shared by the module's tests: other files (runs of a sweep) may be in it
    n = files.locator("input[type=checkbox]").count()
    assert n >= 2
    expect(plan).to_contain_text(f"Data: {n} files")
    b.uncheck()
    expect(plan).to_contain_text(f"Data: {n - 1} of {n} files", timeout=STEP)
    if n == 2:  # a.h5 alone: its size
        a_size = format_bytes((prov_server.root / "runs" / "a.h5").stat().st_size)
        expect(plan).to_contain_text(f"Data: 1 of 2 files, {a_size}")
    b.check()  # as it was
    expect(plan).to_contain_text(f"Data: {n} files", timeout=STEP)
    assert console_errors == []


def test_the_tab_fits_a_narrow_window(page: Page, prov_server, console_errors):
    """In a 640 px window (a JupyterLab tab split in two) the record and the bundle form stay within the
    page: long file names break, Author and ORCID go one under the other, nothing is cut off at the
    right."""
    open_view(page, prov_server, file="runs/a.h5")
    expect(readout(page)).to_contain_text("(slice ", timeout=LOAD)
    page.set_viewport_size({"width": 640, "height": 900})
    page.wait_for_function("() => window.innerWidth === 640")
    page.locator(".bk-tab", has_text="Provenance").click()
    table = page.locator(".hpc-prov-table")
    expect(table).to_contain_text("Opened a.h5", timeout=STEP)
    page.wait_for_timeout(500)
    right = page.evaluate("() => document.documentElement.clientWidth")
    for css in (".hpc-prov-table", ".hpc-prov-author", ".hpc-prov-orcid", ".hpc-prov-export"):
        box = page.locator(css).first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= right + 1, (css, box, right)
    assert console_errors == []
