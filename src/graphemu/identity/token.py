"""`POST /{tenant}/oauth2/v2.0/token`: client_credentials, authorization_code and refresh_token.

Checks run in this order, so a request with several faults gets the first one's error: tenant
(AADSTS90002), grant_type (900144, 70003), endpoint kind (9001023 for app-only over /common or
/consumers; 9002332 for delegated grants over /consumers), client_id (900144, 700016), client
authentication (see client_auth), then the grant's own material, then scope and consent.

CHOICE: client_credentials asking for anything but `{resource}/.default` is AADSTS1002012
(invalid_scope), the code the service sends for it; an empty scope is 900144.
CHOICE: a redirect_uri differing from the one sent to /authorize is AADSTS500112 (invalid_grant), the
code the service sends today (older logs show the same text under 50011).
CHOICE: grant types other than the three above (password, device code, on-behalf-of) are not
emulated and answer AADSTS70003 unsupported_grant_type.
CHOICE: a delegated request without a resource scope (only OpenID scopes) gets a token for the Graph
permissions of the original grant; OpenID scopes can only narrow what /authorize granted.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from graphemu.errors import AadError
from graphemu.graph.router import Context
from graphemu.identity import grants
from graphemu.identity.client_auth import authenticate_client, basic_credentials
from graphemu.identity.common import (
    TenantRef,
    advertised_segment,
    find_app,
    json_answer,
    login_base,
    read_form,
    resolve_tenant,
)
from graphemu.identity.scopes import ScopeSet, consented, granted_for, parse_scopes
from graphemu.identity.tokens import app_token_response, user_token_response
from graphemu.world import AppRegistration

PUBLIC_LOGIN = "https://login.microsoftonline.com"


def assertion_audiences(ctx: Context, ref: TenantRef, app: AppRegistration) -> list[str]:
    """Token endpoint URLs a client assertion's `aud` may name: the advertised one, and the same under
    login.microsoftonline.com, for the tenant as sent and as a GUID, v2 and v1."""
    bases = {login_base(ctx.config), PUBLIC_LOGIN}
    tenants = {ref.segment, advertised_segment(ref), app.tenant_id}
    return [f"{b}/{t}/oauth2/{v}token" for b in bases for t in tenants for v in ("v2.0/", "")]


def _scope_or(form: dict[str, str], original: ScopeSet, ctx: Context, tenant: str) -> ScopeSet:
    """The scope asked for now (if any), with OpenID scopes limited to the original grant's."""
    if not form.get("scope"):
        return original
    asked = parse_scopes(form["scope"], tenant=tenant, graph_base_url=ctx.config.base_url)
    if not asked.has_resource:
        asked = ScopeSet(graph=original.graph, default=original.default, oidc=asked.oidc)
    return ScopeSet(graph=asked.graph, default=asked.default, oidc=asked.oidc & original.oidc)


def routes(ctx: Context) -> list[BaseRoute]:
    """The token endpoint (POST; GET answers AADSTS900561 as the service does), bound to `ctx`."""
    world, config = ctx.world, ctx.config

    async def token(request: Request) -> Response:
        ref = resolve_tenant(world, request.path_params["tenant"])
        form = await read_form(request)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise AadError("invalid_request", 900144, parameter="grant_type")
        if grant_type not in ("client_credentials", "authorization_code", "refresh_token"):
            raise AadError("unsupported_grant_type", 70003)
        authorization = request.headers.get("authorization")
        basic = basic_credentials(authorization)
        client_id = form.get("client_id") or (basic[0] if basic else None)
        if grant_type == "client_credentials":
            if ref.kind in ("common", "consumers"):
                raise AadError("invalid_request", 9001023)
        elif ref.kind == "consumers":
            raise AadError("invalid_request", 9002332, client_id=client_id or "")
        app = find_app(world, ref, client_id)
        now = world.clock.time()
        auth = authenticate_client(
            app, form, authorization, audiences=assertion_audiences(ctx, ref, app), now=now
        )
        if grant_type == "client_credentials":
            if auth == "none":
                raise AadError("invalid_client", 7000218, 401)
            scopes = parse_scopes(form.get("scope"), tenant=app.tenant_id, graph_base_url=config.base_url)
            if not scopes.default or scopes.oidc:
                raise AadError("invalid_scope", 1002012, scope=form.get("scope", ""))
            return json_answer(app_token_response(ctx, app))
        if grant_type == "authorization_code":
            return json_answer(_authorization_code(ctx, app, form))
        return json_answer(_refresh_token(ctx, app, form))

    async def token_get(request: Request) -> Response:
        resolve_tenant(world, request.path_params["tenant"])
        raise AadError("invalid_request", 900561, verbs="POST, OPTIONS", verb=request.method)

    return [
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/token", token_get, methods=["GET"]),
    ]


def _authorization_code(ctx: Context, app: AppRegistration, form: dict[str, str]) -> dict[str, object]:
    world, config = ctx.world, ctx.config
    code = grants.redeem_code(world, config, form.get("code"), client_id=app.client_id)
    redirect_uri = form.get("redirect_uri")
    if not redirect_uri:
        raise AadError("invalid_request", 900144, parameter="redirect_uri")
    if redirect_uri != code.redirect_uri:
        raise AadError("invalid_grant", 500112, redirect_uri=redirect_uri, expected=code.redirect_uri)
    grants.check_pkce(code, form.get("code_verifier"))
    user = world.users.get(code.user_id)
    if user is None or not user.account_enabled:
        raise AadError("invalid_grant", 50057)
    original = parse_scopes(code.scope, tenant=code.tenant_id, graph_base_url=config.base_url)
    scopes = _scope_or(form, original, ctx, code.tenant_id)
    granted = granted_for(
        scopes, consented(app.admin_consented_scopes, app.user_consents.get(user.id)), app.client_id
    )
    grants.mark_redeemed(world, form["code"])
    refresh = None
    if "offline_access" in scopes.oidc:
        now = world.clock.time()
        refresh = grants.issue_refresh(
            world,
            grants.RefreshGrant(
                client_id=app.client_id,
                tenant_id=user.tenant_id,
                user_id=user.id,
                scope=original.as_param(),
                issued=now,
                last_used=now,
                family=grants.new_family(),
            ),
        )
    return user_token_response(
        ctx,
        app,
        user,
        scopes=scopes,
        granted=granted,
        nonce=code.nonce,
        want_client_info=form.get("client_info") == "1",
        refresh_token=refresh,
    )


def _refresh_token(ctx: Context, app: AppRegistration, form: dict[str, str]) -> dict[str, object]:
    world, config = ctx.world, ctx.config
    grant = grants.use_refresh(world, config, form.get("refresh_token"), client_id=app.client_id)
    user = world.users[grant.user_id]
    original = parse_scopes(grant.scope, tenant=grant.tenant_id, graph_base_url=config.base_url)
    scopes = _scope_or(form, original, ctx, grant.tenant_id)
    granted = granted_for(
        scopes, consented(app.admin_consented_scopes, app.user_consents.get(user.id)), app.client_id
    )
    grants.after_use(world, config, form["refresh_token"])
    now = world.clock.time()
    refresh = grants.issue_refresh(
        world,
        grants.RefreshGrant(
            client_id=app.client_id,
            tenant_id=grant.tenant_id,
            user_id=grant.user_id,
            scope=grant.scope,
            issued=now,
            last_used=now,
            family=grant.family,
        ),
    )
    return user_token_response(
        ctx,
        app,
        user,
        scopes=scopes,
        granted=granted,
        nonce=None,
        want_client_info=form.get("client_info") == "1",
        refresh_token=refresh,
    )
