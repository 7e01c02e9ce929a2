"""The Microsoft identity platform v2.0 as graphemu serves it (graph-facts §1).

    GET  /common/discovery/instance                     instance discovery (MSAL with validation on)
    GET  /{tenant}/v2.0/.well-known/openid-configuration OpenID discovery (v1 form without /v2.0)
    GET  /{tenant}/discovery/v2.0/keys                   JWKS of the token-signing key
    POST /{tenant}/oauth2/v2.0/token                     client_credentials, authorization_code, refresh_token
    GET|POST /{tenant}/oauth2/v2.0/authorize             sign-in and consent page, prompt=none
    GET|POST /{tenant}/adminconsent, /{tenant}/v2.0/adminconsent   admin consent pages

Control helpers (only with `config.control_api`):

    POST /_emu/revoke-refresh-tokens  {"user": upn or id}: revoke the user's refresh tokens
                                      (like revokeSignInSessions); answers {"revoked": n}
    POST /_emu/revoke-consent         {"user": upn or id, "clientId"?}: withdraw the user's own consent
                                      (to one app, or every app), like deleting their
                                      oauth2PermissionGrant; their next refresh answers AADSTS65001
                                      unless an administrator consented for the tenant. {"apps": n}
    POST /_emu/reset-password         {"user", "password"}: a password reset, which revokes the user's
                                      refresh tokens (the next refresh answers AADSTS50173)
    POST /_emu/requested-permissions  {"clientId", "applicationPermissions": [...],
                                       "delegatedPermissions": [...]}: what admin consent grants
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from graphemu.graph.router import Context
from graphemu.identity import authorize, consent, discovery, grants, token


def build(ctx: Context) -> list[BaseRoute]:
    """Every identity route bound to `ctx`, plus its control helpers when the control API is on."""
    routes: list[BaseRoute] = [
        *discovery.routes(ctx),
        *token.routes(ctx),
        *authorize.routes(ctx),
        *consent.routes(ctx),
    ]
    if ctx.config.control_api:
        routes.extend(_control(ctx))
    return routes


def _control(ctx: Context) -> list[BaseRoute]:
    world = ctx.world

    async def revoke(request: Request) -> Response:
        body = await request.json()
        user = world.find_user(str(body.get("user", "")))
        if user is None:
            return JSONResponse({"error": "unknown user"}, status_code=404)
        return JSONResponse({"revoked": grants.revoke_user(world, user.id)})

    async def revoke_consent(request: Request) -> Response:
        body = await request.json()
        user = world.find_user(str(body.get("user", "")))
        if user is None:
            return JSONResponse({"error": "unknown user"}, status_code=404)
        client_id = body.get("clientId")
        apps = [a for a in world.apps.values() if client_id is None or a.client_id == client_id]
        if client_id is not None and not apps:
            return JSONResponse({"error": "unknown clientId"}, status_code=400)
        changed = sum(1 for a in apps if a.user_consents.pop(user.id, None) is not None)
        return JSONResponse({"apps": changed})

    async def reset_password(request: Request) -> Response:
        body = await request.json()
        user = world.find_user(str(body.get("user", "")))
        password = body.get("password")
        if user is None:
            return JSONResponse({"error": "unknown user"}, status_code=404)
        if not isinstance(password, str) or not password:
            return JSONResponse({"error": "password: a non-empty string"}, status_code=400)
        user.password = password
        return JSONResponse({"revoked": grants.revoke_user(world, user.id)})

    async def requested(request: Request) -> Response:
        body = await request.json()
        client_id = str(body.get("clientId", ""))
        if client_id not in world.apps:
            return JSONResponse({"error": "unknown clientId"}, status_code=400)
        entry = {
            "application": list(body.get("applicationPermissions", [])),
            "delegated": list(body.get("delegatedPermissions", [])),
        }
        world.extra.setdefault("requested_permissions", {})[client_id] = entry
        return JSONResponse(entry)

    return [
        Route("/_emu/revoke-refresh-tokens", revoke, methods=["POST"]),
        Route("/_emu/revoke-consent", revoke_consent, methods=["POST"]),
        Route("/_emu/reset-password", reset_password, methods=["POST"]),
        Route("/_emu/requested-permissions", requested, methods=["POST"]),
    ]
