"""A token login for a server that other machines can reach (``hpcdash serve --address 0.0.0.0``).

The app reads the user's files and submits batch jobs in their name, so a server bound to a network
address asks every browser for a secret first, as Jupyter does: a random token printed when the server
starts (or the one given with ``--token`` / ``HPCDASH_TOKEN``). Opening the printed
``/login?token=...`` link, or typing the token into the login page, leaves a cookie that stands for it
(an HMAC of the token, never the token itself), so the address bar and links copied from it carry no
secret. Scripts may send ``Authorization: token <token>`` instead.

Every page and the app's websocket go through Bokeh's authentication hooks (`bokeh.server.auth_provider`);
this module only decides who is let in. No Panel import: it serves `hpcdash.cli`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from urllib.parse import urlsplit

from bokeh.server.auth_provider import AuthProvider
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

#: Environment variable that gives the token (instead of ``--token`` on a command line others can read).
TOKEN_ENV = "HPCDASH_TOKEN"
COOKIE = "hpcdash-auth"
LOGIN_PATH = "/login"
#: The user name a browser that showed the token is served as.
USER = "hpcdash"


def new_token() -> str:
    """A fresh random token (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


class TokenAuth(AuthProvider):
    """Lets in requests that carry `token` (query argument ``token``, ``Authorization: token ...``) or
    the cookie a login with it left; everything else is sent to the login page (pages) or refused
    (the websocket)."""

    def __init__(self, token: str):
        if not token:
            raise ValueError("The token must not be empty.")
        self._token = token.encode()
        # what the browser keeps: proves the token was shown without being it
        self._cookie_value = hmac.new(self._token, b"hpcdash login cookie", hashlib.sha256).hexdigest()
        super().__init__()

    def accepts(self, given: str | None) -> bool:
        """True if `given` is the token (compared in constant time)."""
        return bool(given) and hmac.compare_digest(given.encode(), self._token)

    def remember(self, handler: RequestHandler) -> None:
        """Leave the login cookie in the browser of `handler`'s request."""
        handler.set_cookie(COOKIE, self._cookie_value, httponly=True, samesite="Lax",
                           secure=handler.request.protocol == "https")

    def user_of(self, handler: RequestHandler) -> str | None:
        """The user of a request (`USER`), or None when it has shown neither the token nor the cookie."""
        given = handler.get_query_argument("token", None)
        header = handler.request.headers.get("Authorization", "")
        if given is None and header[:6].lower() == "token ":
            given = header[6:].strip()
        if self.accepts(given):
            if not isinstance(handler, WebSocketHandler):  # a handshake's answer cannot set cookies
                self.remember(handler)
            return USER
        cookie = handler.get_cookie(COOKIE)
        if cookie and hmac.compare_digest(cookie.encode(), self._cookie_value.encode()):
            return USER
        return None

    @property
    def get_user(self):
        return self.user_of

    @property
    def login_url(self) -> str:
        return LOGIN_PATH

    @property
    def login_handler(self) -> type[RequestHandler]:
        return LoginHandler


def safe_next(target: str | None) -> str:
    """Where to go after logging in: `target` if it is a path on this server, else the app's page
    (a login link must not send the browser to another site)."""
    if not target:
        return "./"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "./"
    return target


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hpcdash: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f6f8; color: #1f2933; margin: 0; }}
main {{ max-width: 30rem; margin: 12vh auto; background: white; padding: 2rem 2.2rem;
        border-radius: 8px; box-shadow: 0 2px 10px rgba(0,0,0,.08); }}
h1 {{ font-size: 1.4rem; margin-top: 0; }}
p {{ line-height: 1.45; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .55rem; font-size: 1rem;
        border: 1px solid #9aa5b1; border-radius: 4px; }}
button {{ margin-top: 1rem; padding: .5rem 1.3rem; font-size: 1rem; border: 0; border-radius: 4px;
        background: #0b5cad; color: white; cursor: pointer; }}
.error {{ color: #a61b1b; background: #fdecec; padding: .6rem .8rem; border-radius: 4px; }}
code {{ background: #eef1f4; padding: 0 .25rem; border-radius: 3px; }}
</style></head>
<body><main>
<h1>This hpcdash server asks for its token</h1>
{message}
<p>The token was printed where the server was started, in the line with
<code>/login?token=</code>; opening that link logs you in too.</p>
<form method="post" action="{action}">
<label for="token">Token</label>
<input type="password" id="token" name="token" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form>
</main></body></html>
"""


class LoginHandler(RequestHandler):
    """``GET /login?token=...`` logs in and goes on to the app; ``GET /login`` shows a form asking
    for the token, ``POST /login`` checks it."""

    @property
    def provider(self) -> TokenAuth:
        return self.application.auth_provider

    def get(self) -> None:
        if self.provider.accepts(self.get_query_argument("token", None)):
            self.provider.remember(self)
            self.redirect(safe_next(self.get_query_argument("next", None)))
            return
        given = self.get_query_argument("token", None) is not None
        self._page("That token is not this server's." if given else "", status=403 if given else 200)

    def post(self) -> None:
        nxt = self.get_body_argument("next", None)
        if self.provider.accepts(self.get_body_argument("token", "")):
            self.provider.remember(self)
            self.redirect(safe_next(nxt))
            return
        self._page("That token is not this server's.", status=403, nxt=nxt)

    def _page(self, message: str, status: int = 200, nxt: str | None = None) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        nxt = safe_next(nxt if nxt is not None else self.get_query_argument("next", None))
        self.finish(_PAGE.format(
            message=f'<p class="error" role="alert">{html.escape(message)}</p>' if message else "",
            action=html.escape(self.request.path, quote=True), next=html.escape(nxt, quote=True)))
