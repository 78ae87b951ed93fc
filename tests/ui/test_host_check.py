"""A server answers only requests naming a host it is meant to be reached by. On loopback without a token,
a page on ``evil.example`` whose name is made to resolve to 127.0.0.1 (DNS rebinding) would otherwise read
the app and the Dask dashboard through ``<app>/dask/...``: the browser names its own host in ``Host``
(and ``Origin``), and gets 403 for it. Driven for real: `hpcdash serve` processes (loopback; a Unix socket
behind jupyter-server-proxy, which allows every origin) whose proxy forwards to a real Dask scheduler's
dashboard, plain HTTP requests and websocket handshakes."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hpcdash.hosts import host_allowed, origin_allowed
from tests.conftest import REPO, Server, free_port, wait_for_http
from tests.ui.conftest import _serve
from tests.ui.test_unix_socket import UnixHTTPConnection

EVIL = "evil.example"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[str]:
    """A Dask scheduler (`dask scheduler`) with its dashboard on loopback; its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("scheduler") / "scheduler.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                 "--port", "0", "--dashboard-address", f"127.0.0.1:{port}"],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for_http(f"{server.url}/json/identity.json", None, 120)
        yield server.url
    finally:
        server.stop()


def _dashboard_env(dashboard: str) -> dict[str, str]:
    return {"HPCDASH_TEST_DASHBOARD": dashboard}


@pytest.fixture(scope="module")
def loopback_server(dashboard: str, tmp_path_factory) -> Iterator[Server]:
    """`hpcdash serve --port P --allow-websocket-origin dash.example:P` on loopback, no token (the default)."""
    root = tmp_path_factory.mktemp("hostcheck")
    yield from _serve([sys.executable, "-m", "tests.ui.serve_with_dashboard", "--root", str(root),
                       "--port", "{port}", "--allow-websocket-origin", "dash.example:{port}"],
                      root / "server.log", env=_dashboard_env(dashboard))


def _request(server: Server, path: str, host: str, headers: dict | None = None) -> tuple[int, str, str]:
    """Status, Content-Type and body of a GET to `server` naming `host` in its Host header."""
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read().decode(errors="replace")
    finally:
        conn.close()


def _run(coro):
    """`coro` on an event loop of its own thread (a test may keep a loop running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=90)


async def _handshake(url: str, host: str, origin: str, subprotocols: list[str] | None = None) -> str | int:
    """Open a websocket at `url` with these Host and Origin headers: the HTTP status that refused it, or
    the first message the other end sent."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    req = HTTPRequest(url, headers={"Host": host, "Origin": origin}, request_timeout=30)
    try:
        conn = await websocket_connect(req, subprotocols=subprotocols)
    except HTTPClientError as err:
        return err.code
    try:
        message = await asyncio.wait_for(conn.read_message(), 30)
    finally:
        conn.close()
    return message if isinstance(message, str) else repr(message)


def test_which_hosts_and_origins_are_allowed():
    names = {"localhost:5860", "127.0.0.1:5860", "dash.example:5860"}
    for host in ("localhost:5860", "127.0.0.1:5860", "dash.example:5860", "DASH.example:5860",
                 # loopback names on any port: no page can be rebound to them
                 "localhost", "localhost:8000", "127.0.0.2:1", "[::1]:5860", "[::1]"):
        assert host_allowed(host, names), host
    for host in (f"{EVIL}:5860", EVIL, "dash.example:5861", "dash.example", "localhost.evil.example:5860",
                 "127.0.0.1.evil.example:5860", "", None):
        assert not host_allowed(host, names), host
    assert host_allowed(f"{EVIL}:5860", names | {"*"})  # --allow-websocket-origin '*' (jupyter-server-proxy)
    assert origin_allowed("http://localhost:5860", names) and origin_allowed("https://dash.example:5860", names)
    # another web server of this machine is another origin; so are pages without one (sandboxed, file://)
    for origin in ("http://localhost:8000", f"http://{EVIL}:5860", "null", "", None):
        assert not origin_allowed(origin, names), origin
    assert origin_allowed("null", {"*"}) and origin_allowed(f"http://{EVIL}", {"*"})


