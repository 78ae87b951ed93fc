"""`hpcdash serve --unix-socket`: on a machine shared with other users, the app listens on a socket file
only its owner can open, and no TCP port. Driven for real: the server process, a tunnel like
``ssh -L 5006:SOCKET host`` (a forwarder in this test) and chromium through it."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import socketserver
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from hpcdash import cli
from tests.conftest import REPO, free_port
from tests.ui.test_browser import shows_a_slice_and_steps

LOAD = 120_000


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _get(path: str, url: str = "/", host: str | None = None) -> tuple[int, str]:
    conn = UnixHTTPConnection(path)
    try:
        conn.request("GET", url, headers={"Host": host} if host else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def _wait_for_socket(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-4000:]}")
        try:
            if _get(str(path))[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer on {path}:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def socket_server(data_root: Path, tmp_path_factory) -> Iterator[tuple[subprocess.Popen, Path, int, Path]]:
    """`hpcdash serve a.h5 --unix-socket S --port P` (P: the local port a tunnel would forward)."""
    # a folder other users can reach (pytest's own are private), as a home folder may be
    folder = Path(tempfile.mkdtemp(prefix="hpcdash-sock-"))
    folder.chmod(0o755)
    sock = folder / "hpcdash.sock"
    port = free_port()
    log = tmp_path_factory.mktemp("sock") / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "hpcdash", "serve", "a.h5", "--root", str(data_root),
                                 "--unix-socket", str(sock), "--port", str(port)],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        _wait_for_socket(sock, proc, log)
        yield proc, sock, port, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_the_socket_is_the_only_way_in(socket_server):
    import psutil

    proc, sock, port, log = socket_server
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600  # the owner's alone
    listening = [c for c in psutil.Process(proc.pid).net_connections(kind="inet") if c.status == "LISTEN"]
    assert listening == []
    status, page = _get(str(sock))
    assert status == 200 and "hpcdash" in page
    out = log.read_text()
    assert f"ssh -L {port}:{sock}" in out and f"http://localhost:{port}/" in out


@pytest.mark.slow
def test_through_the_tunnel_only_its_own_names_are_answered(socket_server):
    # the tunnel's port is on loopback of the user's computer: a page rebound to it names its own host
    _, sock, port, _ = socket_server
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert _get(str(sock), "/", host)[0] == 200
    status, text = _get(str(sock), "/", f"evil.example:{port}")
    assert status == 403 and "evil.example" in text


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_of_the_machine_cannot_connect(socket_server):
    _, sock, _, _ = socket_server
    # control: a socket anyone may open, next to it, in the same folder (so the folder is no obstacle)
    control = socket.socket(socket.AF_UNIX)
    control.bind(str(sock.parent / "open.sock"))
    control.listen()
    os.chmod(sock.parent / "open.sock", 0o666)
    probe = ("import socket, sys\nfor p in sys.argv[1:]:\n    s = socket.socket(socket.AF_UNIX)\n"
             "    try:\n        s.connect(p)\n    except PermissionError:\n        print('refused')\n"
             "    else:\n        print('connected')\n")
    # an interpreter other users may run (this one may live in a private home folder)
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        control.close()
        pytest.skip("no system python3 for another user to run")
    try:
        other = subprocess.run([python, "-I", "-S", "-c", probe,
                                str(sock.parent / "open.sock"), str(sock)], user=65534, group=65534,
                               capture_output=True, text=True, timeout=60, cwd="/")
    finally:
        control.close()
    assert other.stdout.split() == ["connected", "refused"], other.stderr


class _Forwarder(socketserver.ThreadingTCPServer):
    """What ``ssh -L port:SOCKET host`` does: a TCP port on loopback whose connections go to a Unix socket."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, sock: Path):
        self.sock = str(sock)
        super().__init__(("127.0.0.1", port), _Tunnel)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Tunnel(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        remote = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        remote.connect(self.server.sock)

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(remote, self.request), daemon=True)
        back.start()
        pump(self.request, remote)
        back.join()
        remote.close()


@pytest.mark.ui
def test_the_app_works_through_a_tunnel_to_the_socket(socket_server, page: Page, console_errors):
    _, sock, port, _ = socket_server
    tunnel = _Forwarder(port, sock)
    try:
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"http://localhost:{port}/", timeout=LOAD)
        # the websocket came through (its origin, localhost:PORT, is allowed): the session's image and readout
        shows_a_slice_and_steps(page)
        assert console_errors == []
    finally:
        tunnel.close()


def test_socket_paths_that_cannot_be_used_get_a_sentence(tmp_path: Path):
    with pytest.raises(SystemExit, match="does not exist"):
        cli.check_unix_socket_path(str(tmp_path / "no" / "s.sock"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="not a socket"):
        cli.check_unix_socket_path(str(tmp_path / "file"))
    with pytest.raises(SystemExit, match="at most 107 bytes"):
        cli.check_unix_socket_path(str(tmp_path / ("s" * 120)))
    # a socket left by a server that is gone is replaced; one with a server behind it is not
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()
    assert cli.check_unix_socket_path(str(stale)) == str(stale)
    live = tmp_path / "live.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(live))
    s.listen()
    try:
        with pytest.raises(SystemExit, match="listening there already"):
            cli.check_unix_socket_path(str(live))
    finally:
        s.close()
