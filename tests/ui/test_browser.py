"""The explorer in Debian chromium against `hpcdash serve` (one server per module; views open via the URL)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import time
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import h5py
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.conftest import REPO

pytestmark = pytest.mark.ui

LOAD = 120_000   # first page: app import, session, numba warm-up on 2 busy cores
STEP = 60_000    # one interaction round trip on a loaded machine


def open_view(page: Page, server, **query) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(server.url + "/" + (("?" + urlencode(query)) if query else ""), timeout=LOAD)


def pane(page: Page, i: int):
    return page.locator(".hpcdash-pane").nth(i)


def readout(page: Page, i: int = 0):
    return pane(page, i).locator(".hpcdash-readout-text")


def shows_a_slice_and_steps(page: Page) -> None:
    """The first pane shows a slice (its websocket came through) and a key press on its slider brings
    another one."""
    ro = readout(page)
    expect(ro).to_contain_text("(slice ", timeout=LOAD)
    expect(page.locator(".hpcdash-plot canvas").first).to_be_visible(timeout=LOAD)
    before = ro.inner_text()
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(ro).not_to_have_text(before, timeout=STEP)


def start_local_cluster(page: Page, workers: int = 1) -> None:
    """Open the Cluster tab and start the local cluster with `workers` workers; wait until they are up."""
    page.locator(".bk-tab", has_text="Cluster").click()
    expect(page.locator(".hpc-start button")).to_be_visible(timeout=STEP)
    box = page.locator(".hpc-n input").first
    box.fill(str(workers))
    box.press("Enter")
    page.locator(".hpc-start button").click()
    expect(page.locator(".hpc-nworkers")).to_have_text(str(workers), timeout=120_000)


def plot_pixels(page: Page, i: int = 0) -> np.ndarray:
    """The plot canvas of pane i as an RGB array (after the image has settled)."""
    canvas = pane(page, i).locator(".hpcdash-plot canvas").first
    expect(canvas).to_be_visible(timeout=STEP)
    return np.asarray(Image.open(BytesIO(canvas.screenshot())).convert("RGB")).astype(int)


def changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).sum(axis=2) > 30).mean())


def wait_for_image_change(page: Page, before: np.ndarray, i: int = 0, min_fraction: float = 0.02) -> np.ndarray:
    """Poll the plot until at least `min_fraction` of its pixels changed; return the new pixels."""
    for _ in range(60):
        page.wait_for_timeout(500)
        now = plot_pixels(page, i)
        if changed_fraction(before, now) >= min_fraction:
            return now
    raise AssertionError(f"the image of pane {i} did not change")


def ctrl_wheel(page: Page, canvas, dy: int, at: tuple[float, float] = (0.4, 0.5)) -> None:
    """Ctrl + mouse wheel over `canvas` at the fraction `at` of its size: zooms (dy < 0: in)."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * at[0], box["y"] + box["height"] * at[1])
    page.keyboard.down("Control")
    page.mouse.wheel(0, dy)
    page.keyboard.up("Control")


def slice_number(ro) -> int:
    """The 1-based slice number shown by a readout locator (waits until it shows one)."""
    expect(ro).to_have_text(re.compile(r"slice \d+ of \d+"), timeout=STEP)
    for _ in range(50):
        m = re.search(r"slice (\d+) of (\d+)", ro.text_content() or "")
        if m:
            return int(m.group(1))
        ro.page.wait_for_timeout(100)
    raise AssertionError("no slice number in the readout")


def test_empty_state_explains_what_to_do(page: Page, hpcdash_server, console_errors, blocked_requests):
    open_view(page, hpcdash_server)
    expect(page.get_by_text("No file open yet")).to_be_visible(timeout=LOAD)
    expect(page.get_by_text("File browser", exact=True)).to_be_visible()
    expect(page.get_by_text("a.h5", exact=True)).to_be_visible()  # the browser lists the root
    expect(page.get_by_text("secret.h5")).to_have_count(0)        # never what lies outside it
    expect(page.get_by_text("link_out.h5")).to_have_count(0)      # nor symlinks leading out
    # a list, drawn without a drop-down's chevron
    assert page.locator(".hpcdash-browser select").evaluate("e => getComputedStyle(e).backgroundImage") == "none"
    # open a file from the browser
    page.locator(".hpcdash-browser select").select_option("a.h5")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(readout(page)).to_contain_text("of 12)", timeout=STEP)
    expect(page.get_by_text("No file open yet")).to_have_count(0)
    assert console_errors == [] and blocked_requests == []


def assert_lean_bundles(script_urls: list[str]) -> None:
    """The page loaded BokehJS and Panel but not the bundles hpcdash never uses (MathJax, WebGL)."""
    names = [u.split("?")[0].rsplit("/", 1)[-1] for u in script_urls]
    assert "bokeh.min.js" in names and "panel.min.js" in names, names
    assert not {"bokeh-mathjax.min.js", "bokeh-gl.min.js"} & set(names), names


def test_axis_slider_and_colormap_change_readout_and_image(page: Page, hpcdash_server, console_errors,
                                                           blocked_requests):
    scripts = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    open_view(page, hpcdash_server, file="a.h5")
    ro = readout(page)
    expect(ro).to_have_text(re.compile(r"^z = -?\d+\.\d m \(slice \d+ of 12\)$"), timeout=LOAD)
    page.wait_for_timeout(1000)
    img0 = plot_pixels(page)
    # what a screen reader announces is the number the page shows, from the start
    aria = pane(page, 0).locator(".hpcdash-slice .noUi-handle").first
    assert aria.get_attribute("aria-valuetext") == str(slice_number(ro))
    assert aria.get_attribute("aria-label") == "Slice"

    # normal axis: z -> x (non-uniform tensor axis, QuadMesh)
    pane(page, 0).locator(".hpcdash-axis select").select_option("x")
    expect(ro).to_have_text(re.compile(r"^x = -?[\d.]+ m \(slice \d+ of 20\)$"), timeout=STEP)
    img1 = wait_for_image_change(page, img0)

    # slider by keyboard: two steps to the right
    n = slice_number(ro)
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(ro).to_contain_text(f"(slice {n + 2} of 20)", timeout=STEP)
    img2 = wait_for_image_change(page, img1)
    # what a screen reader announces is the number the page shows
    handle = pane(page, 0).locator(".hpcdash-slice .noUi-handle").first
    assert [float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax")] == [
        n + 2, 1, 20]
    assert handle.get_attribute("aria-valuetext") == str(n + 2)  # not noUiSlider's "13.00"

    # colormap
    pane(page, 0).locator(".hpcdash-cmap select").select_option("gray")
    img3 = wait_for_image_change(page, img2, min_fraction=0.2)
    grey = np.abs(img3[..., 0] - img3[..., 1]) + np.abs(img3[..., 1] - img3[..., 2])
    assert (grey < 6).mean() > 0.9  # the plot area is now grey scale

    # the view is in the URL
    q = parse_qs(urlparse(page.url).query)
    assert q["file"] == ["a.h5"] and q["axis"] == ["x"] and q["slice"] == [str(n + 2)] and q["cmap"] == ["gray"]
    assert console_errors == [] and blocked_requests == []
    assert_lean_bundles(scripts)


def test_url_reopens_the_same_view(page: Page, hpcdash_server, console_errors):
    open_view(page, hpcdash_server, file="a.h5", axis="y", slice="4", cmap="magma")
    expect(readout(page)).to_have_text("y = 30.0 m (slice 4 of 16)", timeout=LOAD)
    expect(pane(page, 0).locator(".hpcdash-cmap select")).to_have_value("magma")
    expect(pane(page, 0).locator(".hpcdash-axis select")).to_have_value("y")
    # what a link asks for and cannot be shown as asked is shown corrected, and the URL says so
    open_view(page, hpcdash_server, file="a.h5", axis="w", slice="500", cmap="nosuch")
    expect(readout(page)).to_have_text(re.compile(r"\(slice 12 of 12\)$"), timeout=LOAD)
    expect(page).to_have_url(re.compile(r"slice=12"), timeout=STEP)
    query = parse_qs(urlparse(page.url).query)
    assert query["axis"] == ["z"] and query["cmap"] == ["viridis"]
    assert console_errors == []


def test_a_four_d_run_has_a_slider_for_its_extra_dim(page: Page, hpcdash_server, data_root: Path, console_errors):
    """A (t, z, y, x) run scanned along z: t is held at the index its own slider shows (numbered from 1,
    like "Slice"; at first the last time step); moving it by keyboard changes the readout, the image and
    the URL. A 3-D run beside it has no such slider."""
    from tests.ui.hdf5_files import write_run_4d

    (data_root / "nd").mkdir(exist_ok=True)
    write_run_4d(data_root / "nd" / "run_t.h5", 1)
    open_view(page, hpcdash_server, file="nd/run_t.h5", axis="z", slice="3", file2="a.h5", link="0")
    ro = readout(page)
    expect(ro).to_have_text("z = -62.5 m (slice 3 of 12) · t = 1.5 s (slice 4 of 4)", timeout=LOAD)
    held = pane(page, 0).locator(".hpcdash-held")
    expect(held).to_have_count(1)
    expect(held).to_contain_text("t: 4")
    expect(readout(page, 1)).to_contain_text("of 12)", timeout=STEP)
    expect(pane(page, 1).locator(".hpcdash-held")).to_have_count(0)
    page.wait_for_timeout(1000)
    img0 = plot_pixels(page)
    held.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(ro).to_have_text("z = -62.5 m (slice 3 of 12) · t = 0.5 s (slice 2 of 4)", timeout=STEP)
    expect(held).to_contain_text("t: 2")
    assert held.locator(".noUi-handle").get_attribute("aria-valuetext") == "2"
    wait_for_image_change(page, img0)
    expect(page).to_have_url(re.compile(r"[?&]at\.t=2(&|$)"), timeout=STEP)
    assert parse_qs(urlparse(page.url).query)["slice"] == ["3"]  # the normal axis stays where it was
    assert console_errors == []


