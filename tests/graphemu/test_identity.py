"""The identity platform over plain HTTP: discovery, every token grant, and each AADSTS error and status."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from graphemu import EmulatorConfig
from graphemu.graph.access import principal_from_header
from graphemu.seed import certificate_from_pem
from graphemu.testing import EmulatorTransport
from graphemu.world import AppRegistration, ClientSecret
from tests.graphemu.conftest import CLIENT, OTHER_TENANT, TENANT
from tests.graphemu.msal_http import Certificate, assertion

SECRET = "test-secret-value"
TOKEN = f"/{TENANT}/oauth2/v2.0/token"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
REDIRECT = "http://localhost:8080/callback"
VERIFIER = "v" * 43 + "-verifier"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
DELEGATED = "https://graph.microsoft.com/Calendars.ReadWrite offline_access openid profile"


def app_credentials(**extra: str) -> dict[str, str]:
    form = {
        "client_id": CLIENT,
        "grant_type": "client_credentials",
        "scope": GRAPH_DEFAULT,
        "client_info": "1",
    }
    form.update(extra)
    return form


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def assert_aad(response: httpx.Response, status: int, error: str, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    return body


async def get_code(
    login: httpx.AsyncClient,
    *,
    scope: str = DELEGATED,
    user: str = "adele@contoso.onmicrosoft.com",
    method: str | None = "S256",
    challenge: str = CHALLENGE,
) -> str:
    params = {
        "client_id": CLIENT,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "s1",
        "nonce": "n-123",
        "prompt": "none",
        "login_hint": user,
    }
    if method:
        params |= {"code_challenge": challenge, "code_challenge_method": method}
    response = await login.get(f"/{TENANT}/oauth2/v2.0/authorize", params=params)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def redeem_form(code: str, **extra: str) -> dict[str, str]:
    form = {
        "client_id": CLIENT,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "scope": DELEGATED,
        "client_secret": SECRET,
        "code_verifier": VERIFIER,
        "client_info": "1",
    }
    form.update(extra)
    return {k: v for k, v in form.items() if v != ""}


# -- discovery --------------------------------------------------------------------------------------


async def test_discovery_document_advertises_endpoints_under_the_login_base(login: httpx.AsyncClient) -> None:
    """The v2 document names the tenant's endpoints and issuer and is cacheable for a day."""
    response = await login.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    base = f"https://login.microsoftonline.com/{TENANT}"
    assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert doc["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert doc["issuer"] == f"{base}/v2.0"
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_post",
        "private_key_jwt",
        "client_secret_basic",
    ]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["msgraph_host"] == "graph.microsoft.com"
    assert response.headers["cache-control"] == "max-age=86400, private"


async def test_discovery_by_domain_advertises_the_tenant_guid(login: httpx.AsyncClient) -> None:
    """A domain in the path is resolved: the endpoints use the tenant GUID, as the service does."""
    doc = (await login.get("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")).json()
    assert doc["token_endpoint"] == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"


async def test_discovery_for_common_keeps_the_tenantid_placeholder(login: httpx.AsyncClient) -> None:
    """/common advertises common endpoints and the literal {tenantid} issuer."""
    doc = (await login.get("/common/v2.0/.well-known/openid-configuration")).json()
    assert doc["token_endpoint"] == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    assert doc["issuer"] == "https://login.microsoftonline.com/{tenantid}/v2.0"


async def test_discovery_of_an_unknown_tenant_is_aadsts90002(login: httpx.AsyncClient) -> None:
    """An unknown tenant answers 400 invalid_tenant AADSTS90002."""
    response = await login.get("/nowhere.example/v2.0/.well-known/openid-configuration")
    assert_aad(response, 400, "invalid_tenant", 90002)


async def test_v1_discovery_uses_the_sts_issuer(login: httpx.AsyncClient) -> None:
    """The v1 document's issuer is https://sts.windows.net/{tid}/."""
    doc = (await login.get(f"/{TENANT}/.well-known/openid-configuration")).json()
    assert doc["issuer"] == f"https://sts.windows.net/{TENANT}/"


