"""Administrators in headless Chromium against a real `calsync serve` and graphemu's sign-in page: an
administrator signs in with Entra, sees the overview, releases a quarantined item and purges a mailbox
with a typed confirmation (every action in the audit log); a person without the role is refused; the
bootstrap token works once."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer

from calsync.domain import SourceKey
from calsync.sync.ports import Quarantined
from tests.calsync.web.conftest import ADMIN, DOMAIN, Served

pytestmark = pytest.mark.slow
ADA, BOB = f"ada@{DOMAIN}", f"bob@{DOMAIN}"


def sign_in_with_microsoft(page: Any, served: Served, who: str) -> None:
    """From calsync's sign-in page through graphemu's sign-in and consent page, back to calsync."""
    page.get_by_role("link", name="Sign in with Microsoft").click()
    page.wait_for_url(f"{served.emulator.base_url}/**")
    page.select_option("#user", served.world.find_user(who).id)
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(f"{served.url}/**")


def session_id(served: Served, cookie: str) -> str:
    secret = (served.folder / "calsync-session.key").read_text().strip().encode()
    return str(URLSafeTimedSerializer(secret, salt="calsync.session").loads(cookie)["sid"])


def session_cookie(page: Any) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "calsync-session")


def test_an_administrator_signs_in_releases_and_purges(page: Any, served: Served) -> None:
    served.wait_for_runs([ADA, BOB])
    store = served.store()
    store.put_quarantine(
        Quarantined(ADA, SourceKey("1"), "ErrorInvalidRequest", "Graph refused the event", 5)
    )
    assert len(served.emulator_events(BOB)) == 2

    page.goto(served.url + "/admin")
    assert page.url == served.url + "/admin/signin?next=/admin"
    before = session_id(served, session_cookie(page))
    sign_in_with_microsoft(page, served, ADMIN)
    assert page.url == served.url + "/admin"
    assert session_id(served, session_cookie(page)) != before  # a new session at sign-in (fixation)
    assert page.locator("h1").inner_text() == "Overview"
    rows = page.locator("table").last.inner_text()
    assert ADA in rows
    assert BOB in rows

    page.get_by_role("link", name=ADA).click()
    assert page.get_by_text("Graph refused the event").is_visible()
    page.get_by_role("button", name="Release 1").click()
    assert "Released 1 item(s)" in page.locator(".flash").inner_text()
    assert page.get_by_text("Nothing is quarantined.").is_visible()
    assert store.quarantined(ADA) == {}
    assert (
        page.locator("td code").filter(has_text=served.emulator_events(ADA)[0]["id"]).count() == 1
    )  # Graph ids

    page.goto(f"{served.url}/admin/mailboxes/default/{BOB}")
    page.get_by_role("link", name="Purge…").click()
    page.get_by_label("Type the mailbox address to confirm").fill("ada@uni.example")
    page.get_by_role("button", name="Purge the mailbox").click()
    assert "does not match: nothing was removed" in page.locator(".flash").inner_text()
    assert len(served.emulator_events(BOB)) == 2
    page.get_by_label("Type the mailbox address to confirm").fill(BOB)
    page.get_by_role("button", name="Purge the mailbox").click()
    assert page.url == served.url + "/admin"
    assert f"Purged {BOB}: 2 of 2 events removed." in page.locator(".flash").inner_text()
    assert served.emulator_events(BOB) == []

    page.get_by_role("link", name="Audit log").click()
    log = page.locator("tbody").inner_text()
    for action, outcome in [("sign_in", "ok"), ("release", "ok"), ("purge", "refused"), ("purge", "ok")]:
        assert any(action in line and outcome in line for line in log.splitlines()), (action, outcome, log)
    store.engine.dispose()


def test_a_person_without_the_role_is_refused(page: Any, served: Served) -> None:
    page.goto(served.url + "/admin/runs")
    sign_in_with_microsoft(page, served, ADA)
    assert page.locator("h1").inner_text() == "Not an administrator"
    assert page.goto(served.url + "/admin").status == 403
    assert page.goto(served.url + "/admin/audit").status == 403


def test_the_bootstrap_token_works_once(page: Any, served: Served, browser: Any) -> None:
    made = served.calsync("admin", "bootstrap", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    page.goto(served.url + "/admin/signin")
    page.get_by_label("One-time token").fill(token)
    page.get_by_role("button", name="Sign in with the token").click()
    assert page.url == served.url + "/admin"
    assert "Bootstrap administrator" in page.locator("header").inner_text()
    other = browser.new_context().new_page()
    other.goto(served.url + "/admin/signin")
    other.get_by_label("One-time token").fill(token)
    other.get_by_role("button", name="Sign in with the token").click()
    assert "That token is not valid" in other.locator(".flash").inner_text()
    other.context.close()


def test_an_administrator_runs_a_sync_checks_the_registration_and_grants_consent(
    page: Any, served: Served
) -> None:
    served.wait_for_runs([ADA])
    store = served.store()
    runs_before = len(store.runs(ADA, limit=100))
    page.goto(served.url + "/admin/signin")
    sign_in_with_microsoft(page, served, ADMIN)
    page.goto(f"{served.url}/admin/mailboxes/default/{ADA}")
    page.get_by_role("button", name="Sync now").click()
    assert f"A sync of {ADA} is queued." in page.locator(".flash").inner_text()
    deadline = time.monotonic() + 60
    while len(store.runs(ADA, limit=100)) == runs_before:  # the scheduler ran it
        assert time.monotonic() < deadline, "the requested sync did not run"
        time.sleep(0.1)

    page.get_by_role("link", name="Show the plan").click()  # a real dry run against graphemu
    assert page.locator("h1").inner_text() == f"Plan for {ADA}"
    assert page.get_by_text("Nothing to do: the calendar is in step.").is_visible()

    page.get_by_role("link", name="App registration").click()
    assert page.locator("h1").inner_text() == "App registration"
    findings = page.locator("main").inner_text()
    assert "Calendars.ReadWrite" in findings
    assert "calendar reachable" in findings

    page.goto(served.url + "/admin/consent")
    page.get_by_role("link", name="Continue to Microsoft").click()
    page.wait_for_url(f"{served.emulator.base_url}/**")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(f"{served.url}/**")
    assert "AADSTS65004" in page.locator(".flash").inner_text()
    assert "declined" in page.locator(".flash").inner_text()
    page.get_by_role("link", name="Continue to Microsoft").click()
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(f"{served.url}/**")
    assert "Consent was granted" in page.locator(".flash").inner_text()
    store.engine.dispose()
