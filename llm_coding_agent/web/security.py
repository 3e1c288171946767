"""What stands between a web page and the user's machine: the page can approve commands, so
every request is checked before the app sees it.

- **Token**: a random token per server start, given in the URL ``llm code web`` prints (as
  Jupyter does). A request carrying it in ``?token=`` gets it back as a cookie (HttpOnly,
  SameSite=Strict, named after the port); every request with neither is 403.
- **Host**: the ``Host`` header must be ``127.0.0.1:PORT`` or ``localhost:PORT``, so a DNS
  rebinding page (evil.example resolving to 127.0.0.1) is refused whatever else it sends.
- **CSRF**: every request that is not GET/HEAD needs the ``X-CSRF-Token`` header holding this
  start's CSRF token (in each page's ``<meta>``; a page of another origin cannot read it), a JSON
  body, and, when the browser sends ``Origin``, this server's own origin.
- **No CORS**: no ``Access-Control-*`` header is ever sent, so other origins cannot read replies.
  Replies also forbid framing, caching and sending the URL (with its token) as a referrer.
"""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

__all__ = ["Guard", "new_token"]

#: The Content-Security-Policy of every reply: the page's own script and style, nothing inline.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_SAFE_METHODS = ("GET", "HEAD")


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """ASGI middleware enforcing the rules above for ``app`` served on 127.0.0.1:``port``."""

    def __init__(self, app, *, port: int, token: str, csrf: str):
        self.app = app
        self.port = port
        self.token = token
        self.csrf = csrf
        self.cookie_name = f"llm_code_web_{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await _refuse(send, "only HTTP is served here", websocket=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if headers.get("host", "") not in self.hosts:
            return await _refuse(send, f"Host must be 127.0.0.1:{self.port} or localhost:{self.port}")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [""])[0]
        from_query = bool(given) and secrets.compare_digest(given, self.token)
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is the same as none
            cookie = SimpleCookie()
        morsel = cookie.get(self.cookie_name)
        from_cookie = morsel is not None and secrets.compare_digest(morsel.value, self.token)
        if not (from_query or from_cookie):
            return await _refuse(send, "this page needs the token from the URL llm code web printed")
        if scope["method"] not in _SAFE_METHODS:
            problem = self._csrf_problem(headers)
            if problem:
                return await _refuse(send, problem)
        set_cookie = from_query and not from_cookie

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                ]
                if set_cookie:
                    extra.append((b"set-cookie", (
                        f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    ).encode()))
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": kept + extra}
            await send(message)

        return await self.app(scope, receive, send_with_headers)

    def _csrf_problem(self, headers: dict[str, str]) -> str | None:
        given = headers.get("x-csrf-token", "")
        if not given or not secrets.compare_digest(given, self.csrf):
            return "missing or wrong CSRF token"
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return "cross-origin request refused"
        if not headers.get("content-type", "").startswith("application/json"):
            return "requests that change something must send JSON"
        return None


async def _refuse(send, reason: str, websocket: bool = False) -> None:
    if websocket:
        await send({"type": "websocket.close", "code": 1008})
        return
    body = f"403 Forbidden: {reason}\n".encode()
    await send({"type": "http.response.start", "status": 403, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]})
    await send({"type": "http.response.body", "body": body})
