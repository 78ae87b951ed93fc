"""The Dask dashboard of the server's cluster, served under the app's own address (``dask/...``).

The dashboard of a cluster started from the Cluster tab listens on the loopback interface of the
machine hpcdash runs on (it shows task names, file paths and worker logs). A browser that reaches
hpcdash through an SSH tunnel, a Unix socket or the token login could not open it without a tunnel of
its own; this handler forwards ``<app>/dask/<path>`` to ``http://127.0.0.1:<dashboard port>/<path>``,
page requests and the dashboard's websockets alike, behind the same login as the app. Only the
current cluster's dashboard is reached: the handler asks `target()` for it on every request.

It answers only requests whose ``Host`` the server is meant to be reached by, and accepts websockets only
from pages of the origins the app's own websocket accepts (`hpcdash.hosts`): a page rebound to this
machine's loopback (DNS rebinding) gets 403, not the dashboard.

Dask's dashboard uses relative links throughout (jupyter-server-proxy serves it the same way), so no
rewriting of its pages is needed. No Panel import: `hpcdash.cli` mounts it on the Bokeh server.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import url_concat
from tornado.websocket import WebSocketClosedError, WebSocketHandler, websocket_connect

from hpcdash.hosts import allowed_names, host_allowed, origin_allowed, refuse

#: Where the dashboard is mounted, relative to the app's page (and to ``--prefix``).
MOUNT = "dask"
ROUTE = rf"/{MOUNT}/(.*)"
#: Not passed on: connection-level headers, and the app's own credentials (the dashboard needs none).
_DROP_REQUEST = {"host", "connection", "upgrade", "keep-alive", "proxy-connection", "te", "trailer",
                 "transfer-encoding", "cookie", "authorization", "sec-websocket-key", "sec-websocket-version",
                 "sec-websocket-extensions", "sec-websocket-protocol", "origin", "content-length"}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "server", "date", "set-cookie", "content-length"}
NO_CLUSTER = ("No Dask cluster is running, so there is no dashboard to show. Start one in the Cluster tab "
              "of hpcdash; its dashboard link leads here.")


class DashboardProxy(AuthRequestHandler, WebSocketHandler):
    """``GET/POST <app>/dask/<path>`` and websockets, forwarded to the cluster's dashboard.

    `target()` returns the dashboard's base URL (``http://127.0.0.1:PORT``) or None when no cluster
    runs. Requests for a host the server is not meant to be reached by get 403 (`hpcdash.hosts`), as do
    websockets opened by pages of another origin. Requests without the app's login (see `hpcdash.auth`)
    go to the login page (pages) or are refused (websockets)."""

    def initialize(self, target: Callable[[], str | None]) -> None:
        self._target = target
        self._upstream = None
        self._subprotocols: list[str] = []

    async def prepare(self) -> None:
        # (`hpcdash serve` refuses such requests before any route; checked here too, for any other mount)
        if not host_allowed(self.request.headers.get("Host", self.request.host), allowed_names(self.application)):
            refuse(self)  # Tornado calls no method of a finished request
            return
        await super().prepare()

    def check_origin(self, origin: str) -> bool:
        # the origins the app's websocket accepts (Tornado's default, the same host as the request's,
        # is passed by a rebound page as well)
        return origin_allowed(origin, allowed_names(self.application))

    def _is_websocket(self) -> bool:
        return self.request.headers.get("Upgrade", "").lower() == "websocket"

    async def get(self, path: str) -> None:
        await self._forward(path)

    async def post(self, path: str) -> None:
        await self._forward(path)

    async def _forward(self, path: str) -> None:
        if not self.current_user:
            if self.request.method == "GET" and not self._is_websocket():
                self.redirect(url_concat(self.get_login_url(), {"next": self.request.uri}))
            else:
                self.set_status(403)
                self.finish()
            return
        base = self._target()
        if not base:
            self._message(404, NO_CLUSTER)
            return
        self._base = base.rstrip("/")
        if self._is_websocket():
            await WebSocketHandler.get(self, path)  # the handshake, then open()
            return
        req = HTTPRequest(self._upstream_url(path), method=self.request.method, headers=self._forwarded_headers(),
                          body=self.request.body if self.request.method == "POST" else None,
                          follow_redirects=False, decompress_response=False, request_timeout=60)
        try:
            resp = await AsyncHTTPClient().fetch(req, raise_error=False)
            # 599: tornado's code for no response at all (connection refused, timeout)
            error = resp.error if resp.code == 599 else None
        except (HTTPClientError, OSError) as err:
            error = err
        if error is not None:
            self._message(502, f"The Dask dashboard did not answer ({error}); the cluster may be stopping.")
            return
        self.set_status(resp.code, resp.reason)
        for name in ("Content-Type", "Server", "Date"):  # tornado's defaults give way to the dashboard's
            self.clear_header(name)
        for name, value in resp.headers.get_all():
            if name.lower() not in _DROP_RESPONSE:
                if name.lower() == "location" and value.startswith("/") and not value.startswith("//"):
                    value = f"{self._mount_path()}{value}"  # keep redirects inside the mount
                self.add_header(name, value)
        self.finish(resp.body or b"")

    def _upstream_url(self, path: str, scheme: str = "http") -> str:
        """`path` (and this request's query) at the dashboard, over `scheme` (http or ws)."""
        query = f"?{self.request.query}" if self.request.query else ""
        return f"{scheme}{self._base[len('http'):]}/{path}{query}"

    def _forwarded_headers(self) -> dict[str, str]:
        """This request's headers as they go on to the dashboard (`_DROP_REQUEST` left out)."""
        return {k: v for k, v in self.request.headers.get_all() if k.lower() not in _DROP_REQUEST}

    def _mount_path(self) -> str:
        """This request's path up to and including the mount (``/prefix/dask``)."""
        path = self.request.path
        marker = f"/{MOUNT}/"
        return path[: path.index(marker) + len(marker) - 1] if marker in path else f"/{MOUNT}"

    def _message(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dask dashboard</title>"
                    "</head><body style='font-family: system-ui, sans-serif; margin: 3rem'>"
                    f"<h1>Dask dashboard</h1><p>{html.escape(text)}</p></body></html>")

    # ------------------------------------------------------------------ websockets
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # Bokeh's client offers ["bokeh", <session token>]: all go upstream, the first is answered here
        self._subprotocols = list(subprotocols)
        return subprotocols[0] if subprotocols else None

    async def open(self, path: str) -> None:
        try:
            self._upstream = await websocket_connect(
                HTTPRequest(self._upstream_url(path, "ws"), headers=self._forwarded_headers(), request_timeout=30),
                on_message_callback=self._from_upstream,
                subprotocols=self._subprotocols or None)
        except (HTTPClientError, OSError):
            self.close(1011, "The Dask dashboard did not answer.")

    def on_message(self, message) -> None:
        if self._upstream is not None:
            self._upstream.write_message(message, binary=isinstance(message, bytes))

    def _from_upstream(self, message) -> None:
        if message is None:  # the dashboard closed the connection
            self.close()
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except WebSocketClosedError:
            self._close_upstream()

    def on_close(self) -> None:
        self._close_upstream()

    def _close_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None
