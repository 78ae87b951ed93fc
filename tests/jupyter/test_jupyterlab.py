"""hpcdash inside a real JupyterLab: the launcher tile from the jupyter-server-proxy entry point, an HDF5
file double-clicked in JupyterLab's file browser opening in an hpcdash tab (the prebuilt lab extension),
and the explorer embedded in a notebook.

One JupyterLab server serves the whole module; the hpcdash process behind the proxy is started by the
first test that needs it and reused by the next.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port, wait_for_http

pytestmark = [pytest.mark.jupyter, pytest.mark.ui]

REPO = Path(__file__).resolve().parents[2]
LABEXTENSION = REPO / "hpcdash" / "labextension"
#: Messages JupyterLab itself logs as errors in a headless browser; they say nothing about hpcdash.
#: The explorer's readout of the slice position, e.g. "z = -148.7 m".
READOUT = re.compile(r"z = -?\d+(\.\d+)? m")
LAB_NOISE = ("favicon", "Could not restore the debugger state", "debug_request")

NOTEBOOK_CELLS = [
    "import panel as pn\nimport hpcdash\n\npn.extension()",
    'explorer = hpcdash.SliceExplorer("run-a.h5")\nexplorer',
]


def _write_run(path: Path) -> None:
    import numpy as np

    from hpcdash.data import write_volume

    z = np.linspace(-300, -10, 24)
    y = np.linspace(-200, 200, 32)
    x = np.linspace(-250, 250, 40)
    data = np.sin(x[None, None, :] / 60) * np.cos(y[None, :, None] / 50) + z[:, None, None] / 300
    path.parent.mkdir(parents=True, exist_ok=True)
    write_volume(path, "sigma", data.astype("float32"), {"z": z, "y": y, "x": x},
                 units="S/m", long_name="conductivity", coord_units={"z": "m", "y": "m", "x": "m"})


def _write_notebook(path: Path, cells: list[str] = NOTEBOOK_CELLS) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@contextmanager
def _running_lab(tmp_path_factory, extra_args: tuple[str, ...] = ()) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on loopback, no token, rooted in a folder holding two runs (one in a
    sub-folder, with a space in its name) and a notebook. The lab extension is the repository's build."""
    pytest.importorskip("jupyterlab")
    pytest.importorskip("jupyter_server_proxy")
    root = tmp_path_factory.mktemp("lab-root")
    _write_run(root / "run-a.h5")
    _write_run(root / "results" / "run b.h5")
    _write_notebook(root / "explorer.ipynb")
    tmp = tmp_path_factory.mktemp("jupyter")
    cfg = tmp / "config"
    (cfg / "labconfig").mkdir(parents=True)
    # no "news" toast, no extension manager calling out
    (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    # The user data dir comes first in JupyterLab's extension path, so this build is the one loaded
    # even where an older copy is installed in the environment.
    (tmp / "data" / "labextensions").mkdir(parents=True)
    (tmp / "data" / "labextensions" / "hpcdash").symlink_to(LABEXTENSION, target_is_directory=True)
    port = free_port()
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(cfg),
           "JUPYTER_DATA_DIR": str(tmp / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "IPYTHONDIR": str(tmp / "ipython"),
           # notebook outputs must carry BokehJS/Panel JS inline: the page cannot reach a CDN
           "PANEL_INLINE": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    env.pop("HPCDASH_ROOT", None)
    log = open(tmp / "lab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--port", str(port), "--ip", "127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root",
         "--LabApp.extension_manager=readonly", f"--ServerApp.root_dir={root}", *extra_args],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/api/status", proc, timeout=120)
        yield base, root
    finally:
        proc.terminate()  # jupyter-server-proxy stops the hpcdash process it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab with jupyter-server-proxy, as users run it."""
    with _running_lab(tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="module")
def lab_without_proxy(tmp_path_factory):
    """JupyterLab where jupyter-server-proxy is not enabled (hpcdash installed without its extra)."""
    with _running_lab(tmp_path_factory, ('--ServerApp.jpserver_extensions={"jupyter_server_proxy": False}',)) \
            as server:
        yield server


def _screenshot(page, name: str) -> None:
    """Save a screenshot into $HPCDASH_SCREENSHOTS (for the README and for looking), if it is set."""
    folder = os.environ.get("HPCDASH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))


def _hpcdash_process():
    """The `hpcdash serve` process jupyter-server-proxy started (a child of this test's JupyterLab)."""
    import psutil

    found = [p for p in psutil.process_iter(["cmdline"])
             if p.info["cmdline"] and "hpcdash" in p.info["cmdline"] and "serve" in p.info["cmdline"]
             and "--unix-socket" in p.info["cmdline"]]
    assert len(found) == 1, found
    return found[0]


def _run_all(page, base: str, notebook: str, drawn: str = "canvas"):
    """Open `notebook` in JupyterLab, restart its kernel and run all cells; the output areas once an
    element matching `drawn` (by default a plot) is shown in one."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/tree/{notebook}?reset", timeout=120_000)
    page.locator(".jp-Notebook").wait_for(timeout=90_000)
    page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for(timeout=90_000)
    # a fresh kernel each time: re-running against a kernel that already sent its JS renders nothing
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel and Run All Cells").click()
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    output = page.locator(".jp-OutputArea-output")
    output.locator(drawn).first.wait_for(state="visible", timeout=150_000)
    return output


def _errors(console_errors: list[str]) -> list[str]:
    return [e for e in console_errors if not any(n in e for n in LAB_NOISE)]


def test_proxy_entry_point_is_registered():
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group="jupyter_serverproxy_servers")}
    assert "hpcdash" in eps
    config = eps["hpcdash"].load()()
    assert "{base_url}hpcdash" in config["command"]
    assert config["absolute_url"] is True
    # a Unix socket in a private folder, not a loopback port other users of the machine could reach
    assert config["unix_socket"] is True
    assert config["command"][config["command"].index("--unix-socket") + 1] == "{unix_socket}"
    assert "--port" not in config["command"] and "--address" not in config["command"]


def test_labextension_build_is_complete():
    """The committed build names its entry file, and that file registers the plugin."""
    meta = json.loads((LABEXTENSION / "package.json").read_text())
    assert meta["name"] == "hpcdash"
    entry = LABEXTENSION / meta["jupyterlab"]["_build"]["load"]
    assert entry.is_file()
    assert "hpcdash:plugin" in "".join(p.read_text() for p in (LABEXTENSION / "static").glob("*.js"))


def test_labextension_is_installed_with_the_package():
    """JupyterLab finds the built extension in the environment without a build step (installed as
    data files by `pip install`, or linked by `jupyter labextension develop` for an editable install)."""
    from jupyter_core.paths import jupyter_path

    found = [Path(d) / "hpcdash" for d in jupyter_path("labextensions")
             if (Path(d) / "hpcdash" / "package.json").is_file()]
    assert found, f"no hpcdash lab extension in {jupyter_path('labextensions')}"
    meta = json.loads((found[0] / "package.json").read_text())
    assert meta["name"] == "hpcdash"
    assert (found[0] / meta["jupyterlab"]["_build"]["load"]).is_file()


def test_launcher_tile_opens_the_app_through_the_proxy(lab, page, console_errors, blocked_requests):
    base, _ = lab
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(base + "/lab?reset", timeout=120_000)
    tile = page.locator(".jp-LauncherCard", has_text="hpcdash")
    tile.first.wait_for(timeout=60_000)
    tile.first.click()
    # jupyter-server-proxy opens the app in a JupyterLab tab; the app is started on demand
    frame_el = page.locator(".jp-MainAreaWidget iframe[src*='/hpcdash/']")
    frame_el.wait_for(timeout=30_000)
    assert urlparse(frame_el.get_attribute("src")).path == "/hpcdash/"
    app = page.frame_locator(".jp-MainAreaWidget iframe[src*='/hpcdash/']")
    # the explorer's file browser lists the Jupyter root: the proxy gave hpcdash the right --root
    app.get_by_text("File browser").first.wait_for(timeout=150_000)
    app.get_by_text("run-a.h5").first.wait_for(timeout=30_000)
    app.get_by_text("results/").first.wait_for(timeout=30_000)
    _screenshot(page, "jupyterlab-launcher-app.png")
    # the app behind the proxy listens on no TCP port, only on a socket its user alone can open
    served = _hpcdash_process()
    assert [c for c in served.net_connections(kind="inet") if c.status == "LISTEN"] == []
    sock = Path(served.cmdline()[served.cmdline().index("--unix-socket") + 1])
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    # the socket's bare address (the proxy's readiness probe) leads to the app, not to a 404
    conn = http.client.HTTPConnection("localhost")
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.connect(str(sock))
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert (resp.status, resp.getheader("Location")) == (302, "/hpcdash/")
    conn.close()
    assert not _errors(console_errors)
    assert not blocked_requests  # nothing asked of hosts other than this machine


def test_double_click_opens_the_file_in_an_hpcdash_tab(lab, page, console_errors, blocked_requests):
    base, _ = lab
    contents_requests: list[str] = []
    page.on("request", lambda r: contents_requests.append(r.url) if "/api/contents/results/run" in r.url
            else None)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(base + "/lab?reset", timeout=120_000)
    page.locator(".jp-DirListing-item", has_text="results").first.dblclick(timeout=60_000)
    page.locator(".jp-DirListing-item", has_text="run b.h5").first.dblclick(timeout=30_000)

    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    tab.get_by_text("run b.h5").wait_for(timeout=30_000)
    frame_el = page.locator(".jp-hpcdash-document iframe")
    frame_el.wait_for(timeout=30_000)
    src = urlparse(frame_el.get_attribute("src"))
    assert src.path == "/hpcdash/"
    assert parse_qs(src.query) == {"file": ["results/run b.h5"]}  # relative to the server root

    app = page.frame_locator(".jp-hpcdash-document iframe")
    # the pane title names the file and dataset; the readout gives the slice position in metres
    app.get_by_text(re.compile(r"run b\.h5 · /sigma")).filter(visible=True).first.wait_for(timeout=150_000)
    app.get_by_text(READOUT).filter(visible=True).first.wait_for(timeout=30_000)
    app.locator("canvas").first.wait_for(state="visible", timeout=30_000)
    # the file browser lists the file's folder (its neighbours, the other runs, a click away)
    expect(app.locator(".hpcdash-cwd code")).to_have_text(re.compile(r"/results/$"))
    expect(app.locator(".hpcdash-browser select option", has_text="run b.h5")).to_have_count(1)
    page.wait_for_timeout(1000)  # let the datashaded image arrive before the picture
    _screenshot(page, "jupyterlab-hdf5-tab.png")

    # the toolbar opens the same view (the explorer keeps it in its URL query) in a browser tab
    with page.context.expect_page() as popup_info:
        page.locator(".jp-hpcdash-document").get_by_title("Open this view in a new browser tab").click()
    popup = popup_info.value
    popup.wait_for_load_state("domcontentloaded")
    opened = urlparse(popup.url)
    assert opened.path == "/hpcdash/"
    assert parse_qs(opened.query)["file"] == ["results/run b.h5"]
    popup.close()

    # JupyterLab asked only for the file's metadata, never for its bytes
    assert contents_requests, "JupyterLab did not look the file up"
    assert all("content=0" in u for u in contents_requests if "/checkpoints" not in u), contents_requests
    assert not _errors(console_errors)
    assert not blocked_requests


def test_a_bundle_is_exported_and_downloaded_through_the_proxy(lab, page, console_errors, tmp_path):
    """The Provenance tab behind jupyter-server-proxy: the bundle is written into the Jupyter root and its
    zip comes to the browser through the proxy."""
    import zipfile

    base, root = lab
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(base + "/hpcdash/?file=results/run%20b.h5", timeout=120_000)
    page.get_by_text(READOUT).filter(visible=True).first.wait_for(timeout=150_000)
    page.locator(".bk-tab", has_text="Provenance").click()
    expect(page.locator(".hpc-prov-table")).to_contain_text("Opened run b.h5", timeout=60_000)
    page.get_by_role("button", name="Export bundle").click()
    download = page.get_by_text("Download the bundle (.zip)")
    expect(download).to_be_visible(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        download.click()
    z = tmp_path / info.value.suggested_filename
    info.value.save_as(z)
    with zipfile.ZipFile(z) as zf:
        names = zf.namelist()
    assert f"{z.stem}/data/results/run b.h5" in names and f"{z.stem}/ro-crate-metadata.json" in names
    assert (root / "bundles" / z.name).is_file()
    assert not _errors(console_errors)


def test_explorer_in_a_notebook(lab, page):
    base, _ = lab
    output = _run_all(page, base, "explorer.ipynb")
    output.get_by_text("run-a.h5 · /sigma").filter(visible=True).first.wait_for(timeout=30_000)
    readout = output.get_by_text(READOUT).filter(visible=True).first
    readout.wait_for(timeout=30_000)
    before = readout.inner_text()
    # a slider step travels over the kernel comm and comes back as a new readout
    output.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(readout).not_to_have_text(before, timeout=30_000)
    assert READOUT.match(readout.inner_text())
    _screenshot(page, "jupyterlab-notebook.png")


def _span_locations(page, name: str) -> list:
    """The locations of the Bokeh Spans named `name` in the page's documents, those shown only."""
    return page.evaluate("""(name) => { const at = [];
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.constructor.__name__ === 'Span' && m.name === name && m.visible) at.push(m.location);
        return at }""", name)


def test_a_click_on_the_slice_in_a_notebook_draws_its_profile(lab, page):
    """In a notebook's output too, a click on the slice plots the profile through that point under it,
    marks the point on the slice, and the profile's mark follows the slider (over the kernel's comm)."""
    base, _ = lab
    output = _run_all(page, base, "explorer.ipynb")
    readout = output.locator(".hpcdash-readout-text").filter(visible=True).first
    expect(readout).to_have_text(READOUT, timeout=30_000)
    canvas = output.locator(".hpcdash-plot canvas").first
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    where = output.locator(".hpcdash-profile-where").first
    expect(where).to_contain_text(re.compile(r"Profile along z through y = -?[\d.]+ m · x = -?[\d.]+ m"),
                                  timeout=30_000)
    expect(output.locator(".hpcdash-profile-plot canvas").first).to_be_visible(timeout=30_000)
    # the point on the slice: a crosshair, a line at its x and one at its y
    page.wait_for_function("""() => { let n = 0;
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.constructor.__name__ === 'Span' && m.name === 'hpcdash-probe' && m.visible) n++;
        return n == 2 }""", timeout=30_000)
    said = where.evaluate("(el) => (el.shadowRoot || el).textContent")  # (Panel's HTML draws in a shadow root)
    y, x = (float(v) for v in re.search(r"y = (-?[\d.]+) m\s*·\s*x = (-?[\d.]+) m", said).groups())
    assert sorted(_span_locations(page, "hpcdash-probe")) == pytest.approx(sorted([x, y]), abs=0.06)
    # the slice shown is marked on the profile, and the mark moves with the slider
    before = readout.inner_text()
    z = float(re.search(r"z = (-?[\d.]+) m", before).group(1))
    assert _span_locations(page, "hpcdash-mark") == [pytest.approx(z, abs=0.06)]
    output.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(readout).not_to_have_text(before, timeout=30_000)
    z2 = float(re.search(r"z = (-?[\d.]+) m", readout.inner_text()).group(1))
    page.wait_for_function("""(z) => { const at = [];
        for (const doc of Bokeh.documents) for (const m of doc.all_models)
            if (m.constructor.__name__ === 'Span' && m.name === 'hpcdash-mark') at.push(m.location);
        return at.length >= 1 && at.every((v) => Math.abs(v - z) < 0.06) }""", arg=z2, timeout=30_000)


def test_without_the_proxy_the_tab_says_what_to_install(lab_without_proxy, page):
    base, _ = lab_without_proxy
    page.goto(base + "/lab?reset", timeout=120_000)
    page.locator(".jp-DirListing-item", has_text="run-a.h5").first.dblclick(timeout=60_000)
    tab = page.locator(".jp-hpcdash-document")
    tab.get_by_text("hpcdash is not available in this Jupyter server").wait_for(timeout=30_000)
    expect(tab.get_by_text('pip install "hpcdash[jupyter]"')).to_be_visible()
    assert not tab.locator("iframe").get_attribute("src")  # no iframe on a 404 page


def _write_slow_run(path: Path) -> None:
    """Eight 1024^2 planes, one bzip2 chunk each: every new slice costs a few hundred ms to decode,
    far longer than the gap between two key presses."""
    import h5py
    import hdf5plugin
    import numpy as np

    rng = np.random.default_rng(1)
    data = (np.linspace(0, 1, 8)[:, None, None] + rng.normal(scale=0.1, size=(8, 1024, 1024))).astype("f4")
    with h5py.File(path, "w") as f:
        f.create_dataset("model", data=data, chunks=(1, 1024, 1024), **hdf5plugin.BZip2(blocksize=9))


def test_a_drag_in_a_notebook_reads_only_the_newest_slice(lab, page):
    """In a notebook too a slider drag never queues stale reads: key presses that come while a slice is
    decoded reach the kernel as one move (Panel's comm sends a widget's newest value once the kernel
    has answered the last), so the newest slice is read, not each one in turn."""
    base, root = lab
    _write_slow_run(root / "slow.h5")
    _write_notebook(root / "slow.ipynb", [
        NOTEBOOK_CELLS[0],
        'explorer = hpcdash.SliceExplorer("slow.h5", browser=False)\n'
        'explorer.state.panes[0].index = 0  # the notebook\'s own change: read at once\n'
        'assert explorer.state.panes[0].data is not None and "slice 1 of 8" in explorer.state.panes[0].readout\n'
        'explorer',
        'print(f"reads={explorer.state.loader.reads} slice={explorer.state.panes[0].index}")',
    ])
    output = _run_all(page, base, "slow.ipynb")
    readout = output.locator(".hpcdash-readout-text").filter(visible=True).first
    expect(readout).to_contain_text("slice 1 of 8", timeout=60_000)
    counter = page.locator(".jp-Cell").nth(2).locator(".jp-OutputArea-output")
    expect(counter).to_contain_text("slice=0", timeout=60_000)
    before = int(re.search(r"reads=(\d+)", counter.inner_text()).group(1))

    output.locator(".noUi-handle").first.focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    expect(readout).to_contain_text("slice 7 of 8", timeout=60_000)  # the newest position is shown
    page.wait_for_timeout(1000)  # nothing queued behind it
    expect(readout).to_contain_text("slice 7 of 8")
    # run the counter cell again
    page.locator(".jp-Cell").nth(2).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(counter).to_contain_text("slice=6", timeout=60_000)
    reads = int(re.search(r"reads=(\d+)", counter.inner_text()).group(1)) - before
    # six moves while slices take hundreds of ms each: reading each in turn would make 6
    assert 1 <= reads <= 2, (before, counter.inner_text())



def test_cluster_form_in_a_notebook_is_reached_and_named_like_served(lab, page, console_errors):
    """The Cluster tab's form in a notebook's output, which never reports itself ready (one of its roots,
    Panel's comm manager, never reports itself drawn): the layout carries the page's hooks
    (hpcdash.access.with_page_hooks), so its help icons, step buttons and card headers are reached and
    named as on a served page, and the form works over the kernel comm."""
    base, root = lab
    _write_notebook(root / "cluster-form.ipynb", [
        "import panel as pn\nfrom hpcdash.cluster import ClusterControl\nfrom hpcdash.cluster.view import ClusterView\n\n"
        "pn.extension()",
        'ClusterView(ClusterControl(cores=1, processes=1, memory="1GB"))',
    ])
    output = _run_all(page, base, "cluster-form.ipynb", drawn=".hpc-start button")
    script = output.locator(".hpc-script-text")
    expect(script).to_contain_text("1 thread", timeout=30_000)
    # help icons: Tab stops named after their fields, the help text their description
    memory_help = output.get_by_role("button", name="Help: Memory per job")
    expect(memory_help).to_have_attribute("tabindex", "0", timeout=30_000)
    expect(memory_help).to_have_attribute("aria-description", re.compile(r"^Memory per job, e\.g\. '4GB'"))
    # number fields are spin buttons; step buttons: out of the Tab order, named, and a screen reader's
    # click steps over the kernel comm
    expect(output.get_by_role("spinbutton", name="Cores per job")).to_have_attribute("aria-valuenow", "1")
    up = output.get_by_role("button", name="Increase Cores per job")
    expect(up).to_have_attribute("tabindex", "-1")
    up.evaluate("b => b.click()")
    expect(script).to_contain_text("2 threads", timeout=30_000)
    output.locator(".hpc-cores input").focus()
    page.keyboard.press("ArrowUp")
    expect(script).to_contain_text("3 threads", timeout=30_000)
    # a card's header says whether it is open
    header = output.get_by_role("button", name="Job script (exactly what is submitted for the first job)")
    expect(header).to_have_attribute("aria-expanded", "true")
    header.click()
    expect(script).to_be_hidden()
    expect(header).to_have_attribute("aria-expanded", "false")
    # the text panes' stylesheets asked of the CDN, blocked here, are a known limit (hpcdash.panes)
    assert not [e for e in _errors(console_errors) if "net::ERR_FAILED" not in e]


def test_runs_as_tabs_in_a_notebook_are_a_tab_list(lab, page, console_errors):
    """The explorer's "tabs" layout in a notebook's output is a tab list named "Open files", as served:
    the tabs hook runs there too (hpcdash.access.with_page_hooks), also for tabs drawn after the output;
    so do the names of the plot and its tools."""
    base, root = lab
    _write_run(root / "run-b.h5")
    _write_notebook(root / "tabs.ipynb", [
        NOTEBOOK_CELLS[0],
        'explorer = hpcdash.SliceExplorer(["run-a.h5", "run-b.h5"], browser=False)\nexplorer',
        'explorer.state.layout = "tabs"',
    ])
    output = _run_all(page, base, "tabs.ipynb")
    tablist = output.get_by_role("tablist", name="Open files")
    expect(tablist).to_be_visible(timeout=30_000)
    tabs = tablist.get_by_role("tab")
    expect(tabs).to_have_count(2)
    expect(tabs.nth(0)).to_have_attribute("aria-selected", "true")
    tabs.nth(0).focus()
    page.keyboard.press("ArrowRight")
    expect(tabs.nth(1)).to_be_focused()
    page.keyboard.press("Enter")
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "true", timeout=30_000)
    # the shown run's plot is named for a screen reader, and its tools are buttons, as served
    expect(output.get_by_role("img", name=re.compile(r" against .*, colour: ")).first).to_be_visible(timeout=30_000)
    expect(output.get_by_role("button", name="Box Zoom").first).to_have_attribute("aria-pressed", "false")
    assert not [e for e in _errors(console_errors) if "net::ERR_FAILED" not in e]
