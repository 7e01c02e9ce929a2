"""Admin consent: `/{tenant}/adminconsent` (v1) and `/{tenant}/v2.0/adminconsent` (v2) (graph-facts §1.3).

Both show a page where an administrator is picked and Accept or Cancel is pressed:
- v1 success: `redirect_uri?tenant={tid}&state=...&admin_consent=True`; Cancel:
  `?error=permission_denied&error_description=The admin canceled the request&state=...`.
- v2 (scope required; `common` is refused with AADSTS90130, as the docs say not to use it) success:
  `?admin_consent=True&tenant={tid}&scope=...&state=...`; Cancel:
  `?admin_consent=True&error=consent_required&error_description=AADSTS65004: ...&state=...`.

What is granted: named Graph permissions in a v2 `scope` become tenant-wide delegated consent
(`AppRegistration.admin_consented_scopes`). `.default`, and v1 consent (which has no scope), grant
the permissions the app registration *requests*, which graphemu keeps in
`world.extra["requested_permissions"][client_id] = {"application": [...], "delegated": [...]}`
(set with `POST /_emu/requested-permissions`); application permissions go to
`application_permissions`, delegated ones to `admin_consented_scopes`.

CHOICE: directory roles are not modelled, so any enabled user of the tenant may consent as admin.
CHOICE: a missing v1 redirect_uri falls back to the app's first registered one (the v1 parameter is
only "recommended"); v2 requires it (AADSTS900971).
"""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from graphemu.errors import AadError
from graphemu.graph.router import Context
from graphemu.identity import pages
from graphemu.identity.common import find_app, resolve_tenant
from graphemu.identity.scopes import parse_scopes
from graphemu.world import AppRegistration, World

CANCELLED = "The admin canceled the request"


def requested_permissions(world: World, client_id: str) -> dict[str, list[str]]:
    """The permissions an app registration requests (empty lists when none were configured)."""
    stored: dict[str, dict[str, list[str]]] = world.extra.get("requested_permissions", {})
    entry = stored.get(client_id, {})
    return {"application": list(entry.get("application", [])), "delegated": list(entry.get("delegated", []))}


def _check(
    ctx: Context, segment: str, params: dict[str, str], version: str
) -> tuple[AppRegistration, dict[str, Any]]:
    ref = resolve_tenant(ctx.world, segment)
    if version == "v2" and ref.kind == "common":
        raise AadError("invalid_request", 90130)
    if ref.kind == "consumers":
        raise AadError("invalid_request", 9002332, client_id=params.get("client_id", ""))
    app = find_app(ctx.world, ref, params.get("client_id"))
    if not app.redirect_uris:
        raise AadError("invalid_request", 500113)
    redirect_uri = params.get("redirect_uri") or (app.redirect_uris[0] if version == "v1" else None)
    if not redirect_uri:
        raise AadError("invalid_request", 900971)
    if redirect_uri not in app.redirect_uris:
        raise AadError("invalid_request", 50011, redirect_uri=redirect_uri, client_id=app.client_id)
    request = {
        "version": version,
        "client_id": app.client_id,
        "tenant_id": app.tenant_id,
        "redirect_uri": redirect_uri,
        "state": params.get("state"),
        "scope": params.get("scope"),
    }
    return app, request


def _answer(request: dict[str, Any], params: dict[str, str]) -> Response:
    if request.get("state") is not None:
        params["state"] = request["state"]
    return pages.to_client(request["redirect_uri"], params, "query")


def _grant(world: World, app: AppRegistration, request: dict[str, Any]) -> None:
    if request["version"] == "v2":
        scopes = parse_scopes(request["scope"], tenant=app.tenant_id)
        app.admin_consented_scopes.update(scopes.graph)
        if not scopes.default:
            return
    wanted = requested_permissions(world, app.client_id)
    app.application_permissions.update(wanted["application"])
    app.admin_consented_scopes.update(wanted["delegated"])


