"""Security headers on every response, and the one safe way to follow a return URL.

Headers (RFC 9700 §4.2.4, ASVS 3.4.x, reliability-targets OA-18): a CSP that allows only this site and no
inline script or style (`default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none';
frame-ancestors 'none'; form-action 'self'`), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
no-referrer` (so a page's URL never leaks to another site), `X-Frame-Options: DENY` for old browsers, HSTS
when the public URL is https, and `Cache-Control: no-store` on every HTML page (they are personal or
administrative: a shared cache or the back button must not show them to the next person). A middleware
rather than per-route code, so a page added later cannot forget them.

`safe_return_path` is the only function that turns a user-supplied "where to go next" into a redirect
target: a path on this site, or the default (ASVS 3.7.2, OA-17).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SecurityHeaders", "safe_return_path"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
MAX_RETURN_LENGTH = 2000


class SecurityHeaders:
    """A pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streamed responses)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def safe_return_path(value: str | None, default: str = "/") -> str:
    """`value` if it is a path on this site (`/admin/runs?page=2`), else `default`.

    Refused: absolute URLs and any scheme (`https:`, `javascript:`), scheme-relative `//host`, `/\\host`
    and any backslash (browsers read `\\` as `/`), control characters and whitespace (browsers drop tabs
    and newlines, so `/\\t/evil` would become `//evil`), non-ASCII (our paths are ASCII; a look-alike
    slash has no business here), and anything too long to be a real page.
    """
    if not value or len(value) > MAX_RETURN_LENGTH or not value.isascii() or not value.startswith("/"):
        return default
    if value.startswith("//") or "\\" in value:
        return default
    if any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return default
    return value