def test_linked_panes_follow_each_other(page: Page, hpcdash_server, demo_runs, console_errors,
                                       blocked_requests, tmp_path: Path):
    open_view(page, hpcdash_server, file=demo_runs[0], file2=demo_runs[1])
    ra, rb = readout(page, 0), readout(page, 1)
    expect(ra).to_contain_text("of 128)", timeout=LOAD)
    expect(rb).to_contain_text("of 128)", timeout=LOAD)
    page.wait_for_timeout(1000)
    a0, b0 = plot_pixels(page, 0), plot_pixels(page, 1)
    n = slice_number(ra)
    pane(page, 0).locator(".noUi-handle").first.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(ra).to_contain_text(f"(slice {n + 3} of 128)", timeout=STEP)
    expect(rb).to_contain_text(f"(slice {n + 3} of 128)", timeout=STEP)
    assert ra.inner_text() == rb.inner_text()
    a1 = wait_for_image_change(page, a0, 0, 0.01)
    b1 = wait_for_image_change(page, b0, 1, 0.01)
    # zoom (Ctrl + mouse wheel) on pane A: pane B shows the same zoomed region
    ctrl_wheel(page, pane(page, 0).locator(".hpcdash-plot canvas").first, -600)
    wait_for_image_change(page, a1, 0, 0.05)
    wait_for_image_change(page, b1, 1, 0.05)
    # axis change on pane B moves pane A too
    pane(page, 1).locator(".hpcdash-axis select").select_option("y")
    expect(ra).to_contain_text("y = ", timeout=STEP)
    expect(rb).to_contain_text("y = ", timeout=STEP)
    # the sidebar shows the runs' folder: the first file of the link is there
    listing = page.locator(".hpcdash-browser select")
    expect(listing.locator("option")).to_have_count(len(demo_runs), timeout=STEP)
    expect(page.locator(".hpcdash-cwd code")).to_have_text(re.compile(r"/demo/$"))
    page.wait_for_timeout(2000)
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000
    # the README's picture: refreshed when missing or on request (HPCDASH_UPDATE_SCREENSHOT=1)
    readme_shot = REPO / "assets" / "screenshot.png"
    if not readme_shot.exists() or os.environ.get("HPCDASH_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, readme_shot)
    assert console_errors == [] and blocked_requests == []


def test_bad_file_gets_a_message_and_other_panes_keep_working(page: Page, hpcdash_server, console_errors):
    open_view(page, hpcdash_server, file="a.h5", file2="bad/notes.h5", file3="bad/evil.h5",
              file4="bad/unknown_filter.h5", link="0")
    expect(pane(page, 1).get_by_text("is not an HDF5 file")).to_be_visible(timeout=LOAD)
    # a pane whose file could not be opened shows the message, Reload and Close; no controls that
    # would do nothing
    expect(pane(page, 1).locator(".hpcdash-reload button")).to_be_visible()
    for control in (".hpcdash-axis select", ".hpcdash-cmap select", ".noUi-handle"):
        expect(pane(page, 1).locator(control)).to_be_hidden()
    expect(pane(page, 1).get_by_role("button", name="PNG")).to_be_hidden()
    expect(pane(page, 0).get_by_role("button", name="PNG")).to_be_visible()
    expect(pane(page, 3).get_by_text("which this installation cannot decode")).to_be_visible(timeout=LOAD)
    # names from files are shown as text, never as markup
    expect(pane(page, 2).locator(".hpcdash-title")).to_contain_text("/<script>alert(1)</script>")
    expect(readout(page, 2)).to_contain_text("m<b>!</b> (slice", timeout=STEP)
    ro = readout(page, 0)
    expect(ro).to_contain_text("of 12)", timeout=STEP)
    n = slice_number(ro)
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowLeft")
    expect(ro).to_contain_text(f"(slice {n - 1} of 12)", timeout=STEP)
    # unlinked: zooming pane 1 leaves pane 3 (same grid, axis labels and units) as it was
    expect(readout(page, 2)).to_contain_text("of 12)", timeout=STEP)
    page.wait_for_timeout(1500)

    def third_plot() -> np.ndarray:
        # the canvas's own pixels, not a screenshot: pane 1's plot keeps the data's aspect, so its zoom
        # changes its height, moves the panes below by a fraction of a pixel, and that alone redraws
        # every glyph of their text on screen a little differently
        canvas = pane(page, 2).locator(".hpcdash-plot canvas").first
        url = canvas.evaluate("(el) => el.toDataURL('image/png')")
        png = base64.b64decode(url.split(",", 1)[1])
        return np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)

    c0 = third_plot()
    assert c0.std() > 20  # the slice is drawn on that canvas (a blank one would never change)
    a0 = plot_pixels(page, 0)
    ctrl_wheel(page, pane(page, 0).locator(".hpcdash-plot canvas").first, -600)
    wait_for_image_change(page, a0, 0, 0.05)
    page.wait_for_timeout(1500)
    assert changed_fraction(c0, third_plot()) < 0.01
    assert console_errors == []


def test_a_running_job_writes_while_the_file_is_shown(page: Page, hpcdash_server, data_root: Path,
                                                      console_errors):
    """A job (this test process) adds its next result to the file a pane shows: its write succeeds
    while the server has the file open, the pane says the file changed, a step reads the file again
    (the new dataset listed), and so does Reload after the next write, at the same slice; the file
    browser lists the job's new file by itself."""
    import hpcdash
    from tests.ui.hdf5_files import grid, model

    live = data_root / "live"
    live.mkdir(exist_ok=True)
    hpcdash.write_volume(live / "inv.h5", "/iter_01", model(1), grid(), mode="w")
    open_view(page, hpcdash_server, file="live/inv.h5", axis="y", slice="4")
    ro = readout(page)
    expect(ro).to_contain_text("(slice 4 of", timeout=LOAD)
    dataset = pane(page, 0).locator(".hpcdash-dataset")
    expect(dataset).to_be_hidden()  # one dataset: no selector
    expect(pane(page, 0).locator(".hpcdash-reload button")).not_to_have_class(re.compile(r"bk-btn-primary"))
    hpcdash.write_volume(live / "inv.h5", "/iter_02", model(2), grid(), mode="a")  # h5py's default locking
    # the page notices by itself (a periodic check of the shown files), the slice stays on screen
    reload = pane(page, 0).locator(".hpcdash-reload button")
    expect(reload).to_have_class(re.compile(r"bk-btn-primary"), timeout=STEP)  # what to press next
    expect(pane(page, 0).get_by_text("Reload shows what was written")).to_be_visible()
    expect(ro).to_contain_text("(slice 4 of")
    # a step meanwhile: the file is read again, at the slice asked for, and the pane says so
    img = plot_pixels(page)
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(ro).to_contain_text("(slice 5 of", timeout=STEP)
    expect(pane(page, 0).get_by_text("changed on disk: opened again")).to_be_visible(timeout=STEP)
    expect(pane(page, 0).get_by_text("open it again")).to_have_count(0)
    expect(reload).not_to_have_class(re.compile(r"bk-btn-primary"), timeout=STEP)
    expect(dataset).to_be_visible(timeout=STEP)
    assert dataset.locator("option").all_inner_texts() == ["/iter_01", "/iter_02"]
    wait_for_image_change(page, img)
    # the next write: Reload, without a step, shows it at the same slice
    hpcdash.write_volume(live / "inv.h5", "/iter_03", model(3), grid(), mode="a")
    expect(reload).to_have_class(re.compile(r"bk-btn-primary"), timeout=STEP)
    reload.click()
    expect(pane(page, 0).get_by_text("changed on disk")).to_have_count(0, timeout=STEP)
    expect(reload).not_to_have_class(re.compile(r"bk-btn-primary"), timeout=STEP)
    expect(ro).to_contain_text("(slice 5 of", timeout=STEP)
    expect(dataset.locator("option")).to_have_text(["/iter_01", "/iter_02", "/iter_03"], timeout=STEP)
    # the file browser lists live/ (the shown file's folder); a new file from the job, Refresh
    listing = page.locator(".hpcdash-browser select")
    expect(listing.locator("option")).to_have_text(["inv.h5"], timeout=STEP)
    hpcdash.write_volume(live / "inv_restart.h5", "/iter_01", model(3), grid(), mode="w")
    # listed without a click (the page's periodic check of the folder)
    expect(listing.locator("option")).to_have_text(["inv.h5", "inv_restart.h5"], timeout=STEP)
    assert console_errors == []


def test_a_symlink_keeps_its_name_in_the_url_and_reload_follows_it(page: Page, hpcdash_server, data_root: Path,
                                                                   console_errors):
    """linked/latest.h5 -> run_0042.h5, opened from the URL, then re-pointed by a job to run_0043.h5:
    the title names both, the URL keeps the link, the page notices the new target by itself, and Reload
    shows it, the URL still naming the link (a shared link or a reloaded page follows it too)."""
    from tests.ui.hdf5_files import write_run

    folder = data_root / "linked"
    folder.mkdir(exist_ok=True)
    write_run(folder / "run_0042.h5", 1, 10.0)
    write_run(folder / "run_0043.h5", 2, 100.0)
    link = folder / "latest.h5"
    link.unlink(missing_ok=True)
    link.symlink_to("run_0042.h5")
    open_view(page, hpcdash_server, file="linked/latest.h5")
    title = pane(page, 0).locator(".hpcdash-title")
    expect(title).to_contain_text("latest.h5 → run_0042.h5", timeout=LOAD)
    expect(title).to_contain_text("beta=10.0")
    expect(page).to_have_url(re.compile(r"slice="), timeout=STEP)  # the view written into the URL
    assert parse_qs(urlparse(page.url).query)["file"] == ["linked/latest.h5"]
    (folder / "next.h5").symlink_to("run_0043.h5")
    os.replace(folder / "next.h5", link)
    reload = pane(page, 0).locator(".hpcdash-reload button")
    expect(reload).to_have_class(re.compile(r"bk-btn-primary"), timeout=STEP)
    expect(pane(page, 0).get_by_text("latest.h5 now leads to run_0043.h5")).to_be_visible()
    reload.click()
    expect(title).to_contain_text("latest.h5 → run_0043.h5", timeout=STEP)
    expect(title).to_contain_text("beta=100.0")
    expect(reload).not_to_have_class(re.compile(r"bk-btn-primary"), timeout=STEP)
    assert parse_qs(urlparse(page.url).query)["file"] == ["linked/latest.h5"]
    assert console_errors == []


def test_outside_root_is_refused_in_the_browser(page: Page, hpcdash_server):
    open_view(page, hpcdash_server)
    expect(page.get_by_text("No file open yet")).to_be_visible(timeout=LOAD)
    page.get_by_placeholder("runs/run_01.h5").fill("../outside/secret.h5")
    page.get_by_role("button", name="Open path").click()
    expect(page.get_by_text("is outside the root folder")).to_be_visible(timeout=STEP)
    expect(page.locator(".hpcdash-pane")).to_have_count(0)
    # folders: into bad/ and back up; the listing follows, the root stays the limit
    listing = page.locator(".hpcdash-browser select")
    listing.select_option("bad/")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(listing.locator("option", has_text="notes.h5")).to_have_count(1, timeout=STEP)
    page.get_by_role("button", name="Up", exact=True).click()
    expect(listing.locator("option", has_text="a.h5")).to_have_count(1, timeout=STEP)
    page.get_by_role("button", name="Up", exact=True).click()  # already at the root: stays there
    expect(listing.locator("option", has_text="a.h5")).to_have_count(1, timeout=STEP)


def test_a_refused_file_in_a_link_leaves_the_url(page: Page, hpcdash_server):
    """A link naming a file outside the root: the page says so, and its URL no longer names the file
    (a copied link would carry the refusal on)."""
    for refused in ("../outside/secret.h5", "link_out.h5", "dir_out/secret.h5"):  # the last two: symlinks out
        open_view(page, hpcdash_server, file=refused)
        expect(page.get_by_text("is outside the root folder").first).to_be_visible(timeout=LOAD)
        expect(page).not_to_have_url(re.compile(r"[?&]file="), timeout=STEP)


def test_exports_download_png_npy_csv(page: Page, hpcdash_server, tmp_path: Path, console_errors):
    open_view(page, hpcdash_server, file="a.h5", axis="y", slice="3")
    expect(readout(page)).to_contain_text("(slice 3 of 16)", timeout=LOAD)
    got = {}
    for label in ("PNG", ".npy", ".csv"):
        with page.expect_download(timeout=STEP) as info:
            pane(page, 0).get_by_role("button", name=label).click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        got[label] = target
    assert got["PNG"].name == "a_y3.png"  # the slice number shown and got["PNG"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(got["PNG"]) as img:
        assert img.width > 500 and img.height > 200
    arr = np.load(got[".npy"])
    assert arr.shape == (12, 20)  # (z, x) plane of the y slice
    lines = got[".csv"].read_text().splitlines()
    assert lines[0] == "z,x,conductivity" and len(lines) == 1 + 12 * 20
    assert console_errors == []


def test_comparison_exports_its_values(page: Page, hpcdash_server, data_root: Path, tmp_path: Path,
                                       console_errors):
    """Compare turned on with two runs: the comparison's own .npy download holds A - B of the two
    slices shown, named after both runs and the slice."""
    import h5py

    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", slice="5")
    expect(readout(page, 1)).to_contain_text("(slice 5 of 12)", timeout=LOAD)  # Link took B along
    comparison = page.locator(".hpcdash-compare")
    npy = comparison.get_by_role("button", name=".npy")
    expect(npy).to_be_hidden()  # no comparison, no comparison export
    page.locator(".hpcdash-controls select").first.select_option("difference")
    expect(comparison.locator("canvas").first).to_be_visible(timeout=STEP)
    expect(npy).to_be_enabled(timeout=STEP)
    with page.expect_download(timeout=STEP) as info:
        npy.click()
    assert info.value.suggested_filename == "a_minus_b_z5.npy"
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    got = np.load(target)
    with (h5py.File(data_root / "a.h5", "r", locking=False) as fa,
          h5py.File(data_root / "b.h5", "r", locking=False) as fb):
        want = fa["/model/conductivity"][4] - fb["/model/conductivity"][4]  # in the runs' own type
    assert got.shape == want.shape == (16, 20) and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert console_errors == []


def test_tabs_layout(page: Page, hpcdash_server, console_errors):
    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", layout="tabs")
    expect(page.get_by_text("1. a.h5")).to_be_visible(timeout=LOAD)
    expect(page.get_by_text("2. b.h5")).to_be_visible()
    page.get_by_text("2. b.h5").click()
    expect(page.locator(".hpcdash-title").filter(has_text="b.h5 · /model/conductivity")).to_be_visible(
        timeout=STEP)
    assert console_errors == []


