"""Small HTML pages for sign-in and consent, and the ways back to the client's redirect URI.

The pages load nothing external and escape every value. Each response carries a fresh CSP nonce:
`default-src 'self'` plus `script-src`/`style-src` limited to that nonce, so the one inline script
(auto-submitting a `response_mode=form_post` answer) and the inline style run and nothing else does.
`form-action` is not restricted, because the form_post answer posts to the client's redirect URI.

Forms are protected against forgery twice: the request being answered travels in a hidden field
signed with a per-world HMAC key (so a posted form cannot change redirect_uri, scope or state), and
the signed value names a random value also set as an HttpOnly SameSite cookie (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from graphemu.world import World

CSRF_COOKIE = "graphemu_csrf"
SESSION_COOKIE = "graphemu_session"
STATE_MAX_AGE = 3600.0
_STYLE = (
    "body{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}"
    "main{background:#fff;max-width:440px;margin:48px auto;padding:32px;box-shadow:0 2px 6px rgba(0,0,0,.2)}"
    "h1{font-size:22px;font-weight:600}label{display:block;margin:12px 0 4px}"
    "select,input{width:100%;padding:6px;box-sizing:border-box}ul{padding-left:20px}"
    ".buttons{margin-top:20px;display:flex;gap:8px;justify-content:flex-end}"
    "button{padding:6px 20px}.error{color:#a80000}code{word-break:break-all}"
)


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page_key(world: World) -> bytes:
    """The per-world HMAC key of the pages (hex in world.extra, so snapshots keep it)."""
    key: str = world.extra.setdefault("identity_page_key", secrets.token_hex(32))
    return bytes.fromhex(key)


def sign(world: World, data: dict[str, Any]) -> str:
    """`payload.mac`: base64url JSON and its HMAC-SHA256 under the world's page key."""
    payload = _b64u(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64u(hmac.new(page_key(world), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def unsign(
    world: World, token: str | None, *, now: float, max_age: float = STATE_MAX_AGE
) -> dict[str, Any] | None:
    """The signed data if the MAC is right and it is younger than `max_age` (field `iat`), else None."""
    if not token or "." not in token:
        return None
    payload, mac = token.rsplit(".", 1)
    expected = _b64u(hmac.new(page_key(world), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        data: dict[str, Any] = json.loads(_unb64u(payload))
    except ValueError:
        return None
    if not isinstance(data, dict) or now - float(data.get("iat", 0)) > max_age:
        return None
    return data


def csrf_value(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie value, and whether it must be set (it was missing)."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and len(value) >= 16:
        return value, False
    return secrets.token_urlsafe(24), True


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def page(title: str, body: str, *, status: int = 200, script: str | None = None) -> HTMLResponse:
    """A complete HTML page with a nonce-based CSP. `body` must already be escaped HTML."""
    nonce = secrets.token_urlsafe(16)
    script_tag = f'<script nonce="{nonce}">{script}</script>' if script else ""
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body><main>{body}</main>{script_tag}</body></html>"
    )
    csp = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    headers = {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store, no-cache",
        "Pragma": "no-cache",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(text: str, *, status: int = 400) -> HTMLResponse:
    """The "Sorry, but we're having trouble signing you in" page, with the AADSTS text."""
    body = (
        "<h1>Sorry, but we\u2019re having trouble signing you in.</h1>"
        f'<p class="error" id="error">{escape(text)}</p>'
    )
    return page("Sign in to your account", body, status=status)


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def to_client(redirect_uri: str, params: dict[str, str], mode: str) -> Response:
    """Send an authorization answer back: 302 with query or fragment, or an auto-posting form."""
    clean = {k: v for k, v in params.items() if v is not None}
    if mode == "form_post":
        fields = "".join(hidden(k, v) for k, v in clean.items())
        body = (
            f'<form method="post" id="answer" action="{escape(redirect_uri)}">{fields}'
            "<noscript><p>Script is disabled. Click Continue to go on.</p>"
            '<button type="submit">Continue</button></noscript></form>'
        )
        return page("Working...", body, script='document.getElementById("answer").submit();')
    if mode == "fragment":
        location = f"{redirect_uri.split('#', maxsplit=1)[0]}#{urlencode(clean)}"
    else:
        separator = "&" if "?" in redirect_uri else "?"
        location = f"{redirect_uri}{separator}{urlencode(clean)}"
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store, no-cache"})
