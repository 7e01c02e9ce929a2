"""The administration pages over ASGI: anonymous visitors are sent to sign in, the bootstrap token works
once and starts a new session, every page answers with the security headers, every form needs the CSRF
token, and each action lands in the audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from calsync.domain import SourceKey
from calsync.services import admin
from calsync.sync.ports import Quarantined, RunReport
from calsync.web.sessions import load_session_secret
from tests.calsync.web.conftest import DOMAIN, WebApp, web_app
from tests.calsync.web.test_foundations import assert_secure_headers, csrf_of

ADA = f"ada@{DOMAIN}"
HTML = {"accept": "text/html"}
PAGES = ["/admin", "/admin/runs", "/admin/audit", "/admin/consent", f"/admin/mailboxes/default/{ADA}",
         f"/admin/mailboxes/default/{ADA}/purge"]  # fmt: skip


def seed_state(web: WebApp) -> None:
    """A finished run of ADA and one quarantined item, as the engine records them."""
    store = web.deployment.profile().store
    now = datetime.now(UTC)
    run = RunReport(ADA, now - timedelta(minutes=5), now - timedelta(minutes=4), "partial", created=2,
                    failed=1, error_code="ErrorInvalidRequest", message="one event failed")  # fmt: skip
    store.record_run(run)
    store.put_quarantine(
        Quarantined(ADA, SourceKey("uid-1"), "ErrorInvalidRequest", "refused <b>event</b>", 5)
    )


def sid(web: WebApp) -> str:
    secret = load_session_secret(web.deployment.settings)
    return str(
        URLSafeTimedSerializer(secret, salt="calsync.session").loads(web.client.cookies["calsync-session"])[
            "sid"
        ]
    )


async def bootstrap_sign_in(web: WebApp) -> str:
    token = admin.new_bootstrap_token(web.deployment)
    page = await web.client.get("/admin/signin", headers=HTML)
    response = await web.client.post(
        "/admin/bootstrap", data={"csrf_token": csrf_of(page.text), "token": token}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    return token


async def test_anonymous_visitors_are_sent_to_sign_in(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        seed_state(web)
        for path in PAGES:
            response = await web.client.get(path, headers=HTML)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/admin/signin?next=/admin")
        refused = await web.client.post(f"/admin/mailboxes/default/{ADA}/release", data={}, headers=HTML)
        assert refused.status_code in (303, 403)


async def test_the_bootstrap_token_works_once_and_starts_a_new_session(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        page = await web.client.get("/admin/signin", headers=HTML)
        before, old_cookie = sid(web), web.client.cookies["calsync-session"]
        token = admin.new_bootstrap_token(web.deployment)
        done = await web.client.post(
            "/admin/bootstrap", data={"csrf_token": csrf_of(page.text), "token": token}
        )
        assert done.status_code == 303
        assert sid(web) != before
        assert (await web.client.get("/admin", headers=HTML)).status_code == 200
        web.client.cookies.set("calsync-session", old_cookie)  # the pre-sign-in cookie is no admin's
        assert (await web.client.get("/admin", headers=HTML)).status_code == 303
        page = await web.client.get("/admin/signin", headers=HTML)
        again = await web.client.post(
            "/admin/bootstrap", data={"csrf_token": csrf_of(page.text), "token": token}
        )
        assert again.status_code == 400
        assert "not valid" in again.text
        outcomes = [(e.action, e.outcome) for _, e in admin.audit_log(web.deployment)]
        assert outcomes == [("bootstrap_sign_in", "refused"), ("bootstrap_sign_in", "ok")]


async def test_an_expired_or_replaced_token_is_refused(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        old = admin.new_bootstrap_token(web.deployment)
        new = admin.new_bootstrap_token(web.deployment)
        assert not admin.use_bootstrap_token(web.deployment, old)  # a new token voids the unused one
        web.deployment.clock = lambda: datetime.now(UTC) + timedelta(hours=25)
        assert not admin.use_bootstrap_token(web.deployment, new)
        assert not admin.use_bootstrap_token(web.deployment, "csb_" + "x" * 43)


async def test_every_admin_page_answers_with_the_headers_and_escapes_what_it_shows(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        seed_state(web)
        await bootstrap_sign_in(web)
        for path in PAGES:
            response = await web.client.get(path, headers=HTML)
            assert response.status_code == 200, (path, response.text[-500:])
            assert_secure_headers(response)
            assert response.headers["cache-control"] == "no-store"
        mailbox = (await web.client.get(PAGES[4], headers=HTML)).text
        assert "refused &lt;b&gt;event&lt;/b&gt;" in mailbox
        assert "<b>event</b>" not in mailbox
        overview = (await web.client.get("/admin", headers=HTML)).text
        assert "ErrorInvalidRequest" in overview
        unknown = await web.client.get("/admin/mailboxes/default/nobody@uni.example", headers=HTML)
        assert unknown.status_code == 404
        assert (await web.client.get("/admin/mailboxes/nosuch/" + ADA, headers=HTML)).status_code == 404


async def test_actions_need_the_token_and_are_audited(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        seed_state(web)
        await bootstrap_sign_in(web)
        here = f"/admin/mailboxes/default/{ADA}"
        token = csrf_of((await web.client.get(here, headers=HTML)).text)
        for action in ("release", "run", "purge"):
            assert (await web.client.post(f"{here}/{action}", data={}, headers=HTML)).status_code == 403
            wrong = await web.client.post(f"{here}/{action}", data={"csrf_token": "x" * 43}, headers=HTML)
            assert wrong.status_code == 403
        assert web.deployment.profile().store.quarantined(ADA)  # nothing happened
        released = await web.client.post(f"{here}/release", data={"csrf_token": token, "key": "uid-1"})
        assert released.status_code == 303
        assert web.deployment.profile().store.quarantined(ADA) == {}
        page = (await web.client.get(here, headers=HTML)).text
        assert "Released 1 item(s)" in page
        typo = await web.client.post(
            f"{here}/purge", data={"csrf_token": token, "confirm": "ada@uni.exampl"}, headers=HTML
        )
        assert typo.status_code == 400
        no_runtime = await web.client.post(f"{here}/run", data={"csrf_token": token})
        assert no_runtime.status_code == 303
        entries = [(e.actor, e.action, e.target, e.outcome) for _, e in admin.audit_log(web.deployment)]
        assert entries[:3] == [
            ("Bootstrap administrator", "sync_now", f"default:{ADA}", "failed"),
            ("Bootstrap administrator", "purge", f"default:{ADA}", "refused"),
            ("Bootstrap administrator", "release", f"default:{ADA}", "ok"),
        ]
        audit_page = (await web.client.get("/admin/audit", headers=HTML)).text
        assert re.search(r"release</td>\s*<td>default:ada@uni.example</td>", audit_page)


@pytest.mark.parametrize("path", ["/admin/signin/callback?state=abc&code=x", "/admin/signin/callback"])
async def test_a_callback_without_a_flow_of_this_browser_is_refused(tmp_path: Path, path: str) -> None:
    async with web_app(tmp_path) as web:
        response = await web.client.get(path, headers=HTML)
        assert response.status_code == 400
        assert_secure_headers(response)
        assert admin.audit_log(web.deployment) == []  # nothing was even attempted with Microsoft


async def test_the_header_marks_only_the_current_section(tmp_path: Path) -> None:
    async with web_app(tmp_path) as web:
        seed_state(web)
        await bootstrap_sign_in(web)
        for path, current in [("/admin", "/admin"), ("/admin/runs", "/admin/runs"), ("/admin/signin", None),
                              (f"/admin/mailboxes/default/{ADA}", None), ("/", "/")]:  # fmt: skip
            page = (await web.client.get(path, headers=HTML)).text
            marked = re.findall(r'<a href="([^"]+)" aria-current="page">', page)
            assert marked == ([current] if current else []), (path, marked)