def test_many_tabs_wrap_onto_more_lines_on_a_narrow_screen(page: Page, hpcdash_server, demo_runs, console_errors):
    files = ["a.h5", "b.h5", "c.h5", "multi.h5", *demo_runs]
    query = {("file" if i == 0 else f"file{i + 1}"): f for i, f in enumerate(files)}
    page.set_viewport_size({"width": 800, "height": 700})
    page.goto(hpcdash_server.url + "/?" + urlencode({**query, "layout": "tabs"}), timeout=LOAD)
    last = page.locator(".bk-tab", has_text=f"{len(files)}. ")
    expect(last).to_be_visible(timeout=LOAD)
    labels = page.locator(".bk-tab", has_text=". ")
    expect(labels).to_have_count(len(files))
    boxes = [labels.nth(i).bounding_box() for i in range(len(files))]
    assert all(b["x"] + b["width"] <= 800 for b in boxes), f"tab labels run off the screen: {boxes}"
    assert len({round(b["y"]) for b in boxes}) > 1  # on more than one line
    last.click()
    expect(page.locator(".hpcdash-title").filter(has_text=Path(demo_runs[-1]).name)).to_be_visible(timeout=STEP)
    assert console_errors == []


def test_close_button_closes_its_own_pane(page: Page, hpcdash_server, console_errors):
    """Each pane's Close button (in its title row) closes that pane; the others, the URL and the
    comparison choices follow, and the last one closed brings back the empty state."""
    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", file3="c.h5")
    panes = page.locator(".hpcdash-pane")
    expect(panes).to_have_count(3, timeout=LOAD)
    expect(readout(page, 2)).to_contain_text("slice", timeout=LOAD)
    pane(page, 1).locator(".hpcdash-close button").click()
    expect(panes).to_have_count(2, timeout=STEP)
    expect(pane(page, 0).locator(".hpcdash-title")).to_contain_text("a.h5")
    expect(pane(page, 1).locator(".hpcdash-title")).to_contain_text("c.h5")
    expect(page).to_have_url(re.compile(r"file2=c\.h5"), timeout=STEP)
    assert "b.h5" not in page.url
    expect(readout(page, 1)).to_contain_text("slice", timeout=STEP)  # the moved pane still reads
    for left in (1, 0):
        pane(page, 0).locator(".hpcdash-close button").click()
        expect(panes).to_have_count(left, timeout=STEP)
    expect(page.get_by_text("No file open yet")).to_be_visible(timeout=STEP)
    assert console_errors == []


def test_closing_a_run_of_the_comparison_ends_it(page: Page, hpcdash_server, console_errors):
    """A - B stays between its runs when a pane before them closes (A and B renumbered), and ends when A
    closes: no comparison of other runs unasked, no box saying to open two runs with no Compare to turn off."""
    open_view(page, hpcdash_server, file="multi.h5", file2="a.h5", file3="b.h5", compare="difference",
              a="2", b="3")
    compare, run_a, run_b = (page.locator(".hpcdash-controls select").nth(i) for i in range(3))
    expect(page.locator(".hpcdash-compare canvas").first).to_be_visible(timeout=LOAD)
    expect(run_a.locator("option:checked")).to_have_text(re.compile(r"^2: a\.h5"), timeout=STEP)
    pane(page, 0).locator(".hpcdash-close button").click()
    expect(page.locator(".hpcdash-pane")).to_have_count(2, timeout=STEP)
    expect(run_a.locator("option:checked")).to_have_text(re.compile(r"^1: a\.h5"), timeout=STEP)
    expect(run_b.locator("option:checked")).to_have_text(re.compile(r"^2: b\.h5"), timeout=STEP)
    expect(page.locator(".hpcdash-compare canvas").first).to_be_visible()
    pane(page, 0).locator(".hpcdash-close button").click()  # run A
    expect(page.locator(".hpcdash-pane")).to_have_count(1, timeout=STEP)
    expect(page.locator(".hpcdash-compare")).to_be_hidden(timeout=STEP)
    expect(page.get_by_text("Open two runs")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"compare="), timeout=STEP)
    assert console_errors == []


def test_difference_view(page: Page, hpcdash_server, console_errors):
    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", compare="difference")
    expect(page.get_by_text("A - B").first).to_be_visible(timeout=LOAD)
    compared = page.locator(".hpcdash-compare canvas").first
    expect(compared).to_be_visible(timeout=STEP)
    # the comparison stands above the panes, where the user who chose it is looking
    assert compared.bounding_box()["y"] < pane(page, 0).bounding_box()["y"]
    open_view(page, hpcdash_server, file="a.h5", file2="c.h5", compare="difference")
    expect(page.get_by_text("The grids differ")).to_be_visible(timeout=LOAD)
    assert console_errors == []


#: The comparison's figure (its colour bar says "A - B"): its frame and outer sizes and its data ranges
_COMPARISON_FRAME = """() => {
    for (const doc of Bokeh.documents)
        for (const m of doc._all_models.values())
            if (m.constructor.__name__ === "Figure" && m.inner_width > 0
                    && [...m.right, ...m.left, ...m.center].some((r) => String(r.title ?? "").startsWith("A - B")))
                return {w: m.inner_width, h: m.inner_height, W: m.outer_width, H: m.outer_height,
                        dx: m.x_range.end - m.x_range.start, dy: m.y_range.end - m.y_range.start};
    return null;
}"""


def test_the_comparison_follows_the_window_width_true_to_shape(page: Page, hpcdash_server, console_errors):
    """A - B is drawn as wide as there is room, like the panes: wider in a wider window, within the
    page, at least the panes' lowest height, and true to shape (both axes in metres) at each width."""
    from hpcdash.explorer.views import PLOT_MIN_HEIGHT

    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", compare="difference")
    expect(page.locator(".hpcdash-compare canvas").first).to_be_visible(timeout=LOAD)

    def settled(width: int) -> dict | None:
        f = page.evaluate(_COMPARISON_FRAME)
        if f is None or f["W"] > width or f["H"] < PLOT_MIN_HEIGHT:
            return None
        return f if abs((f["h"] / f["dy"]) / (f["w"] / f["dx"]) - 1) < 0.03 else None

    sizes, before = {}, None
    for width in (1000, 1800):
        page.set_viewport_size({"width": width, "height": 900})
        deadline = time.monotonic() + 10
        # settled at this width: the frame of the width before still fits a wider window, so wait for it
        # to change too (a busy browser lays the page out again a moment after the resize)
        while time.monotonic() < deadline and (
                (f := settled(width)) is None or (before is not None and f["W"] == before["W"])):
            page.wait_for_timeout(200)
        sizes[width] = before = settled(width)
        assert sizes[width] is not None, (width, page.evaluate(_COMPARISON_FRAME))
    assert sizes[1800]["W"] > sizes[1000]["W"] + 150, sizes
    assert console_errors == []


def test_the_comparison_zooms_with_the_linked_panes(page: Page, hpcdash_server, console_errors):
    """With Link on, A - B shows what the panes show: zooming a pane zooms the comparison, zooming the
    comparison zooms the panes (and the URL keeps it); with Link off its zoom is its own."""
    def ranges() -> list[tuple]:
        return [tuple(r["x"] + r["y"]) for r in page.evaluate(FIGURE_RANGES)]

    def url_zoom() -> list[float] | None:
        raw = parse_qs(urlparse(page.url).query).get("zoom")
        return [float(v) for v in raw[0].split(",")] if raw else None

    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", compare="difference")
    compared = page.locator(".hpcdash-compare canvas").first
    expect(compared).to_be_visible(timeout=LOAD)
    expect(pane(page, 1).locator(".hpcdash-plot canvas").first).to_be_visible(timeout=STEP)
    page.wait_for_timeout(1000)
    whole = ranges()
    assert len(whole) == 3 and len(set(whole)) == 1, whole  # two panes and the comparison
    for _ in range(3):
        ctrl_wheel(page, pane(page, 0).locator(".hpcdash-plot canvas").first, -100)
        page.wait_for_timeout(300)
    zoomed = ranges()
    assert len(set(zoomed)) == 1 and zoomed[0] != whole[0], zoomed
    ctrl_wheel(page, compared, 100, at=(0.3, 0.3))  # out a little, from the comparison
    page.wait_for_timeout(600)
    after = ranges()
    assert len(set(after)) == 1 and after[0] not in (zoomed[0], whole[0]), (after, zoomed)
    for _ in range(40):
        if url_zoom() == pytest.approx(list(after[0]), rel=1e-5, abs=1e-3):
            break
        page.wait_for_timeout(250)
    assert url_zoom() == pytest.approx(list(after[0]), rel=1e-5, abs=1e-3), (url_zoom(), after)

    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", compare="difference", link="0")
    compared = page.locator(".hpcdash-compare canvas").first
    expect(compared).to_be_visible(timeout=LOAD)
    expect(pane(page, 1).locator(".hpcdash-plot canvas").first).to_be_visible(timeout=STEP)
    page.wait_for_timeout(1000)
    whole = ranges()
    for _ in range(3):
        ctrl_wheel(page, compared, -100)
        page.wait_for_timeout(300)
    apart = ranges()
    assert sorted(apart).count(whole[0]) == 2 and len(set(apart)) == 2, apart  # the panes kept theirs
    assert url_zoom() is None

    # panes zoomed first: the comparison chosen then starts from their view, and leaves it as it is
    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", zoom="0,100,20,120")
    expect(pane(page, 1).locator(".hpcdash-plot canvas").first).to_be_visible(timeout=LOAD)
    page.wait_for_timeout(1000)
    view = pytest.approx([0, 100, 20, 120], abs=1e-9)
    assert [list(r) for r in ranges()] == [view] * 2, ranges()
    page.locator(".hpcdash-controls select").first.select_option("difference")
    expect(page.locator(".hpcdash-compare canvas").first).to_be_visible(timeout=STEP)
    page.wait_for_timeout(1000)
    assert [list(r) for r in ranges()] == [view] * 3, ranges()
    assert url_zoom() == view
    # and from then on they move together, whichever is zoomed
    ctrl_wheel(page, pane(page, 0).locator(".hpcdash-plot canvas").first, -100)
    page.wait_for_timeout(600)
    assert len(set(ranges())) == 1 and list(ranges()[0]) != view, ranges()
    ctrl_wheel(page, page.locator(".hpcdash-compare canvas").first, 100, at=(0.3, 0.3))
    page.wait_for_timeout(600)
    assert len(set(ranges())) == 1, ranges()
    assert console_errors == []


def test_a_file_opened_from_the_browser_is_scrolled_into_view(page: Page, hpcdash_server, console_errors):
    """Two panes fill the screen; a third opened from the file browser goes below them: the page
    scrolls to it."""
    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", link="0")
    page.set_viewport_size({"width": 1000, "height": 700})  # one pane a row: the third is far below
    expect(readout(page, 1)).to_contain_text("of 12)", timeout=LOAD)
    page.locator(".hpcdash-browser select").select_option("c.h5")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(readout(page, 2)).to_contain_text("(slice", timeout=LOAD)
    page.wait_for_timeout(1500)  # drawn, then the smooth scroll
    top = pane(page, 2).bounding_box()["y"]
    assert 0 <= top < 700 / 2, top
    assert console_errors == []


@pytest.mark.parametrize("layout", ["grid", "tabs"])
def test_several_files_chosen_in_the_browser_open_together(page: Page, hpcdash_server, layout, console_errors):
    """Three runs chosen at once in the file browser open as three more panes (each a pane before,
    and the panes' titles change as they join: all of it reaches the page in one piece)."""
    open_view(page, hpcdash_server, file="c.h5", layout=layout)
    expect(readout(page, 0)).to_contain_text("(slice", timeout=LOAD)
    page.locator(".hpcdash-browser select").select_option(["a.h5", "b.h5", "multi.h5"])
    page.get_by_role("button", name="Open", exact=True).click()
    if layout == "tabs":
        for i, name in enumerate(["c.h5", "a.h5", "b.h5", "multi.h5"]):
            expect(page.get_by_text(f"{i + 1}. {name}", exact=True)).to_be_visible(timeout=LOAD)
        expect(readout(page, 0)).to_contain_text("(slice", timeout=LOAD)  # the tab shown: the last one
    else:
        expect(page.locator(".hpcdash-pane")).to_have_count(4, timeout=LOAD)
        for i in range(4):
            expect(readout(page, i)).to_contain_text("(slice", timeout=LOAD)
    expect(page).to_have_url(re.compile(r"file4=multi\.h5"), timeout=STEP)
    assert console_errors == []


