"""The administrators' Entra sign-in against a real `calsync serve` and graphemu, driven over HTTP:
a wrong or missing state, a replayed redirect, a code from another sign-in (PKCE), a flow finished in
another browser, open redirects after sign-in, an error answer with markup, a nonce mismatch, an id token
for another app or tenant: each is refused, and no code, state or secret reaches a page or a log line."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from calsync.graph.autherrors import AuthError
from calsync.graph.signin import _check_id_token
from tests.calsync.web.conftest import ADMIN, Served

pytestmark = pytest.mark.slow


@pytest.fixture
def browser_a(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client


def emulator(served: Served) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=served.emulator.ca), timeout=30)


def authorize(served: Served, auth_url: str, who: str = ADMIN) -> str:
    """Sign in on graphemu's page (as a browser would) and return the redirect back to calsync."""
    with emulator(served) as idp:
        page = idp.get(auth_url)
        assert page.status_code == 200, page.text
        ctx = re.search(r'name="ctx" value="([^"]+)"', page.text)
        assert ctx
        answer = idp.post(auth_url, data={"ctx": ctx.group(1).replace("&amp;", "&"),
                                          "user": served.world.find_user(who).id, "password": "",
                                          "action": "accept"})  # fmt: skip
        assert answer.status_code in (302, 303), answer.text
        return str(answer.headers["location"])


def start(client: httpx.Client, next_path: str | None = None) -> str:
    query = f"?{urlencode({'next': next_path})}" if next_path is not None else ""
    response = client.get(f"/admin/signin/start{query}")
    assert response.status_code == 303
    return str(response.headers["location"])


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def is_admin_session(client: httpx.Client) -> bool:
    return client.get("/admin").status_code == 200


def test_a_full_sign_in_then_its_replay(served: Served, browser_a: httpx.Client) -> None:
    back = authorize(served, start(browser_a))
    first = browser_a.get(callback_path(back))
    assert first.status_code == 303
    assert first.headers["location"] == "/admin"
    assert is_admin_session(browser_a)
    replay = browser_a.get(callback_path(back))
    assert replay.status_code == 400
    assert "cannot be finished" in replay.text
    check_no_secret(served, [parse_qs(urlsplit(back).query)[k][0] for k in ("code", "state")], replay.text)


def test_a_wrong_or_missing_state_is_refused(served: Served, browser_a: httpx.Client) -> None:
    back = authorize(served, start(browser_a))
    query = parse_qs(urlsplit(back).query)
    wrong = browser_a.get("/admin/signin/callback", params={"code": query["code"][0], "state": "x" * 43})
    assert wrong.status_code == 400
    missing = browser_a.get("/admin/signin/callback", params={"code": query["code"][0]})
    assert missing.status_code == 400
    assert not is_admin_session(browser_a)


def test_a_redirect_finished_in_another_browser_is_refused(served: Served, browser_a: httpx.Client) -> None:
    back = authorize(served, start(browser_a))
    with httpx.Client(base_url=served.url, timeout=30) as browser_b:  # login CSRF: the victim's browser
        assert browser_b.get(callback_path(back)).status_code == 400
        assert not is_admin_session(browser_b)
    assert browser_a.get(callback_path(back)).status_code == 400  # spent: a sign-in is single-use


def test_a_code_from_another_sign_in_fails_pkce(served: Served, browser_a: httpx.Client) -> None:
    first = authorize(served, start(browser_a))
    second = authorize(served, start(browser_a))
    swapped = {
        "code": parse_qs(urlsplit(second).query)["code"][0],
        "state": parse_qs(urlsplit(first).query)["state"][0],
    }
    response = browser_a.get("/admin/signin/callback", params=swapped)
    assert response.status_code == 400
    assert "Sign-in failed" in response.text
    assert not is_admin_session(browser_a)