@pytest.mark.slow
def test_the_dashboard_proxy_answers_only_the_servers_own_names(loopback_server: Server):
    port = loopback_server.url.rsplit(":", 1)[1]
    for path in ("/dask/json/identity.json", "/dask/status"):
        status, kind, text = _request(loopback_server, path, f"{EVIL}:{port}")
        assert status == 403 and kind.startswith("text/plain"), (path, status, text)
        assert f"host {EVIL}:{port}" in text and "Scheduler" not in text and "--allow-websocket-origin" in text
        assert _request(loopback_server, path, EVIL)[0] == 403
        assert _request(loopback_server, path, f"dash.example:{int(port) + 1}")[0] == 403  # the name, another port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost",
                 f"dash.example:{port}"):  # this one given with --allow-websocket-origin
        status, _, text = _request(loopback_server, "/dask/json/identity.json", host)
        assert status == 200 and json.loads(text)["type"] == "Scheduler", (host, status, text)
        status, _, text = _request(loopback_server, "/dask/status", host)
        assert status == 200 and "Dask" in text, host


@pytest.mark.slow
def test_the_app_answers_only_the_servers_own_names(loopback_server: Server):
    port = loopback_server.url.rsplit(":", 1)[1]
    status, _, text = _request(loopback_server, "/", f"localhost:{port}")
    assert status == 200 and "hpcdash" in text
    static = "/static/js/bokeh.min.js"
    assert _request(loopback_server, static, f"localhost:{port}")[0] == 200
    for path in ("/", static, "/hpcdash-assets/hpcdash.svg", "/nothing-here"):
        status, kind, text = _request(loopback_server, path, f"{EVIL}:{port}")
        assert status == 403 and kind.startswith("text/plain") and EVIL in text, (path, status)
    # the app's websocket too: refused for the host before its origin is looked at
    ws = f"ws://127.0.0.1:{port}/ws"
    assert _run(_handshake(ws, f"{EVIL}:{port}", f"http://{EVIL}:{port}", ["bokeh"])) == 403


@pytest.mark.slow
def test_the_dashboard_websocket_checks_host_and_origin(loopback_server: Server):
    port = loopback_server.url.rsplit(":", 1)[1]
    ws = f"ws://127.0.0.1:{port}/dask/status/ws"
    own = f"localhost:{port}"
    # a rebound page: its own name in Host and Origin
    assert _run(_handshake(ws, f"{EVIL}:{port}", f"http://{EVIL}:{port}")) == 403
    # a page of another origin, even with a Host that is allowed
    assert _run(_handshake(ws, own, f"http://{EVIL}:{port}")) == 403
    assert _run(_handshake(ws, own, "http://localhost:8000")) == 403
    # the dashboard's own page: its Bokeh session (the token in the page) answers through the proxy
    status, _, page = _request(loopback_server, "/dask/status", own)
    assert status == 200
    token = re.search(r'"token":"([^"]+)"', page).group(1)
    first = _run(_handshake(ws, own, f"http://{own}", ["bokeh", token]))
    assert isinstance(first, str) and json.loads(first)["msgtype"] == "ACK", first


def _socket_get(sock: Path, path: str, host: str) -> tuple[int, str]:
    conn = UnixHTTPConnection(str(sock))
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def jupyter_style_server(dashboard: str, tmp_path_factory) -> Iterator[Path]:
    """`hpcdash serve` as jupyter-server-proxy starts it (`hpcdash.jupyter`): a Unix socket, a prefix and
    ``--allow-websocket-origin '*'``; the socket's path."""
    folder = Path(tempfile.mkdtemp(prefix="hpcdash-host-"))
    sock = folder / "hpcdash.sock"
    root = tmp_path_factory.mktemp("hostcheck-jupyter")
    log = root / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "tests.ui.serve_with_dashboard", "--root", str(root),
                                 "--unix-socket", str(sock), "--prefix", "/user/me/hpcdash",
                                 "--allow-websocket-origin", "*", "--no-show"],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, **_dashboard_env(dashboard)})
    server = Server(proc, "", log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.output()[-4000:]}")
            try:
                if _socket_get(sock, "/user/me/hpcdash/", "localhost")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer on {sock}:\n{server.output()[-4000:]}")
            time.sleep(0.5)
        yield sock
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_behind_jupyter_server_proxy_every_host_is_answered(jupyter_style_server: Path):
    # the proxy in front has logged the user in, and forwards whatever name the user's browser used
    for host in ("jupyter.example.org", "hub.example:8443", "localhost"):
        status, text = _socket_get(jupyter_style_server, "/user/me/hpcdash/dask/json/identity.json", host)
        assert status == 200 and json.loads(text)["type"] == "Scheduler", (host, status, text)
        assert _socket_get(jupyter_style_server, "/user/me/hpcdash/", host)[0] == 200
