"""The pages' foundations over ASGI: security headers, CSRF, session cookies and their timeouts, the
session secret, error pages. (Return URLs: test_return_urls.py; the browser: test_browser_*.py.)"""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

import httpx
import pytest
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import URLSafeTimedSerializer
from starlette.requests import Request

from calsync.settings import SettingsError, load_settings
from calsync.web.csrf import csrf_token
from calsync.web.pages import flash, pages_router, see_other
from calsync.web.sessions import load_session_secret
from tests.calsync.web.conftest import WebApp, web_app

HTML = {"accept": "text/html"}
CSP_PARTS = ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'")


def assert_secure_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert all(part in csp for part in CSP_PARTS), csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    if response.headers.get("content-type", "").startswith("text/html"):
        assert response.headers["cache-control"] == "no-store"


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def test_every_page_and_error_carries_the_security_headers(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        for method, path, status in [
            ("GET", "/", 200),
            ("GET", "/no/such/page", 404),
            ("POST", "/signout", 403),
            ("GET", "/static/calsync.css", 200),
            ("GET", "/healthz", 200),
        ]:
            response = await web.client.request(method, path, headers=HTML)
            assert response.status_code == status, path
            assert_secure_headers(response)
        assert "Page not found" in (await web.client.get("/no/such/page", headers=HTML)).text
        # HSTS only where the public URL is https (a browser must not pin http://127.0.0.1).
        assert "strict-transport-security" not in response.headers
    async with web_app(tmp_path / "tls", public_url="https://calsync.example.edu") as web:
        response = await web.client.get("/")
        assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_pages_reference_no_other_site(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        page = (await web.client.get("/", headers=HTML)).text
    for url in re.findall(r'(?:href|src|action)="([^"]+)"', page):
        assert url.startswith(("/", "#")), url
        assert not url.startswith("//"), url
    assert "<script" not in page
    assert "style=" not in page


async def test_a_form_post_needs_the_sessions_csrf_token(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        await token_from_session(web)
        missing = await web.client.post("/t/form", headers=HTML)
        assert missing.status_code == 403
        assert "This form has expired" in missing.text
        # A token from the page, in the form or in the header, is accepted; a wrong one is not.
        token = await token_from_session(web)
        wrong = await web.client.post("/t/form", data={"csrf_token": token[:-2] + "xx"}, headers=HTML)
        assert wrong.status_code == 403
        empty = await web.client.post("/t/form", data={"csrf_token": ""}, headers=HTML)
        assert empty.status_code == 403
        ok = await web.client.post("/t/form", data={"csrf_token": token})
        assert ok.status_code == 303
        assert ok.headers["location"] == "/"
        by_header = await web.client.post("/t/form", headers={"x-csrf-token": token})
        assert by_header.status_code == 303
        # The same guard covers the built-in forms (sign out).
        assert (await web.client.post("/signout", headers=HTML)).status_code == 403
        assert (await web.client.post("/signout", data={"csrf_token": token})).status_code == 303


async def test_a_token_from_another_session_is_refused(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        token = await token_from_session(web)
        web.client.cookies.clear()
        other = await web.client.post("/t/form", data={"csrf_token": token})
        assert other.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"origin": "null", "sec-fetch-site": "same-site"},
        {"sec-fetch-site": "cross-site"},
    ],
)
async def test_a_cross_site_post_is_refused_even_with_the_token(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    async with web_app(tmp_path) as web:
        token = await token_from_session(web)
        response = await web.client.post("/t/form", data={"csrf_token": token}, headers=headers)
        assert response.status_code == 403
        same_site = await web.client.post(
            "/t/form", data={"csrf_token": token}, headers={"origin": "http://127.0.0.1:8400"}
        )
        assert same_site.status_code == 303


async def test_a_same_origin_form_post_with_origin_null_is_accepted(tmp_path: Path) -> None:
    """Pages are sent with Referrer-Policy: no-referrer, so a browser's same-origin form POST carries
    `Origin: null`; Sec-Fetch-Site says same-origin, and the token decides."""
    async with web_app(tmp_path) as web:
        token = await token_from_session(web)
        same = {"origin": "null", "sec-fetch-site": "same-origin"}
        response = await web.client.post("/t/form", data={"csrf_token": token}, headers=same)
        assert response.status_code == 303
        without = await web.client.post("/t/form", data={}, headers=same)
        assert without.status_code == 403


async def token_from_session(web: WebApp) -> str:
    """The token a page's form carries, read from a form page of a router built like every page module's."""
    if not any(getattr(r, "path", "") == "/t/form" for r in web.app.router.routes):
        pages = pages_router()

        @pages.get("/t/form")
        async def form(request: Request) -> HTMLResponse:
            return HTMLResponse(
                f'<form method="post"><input name="csrf_token" value="{csrf_token(request)}">'
            )

        @pages.post("/t/form")
        async def submit(request: Request) -> RedirectResponse:
            flash(request, "done")
            return see_other("/")

        web.app.include_router(pages)
    return csrf_of((await web.client.get("/t/form", headers=HTML)).text)


def cookie_header(response: httpx.Response) -> str:
    [header] = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    return header


async def test_the_session_cookie_is_host_only_secure_httponly_lax_over_https(tmp_path: Path) -> None:
    async with web_app(tmp_path, public_url="https://calsync.example.edu") as web:
        await token_from_session(web)
        response = await web.client.get("/t/form")
        header = cookie_header(response)
    assert header.startswith("__Host-calsync-session=")
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite", "max-age"} <= attributes
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Domain" not in header


async def test_http_cookies_only_on_a_loopback_public_url(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:  # http://127.0.0.1: development and tests
        await token_from_session(web)
        header = cookie_header(await web.client.get("/t/form"))
    assert header.startswith("calsync-session=")
    assert "Secure" not in header
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "c.toml").write_text('public_url = "http://calsync.example.edu"\n')
    with pytest.raises(SettingsError, match="loopback"):
        load_settings(folder / "c.toml", env={})
    (folder / "c.toml").write_text(
        'public_url = "http://127.0.0.1:8400"\nweb_insecure_http_loopback = false\n'
    )
    with pytest.raises(SettingsError, match="loopback"):
        load_settings(folder / "c.toml", env={})
    (folder / "c.toml").write_text('public_url = "https://calsync.example.edu/pages"\n')
    with pytest.raises(SettingsError, match="origin only"):
        load_settings(folder / "c.toml", env={})


async def test_a_tampered_or_foreign_cookie_is_an_empty_session(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        token = await token_from_session(web)
        value = web.client.cookies["calsync-session"]
        web.client.cookies.set("calsync-session", value[:-3] + "AAA")
        assert (await web.client.post("/t/form", data={"csrf_token": token})).status_code == 403
        forged = URLSafeTimedSerializer(b"x" * 32, salt="calsync.session").dumps(
            {"sid": "s", "iat": 2_000_000_000, "data": {"_csrf": "t"}}
        )
        web.client.cookies.set("calsync-session", forged)
        assert (await web.client.post("/t/form", data={"csrf_token": "t"})).status_code == 403


class _OldSerializer(URLSafeTimedSerializer):
    """Signs as if `age` seconds ago: a cookie from a session left idle that long."""

    age = 0.0

    def make_signer(self, salt: object = None) -> object:  # type: ignore[override]
        signer = super().make_signer(salt)  # type: ignore[arg-type]
        now = signer.get_timestamp()
        signer.get_timestamp = lambda: int(now - self.age)  # type: ignore[method-assign]
        return signer


@pytest.mark.parametrize(
    ("idle", "since_sign_in", "kept"), [(59, 60, True), (61 * 60, 60, False), (60, 13 * 3600, False)]
)
async def test_idle_and_absolute_timeouts_end_a_session(
    tmp_path: Path, idle: float, since_sign_in: float, kept: bool
) -> None:
    """session_idle_minutes = 60 and session_max_hours = 12 (the defaults), checked on the server."""
    async with web_app(tmp_path) as web:
        await token_from_session(web)
        secret = load_session_secret(web.deployment.settings)
        serializer = _OldSerializer(secret, salt="calsync.session")
        serializer.age = idle
        cookie = serializer.dumps(
            {"sid": "s1", "iat": int(time.time() - since_sign_in), "data": {"_csrf": "tok"}}
        )
        web.client.cookies.set("calsync-session", cookie)
        response = await web.client.post("/t/form", data={"csrf_token": "tok"})
        assert (response.status_code == 303) is kept


async def test_the_generated_session_secret_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        token = await token_from_session(web)
        cookie = web.client.cookies["calsync-session"]
        key = tmp_path / "calsync-session.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert len(key.read_text().strip()) >= 32
    async with web_app(tmp_path) as again:
        again.client.cookies.set("calsync-session", cookie)
        await token_from_session(again)
        again.client.cookies.set("calsync-session", cookie)
        assert (await again.client.post("/t/form", data={"csrf_token": token})).status_code == 303


def test_a_short_session_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(f'session_secret_file = "{tmp_path / "k"}"\n')
    (tmp_path / "k").write_text("short\n")
    with pytest.raises(SettingsError, match="at least 32 bytes"):
        load_session_secret(load_settings(tmp_path / "c.toml", env={}))
    settings = load_settings(tmp_path / "c.toml", env={"CALSYNC_SESSION_SECRET": "s" * 40})
    assert load_session_secret(settings) == b"s" * 40
    (tmp_path / "c.toml").write_text('session_secret = "in the file"\n')
    with pytest.raises(SettingsError, match="not accepted in the file"):
        load_settings(tmp_path / "c.toml", env={})
