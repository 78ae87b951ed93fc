"""Which names the server answers to: requests whose ``Host`` header names another host are refused.

A server on loopback without a token trusts whatever reaches it, and a web page can reach it: a page
on ``evil.example`` whose name is then made to resolve to 127.0.0.1 (DNS rebinding) sends its requests to
the server as same-origin requests, so it may read the answers (the Dask dashboard, files under the
root). The browser still names the page's host in ``Host``, so the server answers only the names it is
meant to be reached by: the list its websocket takes origins from (``allow_websocket_origin``, Bokeh's
matching: ``localhost:PORT``, ``127.0.0.1:PORT``, the bound address, what ``--allow-websocket-origin``
adds; ``*`` allows every name, as behind jupyter-server-proxy, which has logged the user in), and the
loopback names themselves (``localhost``, ``127.0.0.1``, ``[::1]`` on any port), which no page can be
rebound to. Everything else gets 403 with a sentence.

`guard` puts the check in front of every route of the Bokeh server; `host_allowed`, `origin_allowed` and
`refuse` serve the Dask dashboard proxy's own checks. No Panel import: it serves `hpcdash.cli`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

from tornado.httputil import HTTPServerRequest
from tornado.routing import Matcher, Rule
from tornado.web import Application, RequestHandler

#: Names that stand for this machine's loopback whatever the port: a rebound page cannot be served under them.
LOOPBACK_NAMES = ("localhost",)


def allowed_names(application: Application) -> set[str]:
    """The host patterns the app's websocket accepts as origins: the Bokeh server's ``websocket_origins``,
    or ``$BOKEH_ALLOW_WS_ORIGIN`` when set (Bokeh's websocket handler reads the same)."""
    from bokeh.settings import settings

    override = settings.allowed_ws_origin()
    return set(override) if override else set(getattr(application, "websocket_origins", ()) or ())


def _is_loopback(host: str) -> bool:
    """True if `host` (``name[:port]``, ``[v6]:port``) names the loopback interface."""
    name = host.rpartition("]")[0].lstrip("[") if host.startswith("[") else host.rpartition(":")[0] or host
    name = name.rstrip(".").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(host: str | None, names: Collection[str]) -> bool:
    """True if a request with ``Host: host`` may be answered: a loopback name, or one `names` allows
    (Bokeh's `check_allowlist`: a port-less host is port 80, ``*`` allows all)."""
    from bokeh.server.util import check_allowlist

    host = (host or "").strip().lower()
    if not host:
        return False
    return _is_loopback(host) or check_allowlist(host, names)


def origin_allowed(origin: str | None, names: Collection[str]) -> bool:
    """True if a websocket opened by a page of `origin` (``scheme://host[:port]``) may connect: its host
    is one `names` allows, as the app's own websocket checks it (no loopback exception here: another
    web server on this machine is another origin)."""
    from bokeh.server.util import check_allowlist

    return check_allowlist(urlsplit(origin or "").netloc.lower(), names)


def refusal(host: str | None) -> str:
    """The sentence a request for a foreign `host` gets."""
    shown = (host or "").strip()[:200] or "(none)"
    return (f"hpcdash does not answer requests for the host {shown}: it is not a name this server is meant "
            "to be reached by. Open the address hpcdash printed when it started; to reach it under this name, "
            f"start it with --allow-websocket-origin {shown}.\n")


def refuse(handler: RequestHandler) -> None:
    """Answer `handler`'s request with 403 and `refusal` (plain text); Tornado calls none of its methods then."""
    handler.set_status(403)
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("Cache-Control", "no-store")
    handler.finish(refusal(handler.request.headers.get("Host")))


class RefuseHost(RequestHandler):
    """403 and `refusal` for every method and path (a request whose ``Host`` is not allowed)."""

    def prepare(self) -> None:
        refuse(self)


class ForeignHost(Matcher):
    """Matches the requests whose ``Host`` `application` is not meant to be reached by."""

    def __init__(self, application: Application):
        self._application = application

    def match(self, request: HTTPServerRequest) -> dict | None:
        allowed = host_allowed(request.headers.get("Host", request.host), allowed_names(self._application))
        return None if allowed else {}


def guard(application: Application) -> None:
    """Refuse (`RefuseHost`) every request to `application` whose ``Host`` is not allowed, before any of
    its routes (pages, static files, websockets, the login and handlers added later) sees it."""
    application.default_router.rules.insert(0, Rule(ForeignHost(application), RefuseHost))