def _page(
    ctx: Context, app: AppRegistration, request: dict[str, Any], csrf: str, error: str | None = None
) -> Response:
    world = ctx.world
    state = pages.sign(world, {"iat": world.clock.time(), "csrf": csrf, "request": request})
    users = sorted(
        (u for u in world.users.values() if u.tenant_id == app.tenant_id and u.account_enabled),
        key=lambda u: u.user_principal_name.lower(),
    )
    options = "".join(
        f'<option value="{escape(u.id)}">{escape(u.display_name)} ({escape(u.user_principal_name)})</option>'
        for u in users
    )
    wanted = requested_permissions(world, app.client_id)
    named = (
        parse_scopes(request["scope"], tenant=app.tenant_id).graph if request.get("scope") else frozenset()
    )
    items = [f"Application permission: {escape(p)}" for p in sorted(wanted["application"])]
    items += [f"Delegated permission: {escape(p)}" for p in sorted(set(wanted["delegated"]) | named)]
    listed = "".join(f"<li>{item}</li>" for item in items) or "<li>No permissions are configured.</li>"
    problem = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>Permissions requested</h1>{problem}<p><strong>{escape(app.display_name)}</strong> "
        f'asks an administrator to consent for the whole organization to:</p><ul id="scopes">{listed}</ul>'
        f'<form method="post" action="">{pages.hidden("ctx", state)}'
        f'<label for="user">Administrator</label><select id="user" name="user">{options}</select>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password">'
        '<div class="buttons"><button type="submit" name="action" value="cancel">Cancel</button>'
        '<button type="submit" name="action" value="accept">Accept</button></div></form>'
    )
    return pages.page("Permissions requested", body)


def routes(ctx: Context) -> list[BaseRoute]:
    world = ctx.world

    def _get(version: str) -> Any:
        async def get(request: Request) -> Response:
            params = dict(request.query_params)
            try:
                app, consent = _check(ctx, request.path_params["tenant"], params, version)
            except AadError as exc:
                return pages.error_page(exc.text)
            if version == "v2":
                try:
                    parse_scopes(consent["scope"], tenant=app.tenant_id, graph_base_url=ctx.config.base_url)
                except AadError as exc:
                    return _answer(consent, {"error": exc.error, "error_description": exc.text})
            csrf, fresh = pages.csrf_value(request)
            response = _page(ctx, app, consent, csrf)
            if fresh:
                pages.set_cookie(response, request, pages.CSRF_COOKIE, csrf)
            return response

        return get

    async def post(request: Request) -> Response:
        form = await request.form()
        ctx_field, action = form.get("ctx"), form.get("action")
        data = pages.unsign(world, ctx_field if isinstance(ctx_field, str) else None, now=world.clock.time())
        csrf = request.cookies.get(pages.CSRF_COOKIE)
        if data is None or not csrf or data.get("csrf") != csrf:
            return pages.error_page(AadError("invalid_request", 90023).text)
        consent: dict[str, Any] = data["request"]
        app = world.apps.get(consent["client_id"])
        if app is None or consent["redirect_uri"] not in app.redirect_uris:
            return pages.error_page(
                AadError("unauthorized_client", 700016, client_id=consent["client_id"]).text
            )
        if action != "accept":
            if consent["version"] == "v1":
                return _answer(consent, {"error": "permission_denied", "error_description": CANCELLED})
            text = AadError("consent_required", 65004).text
            return _answer(
                consent, {"admin_consent": "True", "error": "consent_required", "error_description": text}
            )
        user_id, password = form.get("user"), form.get("password")
        user = world.find_user(user_id, app.tenant_id) if isinstance(user_id, str) else None
        if (
            user is None
            or not user.account_enabled
            or (user.password is not None and password != user.password)
        ):
            return _page(ctx, app, consent, csrf, error=AadError("invalid_grant", 50126).text)
        _grant(world, app, consent)
        if consent["version"] == "v1":
            return _answer(consent, {"tenant": app.tenant_id, "admin_consent": "True"})
        return _answer(consent, {"admin_consent": "True", "tenant": app.tenant_id, "scope": consent["scope"]})

    return [
        Route("/{tenant}/adminconsent", _get("v1"), methods=["GET"]),
        Route("/{tenant}/adminconsent", post, methods=["POST"]),
        Route("/{tenant}/v2.0/adminconsent", _get("v2"), methods=["GET"]),
        Route("/{tenant}/v2.0/adminconsent", post, methods=["POST"]),
    ]
