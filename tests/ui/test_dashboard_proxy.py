"""The Dask dashboard of the server's cluster under the app's own address: `<app>/dask/status`, pages and
websockets forwarded to the dashboard on the machine's loopback, behind the app's login. Driven for real:
`hpcdash serve` on a network address with a token, a local cluster started from the Cluster tab in
chromium, and the dashboard's live plots drawn through the proxy."""

from __future__ import annotations

import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hpcdash.proxy import NO_CLUSTER
from tests.conftest import Server
from tests.ui.conftest import _serve
from tests.ui.test_browser import LOAD, STEP, start_local_cluster

pytestmark = [pytest.mark.ui, pytest.mark.slow]
TOKEN = "dashboard-proxy-token"


@pytest.fixture(scope="module")
def token_server(data_root: Path, tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("dashproxy")
    log = root / "server.log"
    yield from _serve([sys.executable, "-m", "hpcdash", "serve", "--root", str(root), "--address", "0.0.0.0",
                       "--port", "{port}", "--token", TOKEN], log, path="/login")


def _get(url: str, cookie: str | None = None) -> tuple[int, str, str | None]:
    """Status, body and Location of a GET (redirects not followed)."""
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.read().decode(errors="replace"), resp.headers.get("Location")
    except urllib.error.HTTPError as err:
        return err.code, (err.read() or b"").decode(errors="replace"), err.headers.get("Location")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_the_cluster_dashboard_opens_through_the_app(token_server: Server, page: Page, browser: Browser,
                                                     console_errors):
    base = token_server.url.replace("127.0.0.1", "localhost")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{base}/login?token={TOKEN}", timeout=LOAD)
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    # before any cluster: a sentence, not an error page of the proxy
    status, text, _ = _get(f"{base}/dask/status", cookie)
    assert status == 404 and NO_CLUSTER.split(",")[0] in text
    start_local_cluster(page, workers=1)
    link = page.locator("a.hpc-dashboard-link")
    expect(link).to_have_attribute("href", "dask/status", timeout=STEP)
    frames: dict[str, int] = {}

    def watch(ws) -> None:
        frames.setdefault(ws.url, 0)
        ws.on("framereceived", lambda _: frames.__setitem__(ws.url, frames[ws.url] + 1))

    page.context.on("page", lambda p: p.on("websocket", watch))
    with page.context.expect_page() as opened:
        link.click()
    dash = opened.value
    dash.wait_for_load_state()
    assert dash.url == f"{base}/dask/status"
    expect(dash).to_have_title(re.compile("Dask"), timeout=LOAD)
    # the dashboard's plots are Bokeh documents fetched over its websocket: drawn only if that came through
    expect(dash.locator("canvas").first).to_be_visible(timeout=LOAD)
    dash.wait_for_timeout(1500)  # the dashboard streams updates
    through = {url: n for url, n in frames.items() if url.startswith(f"{base.replace('http', 'ws')}/dask/")}
    assert through and max(through.values()) >= 2, frames
    dash.close()
    # another browser, without the app's login, gets the login page instead
    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        other.goto(f"{base}/dask/status", timeout=LOAD)
        expect(other.get_by_label("Token")).to_be_visible()
    finally:
        stranger.close()
    status, _, location = _get(f"{base}/dask/status?a=1&b=2")
    # to the login page, which sends the browser back to this very address
    assert status == 302 and location.endswith("/login?next=%2Fdask%2Fstatus%3Fa%3D1%26b%3D2")
    # stopped: the link goes away, and the proxy says there is no cluster
    page.locator(".hpc-stop button").click()
    expect(page.locator(".hpc-phase")).to_have_text("stopped", timeout=STEP)
    expect(link).to_have_count(0)
    status, text, _ = _get(f"{base}/dask/status", cookie)
    assert status == 404 and "No Dask cluster is running" in text
    assert console_errors == []
