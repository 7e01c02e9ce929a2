"""The authorization-code sign-in (delegated permissions) as the web layer runs it, over msal.

`start_auth_code_flow` returns msal's flow dict (PKCE verifier, state, nonce, and the URL to send the user
to); the web layer keeps it server-side and gives it back, with the redirect's parameters, to
`finish_auth_code_flow`, which redeems the code into a `DelegatedTokenCache` (persisted through its
callback) and says who signed in. msal itself is only touched through `calsync.graph.auth`'s helpers, so
that module stays the only one importing msal; every msal call runs in a worker thread.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from calsync.graph.auth import DelegatedTokenCache, EntraApp, build_msal, in_thread, msal_session
from calsync.graph.autherrors import AuthError, auth_error

__all__ = ["SignIn", "finish_auth_code_flow", "start_auth_code_flow"]

# The web pages choose response_mode=query on purpose: Microsoft's redirect back is then a top-level GET,
# which carries the SameSite=Lax session cookie that binds the flow; a form_post is a cross-site POST
# without it (service-facts §4). msal warns about that choice on every sign-in; the warning is noise here.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)


@dataclass(frozen=True, slots=True)
class SignIn:
    """Who signed in through the authorization-code flow (tokens stay in the `DelegatedTokenCache`)."""

    home_account_id: str
    username: str
    tenant_id: str
    scopes: tuple[str, ...]
    object_id: str = ""  # `oid`: with tenant_id, the stable key of the person (never the e-mail: nOAuth)
    name: str = ""
    roles: tuple[str, ...] = ()  # app roles assigned to the person (id token `roles`)
    groups: tuple[str, ...] = ()  # group object ids (id token `groups`, when the app asks for them)
    groups_overage: bool = False  # more groups than fit in the token: Graph must be asked


async def start_auth_code_flow(
    app: EntraApp,
    *,
    redirect_uri: str,
    scopes: Sequence[str] = ("https://graph.microsoft.com/Calendars.ReadWrite",),
    state: str | None = None,
    login_hint: str | None = None,
    prompt: str | None = None,
    response_mode: str = "form_post",
) -> dict[str, Any]:
    """Begin a sign-in: msal's flow dict (PKCE verifier, state, nonce) with the URL at `flow["auth_uri"]`.

    Keep the dict server-side (it holds the PKCE verifier) and give it back to `finish_auth_code_flow`.
    `response_mode` is form_post by default (msal recommends it, RFC 9700 §4.3.1): the redirect URI then
    receives a POST whose form fields are what `finish_auth_code_flow` takes.
    """
    session = None if app.http_client is not None else msal_session(app)
    try:
        application = await in_thread(build_msal, app, None, app.http_client or session)
        options = {"redirect_uri": redirect_uri, "state": state, "login_hint": login_hint, "prompt": prompt}
        flow: dict[str, Any] = await in_thread(_initiate, application, list(scopes), options, response_mode)
    finally:
        if session is not None:
            session.close()
    return flow


async def finish_auth_code_flow(
    app: EntraApp, flow: Mapping[str, Any], query_params: Mapping[str, str], *, cache: DelegatedTokenCache
) -> SignIn:
    """Redeem the redirect's parameters (form fields or query); tokens go into `cache` (then persisted).

    Raises:
        AuthError: a state or nonce mismatch, an `error=` redirect, or a refused code redemption.
    """
    session = None if app.http_client is not None else msal_session(app)
    try:
        application = await in_thread(build_msal, app, cache.msal_cache, app.http_client or session)
        result = await in_thread(_redeem, application, dict(flow), dict(query_params))
        await cache.persist()
        if "access_token" not in result:
            if result.get("error") == "invalid_response":
                raise AuthError(
                    str(result.get("error_description", "")),
                    error="invalid_response",
                    hint="The sign-in answer does not match this sign-in (state or nonce): start again.",
                )
            raise auth_error(result, admin_consent_url=app.admin_consent_url())
        claims: Mapping[str, Any] = result.get("id_token_claims") or {}
        _check_id_token(app, claims)
        username = str(claims.get("preferred_username") or "")
        accounts: list[dict[str, Any]] = await in_thread(application.get_accounts, username or None)
    finally:
        if session is not None:
            session.close()
    return SignIn(
        home_account_id=str(accounts[0].get("home_account_id", "")) if accounts else "",
        username=username,
        tenant_id=str(claims.get("tid") or app.tenant),
        scopes=tuple(str(result.get("scope", "")).split()),
        object_id=str(claims.get("oid") or ""),
        name=str(claims.get("name") or ""),
        roles=tuple(str(r) for r in claims.get("roles") or ()),
        groups=tuple(str(g) for g in claims.get("groups") or ()),
        groups_overage="groups" in (claims.get("_claim_names") or {}),
    )


def _check_id_token(app: EntraApp, claims: Mapping[str, Any]) -> None:
    """The id token is for this app, from this authority, of the configured tenant (msal has checked
    the nonce; the token came straight from the token endpoint over TLS, so its signature is not
    re-verified: OpenID Connect Core 3.1.3.7).

    Raises:
        AuthError: a missing id token, another audience, issuer or tenant (`invalid_id_token`).
    """
    tid = str(claims.get("tid") or "")
    expected_issuer = f"{app.authority_host.rstrip('/')}/{tid}/v2.0"
    problem = None
    if not claims or not claims.get("oid"):
        problem = "no id token (or no oid in it)"
    elif claims.get("aud") != app.client_id:
        problem = "the id token is for another application (aud)"
    elif claims.get("iss") != expected_issuer:
        problem = "the id token comes from another issuer (iss)"
    elif _is_tenant_id(app.tenant) and tid.lower() != app.tenant.lower():
        problem = "the id token is from another tenant (tid)"
    if problem is not None:
        raise AuthError(
            problem, error="invalid_id_token", hint="Sign in again with an account of this organisation."
        )


def _is_tenant_id(tenant: str) -> bool:
    """A GUID tenant (not common/organizations/a domain): the only case where tid can be compared."""
    parts = tenant.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12]


def _initiate(
    application: Any, scopes: list[str], options: dict[str, Any], response_mode: str
) -> dict[str, Any]:
    """msal's initiate_auth_code_flow. msal warns on every query-mode flow; a caller that chose query
    mode did so on purpose (the web layer: a top-level GET carries its SameSite=Lax session cookie, so
    the answer can be bound to the browser that began the sign-in, and it redirects at once to a URL
    without the code), so that one warning is silenced here and nowhere else."""
    with warnings.catch_warnings():
        if response_mode == "query":
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        flow: dict[str, Any] = application.initiate_auth_code_flow(
            scopes, response_mode=response_mode, **options
        )
    return flow


def _redeem(application: Any, flow: dict[str, Any], params: dict[str, str]) -> Mapping[str, Any]:
    """msal's redemption, with its client-side refusals (ValueError: state mismatch; RuntimeError: nonce
    mismatch) returned as an error dict like the server's."""
    try:
        result: Mapping[str, Any] = application.acquire_token_by_auth_code_flow(flow, params)
    except (ValueError, RuntimeError) as exc:
        return {"error": "invalid_response", "error_description": str(exc)}
    return result