async def test_jwks_publishes_the_signing_key(app: Any, login: httpx.AsyncClient) -> None:
    """The JWKS carries the key access tokens are signed with."""
    keys = (await login.get(f"/{TENANT}/discovery/v2.0/keys")).json()["keys"]
    assert [k["kid"] for k in keys] == [app.state.world.extra["signing_key"].kid]
    token = (await login.post(TOKEN, data=app_credentials(client_secret=SECRET))).json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]


async def test_instance_discovery_points_at_the_tenant_document(login: httpx.AsyncClient) -> None:
    """Instance discovery answers with the tenant discovery endpoint and host metadata."""
    endpoint = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize"
    response = await login.get(
        "/common/discovery/instance", params={"authorization_endpoint": endpoint, "api-version": "1.1"}
    )
    body = response.json()
    assert body["tenant_discovery_endpoint"] == (
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
    )
    assert "login.microsoftonline.com" in body["metadata"][0]["aliases"]


async def test_instance_discovery_rejects_unknown_hosts(login: httpx.AsyncClient) -> None:
    """An authorization endpoint on an unknown host is invalid_instance AADSTS50049."""
    response = await login.get(
        "/common/discovery/instance",
        params={"authorization_endpoint": "https://evil.example/t/oauth2/v2.0/authorize"},
    )
    assert_aad(response, 400, "invalid_instance", 50049)


# -- client_credentials with a secret --------------------------------------------------------------


async def test_client_credentials_with_a_secret_issues_an_app_token(
    app: Any, login: httpx.AsyncClient
) -> None:
    """A secret in the body gets a Bearer token whose roles are the app's application permissions."""
    response = await login.post(TOKEN, data=app_credentials(client_secret=SECRET))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert response.headers["cache-control"].startswith("no-store")
    principal = principal_from_header(app.state.ctx, f"Bearer {body['access_token']}")
    assert principal.roles == {"Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"}
    assert principal.tenant_id == TENANT
    assert principal.client_id == CLIENT


async def test_client_credentials_with_http_basic(login: httpx.AsyncClient) -> None:
    """The secret may come in HTTP Basic auth, form-urlencoded first (RFC 6749 §2.3.1)."""
    form = app_credentials()
    del form["client_id"]
    response = await login.post(TOKEN, data=form, auth=(CLIENT, SECRET))
    assert response.status_code == 200


async def test_client_credentials_by_domain_and_organizations(login: httpx.AsyncClient) -> None:
    """The tenant may be named by domain, or by /organizations (the app's home tenant)."""
    for tenant in ("contoso.onmicrosoft.com", "organizations"):
        response = await login.post(
            f"/{tenant}/oauth2/v2.0/token", data=app_credentials(client_secret=SECRET)
        )
        assert response.status_code == 200, tenant


async def test_secret_id_instead_of_value_is_7000215(app: Any, login: httpx.AsyncClient) -> None:
    """Sending the Secret ID instead of its value is 401 invalid_client AADSTS7000215."""
    key_id = app.state.world.apps[CLIENT].secrets[0].key_id
    body = assert_aad(
        await login.post(TOKEN, data=app_credentials(client_secret=key_id)), 401, "invalid_client", 7000215
    )
    assert "client secret ID" in body["error_description"]
    assert set(body) >= {"timestamp", "trace_id", "correlation_id", "error_uri"}


async def test_wrong_secret_is_7000215(login: httpx.AsyncClient) -> None:
    """An unknown secret value is 401 invalid_client AADSTS7000215."""
    assert_aad(
        await login.post(TOKEN, data=app_credentials(client_secret="nope")), 401, "invalid_client", 7000215
    )


async def test_expired_secret_is_7000222(app: Any, login: httpx.AsyncClient) -> None:
    """The value of an expired secret is 401 invalid_client AADSTS7000222."""
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    app.state.world.apps[CLIENT].secrets.append(ClientSecret(value="old-secret", expires=past))
    assert_aad(
        await login.post(TOKEN, data=app_credentials(client_secret="old-secret")),
        401,
        "invalid_client",
        7000222,
    )


