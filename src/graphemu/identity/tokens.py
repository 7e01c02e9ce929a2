"""The bodies of successful token responses: access token, id_token, client_info (graph-facts §1.1, §1.6).

- client_credentials: `{"token_type","expires_in","ext_expires_in","access_token"}`; the token carries
  the app's granted application permissions as `roles`. With none granted Entra still issues a
  token (without `roles`), and Graph then answers 403; graphemu does the same.
- delegated grants add `scope`, `refresh_token` (only with offline_access), `id_token` (only with
  openid) and `client_info` (only when the request had client_info=1, as MSAL always sends).
- the id_token is an RS256 JWT signed with the emulator's key: aud = client_id, iss = the v2 issuer,
  tid, oid, a pairwise `sub`, preferred_username, name, email and the /authorize nonce (MSAL checks it),
  plus `roles` and `groups` for app roles and group claims (graphemu.identity.claims).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

from graphemu.graph.router import Context
from graphemu.identity.claims import membership_claims
from graphemu.identity.common import issuer
from graphemu.identity.scopes import ScopeSet
from graphemu.signing import SigningKey, access_token_claims
from graphemu.world import AppRegistration, User

ID_TOKEN_SECONDS = 3600


def _key(ctx: Context) -> SigningKey:
    key: SigningKey = ctx.world.extra["signing_key"]
    return key


def app_token_response(ctx: Context, app: AppRegistration) -> dict[str, Any]:
    """An app-only access token for Graph with `roles` = the app's application permissions."""
    lifetime = ctx.config.access_token_seconds
    claims = access_token_claims(
        tenant_id=app.tenant_id,
        client_id=app.client_id,
        now=ctx.world.clock.time(),
        lifetime=lifetime,
        roles=sorted(app.application_permissions),
    )
    if not claims["roles"]:
        del claims["roles"]
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": _key(ctx).sign(claims),
    }


def pairwise_sub(client_id: str, user_id: str) -> str:
    """id_token `sub` is pairwise: stable per user and app, different across apps (ED id-token claims)."""
    digest = hashlib.sha256(f"{client_id}:{user_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def id_token(ctx: Context, app: AppRegistration, user: User, nonce: str | None) -> str:
    now = int(ctx.world.clock.time())
    claims: dict[str, Any] = {
        "aud": app.client_id,
        "iss": issuer(ctx.config, user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + ID_TOKEN_SECONDS,
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.user_principal_name,
        "sub": pairwise_sub(app.client_id, user.id),
        "tid": user.tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "2.0",
    }
    if user.mail:
        claims["email"] = user.mail
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(membership_claims(ctx.world, app, user))
    return _key(ctx).sign(claims)


def client_info(user: User) -> str:
    """base64url JSON {"uid": oid, "utid": tid}, from which MSAL builds its account."""
    raw = json.dumps({"uid": user.id, "utid": user.tenant_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def user_token_response(
    ctx: Context,
    app: AppRegistration,
    user: User,
    *,
    scopes: ScopeSet,
    granted: frozenset[str],
    nonce: str | None,
    want_client_info: bool,
    refresh_token: str | None,
) -> dict[str, Any]:
    """A delegated token response; `refresh_token` is included when given (offline_access)."""
    lifetime = ctx.config.access_token_seconds
    claims = access_token_claims(
        tenant_id=user.tenant_id,
        client_id=app.client_id,
        now=ctx.world.clock.time(),
        lifetime=lifetime,
        scopes=sorted(granted),
        user_id=user.id,
        upn=user.user_principal_name,
    )
    claims["name"] = user.display_name
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scopes.response_scope(granted),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": _key(ctx).sign(claims),
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if "openid" in scopes.oidc:
        body["id_token"] = id_token(ctx, app, user, nonce)
    if want_client_info:
        body["client_info"] = client_info(user)
    return body
