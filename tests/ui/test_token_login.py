"""`hpcdash serve --address 0.0.0.0`: a server other machines can reach asks every browser for the token
it printed at start. Driven for real: the server process, HTTP requests, a websocket handshake and
chromium logging in through the login page."""

from __future__ import annotations

import asyncio
import http.client
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hpcdash import auth, cli
from tests.conftest import REPO, Server, free_port
from tests.ui.conftest import _serve
from tests.ui.test_browser import shows_a_slice_and_steps

LOAD = 120_000


@pytest.fixture(scope="module")
def open_server(data_root: Path, tmp_path_factory) -> Iterator[tuple[str, str, str]]:
    """`hpcdash serve --address 0.0.0.0` (no token given: it makes one); (base URL, token, output)."""
    log = tmp_path_factory.mktemp("token") / "server.log"
    argv = [sys.executable, "-m", "hpcdash", "serve", "--root", str(data_root), "--address", "0.0.0.0",
            "--port", "{port}"]
    for server in _serve(argv, log, env={auth.TOKEN_ENV: ""}, path="/login"):
        port = server.url.rsplit(":", 1)[1]
        deadline = time.monotonic() + 30
        while "token=" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        out = server.output()
        token = re.search(r"/login\?token=(\S+)", out).group(1)
        yield f"http://localhost:{port}", token, out


def _request(base: str, path: str, headers: dict | None = None, method: str = "GET",
             body: str | None = None) -> http.client.HTTPResponse:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def test_the_server_prints_a_login_link_with_a_fresh_token(open_server):
    base, token, out = open_server
    assert len(token) >= 30 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert "not encrypted" in out and "--unix-socket" in out  # says what the token does not protect


@pytest.mark.slow
def test_nothing_is_served_without_the_token(open_server, data_root: Path):
    base, token, _ = open_server
    page = _request(base, "/?file=a.h5")
    # (Panel's page handler sends a relative link, which also works behind a proxy's prefix)
    assert page.status == 302 and page.getheader("Location").lstrip(".").startswith("/login?next=")
    assert "file%3Da.h5" in page.getheader("Location")  # the view asked for comes back after the login
    wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # one character off (never the token itself)
    assert _request(base, "/?token=" + wrong).status == 302
    assert _request(base, "/", {"Cookie": f"{auth.COOKIE}=forged"}).status == 302
    assert _request(base, "/login?token=wrong").status == 403
    # scripts may show the token in a header
    assert _request(base, "/", {"Authorization": f"token {token}"}).status == 200
    # the login link leaves a cookie that is not the token itself, and goes on to the app
    login = _request(base, f"/login?token={token}&next=/%3Ffile%3Da.h5")
    assert login.status == 302 and login.getheader("Location") == "/?file=a.h5"
    cookie = login.getheader("Set-Cookie")
    assert cookie.startswith(f"{auth.COOKIE}=") and "HttpOnly" in cookie and token not in cookie
    value = cookie.split(";")[0]
    assert _request(base, "/", {"Cookie": value}).status == 200
    # a login link cannot send the browser to another site
    away = _request(base, f"/login?token={token}&next=//evil.example/")
    assert away.getheader("Location") == "./"
    # the app's websocket is refused without the cookie, whatever the origin check says
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    async def handshake(headers: dict) -> int:
        req = HTTPRequest(base.replace("http", "ws") + "/ws", headers={"Origin": base, **headers})
        try:
            conn = await websocket_connect(req, subprotocols=["bokeh"])
        except HTTPClientError as err:
            return err.code
        conn.close()
        return 101

    def run(coro) -> int:  # in a thread of its own: the browser tests may keep a loop running in this one
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result(timeout=60)

    assert run(handshake({})) == 403
    assert run(handshake({"Cookie": f"{auth.COOKIE}=forged"})) == 403


