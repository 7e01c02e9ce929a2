"""The real msal 1.39 against graphemu in-process: secrets, certificates, auth-code flow, refresh, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import msal
import pytest

from graphemu import EmulatorConfig
from graphemu.graph.access import principal_from_header
from graphemu.seed import certificate_from_pem
from graphemu.world import ClientSecret
from tests.graphemu.conftest import CLIENT, TENANT
from tests.graphemu.msal_http import LOGIN, Certificate, Form, MsalHttpClient

SECRET = "test-secret-value"
AUTHORITY = f"{LOGIN}/{TENANT}"
APP_SCOPES = ["https://graph.microsoft.com/.default"]
USER_SCOPES = ["https://graph.microsoft.com/Calendars.ReadWrite"]
REDIRECT = "http://localhost:8080/callback"
ADELE = "adele@contoso.onmicrosoft.com"


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig(login_base_url=LOGIN)


@pytest.fixture
def http(app: Any) -> Iterator[MsalHttpClient]:
    client = MsalHttpClient(app)
    yield client
    client.close()


def confidential(
    http: MsalHttpClient,
    credential: Any = SECRET,
    authority: str = AUTHORITY,
    client_id: str = CLIENT,
    **kwargs: Any,
) -> msal.ConfidentialClientApplication:
    kwargs.setdefault("instance_discovery", False)
    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority=authority, http_client=http, **kwargs
    )


def register(app: Any, cert: Certificate) -> Certificate:
    app.state.world.apps[CLIENT].certificates.append(certificate_from_pem(cert.cert_pem.encode()))
    return cert


def start(
    http: MsalHttpClient, cca: msal.ConfidentialClientApplication, app: Any, **flow_args: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """Start the auth-code flow with msal (form_post, which msal 1.39 asks for: it warns otherwise), accept
    on the page as Adele (no page with prompt=none) and read the auto-posted answer."""
    flow = cca.initiate_auth_code_flow(
        scopes=USER_SCOPES, redirect_uri=REDIRECT, login_hint=ADELE, response_mode="form_post", **flow_args
    )
    response = http.client.get(flow["auth_uri"])
    page = Form(response.text)
    if "ctx" in page.hidden:
        form = {
            "ctx": page.hidden["ctx"],
            "user": app.state.world.find_user(ADELE).id,
            "password": "",
            "action": "accept",
        }
        response = http.client.post(flow["auth_uri"].split("?")[0], data=form)
        page = Form(response.text)
    assert response.status_code == 200, response.text
    assert page.forms[0]["action"] == REDIRECT
    return flow, page.hidden


def sign_in(
    http: MsalHttpClient, cca: msal.ConfidentialClientApplication, app: Any, **flow_args: Any
) -> dict[str, Any]:
    """The whole auth-code flow; the flow and answer are kept in the result for replays."""
    flow, answer = start(http, cca, app, **flow_args)
    result: dict[str, Any] = cca.acquire_token_by_auth_code_flow(flow, answer)
    result["_flow"], result["_answer"] = flow, answer
    return result


def test_client_secret_gets_an_app_token_then_uses_the_cache(app: Any, http: MsalHttpClient) -> None:
    """acquire_token_for_client with a secret gets a Graph token; the second call is served from cache."""
    cca = confidential(http)
    result = cca.acquire_token_for_client(APP_SCOPES)
    assert result["token_type"] == "Bearer", result
    principal = principal_from_header(app.state.ctx, f"Bearer {result['access_token']}")
    assert "Calendars.ReadWrite" in principal.roles
    assert principal.tenant_id == TENANT
    assert cca.acquire_token_for_client(APP_SCOPES)["token_source"] == "cache"


def test_certificate_with_public_certificate_uses_ps256(app: Any, http: MsalHttpClient) -> None:
    """private_key + public_certificate (PS256, x5t#S256, x5c) is accepted."""
    cert = register(app, Certificate())
    cca = confidential(http, {"private_key": cert.key_pem, "public_certificate": cert.cert_pem})
    assert "access_token" in cca.acquire_token_for_client(APP_SCOPES)


def test_certificate_with_sha1_thumbprint_uses_rs256(app: Any, http: MsalHttpClient) -> None:
    """private_key + thumbprint (RS256, x5t) is accepted."""
    cert = register(app, Certificate())
    cca = confidential(http, {"private_key": cert.key_pem, "thumbprint": cert.sha1_hex})
    assert "access_token" in cca.acquire_token_for_client(APP_SCOPES)


def test_instance_discovery_on_works(http: MsalHttpClient) -> None:
    """With MSAL's default instance discovery, graphemu answers it and the token flow still works."""
    cca = confidential(http, instance_discovery=None)
    assert "access_token" in cca.acquire_token_for_client(APP_SCOPES)
    assert any(url.endswith("/common/discovery/instance") for _, url in http.calls)


def test_auth_code_flow_end_to_end_then_silent_refresh(app: Any, http: MsalHttpClient) -> None:
    """The sign-in page plus msal's auth-code flow gives tokens and an account; silent refresh works."""
    cca = confidential(http)
    result = sign_in(http, cca, app)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ADELE
    principal = principal_from_header(app.state.ctx, f"Bearer {result['access_token']}")
    assert principal.user_id == app.state.world.find_user(ADELE).id
    assert principal.scopes == {"Calendars.ReadWrite"}
    accounts = cca.get_accounts()
    assert [a["username"] for a in accounts] == [ADELE]
    cached = cca.acquire_token_silent(USER_SCOPES, account=accounts[0])
    assert cached["access_token"] == result["access_token"]
    refreshed = cca.acquire_token_silent_with_error(USER_SCOPES, account=accounts[0], force_refresh=True)
    assert refreshed["token_source"] == "identity_provider", refreshed
    assert refreshed["access_token"] != result["access_token"]


def test_prompt_none_with_login_hint_needs_no_page(app: Any, http: MsalHttpClient) -> None:
    """prompt=none with a consented user gets a code straight away."""
    result = sign_in(http, confidential(http), app, prompt="none")
    assert "access_token" in result, result


def test_code_reuse_and_pkce_mismatch_come_back_as_msal_errors(app: Any, http: MsalHttpClient) -> None:
    """Redeeming a code twice is 54005; a wrong PKCE verifier is 501481."""
    cca = confidential(http)
    first = sign_in(http, cca, app)
    again = cca.acquire_token_by_auth_code_flow(first["_flow"], first["_answer"])
    assert again["error"] == "invalid_grant"
    assert again["error_codes"] == [54005]
    flow, answer = start(http, cca, app, prompt="none")
    flow["code_verifier"] = "x" * 43
    result = cca.acquire_token_by_auth_code_flow(flow, answer)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [501481]


def test_withdrawn_consent_is_consent_required(app: Any, http: MsalHttpClient) -> None:
    """Consent withdrawn before redemption gives invalid_grant 65001 with suberror consent_required."""
    cca = confidential(http)
    flow, answer = start(http, cca, app, prompt="none")
    registration = app.state.world.apps[CLIENT]
    registration.admin_consented_scopes.clear()
    registration.user_consents.clear()
    result = cca.acquire_token_by_auth_code_flow(flow, answer)
    assert result["error_codes"] == [65001]
    assert result["suberror"] == "consent_required"


def test_revoked_refresh_token_fails_silent_refresh(app: Any, http: MsalHttpClient) -> None:
    """After the control API revokes Adele's refresh tokens, a forced silent refresh gets 50173."""
    cca = confidential(http)
    assert "access_token" in sign_in(http, cca, app)
    http.client.post("/_emu/revoke-refresh-tokens", json={"user": ADELE})
    account = cca.get_accounts()[0]
    result = cca.acquire_token_silent_with_error(USER_SCOPES, account=account, force_refresh=True)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [50173]


def _expired_secret(app: Any) -> str:
    app.state.world.apps[CLIENT].secrets.append(
        ClientSecret(value="old-secret", expires=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    )
    return "old-secret"


@pytest.mark.parametrize(
    ("make", "error", "code"),
    [
        (lambda app: "wrong-secret", "invalid_client", 7000215),
        (lambda app: app.state.world.apps[CLIENT].secrets[0].key_id, "invalid_client", 7000215),
        (_expired_secret, "invalid_client", 7000222),
    ],
    ids=["wrong-secret", "secret-id", "expired-secret"],
)
def test_secret_failures_are_msal_error_dicts(
    app: Any, http: MsalHttpClient, make: Callable[[Any], str], error: str, code: int
) -> None:
    """Bad secrets come back from msal as error dicts with the AADSTS code."""
    result = confidential(http, make(app)).acquire_token_for_client(APP_SCOPES)
    assert result["error"] == error
    assert result["error_codes"] == [code]


def test_unknown_client_and_common_authority_are_msal_errors(http: MsalHttpClient) -> None:
    """An unknown client is unauthorized_client 700016; client credentials over /common is 9001023."""
    unknown = confidential(http, client_id="00000000-0000-4000-8000-000000000001")
    result = unknown.acquire_token_for_client(APP_SCOPES)
    assert result["error"] == "unauthorized_client"
    assert result["error_codes"] == [700016]
    with pytest.warns(DeprecationWarning, match="/common or /organizations"):
        common = confidential(http, authority=f"{LOGIN}/common").acquire_token_for_client(APP_SCOPES)
    assert common["error"] == "invalid_request"
    assert common["error_codes"] == [9001023]


def test_certificate_failures_are_700027(app: Any, http: MsalHttpClient) -> None:
    """An unregistered or expired certificate is invalid_client 700027."""
    stranger = Certificate()
    result = confidential(
        http, {"private_key": stranger.key_pem, "public_certificate": stranger.cert_pem}
    ).acquire_token_for_client(APP_SCOPES)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]
    old = register(app, Certificate(not_after=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    result = confidential(
        http, {"private_key": old.key_pem, "thumbprint": old.sha1_hex}
    ).acquire_token_for_client(APP_SCOPES)
    assert result["error_codes"] == [700027]


def test_unknown_tenant_fails_msal_construction(http: MsalHttpClient) -> None:
    """MSAL reads discovery when constructed; an unknown tenant's 400 makes it raise ValueError."""
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        confidential(http, authority=f"{LOGIN}/nowhere.example")
