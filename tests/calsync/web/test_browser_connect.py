"""A person connects their calendar in headless Chromium against a real `calsync serve` and graphemu's
own sign-in and consent pages: confirm, first sync on the status page, consent withdrawn (disconnected,
relink shown and working), disconnect with removal; another person's connection id refused; no token in
any page, URL, log line or database dump.

graphemu issues access tokens for 200 s here: msal counts anything under 5 minutes as expired, so every
run redeems the refresh token, and a withdrawn consent shows at the next sync (as it does in Entra once
the last access token expires).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphemu import EmulatorConfig
from tests.calsync.web.conftest import DOMAIN, Served, serve_calsync

pytestmark = pytest.mark.slow
ADA, BOB = f"ada@{DOMAIN}", f"bob@{DOMAIN}"


@pytest.fixture(scope="module")
def delegated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = EmulatorConfig()
    config.access_token_seconds = 200
    body = 'permissions = "delegated"\nevent_footer = "Kept in step with the timetable. {status_url}"\n'
    folder = tmp_path_factory.mktemp("delegated")
    with serve_calsync(
        folder, body=body + 'status_page_url = "http://example.invalid/me"\n', emulator=config
    ) as s:
        yield s


def shot(page: Any, name: str) -> None:
    """With CALSYNC_SCREENSHOTS=<dir>, save the page (docs/screenshots are made so)."""
    folder = os.environ.get("CALSYNC_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def sign_in_at_microsoft(page: Any, served: Served, user: str) -> None:
    """graphemu's page: choose the account and accept the permissions."""
    page.wait_for_url(re.compile(r"https://127\.0\.0\.1:\d+/.*/oauth2/v2\.0/authorize.*"))
    assert "Calendars.ReadWrite" in page.locator("#scopes").inner_text()
    page.select_option("#user", value=served.world.find_user(user).id)
    page.click("button[value=accept]")


def connect(page: Any, served: Served, user: str) -> None:
    page.goto(served.url + "/connect")
    shot(page, "connect")
    page.click("text=Sign in with Microsoft")
    sign_in_at_microsoft(page, served, user)
    page.wait_for_url(served.url + "/connect/confirm")


def wait_for(page: Any, served: Served, check: Any, what: str) -> None:
    """Reload /me until `check(page)` holds (the runs happen in the service, in the background)."""
    for _ in range(150):
        page.goto(served.url + "/me")
        if check(page):
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: never seen on /me:\n{page.content()}")


def managed(served: Served, user: str) -> list[Any]:
    who = served.world.find_user(user)
    return [
        e for e in served.world.events[who.id].values() if e.props.get("subject") in ("Algebra", "Ethics")
    ]


def test_connect_sync_lose_consent_relink_and_disconnect(browser: Any, delegated: Served) -> None:
    served = delegated
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    visited: list[str] = []
    page.on("request", lambda r: visited.append(r.url))
    connect(page, served, ADA)
    assert page.locator("#event-count").inner_text() == "2"
    shot(page, "connect-confirm")
    assert managed(served, ADA) == []  # nothing written before confirming
    page.click("button[value=confirm]")
    page.wait_for_url(served.url + "/me")
    wait_for(page, served, lambda p: p.locator("#last-success").inner_text() != "not yet", "first sync")
    assert page.locator("#events").inner_text() == "2"
    shot(page, "me")
    assert len(managed(served, ADA)) == 2
    body = managed(served, ADA)[0].props["body"]["content"]
    assert "Kept in step with the timetable. http://example.invalid/me" in body

    # consent withdrawn in Entra: the next sync finds the connection disconnected, with a relink button
    tls = ssl.create_default_context(cafile=str(served.emulator.ca))
    httpx.post(
        served.emulator.base_url + "/_emu/revoke-consent", json={"user": ADA}, verify=tls
    ).raise_for_status()
    with page.expect_navigation():
        page.click("button:has-text('Sync now')")
    wait_for(page, served, lambda p: p.locator("#status").inner_text() == "Disconnected", "disconnection")
    assert "withdrew" in page.locator("#reason").inner_text()
    shot(page, "me-disconnected")
    page.click("#relink")
    sign_in_at_microsoft(page, served, ADA)
    page.wait_for_url(served.url + "/me")
    assert page.locator("#status").inner_text() == "Connected"

    # disconnect, removing calsync's events
    page.check("input[name=events][value=remove]")
    with page.expect_navigation():
        page.click("button.danger")
    assert "2 events were removed" in page.content(), page.locator("main").inner_text()
    assert page.locator("#status").inner_text() == "Disconnected"
    assert managed(served, ADA) == []
    assert page.locator("#relink").count() == 1

    # no token anywhere: pages visited, URLs, the service's log, the database
    secrets = issued_secrets(served)
    codes = [str(c) for c in served.world.extra.get("auth_codes", {})]
    assert secrets
    assert codes
    dump = "\n".join(sqlite3.connect(served.folder / "state.db").iterdump())
    raw = (served.folder / "state.db").read_bytes()
    for secret in secrets:
        assert secret not in served.log_text()
        assert secret not in dump
        assert secret.encode() not in raw
        assert all(secret not in url for url in visited)
    for code in codes:  # the callback's URL carries the code once; nothing keeps or logs it
        assert code not in served.log_text()
        assert code not in dump
    assert not any("code=" in url and url.startswith(served.url + "/me") for url in visited)
    context.close()