def _errors_of(page: Page) -> list[str]:
    """Console errors and uncaught errors of `page` (for pages of contexts made by the test itself)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


@pytest.mark.ui
def test_a_browser_logs_in_with_the_token_and_gets_the_view_it_asked_for(open_server, page: Page, context,
                                                                         browser: Browser, console_errors):
    base, token, _ = open_server
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{base}/?file=a.h5&slice=6", timeout=LOAD)
    expect(page.get_by_role("heading", name="This hpcdash server asks for its token")).to_be_visible()
    page.get_by_label("Token").fill("not-it")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is not this server's.")
    # that answer's status is 403, which chromium logs as a failed load: only what follows must be clean
    assert all("403" in e for e in console_errors)
    console_errors.clear()
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log in").click()
    readout = page.locator(".hpcdash-pane").first.locator(".hpcdash-readout-text")
    expect(readout).to_contain_text("(slice 6 of", timeout=LOAD)  # the view of the first request
    expect(page.locator(".hpcdash-plot canvas").first).to_be_visible(timeout=LOAD)
    assert token not in page.url
    # the websocket works: a key press on the slider brings the next slice
    page.locator(".hpcdash-pane").first.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(readout).to_contain_text("(slice 7 of", timeout=60_000)
    # another tab of the same browser is let in by the cookie
    other = context.new_page()
    other_errors = _errors_of(other)
    other.goto(f"{base}/?file=b.h5", timeout=LOAD)
    expect(other.locator(".hpcdash-readout-text").first).to_contain_text("(slice ", timeout=LOAD)
    other.close()
    assert console_errors == [] and other_errors == []
    # a browser without the cookie still meets the login page
    stranger = browser.new_context()
    try:
        page = stranger.new_page()
        page.goto(f"{base}/?file=a.h5", timeout=LOAD)
        expect(page.get_by_label("Token")).to_be_visible()
        assert page.locator(".hpcdash-pane").count() == 0
    finally:
        stranger.close()


def test_which_servers_ask_for_a_token(monkeypatch):
    monkeypatch.delenv(auth.TOKEN_ENV, raising=False)
    assert cli.server_token("127.0.0.1", None, None, False) is None  # loopback: as before
    assert cli.server_token("0.0.0.0", "/tmp/s.sock", None, False) is None  # a Unix socket has its own lock
    made = cli.server_token("0.0.0.0", None, None, False)
    assert made and made != cli.server_token("0.0.0.0", None, None, False)  # a fresh one each start
    given = "given-token-0123456789"
    assert cli.server_token("10.0.0.5", None, given, False) == given
    assert cli.server_token("127.0.0.1", None, "given", False) == "given"  # asked for on loopback too
    # a short token on a network address is soon guessed (the login does not slow guesses down): refused,
    # on loopback or a Unix socket it only adds to what is there
    with pytest.raises(SystemExit, match="the token has 2 characters; on a network address it needs at least 16"):
        cli.server_token("0.0.0.0", None, "ab", False)
    assert cli.server_token("0.0.0.0", "/tmp/s.sock", "ab", False) == "ab"
    monkeypatch.setenv(auth.TOKEN_ENV, "from-env")
    assert cli.server_token("127.0.0.1", None, None, False) == "from-env"
    with pytest.raises(SystemExit, match="the token has 8 characters"):
        cli.server_token("0.0.0.0", None, None, False)
    monkeypatch.setenv(auth.TOKEN_ENV, "from-the-environment")
    assert cli.server_token("0.0.0.0", None, None, False) == "from-the-environment"
    assert cli.server_token("0.0.0.0", None, None, True) is None
    with pytest.raises(SystemExit, match="contradict"):
        cli.server_token("0.0.0.0", None, given, True)
    with pytest.raises(SystemExit, match="empty"):
        cli.server_token("0.0.0.0", None, "  ", False)
    # on every interface the browser may come as localhost or 127.0.0.1
    origins = cli.websocket_origins("0.0.0.0", 5006)
    assert "127.0.0.1:5006" in origins and "localhost:5006" in origins


@pytest.mark.parametrize("target, expected", [
    (None, "./"), ("/", "/"), ("/?file=a.h5", "/?file=a.h5"), ("/proxy/5006/", "/proxy/5006/"),
    ("//evil.example/x", "./"), ("https://evil.example/", "./"), ("evil", "./"), ("/\\evil.example", "./"),
])
def test_after_login_only_paths_of_this_server(target, expected):
    assert auth.safe_next(target) == expected


def test_the_token_is_compared_whole():
    provider = auth.TokenAuth("s3cret-token")
    assert provider.accepts("s3cret-token")
    assert not provider.accepts("s3cret-toke") and not provider.accepts("") and not provider.accepts(None)
    with pytest.raises(ValueError):
        auth.TokenAuth("")


def _self_signed(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key (PEM), as `openssl req -x509` would write."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt.pem", folder / f"{name}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.ui
def test_https_with_a_certificate_and_the_token(data_root: Path, tmp_path: Path, browser: Browser):
    import ssl

    cert, key = _self_signed(tmp_path)
    port = free_port()
    log = tmp_path / "server.log"
    argv = [sys.executable, "-m", "hpcdash", "serve", "--root", str(data_root), "--address", "0.0.0.0",
            "--port", str(port), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--token", "tls-token-1234567890"]
    trusted = ssl.create_default_context(cafile=str(cert))

    def login() -> http.client.HTTPResponse:
        conn = http.client.HTTPSConnection("localhost", port, context=trusted, timeout=30)
        try:
            conn.request("GET", "/login?token=tls-token-1234567890")
            resp = conn.getresponse()
            resp.read()
            return resp
        finally:
            conn.close()

    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    server = Server(proc, f"https://localhost:{port}", log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                resp = login()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"no HTTPS answer:\n{server.output()[-4000:]}") from None
                time.sleep(0.5)
        # a token the user gave is not written into the server's output (a batch job's log may be readable
        # by others): the link names the login page only
        from hpcdash.cli import machine_name

        assert f"https://{machine_name()}:{port}/login\n" in server.output()
        assert "tls-token-1234567890" not in server.output() and "the token you gave" in server.output()
        assert resp.status == 302 and "Secure" in resp.getheader("Set-Cookie")  # never sent over plain HTTP
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            errors = _errors_of(page)
            page.goto(f"https://localhost:{port}/login?token=tls-token-1234567890&next=/%3Ffile%3Da.h5", timeout=LOAD)
            shows_a_slice_and_steps(page)  # the websocket (wss) came through
            assert errors == []
        finally:
            context.close()
    finally:
        server.stop()


def test_certificates_that_cannot_be_used_get_a_sentence(tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    other_cert, other_key = _self_signed(tmp_path, "other")
    assert cli.check_certificate(str(cert), str(key))["ssl_certfile"] == str(cert)
    with pytest.raises(SystemExit, match="does not exist"):
        cli.check_certificate(str(tmp_path / "missing.pem"), str(key))
    with pytest.raises(SystemExit, match="cannot serve HTTPS"):
        cli.check_certificate(str(cert), str(other_key))  # a key that is not the certificate's
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(SystemExit, match="cannot serve HTTPS"):
        cli.check_certificate(str(tmp_path / "junk.pem"), str(key))