async def test_missing_credential_is_7000218(login: httpx.AsyncClient) -> None:
    """No secret and no assertion from a confidential client is 401 invalid_client AADSTS7000218."""
    assert_aad(await login.post(TOKEN, data=app_credentials()), 401, "invalid_client", 7000218)


async def test_unknown_client_is_700016(login: httpx.AsyncClient) -> None:
    """An unknown client_id is 400 unauthorized_client AADSTS700016."""
    form = app_credentials(client_secret=SECRET, client_id="00000000-0000-0000-0000-000000000001")
    assert_aad(await login.post(TOKEN, data=form), 400, "unauthorized_client", 700016)


async def test_client_of_another_tenant_is_700016(login: httpx.AsyncClient) -> None:
    """An app registered in Contoso is unknown in Fabrikam."""
    response = await login.post(
        f"/{OTHER_TENANT}/oauth2/v2.0/token", data=app_credentials(client_secret=SECRET)
    )
    assert_aad(response, 400, "unauthorized_client", 700016)


@pytest.mark.parametrize("tenant", ["common", "consumers"])
async def test_client_credentials_over_common_is_9001023(login: httpx.AsyncClient, tenant: str) -> None:
    """App-only tokens need a tenant: /common and /consumers are AADSTS9001023."""
    response = await login.post(f"/{tenant}/oauth2/v2.0/token", data=app_credentials(client_secret=SECRET))
    assert_aad(response, 400, "invalid_request", 9001023)


async def test_unknown_tenant_is_90002(login: httpx.AsyncClient) -> None:
    """An unknown tenant at the token endpoint is 400 invalid_request AADSTS90002."""
    response = await login.post(
        "/nowhere.example/oauth2/v2.0/token", data=app_credentials(client_secret=SECRET)
    )
    assert_aad(response, 400, "invalid_request", 90002)


async def test_named_scope_in_client_credentials_is_1002012(login: httpx.AsyncClient) -> None:
    """client_credentials needs {resource}/.default; a named permission is invalid_scope."""
    form = app_credentials(client_secret=SECRET, scope="https://graph.microsoft.com/Calendars.Read")
    assert_aad(await login.post(TOKEN, data=form), 400, "invalid_scope", 1002012)


async def test_two_resources_are_700022(login: httpx.AsyncClient) -> None:
    """Scopes of two resources in one request are invalid_scope AADSTS700022."""
    form = app_credentials(client_secret=SECRET, scope=f"{GRAPH_DEFAULT} https://outlook.office.com/.default")
    assert_aad(await login.post(TOKEN, data=form), 400, "invalid_scope", 700022)


async def test_unknown_resource_is_500011(login: httpx.AsyncClient) -> None:
    """A resource the tenant does not know is invalid_resource AADSTS500011."""
    form = app_credentials(client_secret=SECRET, scope="https://storage.example/.default")
    assert_aad(await login.post(TOKEN, data=form), 400, "invalid_resource", 500011)


async def test_missing_parameters_are_900144(login: httpx.AsyncClient) -> None:
    """A missing scope, grant_type or client_id is invalid_request AADSTS900144 naming it."""
    for missing in ("scope", "grant_type", "client_id"):
        form = app_credentials(client_secret=SECRET)
        del form[missing]
        body = assert_aad(await login.post(TOKEN, data=form), 400, "invalid_request", 900144)
        assert f"'{missing}'" in body["error_description"]


async def test_json_body_reads_as_missing_grant_type(login: httpx.AsyncClient) -> None:
    """The endpoint reads only form bodies: JSON is AADSTS900144 for grant_type."""
    response = await login.post(TOKEN, json=app_credentials(client_secret=SECRET))
    assert_aad(response, 400, "invalid_request", 900144)