def issued_secrets(served: Served) -> list[str]:
    """Every refresh token graphemu issued (kept in its world)."""
    tokens = served.world.extra.get("refresh_tokens", {})
    return [str(t) for t in tokens]


def test_another_persons_connection_id_is_refused(browser: Any, delegated: Served) -> None:
    """Bob posts Ada's connection id to every action: each is a 404 page, and Ada's is untouched."""
    served = delegated
    ada_ctx = browser.new_context(ignore_https_errors=True)
    ada = ada_ctx.new_page()
    connect(ada, served, ADA)
    ada_id = ada.locator("input[name=connection]").first.get_attribute("value")
    ada.click("button[value=confirm]")
    ada.wait_for_url(served.url + "/me")
    bob_ctx = browser.new_context(ignore_https_errors=True)
    bob = bob_ctx.new_page()
    connect(bob, served, BOB)
    bob.click("button[value=confirm]")
    bob.wait_for_url(served.url + "/me")
    assert ada_id not in bob.content()
    token = bob.locator("input[name=csrf_token]").first.get_attribute("value")
    actions = [("/me/pause", {}), ("/me/sync", {}), ("/me/disconnect", {"events": "remove"}),
               ("/me/preferences", {"opt_out": "Lecture"})]  # fmt: skip
    for action, extra in actions:
        form = {"csrf_token": token, "connection": ada_id, **extra}
        answer = bob.request.post(
            served.url + action, form=form, headers={"Origin": served.url}, max_redirects=0
        )
        assert answer.status == 404, (action, answer.status)
    bob.goto(served.url + "/me")
    assert ada_id not in bob.content()
    ada.goto(served.url + "/me")
    assert ada.locator("#status").inner_text() == "Connected"
    for ctx in (ada_ctx, bob_ctx):
        ctx.close()


def test_replayed_or_foreign_callback_is_refused(browser: Any, delegated: Served, tmp_path: Path) -> None:
    """The answer from Microsoft replayed, or used by another browser, is a 400 page; nothing is stored."""
    served = delegated
    ctx = browser.new_context(ignore_https_errors=True)
    page = ctx.new_page()
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/connect/callback" in r.url else None)
    page.goto(served.url + "/connect")
    page.click("text=Sign in with Microsoft")
    sign_in_at_microsoft(page, served, BOB)
    page.wait_for_url(re.compile(r".*/connect/confirm|.*/me"))
    replay = page.goto(callbacks[0])
    assert replay.status == 400
    assert "already used" in page.content()
    other = browser.new_context(ignore_https_errors=True)
    stranger = other.new_page()
    answer = stranger.goto(callbacks[0])
    assert answer.status == 400
    forged = stranger.goto(re.sub(r"state=[^&]+", "state=forged", callbacks[0]))
    assert forged.status == 400
    assert json.dumps(callbacks)  # the callback URLs themselves were shown to no page
    ctx.close()
    other.close()