@pytest.mark.parametrize(
    ("asked", "landed"),
    [("/admin/runs", "/admin/runs"), ("//evil.example/x", "/admin"), ("https://evil.example", "/admin"),
     ("/\\evil.example", "/admin"), ("/\t/evil.example", "/admin")],
)  # fmt: skip
def test_after_sign_in_only_a_path_of_this_site_is_followed(served: Served, asked: str, landed: str) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        back = authorize(served, start(client, asked))
        done = client.get(callback_path(back))
        assert done.status_code == 303
        assert done.headers["location"] == landed


def test_an_error_answer_is_explained_escaped_and_signs_nobody_in(
    served: Served, browser_a: httpx.Client
) -> None:
    auth = start(browser_a)
    state = parse_qs(urlsplit(auth).query)["state"][0]
    description = "AADSTS65004: <script>alert(1)</script> declined"
    response = browser_a.get(
        "/admin/signin/callback",
        params={"error": "access_denied", "error_description": description, "state": state},
    )
    assert response.status_code == 400
    assert "<script>alert" not in response.text
    assert "You declined to give consent" in response.text
    assert "AADSTS65004" in response.text
    assert not is_admin_session(browser_a)


@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")
def test_a_nonce_mismatch_is_refused(served: Served) -> None:
    """msal's check, reached through calsync.graph.signin: a flow whose nonce is not the id token's."""
    import asyncio

    from calsync import wiring
    from calsync.graph.auth import DelegatedTokenCache
    from calsync.graph.signin import finish_auth_code_flow, start_auth_code_flow
    from calsync.settings import load_settings

    app = wiring.entra_app(load_settings(served.folder / "calsync.toml", env={}))
    redirect = served.url + "/admin/signin/callback"
    flow = asyncio.run(
        start_auth_code_flow(app, redirect_uri=redirect, scopes=["User.Read"], response_mode="query")
    )
    back = authorize(served, flow["auth_uri"])
    tampered = {**flow, "nonce": "not-the-nonce-that-was-sent"}
    params = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    with pytest.raises(AuthError) as refused:
        asyncio.run(finish_auth_code_flow(app, tampered, params, cache=DelegatedTokenCache()))
    assert refused.value.error == "invalid_response"


GOOD = {"aud": "client", "iss": "https://login.example/11111111-2222-3333-4444-555555555555/v2.0",
        "tid": "11111111-2222-3333-4444-555555555555", "oid": "o1"}  # fmt: skip


@pytest.mark.parametrize(
    "claims",
    [{}, {**GOOD, "oid": ""}, {**GOOD, "aud": "another-app"}, {**GOOD, "iss": "https://evil.example/x/v2.0"},
     {**GOOD, "tid": "99999999-2222-3333-4444-555555555555",
      "iss": "https://login.example/99999999-2222-3333-4444-555555555555/v2.0"}],
)  # fmt: skip
def test_an_id_token_for_another_app_issuer_or_tenant_is_refused(claims: dict[str, Any]) -> None:
    from calsync.graph.auth import EntraApp

    app = EntraApp(tenant=GOOD["tid"], client_id="client", authority_host="https://login.example")
    _check_id_token(app, GOOD)  # the good one passes
    with pytest.raises(AuthError) as refused:
        _check_id_token(app, claims)
    assert refused.value.error == "invalid_id_token"


def check_no_secret(served: Served, secrets: list[str], *pages: str) -> None:
    """None of `secrets` (codes, states, tokens, keys) in the service's log or the pages given."""
    log = served.log_text()
    key = (served.folder / "calsync-session.key").read_text().strip()
    for value in [*secrets, key]:
        assert value not in log
        for page in pages:
            assert value not in page


def test_nothing_secret_in_the_log_after_every_sign_in(served: Served, browser_a: httpx.Client) -> None:
    back = authorize(served, start(browser_a))
    query = parse_qs(urlsplit(back).query)
    page = browser_a.get(callback_path(back), follow_redirects=True).text
    check_no_secret(served, [query["code"][0], query["state"][0], browser_a.cookies["calsync-session"]], page)