async def test_unknown_grant_type_is_70003(login: httpx.AsyncClient) -> None:
    """A grant type graphemu does not emulate is unsupported_grant_type AADSTS70003."""
    form = app_credentials(client_secret=SECRET, grant_type="password")
    assert_aad(await login.post(TOKEN, data=form), 400, "unsupported_grant_type", 70003)


async def test_get_on_the_token_endpoint_is_900561(login: httpx.AsyncClient) -> None:
    """The token endpoint only accepts POST."""
    assert_aad(await login.get(TOKEN), 400, "invalid_request", 900561)


async def test_app_without_permissions_gets_a_token_without_roles(app: Any, login: httpx.AsyncClient) -> None:
    """With no application permission granted, Entra still issues a token, without roles."""
    app.state.world.apps[CLIENT].application_permissions.clear()
    response = await login.post(TOKEN, data=app_credentials(client_secret=SECRET))
    assert response.status_code == 200
    assert "roles" not in claims(response.json()["access_token"])


# -- client_credentials with a certificate ---------------------------------------------------------


@pytest.fixture
def cert(app: Any) -> Certificate:
    certificate = Certificate()
    app.state.world.apps[CLIENT].certificates.append(certificate_from_pem(certificate.cert_pem.encode()))
    return certificate


def cert_form(jwt_text: str) -> dict[str, str]:
    return app_credentials(
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=jwt_text,
    )


AUD = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"


@pytest.mark.parametrize(("alg", "thumbprint"), [("PS256", "x5t#S256"), ("RS256", "x5t")])
async def test_client_assertion_like_msal_is_accepted(
    login: httpx.AsyncClient, cert: Certificate, alg: str, thumbprint: str
) -> None:
    """PS256 + padded x5t#S256 and RS256 + padded x5t, float iat/exp, no nbf, no kid: a token."""
    token = assertion(cert, client_id=CLIENT, aud=AUD, alg=alg, thumbprint=thumbprint)
    assert "kid" not in jwt.get_unverified_header(token)
    assert "nbf" not in claims(token)
    assert isinstance(claims(token)["exp"], float)
    response = await login.post(TOKEN, data=cert_form(token))
    assert response.status_code == 200, response.text


async def test_assertion_audience_may_name_the_tenant_by_domain(
    login: httpx.AsyncClient, cert: Certificate
) -> None:
    """An aud naming the token endpoint of the path's tenant spelling is accepted too."""
    aud = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    response = await login.post(
        "/contoso.onmicrosoft.com/oauth2/v2.0/token",
        data=cert_form(assertion(cert, client_id=CLIENT, aud=aud)),
    )
    assert response.status_code == 200, response.text


async def test_expired_assertion_is_700024(login: httpx.AsyncClient, cert: Certificate) -> None:
    """An assertion past its exp (beyond 5 minutes of skew) is 401 invalid_client AADSTS700024."""
    token = assertion(cert, client_id=CLIENT, aud=AUD, iat=1_700_000_000.5)
    assert_aad(await login.post(TOKEN, data=cert_form(token)), 401, "invalid_client", 700024)


async def test_assertion_for_another_audience_is_50027(login: httpx.AsyncClient, cert: Certificate) -> None:
    """An aud that is not this token endpoint is 401 invalid_client AADSTS50027."""
    token = assertion(cert, client_id=CLIENT, aud="https://login.microsoftonline.com/other/oauth2/v2.0/token")
    assert_aad(await login.post(TOKEN, data=cert_form(token)), 401, "invalid_client", 50027)


async def test_unregistered_certificate_is_700027(login: httpx.AsyncClient, cert: Certificate) -> None:
    """A certificate the app does not have is 401 invalid_client AADSTS700027 (key not found)."""
    body = assert_aad(
        await login.post(TOKEN, data=cert_form(assertion(Certificate(), client_id=CLIENT, aud=AUD))),
        401,
        "invalid_client",
        700027,
    )
    assert "The key was not found." in body["error_description"]


async def test_bad_signature_is_700027(login: httpx.AsyncClient, cert: Certificate) -> None:
    """The registered thumbprint with a signature by another key is AADSTS700027."""
    token = assertion(cert, client_id=CLIENT, aud=AUD, signer=Certificate())
    assert_aad(await login.post(TOKEN, data=cert_form(token)), 401, "invalid_client", 700027)