def test_files_opened_from_the_browser_zoom_together(page: Page, hpcdash_server, console_errors):
    """Two runs opened one after the other from the file browser (drawn after the page was built):
    with Link on, Ctrl+wheel on one zooms the other too, and the URL keeps both zooms; Compare's B is
    the second run."""
    open_view(page, hpcdash_server)
    listing = page.locator(".hpcdash-browser select")
    for i, name in enumerate(("a.h5", "b.h5")):
        listing.select_option(name)
        page.get_by_role("button", name="Open", exact=True).click()
        expect(pane(page, i).locator(".hpcdash-plot canvas").first).to_be_visible(timeout=LOAD)
    page.wait_for_timeout(1000)
    # sliders drawn after the page was built announce the slice number too, before any move
    for i in range(2):
        handle = pane(page, i).locator(".hpcdash-slice .noUi-handle").first
        assert handle.get_attribute("aria-valuetext") == handle.get_attribute("aria-valuenow").split(".")[0]
    shown = """() => [...Bokeh.index.query(v => v.model.x_range !== undefined && v.model.renderers !== undefined
                                            && v.el.isConnected)]
                 .map(v => [v.model.x_range.start, v.model.x_range.end, v.model.y_range.start, v.model.y_range.end])"""
    ranges = [tuple(r) for r in page.evaluate(shown)]
    assert len(ranges) == 2 and len(set(ranges)) == 1, ranges
    for _ in range(3):
        ctrl_wheel(page, pane(page, 0).locator(".hpcdash-plot canvas").first, -100)
        page.wait_for_timeout(300)
    page.wait_for_timeout(600)
    zoomed = [tuple(r) for r in page.evaluate(shown)]
    assert len(zoomed) == 2 and len(set(zoomed)) == 1 and zoomed[0] != ranges[0], zoomed
    expect(page).to_have_url(re.compile(r"[?&]zoom2="), timeout=STEP)
    page.locator(".hpcdash-controls select").first.select_option("difference")
    expect(page.locator(".hpcdash-compare canvas").first).to_be_visible(timeout=STEP)
    expect(page.get_by_text("A and B are the same run")).to_have_count(0)
    assert console_errors == []


def test_one_pane_on_a_laptop_screen_shows_its_slice_without_scrolling(page: Page, hpcdash_server, demo_runs,
                                                                       console_errors):
    """1280 x 720: the pane's settings take one line, so most of the slice is on screen; link, layout
    and compare (which act between panes) appear with the second pane only."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(hpcdash_server.url + "/?" + urlencode({"file": demo_runs[0]}), timeout=LOAD)
    expect(readout(page)).to_contain_text("of 128)", timeout=LOAD)
    canvas = pane(page, 0).locator(".hpcdash-plot canvas").first
    expect(canvas).to_be_visible(timeout=STEP)
    page.wait_for_timeout(1000)  # the plot takes its final size
    box = canvas.bounding_box()
    visible = (720 - box["y"]) / box["height"]
    assert visible >= 0.6, f"only {visible:.0%} of the plot is on screen (top at {box['y']:.0f} px)"
    expect(page.get_by_text("Compare", exact=True)).to_be_hidden()
    expect(page.locator(".hpcdash-controls")).to_be_hidden()
    page.goto(hpcdash_server.url + "/?" + urlencode({"file": demo_runs[0], "file2": demo_runs[1]}), timeout=LOAD)
    expect(readout(page, 1)).to_contain_text("of 128)", timeout=LOAD)
    expect(page.get_by_text("Compare", exact=True)).to_be_visible()
    expect(page.get_by_text("Link", exact=True)).to_be_visible()
    # check boxes are named by their labels (screen readers, a click on the text): Link, Symmetric
    link = page.get_by_label("Link", exact=True)
    expect(link).to_be_checked()  # on by default, off in the URL when unticked
    page.get_by_text("Link", exact=True).click()
    expect(link).not_to_be_checked(timeout=STEP)
    expect(page).to_have_url(re.compile(r"link=0"), timeout=STEP)
    page.get_by_text("Link", exact=True).click()
    expect(link).to_be_checked(timeout=STEP)
    expect(page).not_to_have_url(re.compile(r"link=0"), timeout=STEP)
    expect(page.get_by_label("Symmetric about zero").first).to_be_attached()
    # the runs to compare are asked for once a comparison is chosen
    run_a = page.locator(".hpcdash-controls select").nth(1)
    expect(run_a).to_be_hidden()
    page.locator(".hpcdash-controls select").first.select_option("difference")
    expect(run_a).to_be_visible(timeout=STEP)
    expect(page.locator(".hpcdash-compare canvas").first).to_be_visible(timeout=STEP)
    assert console_errors == []


def test_panes_stack_on_a_narrow_screen_and_sit_side_by_side_on_a_wide_one(page: Page, hpcdash_server,
                                                                           console_errors):
    """Three runs in the grid layout: at 800 px (the sidebar keeps its width) each pane gets the whole
    width, one under the other, none running into another; at 1400 px two panes share a row."""
    query = {"file": "a.h5", "file2": "b.h5", "file3": "c.h5"}

    def boxes(width: int) -> list[dict]:
        page.set_viewport_size({"width": width, "height": 700})
        page.goto(hpcdash_server.url + "/?" + urlencode(query), timeout=LOAD)
        for i in range(3):
            expect(readout(page, i)).to_contain_text("slice", timeout=LOAD)
        page.wait_for_timeout(500)  # the grid takes its final size
        return [pane(page, i).bounding_box() for i in range(3)]

    def overlap(a: dict, b: dict) -> bool:
        return (a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1
                and a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1)

    narrow = boxes(800)
    # the controls between panes wrap too: Compare's A and B stay on screen
    page.locator(".hpcdash-controls select").first.select_option("difference")
    expect(page.locator(".hpcdash-controls select")).to_have_count(3, timeout=STEP)
    expect(page.locator(".hpcdash-controls select").nth(2)).to_be_visible(timeout=STEP)
    selects = [page.locator(".hpcdash-controls select").nth(i).bounding_box() for i in range(3)]
    assert all(b["x"] + b["width"] <= 800 for b in selects), f"a control runs off the screen: {selects}"
    page.locator(".hpcdash-controls select").first.select_option("none")
    assert len({round(b["x"]) for b in narrow}) == 1, f"panes not in one column at 800 px: {narrow}"
    assert all(b["x"] + b["width"] <= 800 for b in narrow), f"a pane runs off the screen: {narrow}"
    assert not any(overlap(a, b) for i, a in enumerate(narrow) for b in narrow[i + 1:]), narrow
    assert narrow[0]["y"] < narrow[1]["y"] < narrow[2]["y"]
    wide = boxes(1400)
    assert abs(wide[0]["y"] - wide[1]["y"]) < 1 and wide[1]["x"] > wide[0]["x"] + wide[0]["width"] - 1, wide
    assert wide[2]["y"] > wide[0]["y"] and abs(wide[2]["x"] - wide[0]["x"]) < 1, wide
    assert not any(overlap(a, b) for i, a in enumerate(wide) for b in wide[i + 1:]), wide
    assert console_errors == []


#: every figure of the page with its ranges and their bounds, the newest last
FIGURE_RANGES = """() => { const out = [];
  for (const d of Bokeh.documents) for (const m of d._all_models.values())
    if (m.x_range && m.y_range && m.renderers && m.x_range.start !== undefined)
      out.push({x: [m.x_range.start, m.x_range.end], y: [m.y_range.start, m.y_range.end],
                bx: m.x_range.bounds, by: m.y_range.bounds});
  return out; }"""


def test_the_wheel_scrolls_the_page_and_zooms_with_ctrl_within_the_data(page: Page, hpcdash_server, console_errors):
    """Over a plot the mouse wheel scrolls the page; Ctrl + wheel zooms, and zooming out stops at the
    whole slice, also after the view was zoomed in and redrawn; the zoom is in the URL, a link reopens
    it; a new normal axis has its own limits."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(hpcdash_server.url + "/?" + urlencode({"file": "a.h5"}), timeout=LOAD)
    expect(readout(page)).to_contain_text("z =", timeout=LOAD)
    canvas = pane(page, 0).locator(".hpcdash-plot canvas").first
    expect(canvas).to_be_visible(timeout=STEP)
    page.wait_for_timeout(1000)
    whole = page.evaluate(FIGURE_RANGES)[-1]
    main_scroll = "() => (document.querySelector('#main') || document.scrollingElement).scrollTop"

    def wheel(dy: int, ctrl: bool) -> dict:
        if ctrl:
            ctrl_wheel(page, canvas, dy, at=(0.6, 0.4))
        else:
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
            page.mouse.wheel(0, dy)
        page.wait_for_timeout(600)  # the zoomed view is rasterized again and sent
        return page.evaluate(FIGURE_RANGES)[-1]

    top = page.evaluate(main_scroll)
    after = wheel(200, ctrl=False)
    assert page.evaluate(main_scroll) > top, "the wheel over a plot did not scroll the page"
    assert after["x"] == whole["x"] and after["y"] == whole["y"], "the wheel without Ctrl zoomed"
    for _ in range(3):
        zoomed = wheel(-100, ctrl=True)
    assert zoomed["x"][1] - zoomed["x"][0] < 0.8 * (whole["x"][1] - whole["x"][0]), (zoomed, whole)
    # the zoomed view goes into the URL (once it rests), and the link reopens it, limits unchanged
    def url_zoom() -> list[float] | None:
        raw = parse_qs(urlparse(page.url).query).get("zoom")
        return [float(v) for v in raw[0].split(",")] if raw else None

    for _ in range(40):  # written once the view has rested
        zoom = url_zoom()
        if zoom is not None and zoom == pytest.approx(zoomed["x"] + zoomed["y"], rel=1e-5, abs=1e-3):
            break
        page.wait_for_timeout(250)
    assert zoom == pytest.approx(zoomed["x"] + zoomed["y"], rel=1e-5, abs=1e-3), (zoom, zoomed)
    page.goto(page.url, timeout=LOAD)
    expect(readout(page)).to_contain_text("z =", timeout=LOAD)
    canvas = pane(page, 0).locator(".hpcdash-plot canvas").first
    expect(canvas).to_be_visible(timeout=STEP)
    page.wait_for_timeout(1000)
    reopened = page.evaluate(FIGURE_RANGES)[-1]
    assert reopened["x"] + reopened["y"] == pytest.approx(zoom, rel=1e-6, abs=1e-6), (reopened, zoom)
    assert reopened["bx"] == pytest.approx(whole["bx"]) and reopened["by"] == pytest.approx(whole["by"])
    for _ in range(12):
        out = wheel(100, ctrl=True)
    assert out["x"] == pytest.approx(whole["x"]) and out["y"] == pytest.approx(whole["y"]), (out, whole)
    expect(page).not_to_have_url(re.compile(r"[?&]zoom="), timeout=STEP)  # the whole slice again
    # a new normal axis: a new plot, limited to its own slice
    pane(page, 0).locator(".hpcdash-axis select").select_option("x")
    expect(readout(page)).to_contain_text("x =", timeout=STEP)
    page.wait_for_timeout(1000)
    side = page.evaluate(FIGURE_RANGES)[-1]
    assert side["bx"] == pytest.approx(side["x"]) and side["by"] == pytest.approx(side["y"]), side
    assert side["x"] + side["y"] != pytest.approx(whole["x"] + whole["y"]), "a plane across x spans other ranges"
    for _ in range(6):
        out = wheel(100, ctrl=True)
    assert out["x"] == pytest.approx(side["x"]) and out["y"] == pytest.approx(side["y"]), (out, side)
    assert console_errors == []


