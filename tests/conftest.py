"""Fixtures shared by every test folder.

Browser tests use Debian's chromium through Playwright (no downloaded browser), and every
page is kept on loopback: a request to any other host is aborted, so a page that silently
depends on a CDN fails here instead of in a user's air-gapped cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from hpcdash.benchmarks.driver import free_port, wait_http

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="session", autouse=True)
def _private_state_dir(tmp_path_factory) -> Iterator[Path]:
    """Servers started by the tests keep their records (``$XDG_STATE_HOME/hpcdash``) in a folder of the
    test run, not in the home folder of the machine."""
    folder = tmp_path_factory.mktemp("xdg-state")
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def _local_cluster_unless_asked() -> Iterator[None]:
    """The app's cluster form starts with the batch system found on the machine (SLURM here, where the
    suite runs its own; see `hpcdash.cluster.default_backend`). Tests that start the form's cluster as
    it comes mean the local one, so the run says so (dask config ``hpcdash.backend``, also to the
    servers it starts); tests of that choice take it back (`tests/cluster/test_default_backend.py`)."""
    import dask

    old = os.environ.get("DASK_HPCDASH__BACKEND")
    os.environ["DASK_HPCDASH__BACKEND"] = "local"
    with dask.config.set({"hpcdash.backend": "local"}):
        yield
    if old is None:
        os.environ.pop("DASK_HPCDASH__BACKEND", None)
    else:
        os.environ["DASK_HPCDASH__BACKEND"] = old


def wait_for_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    """Poll `url` until it answers (any HTTP status below 500) or fail with the process output."""
    try:
        wait_http(url, proc, timeout)
    except RuntimeError as err:
        out = ""
        if proc is not None:
            proc.kill()
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        raise RuntimeError(f"{err}\n{out[-4000:]}") from None


class Server:
    """A server subprocess started by a test, with its base URL and output log."""

    def __init__(self, proc: subprocess.Popen, url: str, log: Path):
        self.proc, self.url, self.log = proc, url, log

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def start_server(tmp_path_factory) -> Iterator[Callable[..., Server]]:
    """Factory: start_server(argv, path="/", env=None, cwd=None) runs argv (with {port} filled in)
    and waits until http://127.0.0.1:{port}{path} answers. Servers stop at the end of the test."""
    servers: list[Server] = []

    def start(argv: list[str], path: str = "/", env: dict | None = None, cwd: Path | None = None,
              timeout: float = 120.0) -> Server:
        port = free_port()
        argv = [a.replace("{port}", str(port)) for a in argv]
        log = tmp_path_factory.mktemp("server") / "server.log"
        fh = open(log, "wb")
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd or REPO,
                                env={**os.environ, **(env or {})})
        url = f"http://127.0.0.1:{port}"
        server = Server(proc, url, log)
        servers.append(server)
        try:
            wait_for_http(url + path, None, timeout)
        except RuntimeError as err:
            server.stop()
            raise RuntimeError(f"{err}\n--- server output ---\n{server.output()[-4000:]}") from None
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.output()[-4000:]}")
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's chromium instead of a downloaded browser."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}; tests/run.sh installs it")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def blocked_requests(request) -> list[str]:
    """In every browser test, abort requests that leave the machine; the list holds what was blocked."""
    blocked: list[str] = []
    if not {"page", "context"} & set(request.fixturenames):
        return blocked
    context = request.getfixturevalue("context")

    def route(r):
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in LOOPBACK:
            return r.continue_()
        blocked.append(url)
        return r.abort()

    context.route("**/*", route)
    return blocked


@pytest.fixture
def console_errors(page) -> list[str]:
    """Console errors and uncaught page errors seen by `page` during the test."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


@pytest.fixture(autouse=True)
def _reset_panel_state():
    """Panel keeps global state (caches, periodic callbacks); start each test clean."""
    yield
    if "panel" in sys.modules:
        import panel as pn

        try:
            pn.state.kill_all_servers()
            pn.state.reset()
        except Exception:
            pass