async def test_expired_certificate_is_700027(app: Any, login: httpx.AsyncClient) -> None:
    """A certificate past its validity cannot sign in."""
    old = Certificate(not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    app.state.world.apps[CLIENT].certificates.append(certificate_from_pem(old.cert_pem.encode()))
    body = assert_aad(
        await login.post(TOKEN, data=cert_form(assertion(old, client_id=CLIENT, aud=AUD))),
        401,
        "invalid_client",
        700027,
    )
    assert "expired" in body["error_description"]


async def test_assertion_issuer_and_subject_must_be_the_client(
    login: httpx.AsyncClient, cert: Certificate
) -> None:
    """sub differing from iss is AADSTS50048; iss differing from client_id is AADSTS700021."""
    token = assertion(cert, client_id=CLIENT, aud=AUD, sub="someone-else")
    assert_aad(await login.post(TOKEN, data=cert_form(token)), 401, "invalid_client", 50048)
    other = "22222222-2222-4222-8222-222222222222"
    token = assertion(cert, client_id=CLIENT, aud=AUD, iss=other, sub=other)
    assert_aad(await login.post(TOKEN, data=cert_form(token)), 401, "invalid_client", 700021)


async def test_malformed_assertion_is_50027(login: httpx.AsyncClient, cert: Certificate) -> None:
    """A client_assertion that is not a JWT is AADSTS50027."""
    assert_aad(await login.post(TOKEN, data=cert_form("not-a-jwt")), 401, "invalid_client", 50027)


# -- authorization_code -----------------------------------------------------------------------------


async def test_authorization_code_grant_returns_user_tokens(app: Any, login: httpx.AsyncClient) -> None:
    """A code redeemed with the secret and PKCE verifier gives AT, RT, id_token and client_info."""
    code = await get_code(login)
    response = await login.post(TOKEN, data=redeem_form(code))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "https://graph.microsoft.com/Calendars.ReadWrite openid profile offline_access"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["refresh_token"]
    user = app.state.world.find_user("adele@contoso.onmicrosoft.com")
    access = claims(body["access_token"])
    assert access["scp"] == "Calendars.ReadWrite"
    assert access["oid"] == user.id
    principal = principal_from_header(app.state.ctx, f"Bearer {body['access_token']}")
    assert principal.user_id == user.id
    assert principal.scopes == {"Calendars.ReadWrite"}
    id_claims = claims(body["id_token"])
    assert id_claims["aud"] == CLIENT
    assert id_claims["nonce"] == "n-123"
    assert id_claims["tid"] == TENANT
    assert id_claims["iss"] == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert id_claims["preferred_username"] == user.user_principal_name
    assert id_claims["oid"] == user.id
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": user.id, "utid": TENANT}


async def test_tokens_follow_the_scopes_asked_for(login: httpx.AsyncClient) -> None:
    """No offline_access: no refresh token; no openid: no id_token; no client_info=1: none."""
    code = await get_code(login, scope="https://graph.microsoft.com/Calendars.ReadWrite")
    body = (await login.post(TOKEN, data=redeem_form(code, scope="", client_info=""))).json()
    assert "refresh_token" not in body
    assert "id_token" not in body
    assert "client_info" not in body
    assert body["scope"] == "https://graph.microsoft.com/Calendars.ReadWrite"


async def test_code_reuse_is_54005(login: httpx.AsyncClient) -> None:
    """A code redeemed twice is invalid_grant AADSTS54005."""
    code = await get_code(login)
    assert (await login.post(TOKEN, data=redeem_form(code))).status_code == 200
    assert_aad(await login.post(TOKEN, data=redeem_form(code)), 400, "invalid_grant", 54005)


async def test_expired_code_is_70008(app: Any, login: httpx.AsyncClient) -> None:
    """A code older than auth_code_seconds is invalid_grant AADSTS70008."""
    code = await get_code(login)
    app.state.world.clock.advance(601)
    assert_aad(await login.post(TOKEN, data=redeem_form(code)), 400, "invalid_grant", 70008)


async def test_unknown_code_is_70000(login: httpx.AsyncClient) -> None:
    """A code the service never issued is invalid_grant AADSTS70000."""
    assert_aad(await login.post(TOKEN, data=redeem_form("0.Anonsense")), 400, "invalid_grant", 70000)


async def test_pkce_mismatch_is_501481(login: httpx.AsyncClient) -> None:
    """A wrong or missing code_verifier is invalid_grant AADSTS501481, and the code stays usable."""
    code = await get_code(login)
    assert_aad(
        await login.post(TOKEN, data=redeem_form(code, code_verifier="w" * 43)), 400, "invalid_grant", 501481
    )
    assert_aad(
        await login.post(TOKEN, data=redeem_form(code, code_verifier="")), 400, "invalid_grant", 501481
    )
    assert (await login.post(TOKEN, data=redeem_form(code))).status_code == 200


async def test_plain_pkce_compares_the_verifier(login: httpx.AsyncClient) -> None:
    """code_challenge_method=plain compares verifier and challenge as strings."""
    code = await get_code(login, method="plain", challenge=VERIFIER)
    assert (await login.post(TOKEN, data=redeem_form(code))).status_code == 200


async def test_redirect_uri_must_match_authorize(login: httpx.AsyncClient) -> None:
    """A redirect_uri other than the one sent to /authorize is invalid_grant AADSTS500112."""
    code = await get_code(login)
    form = redeem_form(code, redirect_uri="http://localhost:9999/other")
    assert_aad(await login.post(TOKEN, data=form), 400, "invalid_grant", 500112)


async def test_code_redemption_needs_client_authentication(login: httpx.AsyncClient) -> None:
    """A confidential client redeeming a code without its secret is AADSTS7000218."""
    code = await get_code(login)
    assert_aad(
        await login.post(TOKEN, data=redeem_form(code, client_secret="")), 401, "invalid_client", 7000218
    )


async def test_withdrawn_consent_is_65001_at_token_time(app: Any, login: httpx.AsyncClient) -> None:
    """Consent missing for a requested scope is invalid_grant AADSTS65001 with suberror consent_required."""
    code = await get_code(login)
    registration: AppRegistration = app.state.world.apps[CLIENT]
    registration.admin_consented_scopes.clear()
    registration.user_consents.clear()
    body = assert_aad(await login.post(TOKEN, data=redeem_form(code)), 400, "invalid_grant", 65001)
    assert body["suberror"] == "consent_required"


async def test_delegated_grant_over_consumers_is_9002332(login: httpx.AsyncClient) -> None:
    """Work-account apps cannot use /consumers."""
    response = await login.post("/consumers/oauth2/v2.0/token", data=redeem_form("x"))
    assert_aad(response, 400, "invalid_request", 9002332)


# -- refresh_token ----------------------------------------------------------------------------------


async def signed_in(login: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await login.post(TOKEN, data=redeem_form(await get_code(login)))).json()
    return body


def refresh_form(token: str, **extra: str) -> dict[str, str]:
    form = {
        "client_id": CLIENT,
        "grant_type": "refresh_token",
        "refresh_token": token,
        "scope": DELEGATED,
        "client_secret": SECRET,
        "client_info": "1",
    }
    form.update(extra)
    return form


async def test_refresh_returns_a_new_refresh_token_and_keeps_the_old(login: httpx.AsyncClient) -> None:
    """In "entra" mode each use returns a new refresh token and the used one stays valid."""
    first = (await signed_in(login))["refresh_token"]
    response = await login.post(TOKEN, data=refresh_form(first))
    assert response.status_code == 200
    second = response.json()["refresh_token"]
    assert second != first
    assert "nonce" not in claims(response.json()["id_token"])
    assert (await login.post(TOKEN, data=refresh_form(first))).status_code == 200


async def test_strict_rotation_revokes_the_family_on_reuse(
    config: EmulatorConfig, login: httpx.AsyncClient
) -> None:
    """In strict-rotation mode a used token is revoked, and replaying it revokes its successors."""
    config.refresh_token_mode = "strict-rotation"
    first = (await signed_in(login))["refresh_token"]
    second = (await login.post(TOKEN, data=refresh_form(first))).json()["refresh_token"]
    assert_aad(await login.post(TOKEN, data=refresh_form(first)), 400, "invalid_grant", 70008)
    assert_aad(await login.post(TOKEN, data=refresh_form(second)), 400, "invalid_grant", 70008)


async def test_inactive_refresh_token_is_700082(
    app: Any, config: EmulatorConfig, login: httpx.AsyncClient
) -> None:
    """A refresh token unused for longer than the inactivity window is AADSTS700082, suberror bad_token."""
    token = (await signed_in(login))["refresh_token"]
    app.state.world.clock.advance(91 * 86400)
    body = assert_aad(await login.post(TOKEN, data=refresh_form(token)), 400, "invalid_grant", 700082)
    assert body["suberror"] == "bad_token"
    assert "90.00:00:00" in body["error_description"]


async def test_use_keeps_a_refresh_token_active(
    app: Any, config: EmulatorConfig, login: httpx.AsyncClient
) -> None:
    """Inactivity counts from the last use, per configured days."""
    config.refresh_token_inactive_days = 2
    token = (await signed_in(login))["refresh_token"]
    for _ in range(3):
        app.state.world.clock.advance(86400)
        assert (await login.post(TOKEN, data=refresh_form(token))).status_code == 200


async def test_revoked_refresh_tokens_are_50173(app: Any, login: httpx.AsyncClient) -> None:
    """After /_emu/revoke-refresh-tokens the user's refresh tokens fail with AADSTS50173."""
    token = (await signed_in(login))["refresh_token"]
    response = await login.post("/_emu/revoke-refresh-tokens", json={"user": "adele@contoso.onmicrosoft.com"})
    assert response.json() == {"revoked": 1}
    assert_aad(await login.post(TOKEN, data=refresh_form(token)), 400, "invalid_grant", 50173)


async def test_withdrawn_user_consent_makes_refresh_65001(app: Any, login: httpx.AsyncClient) -> None:
    """/_emu/revoke-consent withdraws a user's own consent: their next refresh is AADSTS65001
    consent_required (as after deleting their oauth2PermissionGrant); other users keep theirs."""
    world = app.state.world
    registration = world.apps[CLIENT]
    user = world.find_user("adele@contoso.onmicrosoft.com")
    consented = set(registration.admin_consented_scopes)
    registration.admin_consented_scopes.clear()
    registration.user_consents[user.id] = consented
    registration.user_consents["someone-else"] = set(consented)
    token = (await signed_in(login))["refresh_token"]
    assert (await login.post(TOKEN, data=refresh_form(token))).status_code == 200
    answer = await login.post("/_emu/revoke-consent", json={"user": user.user_principal_name})
    assert answer.json() == {"apps": 1}
    body = assert_aad(await login.post(TOKEN, data=refresh_form(token)), 400, "invalid_grant", 65001)
    assert body["suberror"] == "consent_required"
    assert registration.user_consents["someone-else"] == consented
    unknown = await login.post("/_emu/revoke-consent", json={"user": user.id, "clientId": "nope"})
    assert unknown.status_code == 400


async def test_password_reset_revokes_refresh_tokens_50173(app: Any, login: httpx.AsyncClient) -> None:
    """/_emu/reset-password sets the password and revokes the refresh tokens: AADSTS50173."""
    token = (await signed_in(login))["refresh_token"]
    answer = await login.post(
        "/_emu/reset-password", json={"user": "adele@contoso.onmicrosoft.com", "password": "n3w!"}
    )
    assert answer.json() == {"revoked": 1}
    assert app.state.world.find_user("adele@contoso.onmicrosoft.com").password == "n3w!"
    assert_aad(await login.post(TOKEN, data=refresh_form(token)), 400, "invalid_grant", 50173)
    refused = await login.post("/_emu/reset-password", json={"user": "adele@contoso.onmicrosoft.com"})
    assert refused.status_code == 400


async def test_refresh_for_an_unconsented_scope_is_65001(login: httpx.AsyncClient) -> None:
    """Asking a refresh for a permission nobody consented to is AADSTS65001 consent_required."""
    token = (await signed_in(login))["refresh_token"]
    form = refresh_form(token, scope="https://graph.microsoft.com/Mail.Read offline_access")
    body = assert_aad(await login.post(TOKEN, data=form), 400, "invalid_grant", 65001)
    assert body["suberror"] == "consent_required"


async def test_refresh_may_narrow_to_a_consented_subset(login: httpx.AsyncClient) -> None:
    """A refresh may ask for any consented permission of the resource (here User.Read)."""
    token = (await signed_in(login))["refresh_token"]
    body = (await login.post(TOKEN, data=refresh_form(token, scope="User.Read offline_access"))).json()
    assert claims(body["access_token"])["scp"] == "User.Read"


async def test_unknown_refresh_token_is_9002313(login: httpx.AsyncClient) -> None:
    """A refresh token the service never issued is invalid_grant AADSTS9002313."""
    assert_aad(await login.post(TOKEN, data=refresh_form("garbage")), 400, "invalid_grant", 9002313)


async def test_refresh_token_of_another_client_is_70000(app: Any, login: httpx.AsyncClient) -> None:
    """A refresh token is bound to the client it was issued to."""
    token = (await signed_in(login))["refresh_token"]
    other = AppRegistration(
        client_id="33333333-3333-4333-8333-333333333333",
        tenant_id=TENANT,
        secrets=[ClientSecret(value="other-secret")],
    )
    app.state.world.add_app(other)
    form = refresh_form(token, client_id=other.client_id, client_secret="other-secret")
    assert_aad(await login.post(TOKEN, data=form), 400, "invalid_grant", 70000)


async def test_refresh_tokens_survive_a_snapshot_restart(app: Any, login: httpx.AsyncClient) -> None:
    """Codes and refresh tokens are plain JSON in world.extra, so a snapshot keeps them across restarts."""
    from graphemu import create_app
    from graphemu.snapshot import from_json, to_json

    token = (await signed_in(login))["refresh_token"]
    restored = create_app(from_json(json.loads(json.dumps(to_json(app.state.world)))))
    async with httpx.AsyncClient(
        transport=EmulatorTransport(restored), base_url="https://login.microsoftonline.com"
    ) as again:
        assert (await again.post(TOKEN, data=refresh_form(token))).status_code == 200


async def test_public_clients_redeem_without_a_secret_and_may_not_send_one(
    app: Any, login: httpx.AsyncClient
) -> None:
    """A public client redeems codes with PKCE only; presenting a secret is AADSTS700025."""
    public = AppRegistration(
        client_id="44444444-4444-4444-8444-444444444444",
        tenant_id=TENANT,
        public_client=True,
        admin_consented_scopes={"Calendars.ReadWrite"},
        redirect_uris=[REDIRECT],
    )
    app.state.world.add_app(public)
    codes = []
    for _ in range(2):
        response = await login.get(
            f"/{TENANT}/oauth2/v2.0/authorize",
            params={
                "client_id": public.client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": DELEGATED,
                "prompt": "none",
                "login_hint": "adele@contoso.onmicrosoft.com",
                "code_challenge": CHALLENGE,
                "code_challenge_method": "S256",
            },
        )
        codes.append(parse_qs(urlsplit(response.headers["location"]).query)["code"][0])
    form = redeem_form(codes[0], client_id=public.client_id, client_secret="")
    assert (await login.post(TOKEN, data=form)).status_code == 200
    form = redeem_form(codes[1], client_id=public.client_id, client_secret="anything")
    assert_aad(await login.post(TOKEN, data=form), 401, "invalid_client", 700025)