def test_a_zoom_from_a_link_is_cut_to_the_slice_in_the_url_too(page: Page, hpcdash_server, console_errors):
    """A hand-made or stale link's zoom beyond the slice: the plot shows the part inside it, and the URL
    says what is shown (the whole slice: no zoom at all)."""
    page.goto(hpcdash_server.url + "/?" + urlencode({"file": "a.h5", "zoom": "-99999,99999,-99999,99999"}),
              timeout=LOAD)
    expect(readout(page)).to_contain_text("z =", timeout=LOAD)
    expect(pane(page, 0).locator(".hpcdash-plot canvas").first).to_be_visible(timeout=STEP)
    expect(page).not_to_have_url(re.compile(r"[?&]zoom="), timeout=STEP)
    shown = page.evaluate(FIGURE_RANGES)[-1]
    assert shown["x"] == pytest.approx(shown["bx"]) and shown["y"] == pytest.approx(shown["by"]), shown
    assert console_errors == []


def write_depth_file(path: Path, descending: bool) -> None:
    """One volume, z down from the surface, the deepest cells marked: stored with z descending (as
    depth often is) or ascending, the same model either way."""
    import h5py

    z = -5.0 - 10.0 * np.arange(20)  # -5 (surface) .. -195
    values = np.zeros((20, 12, 16), np.float32)
    values[15:] = 1.0  # z <= -155 m
    values[:, :, 12:] += 0.5  # and the easternmost columns
    if not descending:
        z, values = z[::-1], values[::-1]
    with h5py.File(path, "w") as f:
        scales = {}
        for name, c in (("z", z), ("y", 10.0 * np.arange(12)), ("x", 10.0 * np.arange(16))):
            scales[name] = f.create_dataset(name, data=c)
            scales[name].make_scale(name)
            scales[name].attrs["units"] = "m"
        d = f.create_dataset("v", data=values)
        d.attrs["units"] = "1"
        for i, name in enumerate(("z", "y", "x")):
            d.dims[i].attach_scale(scales[name])


def test_a_descending_axis_is_drawn_where_its_coordinates_are(page: Page, hpcdash_server, data_root: Path,
                                                              console_errors):
    """Depth stored from the surface down is drawn like the same model stored upwards (it was drawn
    mirrored: the deepest cells at the top, and the hover named the values of the other end)."""
    write_depth_file(data_root / "depth_down.h5", descending=True)
    write_depth_file(data_root / "depth_up.h5", descending=False)
    open_view(page, hpcdash_server, file="depth_down.h5", file2="depth_up.h5", axis="y", link="0", axis2="y")
    for i in (0, 1):
        expect(readout(page, i)).to_contain_text("y = ", timeout=LOAD)
    page.wait_for_timeout(1500)
    down, up = plot_pixels(page, 0), plot_pixels(page, 1)
    assert changed_fraction(down, up) < 0.01, "the two files of one model are drawn differently"
    assert console_errors == []


def test_panel_serve_dashboard(page: Page, data_root: Path, start_server, console_errors):
    server = start_server([sys.executable, "-m", "panel", "serve", "dashboards/hpcdash_app.py",
                           "--port", "{port}", "--address", "127.0.0.1",
                           "--allow-websocket-origin", "127.0.0.1:{port}",
                           "--args", "--root", str(data_root), "a.h5"], path="/hpcdash_app")
    scripts = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(server.url + "/hpcdash_app", timeout=LOAD)
    ro = readout(page)
    expect(ro).to_contain_text("of 12)", timeout=LOAD)
    assert_lean_bundles(scripts)
    n = slice_number(ro)
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(ro).to_contain_text(f"(slice {n + 1} of 12)", timeout=STEP)
    assert console_errors == []


#: [kind, low, high] of the colour mapper of each drawn image (one entry per image renderer).
_IMAGE_MAPPERS = """() => { const out = new Map(); for (const d of Bokeh.documents) for (const r of d._roots)
  for (const m of r.references()) if (m.type === 'GlyphRenderer' && m.glyph.type === 'Image') {
    const c = m.glyph.color_mapper; out.set(m.id, [c.type, c.low, c.high]); }
  return [...out.values()]; }"""


def test_a_jump_is_drawn_in_its_own_colour_range(page: Page, hpcdash_server, demo_runs, console_errors):
    """End then Home on the slider: the slice shown is coloured (and its colour bar drawn) with its own
    automatic range, as a fresh page of the same view draws it. The browser's colour mapper keeps its
    range in a cache that a range set with the pixels did not refresh: each image and colour bar were
    drawn in the previous slice's range, invisible between neighbours, a flat image after a jump."""
    page.goto(hpcdash_server.url + "/?" + urlencode({"file": demo_runs[0], "axis": "z"}), timeout=LOAD)
    ro = readout(page)
    expect(ro).to_contain_text("of 128)", timeout=LOAD)
    handle = pane(page, 0).locator(".noUi-handle").first
    handle.focus()
    page.keyboard.press("End")
    expect(ro).to_contain_text("(slice 128 of 128)", timeout=STEP)
    page.wait_for_timeout(1000)
    page.keyboard.press("Home")
    expect(ro).to_contain_text("(slice 1 of 128)", timeout=STEP)
    page.wait_for_timeout(1500)
    # the range the mapper draws with (its cached metrics) is the range it holds
    assert page.evaluate(_MAPPER_METRICS) == [True]
    stepped = colour_histogram(plot_pixels(page))
    fresh = page.context.new_page()
    fresh.set_viewport_size(page.viewport_size)
    fresh.goto(page.url, timeout=LOAD)
    expect(readout(fresh)).to_contain_text("(slice 1 of 128)", timeout=LOAD)
    fresh.wait_for_timeout(1500)
    # the same colours in the same amounts (the canvases may differ by a few pixels of layout)
    assert np.abs(colour_histogram(plot_pixels(fresh)) - stepped).sum() < 0.05
    assert console_errors == []


#: For each image colour mapper of the page: whether the range it draws with is the range it holds.
_MAPPER_METRICS = """() => {
    const out = [];
    for (const doc of Bokeh.documents)
        for (const m of doc._all_models.values())
            if (m.constructor.__name__.endsWith("ColorMapper") && m.low != null && m.metrics != null)
                out.push(Math.abs(m.metrics.min - m.low) < 1e-9 && Math.abs(m.metrics.max - m.high) < 1e-9);
    return out;
}"""


def colour_histogram(pixels: np.ndarray, bins: int = 8) -> np.ndarray:
    """Fractions of the pixels in each cell of a coarse RGB grid."""
    q = (pixels // (256 // bins)).reshape(-1, 3)
    codes = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
    return np.bincount(codes, minlength=bins**3) / len(codes)


def test_colour_range_after_steps_matches_a_fresh_view(page: Page, hpcdash_server, console_errors):
    """New slices bring their colour range with their pixels; after key presses (and a colour map change
    in between), the browser's colour mapper holds what a fresh page of the same view gets."""
    open_view(page, hpcdash_server, file="a.h5", axis="z", slice="3")
    ro = readout(page)
    expect(ro).to_contain_text("(slice 3 of 12)", timeout=LOAD)
    before = page.evaluate(_IMAGE_MAPPERS)
    handle = pane(page, 0).locator(".noUi-handle").first
    handle.focus()
    for k, n in enumerate((4, 5, 6, 7)):
        if k == 2:
            pane(page, 0).locator(".hpcdash-cmap select").select_option("magma")
            page.wait_for_timeout(1000)
            handle.focus()
        page.keyboard.press("ArrowRight")
        expect(ro).to_contain_text(f"(slice {n} of 12)", timeout=STEP)
    page.wait_for_timeout(1500)  # the URL follows once the slider rests
    stepped = page.evaluate(_IMAGE_MAPPERS)
    query = parse_qs(urlparse(page.url).query)
    assert query["slice"] == ["7"] and query["cmap"] == ["magma"]  # the number shown
    fresh = page.context.new_page()
    fresh.set_viewport_size({"width": 1400, "height": 1000})
    fresh.goto(page.url, timeout=LOAD)
    expect(fresh.locator(".hpcdash-readout-text").first).to_contain_text("(slice 7 of 12)", timeout=LOAD)
    fresh.wait_for_timeout(1500)
    expected = fresh.evaluate(_IMAGE_MAPPERS)
    assert stepped and stepped == expected, (stepped, expected)
    assert stepped != before  # the range did move with the slices (auto range per slice)
    assert console_errors == []




def wait_for_mapper_kinds(page: Page, kinds: list[str]) -> None:
    """Poll until the drawn images' colour mappers are of `kinds` (one per image)."""
    for _ in range(40):
        now = [m[0] for m in page.evaluate(_IMAGE_MAPPERS)]
        if now == kinds:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"colour mappers {now}, expected {kinds}")


def test_log_colour_scale_switches_the_drawn_mapper(page: Page, hpcdash_server, data_root: Path, console_errors):
    """Linear <-> log needs another kind of colour mapper: after a click the drawn image uses it, and
    stepping keeps its range equal to a fresh page's."""
    from hpcdash.data import write_volume

    values = (10 ** np.random.default_rng(3).normal(size=(10, 12, 14)).cumsum(axis=0) / 5).astype("f4")
    write_volume(data_root / "positive.h5", "/sigma", values,
                 {"z": np.arange(10.0), "y": np.arange(12.0), "x": np.arange(14.0)}, mode="w")
    open_view(page, hpcdash_server, file="positive.h5", slice="4")
    ro = readout(page)
    expect(ro).to_contain_text("(slice 4 of 10)", timeout=LOAD)
    page.wait_for_timeout(1000)
    assert [m[0] for m in page.evaluate(_IMAGE_MAPPERS)] == ["LinearColorMapper"]
    pane(page, 0).locator(".hpcdash-scale").get_by_text("log").click()
    wait_for_mapper_kinds(page, ["LogColorMapper"])
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(ro).to_contain_text("(slice 5 of 10)", timeout=STEP)
    page.wait_for_timeout(1500)
    stepped = page.evaluate(_IMAGE_MAPPERS)
    fresh = page.context.new_page()
    fresh.set_viewport_size({"width": 1400, "height": 1000})
    fresh.goto(page.url, timeout=LOAD)
    expect(fresh.locator(".hpcdash-readout-text").first).to_contain_text("(slice 5 of 10)", timeout=LOAD)
    fresh.wait_for_timeout(1500)
    assert stepped == fresh.evaluate(_IMAGE_MAPPERS)
    pane(page, 0).locator(".hpcdash-scale").get_by_text("linear").click()
    wait_for_mapper_kinds(page, ["LinearColorMapper"])
    assert console_errors == []


#: Each drawn figure's frame (inner) size in pixels and its visible data ranges.
_FRAMES = """() => {
    const out = [];
    for (const doc of Bokeh.documents)
        for (const m of doc._all_models.values())
            if (m.constructor.__name__ === "Figure" && m.inner_width > 0 && m.x_range && m.y_range)
                out.push({w: m.inner_width, h: m.inner_height, W: m.outer_width, H: m.outer_height,
                          dx: m.x_range.end - m.x_range.start, dy: m.y_range.end - m.y_range.start});
    return out;
}"""


def test_plot_keeps_the_slice_aspect(page: Page, hpcdash_server, data_root: Path, console_errors):
    """A slice whose axes share their units is drawn true to shape: a metre across is as long on
    screen as a metre up, whatever the pane's width (the axes and colour bar around the frame do not
    count), and BokehJS's first layout of a stretching plot is not left squashed."""
    import hpcdash

    open_view(page, hpcdash_server, file="a.h5", file2="b.h5")
    expect(readout(page, 1)).to_have_text(re.compile(r"slice \d+ of"), timeout=LOAD)
    with hpcdash.open_volume(data_root / "a.h5") as vol:
        s = vol.slice(0, 0)
        (ydim, xdim) = s.dims
        ratio = float(np.ptp(s[ydim].values) / np.ptp(s[xdim].values))
    assert not 0.8 < ratio < 1.25  # a slice far from square: a wrong aspect shows

    def frames_true_to_shape():
        frames = page.evaluate(_FRAMES)
        return len(frames) == 2 and all(abs((f["h"] / f["dy"]) / (f["w"] / f["dx"]) - 1) < 0.03 for f in frames)

    # two panes side by side, then wider (in narrower panes this flat slice would need a frame lower
    # than the plot's minimum height)
    for width in (1400, 1900):
        page.set_viewport_size({"width": width, "height": 900})
        deadline = time.monotonic() + 10
        while not frames_true_to_shape() and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert frames_true_to_shape(), (width, page.evaluate(_FRAMES), ratio)
    assert console_errors == []


