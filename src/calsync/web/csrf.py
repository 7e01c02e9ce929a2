"""CSRF protection for every state-changing request (ASVS 3.5.1, reliability-targets OA-16).

A synchronizer token: one random token per session (`csrf_token`), put into every form as the hidden
field `csrf_token` by the base template's `csrf_field()` (or sent as the `X-CSRF-Token` header by a
script), and compared in constant time by `require_csrf` on every POST/PUT/PATCH/DELETE. Two cheap
browser signals refuse a cross-site request before the token is even looked at: `Sec-Fetch-Site:
cross-site` and an `Origin` other than this site's. `require_csrf` is a dependency of every router made
by `calsync.web.pages.pages_router`, so a page's form cannot be added without it. The OAuth redirect back
from Microsoft is a GET and changes nothing but the session; it is protected by state, nonce and PKCE.

A refusal is `CsrfRefused`, shown as a 403 page that says what to do (reload the page and try again).
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from calsync.web.errors import CsrfRefused
from calsync.web.sessions import session_id

__all__ = ["FIELD", "HEADER", "csrf_token", "require_csrf"]

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
log = logging.getLogger("calsync.web")


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created, with the session, on first use)."""
    session_id(request)
    token = request.session.get("_csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["_csrf"] = token
    return token


async def require_csrf(request: Request) -> None:
    """FastAPI dependency: refuse an unsafe request without this session's token (raises CsrfRefused)."""
    if request.method in SAFE_METHODS:
        return
    reason = _cross_site(request)
    if reason is None:
        expected = request.session.get("_csrf")
        given = request.headers.get(HEADER)
        if given is None and _is_form(request):
            value = (await request.form()).get(FIELD)
            given = value if isinstance(value, str) else None
        if not isinstance(expected, str) or not given:
            reason = "missing token"
        elif not secrets.compare_digest(expected.encode(), given.encode()):
            reason = "wrong token"
    if reason is not None:
        log.warning("calsync.web.csrf_refused", extra={"path": request.url.path, "reason": reason})
        raise CsrfRefused(reason)


def _cross_site(request: Request) -> str | None:
    if request.headers.get("sec-fetch-site") == "cross-site":
        return "cross-site request"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    if origin == "null":
        # Referrer-Policy: no-referrer makes browsers send `Origin: null` even on same-origin form
        # POSTs (Fetch, "serializing a request origin"): then Sec-Fetch-Site decides, and the token.
        fetched = request.headers.get("sec-fetch-site")
        return None if fetched in (None, "same-origin") else "foreign origin"
    public = request.app.state.web.public_url
    if _origin(origin) != _origin(public):
        return "foreign origin"
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