#: Starts watching the page for a plot (or the box standing in for a pane's first plot) with Panel's
#: loading class, and for the texts shown by such boxes. The plot's element is replaced when the normal
#: axis changes, so no single element is watched: every shadow root of the components is observed
#: (MutationObserver, with the class it had before, so that a class set and removed again before the
#: page could poll is still seen), and the whole document is searched every 20 ms as well.
_WATCH_LOADING = """() => {
    window.__hpcdashSawLoading = false;
    window.__hpcdashPlaceholders = [];
    const observed = new WeakSet();
    const loadingClass = (el, old) => (el.classList.contains('hpcdash-plot') || el.classList.contains('hpcdash-placeholder'))
        && (el.classList.contains('pn-loading') || (old || '').split(/\\s+/).includes('pn-loading'));
    const observer = new MutationObserver((records) => {
        for (const m of records)
            if (m.type === 'attributes' && m.target.classList && loadingClass(m.target, m.oldValue))
                window.__hpcdashSawLoading = true;
        if (find(document)) window.__hpcdashSawLoading = true;
    });
    const observe = (root) => {
        if (observed.has(root)) return;
        observed.add(root);
        observer.observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['class'],
                                attributeOldValue: true});
    };
    const find = (root) => {
        observe(root);
        let found = !!root.querySelector('.hpcdash-plot.pn-loading, .hpcdash-placeholder.pn-loading');
        for (const el of root.querySelectorAll('.hpcdash-placeholder')) {
            const text = el.shadowRoot ? [...el.shadowRoot.childNodes]
                .filter(n => !['STYLE', 'LINK'].includes(n.nodeName)).map(n => n.textContent).join('').trim() : '';
            if (text && el.offsetHeight > 0 && !window.__hpcdashPlaceholders.includes(text))
                window.__hpcdashPlaceholders.push(text);
        }
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot && find(el.shadowRoot)) found = true;
        return found;
    };
    if (window.__hpcdashLoadingObserver) window.__hpcdashLoadingObserver.disconnect();
    window.__hpcdashLoadingObserver = observer;
    clearInterval(window.__hpcdashLoadingWatch);
    window.__hpcdashLoadingWatch = setInterval(() => {
        if (find(document)) window.__hpcdashSawLoading = true;
    }, 20);
}"""



def write_slow_file(data_root: Path, name: str, width: int = 256) -> str:
    """A volume whose every new slab takes about two seconds to read: one bzip2 chunk holding the whole
    array (128 x 256 x `width` float32, 32 MiB; bzip2 decodes ~15 MB/s here), so each normal axis decodes
    all of it once. Slow enough that the read outlasts the server's 250 ms before showing a spinner even
    when building the new pane's models holds its event loop on a loaded machine (a wider one, for a
    test that builds a whole pane meanwhile). A new name for each use: the server keeps what it has read
    in its slab cache."""
    import h5py
    import hdf5plugin

    shape = (128, 256, width)
    zz, yy, xx = np.meshgrid(*(np.linspace(0, 4, n) for n in shape), indexing="ij")
    noise = np.random.default_rng(0).normal(scale=0.01, size=shape)
    data = (np.sin(zz) * np.cos(yy) * np.sin(xx) + noise).astype("f4")
    path = data_root / "slow" / name
    path.parent.mkdir(exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("model", data=data, chunks=shape, **hdf5plugin.BZip2(blocksize=9))
    return path.relative_to(data_root).as_posix()


@pytest.fixture(scope="module")
def slow_file(data_root: Path) -> str:
    return write_slow_file(data_root, "slow.h5")


def test_loading_indicator_while_a_slow_slice_is_read(page: Page, hpcdash_server, slow_file: str, console_errors):
    """A read that takes longer than a moment shows the pane's loading indicator, which goes away
    with the new image."""
    open_view(page, hpcdash_server, file=slow_file)
    ro = readout(page)
    expect(ro).to_have_text(re.compile(r"slice \d+ of 128"), timeout=LOAD)
    loading = pane(page, 0).locator(".hpcdash-plot.pn-loading")
    expect(loading).to_have_count(0, timeout=STEP)
    axis = pane(page, 0).locator(".hpcdash-axis select")
    options = [o for o in axis.locator("option").all_inner_texts()]
    assert len(options) == 3
    img = plot_pixels(page)
    for n in (2, 1):
        # the indicator is recorded by the page itself as soon as it appears: a poll from here could
        # fall between its appearance and its removal on a fast machine
        page.evaluate(_WATCH_LOADING)
        axis.select_option(options[n])
        expect(ro).to_have_text(re.compile(rf"^{re.escape(options[n])}: slice \d+ of 256$"), timeout=STEP)
        expect(loading).to_have_count(0, timeout=STEP)  # gone with the new slice ...
        assert page.evaluate("window.__hpcdashSawLoading") is True  # ... and shown while it was decoded
        img = wait_for_image_change(page, img)
    assert console_errors == []


def test_a_file_opened_from_the_browser_is_read_in_the_background(page: Page, hpcdash_server, data_root: Path,
                                                                  console_errors):
    """Opening a file from the sidebar adds its pane at once (title, slider) and shows its loading
    indicator until the first slice has been read (it used to be read before the page answered)."""
    # twice the usual read (~4 s): one run on a busy machine saw no spinner with the usual file; the likely
    # cause, the server's event loop (building the new pane meanwhile) reaching the 250 ms timer only after
    # the read had ended, when there is correctly nothing to show
    slow_file = write_slow_file(data_root, "slow_opened.h5", width=512)
    open_view(page, hpcdash_server, file="a.h5", link="0")
    expect(readout(page, 0)).to_contain_text("of 12)", timeout=LOAD)
    page.evaluate(_WATCH_LOADING)
    page.get_by_placeholder("runs/run_01.h5").fill(slow_file)
    clicked = time.monotonic()
    page.get_by_role("button", name="Open path").click()
    expect(page.locator(".hpcdash-pane")).to_have_count(2, timeout=STEP)
    added = time.monotonic() - clicked
    expect(pane(page, 1).locator(".hpcdash-title")).to_contain_text("slow_opened.h5", timeout=STEP)
    expect(readout(page, 1)).to_have_text(re.compile(r"slice \d+ of 128"), timeout=STEP)
    read = time.monotonic() - clicked
    expect(pane(page, 1).locator(".hpcdash-plot.pn-loading")).to_have_count(0, timeout=STEP)
    # (the times say whether the page got the pane while the slice was still being read)
    assert page.evaluate("window.__hpcdashSawLoading") is True, (
        f"no loading indicator; the pane was on the page {added:.1f} s after the click, its slice {read:.1f} s "
        f"after it; placeholders seen: {page.evaluate('window.__hpcdashPlaceholders')}")
    # meanwhile the pane said what it was doing where its plot was to come; that box is gone now
    assert "Reading the first slice of slow_opened.h5…" in page.evaluate("window.__hpcdashPlaceholders")
    expect(pane(page, 1).locator(".hpcdash-placeholder")).to_be_hidden(timeout=STEP)
    expect(pane(page, 0).locator(".hpcdash-placeholder")).to_be_hidden()
    plot_pixels(page, 1)  # drawn
    assert console_errors == []


def _first_document_text(server, **query) -> str:
    """The text of every visible HTML model of a new session's document as the server first sends it (a
    Python bokeh.client session pulls it right after the server has built the page; in a thread of its
    own, as Playwright's event loop runs in this one)."""
    from concurrent.futures import ThreadPoolExecutor

    import panel.models  # noqa: F401 - registers Panel's bokeh models for deserializing
    from bokeh.client import pull_session

    def pull() -> str:
        session = pull_session(url=server.url + "/", arguments=query)
        try:
            return "\n".join(str(m.text) for root in session.document.roots for m in root.references()
                             if isinstance(getattr(m, "text", None), str) and getattr(m, "visible", True))
        finally:
            session.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(pull).result(timeout=LOAD / 1000)


def test_a_slow_file_in_the_url_does_not_hold_the_page(page: Page, hpcdash_server, data_root: Path, console_errors):
    """A link to a slow file (a 2 s read here): the page is sent after the server's short wait, with the
    pane saying it reads the first slice, and the slice follows. The page used to be sent only once
    the first slice was read (seconds of a blank tab). A quick file still comes with its image."""
    slow_file = write_slow_file(data_root, "slow_linked.h5")
    # what the page holds when it is sent (a browser may draw it only after the read has ended)
    assert "Reading the first slice of slow_linked.h5…" in _first_document_text(hpcdash_server, file=slow_file)
    # (a machine busy with other work may take longer than the server's wait now and then: one new page
    # of three is enough to show that a quick file comes with its image)
    assert any("Reading the first slice" not in _first_document_text(hpcdash_server, file="a.h5") for _ in range(3))
    # in chromium: the slice follows and the placeholder goes
    open_view(page, hpcdash_server, file=write_slow_file(data_root, "slow_linked_2.h5"))
    expect(pane(page, 0).locator(".hpcdash-title")).to_contain_text("slow_linked_2.h5", timeout=LOAD)
    expect(pane(page, 0).locator(".hpcdash-plot canvas").first).to_be_visible(timeout=STEP)
    expect(pane(page, 0).locator(".hpcdash-placeholder")).to_be_hidden(timeout=STEP)
    expect(pane(page, 0).locator(".hpcdash-plot.pn-loading")).to_have_count(0, timeout=STEP)
    # (the same patience as the lines above: one run on a busy machine still showed an empty readout 5 s
    # after the image)
    try:
        expect(readout(page)).to_have_text(re.compile(r"slice \d+ of 128"), timeout=STEP)
    except AssertionError as err:  # rare (twice in many runs): what the page said, for the next look
        raise AssertionError(f"no readout after the image; console: {console_errors}") from err
    plot_pixels(page)  # drawn
    assert console_errors == []


def test_a_slice_read_while_the_page_is_still_drawn_reaches_it(page: Page, hpcdash_server, data_root: Path,
                                                               console_errors):
    """A page that has fetched its document but not yet said it is drawn (a slow browser: here its
    "document_ready" message is held back until the slice has come) gets the slice read meanwhile: the
    image and its readout. Panel drops what changes under its `hold` until that message, and a slow CI
    browser kept an empty readout beside the image for good."""
    name = write_slow_file(data_root, "slow_drawing.h5")
    held: list = []  # the frames of the page's "document_ready" message, held back
    links: dict = {}

    def route(ws) -> None:
        server = links["server"] = ws.connect_to_server()
        frames: list = []  # of the message being sent: header, metadata, content, then its buffers

        def from_page(frame) -> None:
            frames.append(frame)
            if len(frames) < 3 + json.loads(frames[0]).get("num_buffers", 0):
                return
            message = list(frames)
            frames.clear()
            if not links.get("released") and any(isinstance(f, str) and "document_ready" in f for f in message):
                held.extend(message)
                return
            for f in message:
                server.send(f)

        ws.on_message(from_page)

    page.route_web_socket(re.compile(r"/ws"), route)
    open_view(page, hpcdash_server, file=name)
    expect(pane(page, 0).locator(".hpcdash-plot canvas").first).to_be_visible(timeout=LOAD)
    assert held, "the page said it was drawn before the slice came"
    expect(readout(page)).to_have_text(re.compile(r"slice \d+ of 128"), timeout=STEP)
    # the page then says it is drawn, and goes on as usual
    links["released"] = True
    for frame in held:
        links["server"].send(frame)
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(readout(page)).to_have_text(re.compile(r"slice 66 of 128"), timeout=STEP)
    assert console_errors == []


def test_a_run_stored_x_y_z_is_drawn_like_the_same_run_stored_z_y_x(page: Page, hpcdash_server, data_root: Path,
                                                                     console_errors):
    """A model stored (x, y, z) opens cut across depth and shows the picture of the same model stored
    (z, y, x), map and section alike: depth up, north up, east across; the two zoom together and
    compare as equal (it showed x up and y across, depth across in sections, and Compare called the
    grids different)."""
    from tests.ui.hdf5_files import write_ordered

    write_ordered(data_root / "orient_zyx.h5", "zyx")
    write_ordered(data_root / "orient_xyz.h5", "xyz")
    compared = page.locator(".hpcdash-compare canvas").first
    for axis in ("z", "y"):
        query = dict(axis=axis, axis2=axis) if axis != "z" else {}
        open_view(page, hpcdash_server, file="orient_zyx.h5", file2="orient_xyz.h5", compare="difference", **query)
        for i in (0, 1):
            expect(readout(page, i)).to_contain_text(f"{axis} = ", timeout=LOAD)
        expect(compared).to_be_visible(timeout=STEP)
        expect(page.get_by_text("The grids differ")).to_have_count(0)
        page.wait_for_timeout(1500)
        a, b = plot_pixels(page, 0), plot_pixels(page, 1)
        assert changed_fraction(a, b) < 0.01, f"the {axis}-slices of one model are drawn differently"
        assert page.evaluate(FIGURE_RANGES)[0]["y"] == page.evaluate(FIGURE_RANGES)[1]["y"]
    # zoom one pane: the other follows (the same place), and the comparison with them
    for _ in range(2):
        ctrl_wheel(page, pane(page, 0).locator(".hpcdash-plot canvas").first, -100)
        page.wait_for_timeout(400)
    ranges = [tuple(r["x"] + r["y"]) for r in page.evaluate(FIGURE_RANGES)]
    assert len(ranges) == 3 and len(set(ranges)) == 1, ranges
    assert console_errors == []


def test_a_positive_down_depth_is_drawn_increasing_downwards(page: Page, hpcdash_server, data_root: Path,
                                                              console_errors):
    """A vertical section of a depth axis with CF positive="down" has the surface at the top, as the
    same model stored as elevation (it was drawn upside down); the readout keeps the depth."""
    from tests.ui.hdf5_files import ORIENT_Z, write_ordered

    write_ordered(data_root / "orient_depth.h5", "xyz", {"z": "depth"}, {"z": {"positive": "down"}}, z=-ORIENT_Z)
    write_ordered(data_root / "orient_elevation.h5", "zyx")
    open_view(page, hpcdash_server, file="orient_depth.h5", file2="orient_elevation.h5", axis="y", axis2="y",
              link="0")
    for i in (0, 1):
        expect(readout(page, i)).to_contain_text("y = ", timeout=LOAD)
    page.wait_for_timeout(1500)
    depth, elevation = plot_pixels(page, 0), plot_pixels(page, 1)
    h, w = depth.shape[:2]
    # inside the frames (the axes' labels differ: depth 5 .. 55, z -5 .. -55)
    inner = (slice(int(h * 0.35), int(h * 0.65)), slice(int(w * 0.3), int(w * 0.6)))
    assert changed_fraction(depth[inner], elevation[inner]) < 0.01
    ys = [r["y"] for r in page.evaluate(FIGURE_RANGES)]
    assert len(ys) == 2
    depth_range, elevation_range = sorted(ys, key=max, reverse=True)  # depth 0 .. 60 m, z -60 .. 0 m
    assert depth_range == pytest.approx([60, 0]), ys  # the range starts at the bottom: the deepest
    assert elevation_range == pytest.approx([-60, 0]), ys
    # a zoom keeps the depth downwards, goes into the URL as (x0, x1, y0, y1) like any other, and a
    # link reopens it; two depth runs linked zoom together
    for _ in range(2):
        ctrl_wheel(page, pane(page, 0).locator(".hpcdash-plot canvas").first, -100, at=(0.5, 0.3))
        page.wait_for_timeout(400)
    zoomed = next(r for r in page.evaluate(FIGURE_RANGES) if max(r["y"]) > 0)
    assert zoomed["y"][0] > zoomed["y"][1] and zoomed["y"][0] - zoomed["y"][1] < 60, zoomed
    want = [*zoomed["x"], zoomed["y"][1], zoomed["y"][0]]
    for _ in range(40):
        raw = parse_qs(urlparse(page.url).query).get("zoom")
        if raw and [float(v) for v in raw[0].split(",")] == pytest.approx(want, rel=1e-5, abs=1e-3):
            break
        page.wait_for_timeout(250)
    else:
        raise AssertionError((page.url, want))
    page.goto(page.url, timeout=LOAD)
    expect(readout(page, 0)).to_contain_text("y = ", timeout=LOAD)
    plot_pixels(page, 0)
    page.wait_for_timeout(1000)
    again = next(r for r in page.evaluate(FIGURE_RANGES) if max(r["y"]) > 0)
    assert again["x"] == pytest.approx(zoomed["x"]) and again["y"] == pytest.approx(zoomed["y"]), (again, zoomed)
    write_ordered(data_root / "orient_depth2.h5", "zyx", {"z": "depth"}, {"z": {"positive": "down"}}, z=-ORIENT_Z)
    open_view(page, hpcdash_server, file="orient_depth.h5", file2="orient_depth2.h5", axis="y")
    for i in (0, 1):
        expect(readout(page, i)).to_contain_text("y = ", timeout=LOAD)
    plot_pixels(page, 1)
    page.wait_for_timeout(1000)
    ctrl_wheel(page, pane(page, 1).locator(".hpcdash-plot canvas").first, -100)
    page.wait_for_timeout(600)
    ranges = [tuple(r["x"] + r["y"]) for r in page.evaluate(FIGURE_RANGES)]
    assert len(set(ranges)) == 1 and ranges[0][2] > ranges[0][3] and ranges[0][2] - ranges[0][3] < 60, ranges
    assert console_errors == []


def test_a_run_named_by_cf_axis_attributes_links_zooms_and_compares_with_z_y_x(page: Page, hpcdash_server,
                                                                               data_root: Path, console_errors):
    """The model stored (z, y, x), and stored (i, j, k) with dims that say what they are only by CF
    `axis` attributes: linked, the second takes the first's normal axis and slice as its own j and k,
    the two and their comparison zoom together, and Compare draws A - B (it said the runs were sliced
    along other axes)."""
    from tests.ui.hdf5_files import write_ordered

    write_ordered(data_root / "roles_zyx.h5", "zyx")
    write_ordered(data_root / "roles_kji.h5", "xyz", {"z": "k", "y": "j", "x": "i"},
                  {d: {"axis": d.upper()} for d in "zyx"})
    open_view(page, hpcdash_server, file="roles_zyx.h5", file2="roles_kji.h5", axis="y", compare="difference")
    expect(readout(page, 0)).to_contain_text("y = ", timeout=LOAD)
    expect(readout(page, 1)).to_contain_text("j = ", timeout=LOAD)
    expect(page.locator(".hpcdash-compare canvas").first).to_be_visible(timeout=STEP)
    expect(page.get_by_text("sliced along")).to_have_count(0)
    expect(page.get_by_text("The grids differ")).to_have_count(0)
    n = slice_number(readout(page, 0))
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(readout(page, 1)).to_contain_text(f"(slice {n + 1} of", timeout=STEP)
    page.wait_for_timeout(1500)
    a, b = plot_pixels(page, 0), plot_pixels(page, 1)
    h, w = a.shape[:2]
    inner = (slice(int(h * 0.35), int(h * 0.65)), slice(int(w * 0.3), int(w * 0.6)))  # axis labels differ
    assert changed_fraction(a[inner], b[inner]) < 0.01
    for _ in range(2):
        ctrl_wheel(page, pane(page, 1).locator(".hpcdash-plot canvas").first, -100)
        page.wait_for_timeout(400)
    ranges = [tuple(r["x"] + r["y"]) for r in page.evaluate(FIGURE_RANGES)]
    assert len(ranges) == 3 and len(set(ranges)) == 1, ranges
    assert console_errors == []


def test_a_pane_from_the_keyboard_the_plot_is_named_and_its_tools_are_buttons(page: Page, hpcdash_server, demo_runs,
                                                                             console_errors):
    """Tab through a pane: every stop has a name; Reload is described by its tooltip's text; the plot's
    canvas (a stop, for its tools' keys) is an image named by its axes and colour bar, not an unnamed
    group; the toolbar's tools are buttons, the on/off ones saying whether they are on, and Enter on Box
    Zoom turns it on and Pan off."""
    from tests.ui.a11y import focused, tab_stops

    open_view(page, hpcdash_server, file=demo_runs[0])
    expect(readout(page)).to_contain_text("slice", timeout=LOAD)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Accessibility.enable")
    stops = tab_stops(page, cdp, ".hpcdash-reload button", limit=30)
    assert all(s["name"] for s in stops), stops
    names = [s["name"] for s in stops]
    assert stops[0]["description"].startswith("Open the file again"), stops[0]
    (plot,) = [s for s in stops if s["role"] == "image"]
    assert re.fullmatch(r"y \(m\) against x \(m\), colour: log10 electrical conductivity \[log10\(S/m\)\]",
                        plot["name"]), plot
    assert names.index(plot["name"]) < names.index("Pan")
    tools = {s["name"]: s for s in stops if s["name"] in ("Pan", "Box Zoom", "Wheel Zoom", "Save", "Reset", "Hover")}
    assert len(tools) == 6 and {s["role"] for s in tools.values()} == {"button"}, tools
    assert [tools[t]["pressed"] for t in ("Pan", "Box Zoom", "Save", "Reset")] == ["true", "false", None, None]
    # Enter on Box Zoom: on, and Pan (the other drag tool) off
    page.locator(".hpcdash-reload button").first.focus()
    for _ in range(names.index("Box Zoom")):
        page.keyboard.press("Tab")
    assert focused(page, cdp)["name"] == "Box Zoom"
    page.keyboard.press("Enter")
    assert focused(page, cdp)["pressed"] == "true"
    page.keyboard.press("Shift+Tab")
    assert focused(page, cdp)["name"] == "Pan" and focused(page, cdp)["pressed"] == "false"
    assert console_errors == []


def test_the_url_follows_the_view_without_filling_the_back_button(page: Page, hpcdash_server, console_errors):
    """Each slice, colour map and axis lands in the URL, but in the entry the page was opened under:
    Back then leaves the page (or goes where the user was before), rather than stepping the address bar
    through every slice while the page stays as it is."""
    open_view(page, hpcdash_server, file="a.h5")
    ro = readout(page)
    expect(ro).to_contain_text("(slice ", timeout=LOAD)
    entries = page.evaluate("() => history.length")
    handle = pane(page, 0).locator(".noUi-handle").first
    for _ in range(3):
        n = slice_number(ro)
        handle.focus()
        page.keyboard.press("ArrowRight")
        expect(ro).to_contain_text(f"(slice {n + 1} of ", timeout=STEP)
        expect(page).to_have_url(re.compile(rf"slice={n + 1}(&|$)"), timeout=STEP)  # each one rested
    pane(page, 0).locator(".hpcdash-cmap select").select_option("gray")
    expect(page).to_have_url(re.compile(r"cmap=gray"), timeout=STEP)
    assert page.evaluate("() => history.length") == entries
    page.go_back(timeout=LOAD)  # to the page before ours, the new tab's blank one
    expect(page).to_have_url("about:blank", timeout=STEP)
    assert console_errors == []


def test_a_narrow_pane_puts_the_readout_under_a_slider_of_usable_width(page: Page, hpcdash_server, console_errors):
    """Wide, the readout stands beside the slice slider; in a pane too narrow for both (a small window,
    a JupyterLab tab split in two) it goes under it, and the slider keeps a width one can step along."""
    from hpcdash.explorer.views import SLIDER_MIN_WIDTH

    open_view(page, hpcdash_server, file="a.h5")
    ro = readout(page)
    expect(ro).to_contain_text("(slice ", timeout=LOAD)
    slider = pane(page, 0).locator(".hpcdash-slice").first

    def layout() -> tuple[dict, dict]:
        page.wait_for_timeout(500)
        return slider.bounding_box(), ro.bounding_box()

    s, r = layout()
    assert r["x"] >= s["x"] + s["width"] - 1 and r["y"] < s["y"] + s["height"], (s, r)  # one line
    page.set_viewport_size({"width": 640, "height": 900})
    page.wait_for_function("() => window.innerWidth === 640")
    s, r = layout()
    assert s["width"] >= SLIDER_MIN_WIDTH - 1, s
    assert r["y"] >= s["y"] + s["height"] - 1, (s, r)  # under the slider
    assert console_errors == []


#: The titles of the colour bars drawn.
_COLOUR_BAR_TITLES = """() => { const out = new Set(); for (const d of Bokeh.documents) for (const r of d._roots)
  for (const m of r.references()) if (m.type === 'ColorBar') out.add(m.title); return [...out]; }"""


def test_complex_values_show_the_part_chosen(page: Page, hpcdash_server, data_root: Path, console_errors):
    """A frequency-domain field (complex values) opens on its amplitude; "Complex part" shows its phase
    in degrees (colour bar, colour range, the URL); a pane of real values has no such choice."""
    rng = np.random.default_rng(11)
    values = (rng.normal(size=(6, 8, 10)) + 1j * rng.normal(size=(6, 8, 10))).astype(np.complex64)
    with h5py.File(data_root / "fdem.h5", "w") as f:
        ds = f.create_dataset("e_x", data=values)
        ds.attrs["units"], ds.attrs["long_name"] = "V/m", "electric field x"
    open_view(page, hpcdash_server, file="fdem.h5", file2="a.h5", layout="grid")
    expect(readout(page, 1)).to_contain_text("(slice ", timeout=LOAD)
    part = pane(page, 0).locator(".hpcdash-part select")
    expect(part).to_have_value("amplitude", timeout=STEP)
    expect(pane(page, 1).locator(".hpcdash-part")).to_be_hidden()
    page.wait_for_timeout(1000)
    assert "amplitude of electric field x [V/m]" in page.evaluate(_COLOUR_BAR_TITLES)
    before = plot_pixels(page)
    part.select_option("phase")
    wait_for_image_change(page, before)
    deadline = time.monotonic() + STEP / 1000
    while "phase of electric field x [deg]" not in page.evaluate(_COLOUR_BAR_TITLES) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert "phase of electric field x [deg]" in page.evaluate(_COLOUR_BAR_TITLES)
    lows_highs = [(lo, hi) for _, lo, hi in page.evaluate(_IMAGE_MAPPERS)]
    assert any(-180 <= lo < -90 and 90 < hi <= 180 for lo, hi in lows_highs), lows_highs
    # a cyclic colormap for it: the same colour at -180 and 180 degrees
    phase = plot_pixels(page)
    pane(page, 0).locator(".hpcdash-cmap select").select_option("colorwheel")
    wait_for_image_change(page, phase, min_fraction=0.2)
    q = parse_qs(urlparse(page.url).query)
    assert q["part"] == ["phase"] and q["cmap"] == ["colorwheel"] and "part2" not in q
    assert console_errors == []


def span_locations(page: Page, name: str) -> list:
    """The locations of the page's Bokeh Spans named `name`, those shown only."""
    return page.evaluate("""(name) => { const at = [];
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.constructor.__name__ === 'Span' && m.name === name && m.visible) at.push(m.location);
        return at }""", name)


def marks_at(page: Page, where: float, count: int = 1) -> None:
    """Wait until the page's dashed marks (Bokeh Spans: the slice on a profile, the iteration on a run's
    history) are `count` and all at `where`."""
    page.wait_for_function("""([where, count]) => { const at = [];
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.constructor.__name__ === 'Span' && m.name === 'hpcdash-mark') at.push(m.location);
        return at.length == count && at.every((v) => Math.abs(v - where) < 1e-6) }""", arg=[where, count],
                           timeout=STEP)


def test_a_click_on_the_comparison_draws_both_runs_profiles(page: Page, hpcdash_server, console_errors):
    """A click on A - B: the profiles of A and B through that point under their panes, and together
    above them (Link on), and A - B along them under the comparison; each marks the slice shown, and
    the marks follow the slider."""
    open_view(page, hpcdash_server, file="a.h5", file2="b.h5", compare="difference")
    compared = page.locator(".hpcdash-compare-plot canvas").first
    expect(compared).to_be_visible(timeout=LOAD)
    expect(page.locator(".hpcdash-compare-hint")).to_contain_text("Click the comparison to plot A's and B's values",
                                                                  timeout=STEP)
    box = compared.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    for i in (0, 1):
        expect(pane(page, i).locator(".hpcdash-profile-where")).to_contain_text(
            re.compile(r"Profile along z through y = "), timeout=STEP)
        expect(pane(page, i).locator(".hpcdash-profile-plot canvas").first).to_be_visible(timeout=STEP)
    expect(page.locator(".hpcdash-profiles-plot canvas").first).to_be_visible(timeout=STEP)
    # the point marked on both slices and on the comparison (a crosshair each)
    page.wait_for_function("""(name) => { let n = 0;
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.constructor.__name__ === 'Span' && m.name === name && m.visible) n++;
        return n == 6 }""", arg="hpcdash-probe", timeout=STEP)
    assert len(set(span_locations(page, "hpcdash-probe"))) == 2  # one x, one y
    # and A - B along both profiles, under the comparison
    expect(page.locator(".hpcdash-compare-profile-where")).to_contain_text(re.compile(r"A - B along z through y = "),
                                                                           timeout=STEP)
    expect(page.locator(".hpcdash-compare-profile canvas").first).to_be_visible(timeout=STEP)
    # the slice shown marked on each profile plot (each run's, both runs', the comparison's); a step moves them
    depth = re.compile(r"z = (-?[\d.]+) m")
    marks_at(page, float(depth.search(readout(page, 0).inner_text()).group(1)), count=4)
    before = readout(page, 0).inner_text()
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(readout(page, 0)).not_to_have_text(before, timeout=STEP)
    marks_at(page, float(depth.search(readout(page, 0).inner_text()).group(1)), count=4)
    assert console_errors == []


def test_follow_brings_each_new_iteration_of_a_running_inversion_into_view(page: Page, hpcdash_server,
                                                                          data_root: Path, console_errors):
    """An inversion (this test process) appends an iteration to the 4-D file a pane shows with Follow on
    (from the link): the pane opens the file again by itself and shows the newest iteration, no click."""
    from hpcdash.data import append_mesh_model
    from hpcdash.sim.mesh import TensorMesh

    mesh = TensorMesh.padded((6, 8, 10), 10.0, n_pad=2)
    rng = np.random.default_rng(5)
    path = data_root / "live_inversion.h5"
    path.unlink(missing_ok=True)
    for it in (1, 2):
        append_mesh_model(path, "/model/conductivity", mesh, rng.random(mesh.n_cells), step=it, units="S/m",
                          history={"phi_d": 1000.0 / it})
    open_view(page, hpcdash_server, file="live_inversion.h5", follow="1")
    ro = readout(page)
    expect(ro).to_contain_text("iteration = 2 (slice 2 of 2)", timeout=LOAD)
    # the misfit the inversion kept per iteration, plotted under the slice, the iteration shown marked
    expect(pane(page, 0).locator(".hpcdash-history-where")).to_contain_text("Run history", timeout=STEP)
    marks_at(page, 2.0)
    follow = pane(page, 0).get_by_label("Follow", exact=True)
    expect(follow).to_be_checked()
    img = plot_pixels(page)
    append_mesh_model(path, "/model/conductivity", mesh, rng.random(mesh.n_cells) + 5, step=3,
                      history={"phi_d": 90.0})
    expect(ro).to_contain_text("iteration = 3 (slice 3 of 3)", timeout=STEP)
    wait_for_image_change(page, img)
    marks_at(page, 3.0)
    expect(pane(page, 0).locator(".hpcdash-reload button")).not_to_have_class(re.compile(r"bk-btn-primary"))
    # unticked, the next iteration waits for Reload
    follow.uncheck()
    append_mesh_model(path, "/model/conductivity", mesh, rng.random(mesh.n_cells), step=4)
    expect(pane(page, 0).locator(".hpcdash-reload button")).to_have_class(re.compile(r"bk-btn-primary"),
                                                                          timeout=STEP)
    page.wait_for_timeout(3000)
    expect(ro).to_contain_text("iteration = 3 (slice 3 of 3)")
    assert "follow" not in parse_qs(urlparse(page.url).query)
    assert console_errors == []


def test_a_click_on_the_slice_draws_the_profile_through_it_in_each_linked_run(page: Page, hpcdash_server,
                                                                               data_root: Path, tmp_path: Path,
                                                                               console_errors):
    """Click a point of one run's slice: each linked run (c.h5 on another y grid) draws the values along
    the normal axis through its own cell nearest that point; the .csv of one is what h5py reads there;
    the point is in the URL; Clear on either removes both."""
    open_view(page, hpcdash_server, file="a.h5", file2="c.h5")
    for i in (0, 1):
        expect(readout(page, i)).to_contain_text("(slice ", timeout=LOAD)
    hint = pane(page, 0).locator(".hpcdash-profile-hint")
    expect(hint).to_contain_text("Click the slice to plot the values along z", timeout=STEP)
    wheres = [pane(page, i).locator(".hpcdash-profile-where") for i in (0, 1)]
    expect(wheres[0]).to_be_hidden()
    canvas = pane(page, 0).locator(".hpcdash-plot canvas").first
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    for where in wheres:
        expect(where).to_contain_text(re.compile(r"Profile along z through y = [\d.]+ m · x = -?[\d.]+ m"), timeout=STEP)
    expect(hint).to_be_hidden()
    for i in (0, 1):
        expect(pane(page, i).locator(".hpcdash-profile-plot canvas").first).to_be_visible(timeout=STEP)
    # above the panes, both runs' profiles in one plot
    expect(page.locator(".hpcdash-profiles-where")).to_contain_text(
        re.compile(r"Profiles of the linked runs along z through y = "), timeout=STEP)
    expect(page.locator(".hpcdash-profiles-plot canvas").first).to_be_visible(timeout=STEP)
    page.wait_for_function("() => location.search.includes('probe2.x')", timeout=STEP)
    q = parse_qs(urlparse(page.url).query)
    x, y = float(q["probe.x"][0]), float(q["probe.y"][0])
    # the point is marked on both slices (a crosshair: a line at its x and one at its y in each)
    page.wait_for_function("""(name) => { let n = 0;
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.constructor.__name__ === 'Span' && m.name === name && m.visible) n++;
        return n == 4 }""", arg="hpcdash-probe", timeout=STEP)
    shown = span_locations(page, "hpcdash-probe")
    assert shown.count(x) == 2 and y in shown
    with page.expect_download(timeout=STEP) as info:
        pane(page, 1).locator(".hpcdash-profile").get_by_role("button", name=".csv").click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    with h5py.File(data_root / "c.h5", "r", locking=False) as f:  # as the explorer opens it (tests of this process may hold it)
        xs, ys, zs = (f[f"/model/{d}"][()] for d in ("x", "y", "z"))
        ix, iy = int(np.abs(xs - x).argmin()), int(np.abs(ys - y).argmin())
        expected = f["/model/conductivity"][:, iy, ix]
    assert target.name == f"c_z_profile_y{iy + 1}_x{ix + 1}.csv"
    lines = target.read_text().splitlines()
    assert lines[0] == "z,conductivity" and len(lines) == 1 + len(zs)
    table = np.loadtxt(lines[1:], delimiter=",")
    np.testing.assert_allclose(table[:, 0], zs)
    np.testing.assert_allclose(table[:, 1], expected, rtol=1e-6)
    # stepping the slice keeps the profile; its mark (a dashed line in each run's plot and in the plot
    # of both) moves to the slice's depth; Clear on the other run removes both
    before = readout(page, 0).inner_text()
    pane(page, 0).locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(readout(page, 0)).not_to_have_text(before, timeout=STEP)
    marks_at(page, float(re.search(r"z = (-?[\d.]+) m", readout(page, 0).inner_text()).group(1)), count=3)
    expect(wheres[1]).to_be_visible()
    pane(page, 1).locator(".hpcdash-profile").get_by_role("button", name="Clear").click()
    for where in wheres:
        expect(where).to_be_hidden(timeout=STEP)
    expect(page.locator(".hpcdash-profiles-where")).to_be_hidden(timeout=STEP)
    expect(hint).to_be_visible(timeout=STEP)
    page.wait_for_function("""() => { for (const doc of Bokeh.documents) for (const m of doc.all_models)
        if (m.constructor.__name__ === 'Span' && m.name === 'hpcdash-probe' && m.visible) return false;
        return true }""", timeout=STEP)
    page.wait_for_function("() => !location.search.includes('probe')", timeout=STEP)
    assert console_errors == []
