"""`/{tenant}/oauth2/v2.0/authorize`: a sign-in and consent page that hands out authorization codes.

Validation follows ED v2-oauth2-auth-code-flow.md (graph-facts §1.2). Until client_id and redirect_uri
are known to be good, errors are shown on an error page and never redirected (an unknown client is
AADSTS700016, a missing redirect_uri AADSTS900971, one not registered AADSTS50011, an app without
any AADSTS500113). After that, errors go back to the redirect URI as `error` + `error_description`
+ `state`, in the requested response_mode.

The page lists the tenant's users (preselecting `login_hint`) and takes a password (any password when
the user has none set). Accept records the user's consent to the requested Graph permissions and
redirects with `code`, `state` and `session_state`; Cancel redirects with `error=access_denied` and
AADSTS65004. A wrong password shows the page again with AADSTS50126.

CHOICE: `prompt=none` issues a code without a page when the user is known from `login_hint` or from
the emulator's session cookie (set on a successful sign-in), standing in for Entra's SSO session;
without one it answers `login_required` (AADSTS50058), and without consent `consent_required`
(AADSTS65001). This is what lets tests and MSAL run the flow without a browser.
CHOICE: only `response_type=code` is emulated (no implicit or hybrid flow): others are
`unsupported_response_type` (AADSTS70005).
CHOICE: HTML error pages answer HTTP 400 (the service shows them with 200) so scripted clients notice.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from graphemu.errors import AadError
from graphemu.graph.router import Context
from graphemu.identity import grants, pages
from graphemu.identity.common import find_app, resolve_tenant
from graphemu.identity.scopes import ScopeSet, consented, parse_scopes
from graphemu.world import AppRegistration, User

PROMPTS = ("login", "none", "consent", "select_account")
MODES = ("query", "fragment", "form_post")
SESSION_MAX_AGE = 86400.0


@dataclass
class AuthRequest:
    """An authorization request whose client and redirect URI have been checked."""

    tenant_id: str
    client_id: str
    redirect_uri: str
    scope: str = ""
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str = "plain"
    response_mode: str = "query"
    prompt: str | None = None
    login_hint: str | None = None


def check_client(
    ctx: Context, tenant_segment: str, params: dict[str, str]
) -> tuple[AppRegistration, AuthRequest]:
    """Tenant, client and redirect URI: failures here are shown, never redirected."""
    ref = resolve_tenant(ctx.world, tenant_segment)
    if ref.kind == "consumers":
        raise AadError("invalid_request", 9002332, client_id=params.get("client_id", ""))
    app = find_app(ctx.world, ref, params.get("client_id"))
    redirect_uri = params.get("redirect_uri")
    if not app.redirect_uris:
        raise AadError("invalid_request", 500113)
    if not redirect_uri:
        raise AadError("invalid_request", 900971)
    if redirect_uri not in app.redirect_uris:
        raise AadError("invalid_request", 50011, redirect_uri=redirect_uri, client_id=app.client_id)
    mode = params.get("response_mode") or "query"
    return app, AuthRequest(
        tenant_id=app.tenant_id,
        client_id=app.client_id,
        redirect_uri=redirect_uri,
        state=params.get("state"),
        response_mode=mode if mode in MODES else "query",
    )


def check_request(ctx: Context, auth: AuthRequest, params: dict[str, str]) -> ScopeSet:
    """The rest of the request; failures here are redirected back to the client."""
    response_type = params.get("response_type")
    if not response_type:
        raise AadError("invalid_request", 900144, parameter="response_type")
    if response_type != "code":
        raise AadError("unsupported_response_type", 70005)
    if params.get("response_mode") and params["response_mode"] not in MODES:
        raise AadError("invalid_request", 70007)
    scopes = parse_scopes(params.get("scope"), tenant=auth.tenant_id, graph_base_url=ctx.config.base_url)
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method") or "plain"
    if challenge is not None:
        if method not in ("S256", "plain"):
            raise AadError("invalid_request", 90100, parameter="code_challenge_method")
        if not 43 <= len(challenge) <= 128:
            raise AadError("invalid_request", 501491)
    prompt = params.get("prompt")
    if prompt is not None and prompt not in PROMPTS:
        raise AadError("invalid_request", 90100, parameter="prompt")
    auth.scope = params.get("scope", "")
    auth.nonce = params.get("nonce")
    auth.code_challenge = challenge
    auth.code_challenge_method = method
    auth.prompt = prompt
    auth.login_hint = params.get("login_hint")
    return scopes


def _error_to_client(auth: AuthRequest, exc: AadError) -> Response:
    params = {"error": exc.error, "error_description": exc.text}
    if auth.state is not None:
        params["state"] = auth.state
    return pages.to_client(auth.redirect_uri, params, auth.response_mode)


def _issue(ctx: Context, auth: AuthRequest, user: User) -> Response:
    code = grants.issue_code(
        ctx.world,
        grants.AuthCode(
            client_id=auth.client_id,
            tenant_id=auth.tenant_id,
            user_id=user.id,
            redirect_uri=auth.redirect_uri,
            scope=auth.scope,
            issued=ctx.world.clock.time(),
            nonce=auth.nonce,
            code_challenge=auth.code_challenge,
            code_challenge_method=auth.code_challenge_method,
        ),
    )
    params = {"code": code}
    if auth.state is not None:
        params["state"] = auth.state
    params["session_state"] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{user.id}:{auth.client_id}"))
    return pages.to_client(auth.redirect_uri, params, auth.response_mode)


def _has_consent(app: AppRegistration, user: User, scopes: ScopeSet) -> bool:
    allowed = consented(app.admin_consented_scopes, app.user_consents.get(user.id))
    return bool(allowed) if scopes.default else scopes.graph <= allowed


def _tenant_user(ctx: Context, key: str | None, tenant_id: str) -> User | None:
    user = ctx.world.find_user(key, tenant_id) if key else None
    return user if user is not None and user.account_enabled else None


def _silent(
    ctx: Context, request: Request, app: AppRegistration, auth: AuthRequest, scopes: ScopeSet
) -> Response:
    session = pages.unsign(
        ctx.world,
        request.cookies.get(pages.SESSION_COOKIE),
        now=ctx.world.clock.time(),
        max_age=SESSION_MAX_AGE,
    )
    user = _tenant_user(ctx, auth.login_hint, auth.tenant_id)
    if user is None and session is not None and not auth.login_hint:
        user = _tenant_user(ctx, str(session.get("uid", "")), auth.tenant_id)
    if user is None:
        return _error_to_client(auth, AadError("login_required", 50058))
    if not _has_consent(app, user, scopes):
        return _error_to_client(auth, AadError("consent_required", 65001, client_id=app.client_id))
    return _issue(ctx, auth, user)


def _sign_in_page(
    ctx: Context,
    app: AppRegistration,
    auth: AuthRequest,
    scopes: ScopeSet,
    csrf: str,
    *,
    error: str | None = None,
) -> Response:
    now = ctx.world.clock.time()
    state = pages.sign(ctx.world, {"iat": now, "csrf": csrf, "auth": asdict(auth)})
    hint = (auth.login_hint or "").lower()
    users = sorted(
        (u for u in ctx.world.users.values() if u.tenant_id == auth.tenant_id and u.account_enabled),
        key=lambda u: u.user_principal_name.lower(),
    )
    options = "".join(
        f'<option value="{escape(u.id)}"{_selected(hint, u)}>'
        f"{escape(u.display_name)} ({escape(u.user_principal_name)})</option>"
        for u in users
    )
    asked = [f"Microsoft Graph: {escape(name)}" for name in sorted(scopes.graph)]
    if scopes.default:
        asked.append("Microsoft Graph: the permissions already configured for the app (.default)")
    asked.extend(f"OpenID: {escape(s)}" for s in sorted(scopes.oidc))
    items = "".join(f"<li>{item}</li>" for item in asked)
    problem = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in and grant access</h1>{problem}"
        f'<p><strong>{escape(app.display_name)}</strong> wants to:</p><ul id="scopes">{items}</ul>'
        f'<form method="post" action="">{pages.hidden("ctx", state)}'
        f'<label for="user">Account</label><select id="user" name="user">{options}</select>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password">'
        '<div class="buttons"><button type="submit" name="action" value="cancel">Cancel</button>'
        '<button type="submit" name="action" value="accept">Accept</button></div></form>'
    )
    return pages.page("Sign in to your account", body)


def routes(ctx: Context) -> list[BaseRoute]:
    world = ctx.world

    async def get(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            app, auth = check_client(ctx, request.path_params["tenant"], params)
        except AadError as exc:
            return pages.error_page(exc.text)
        try:
            scopes = check_request(ctx, auth, params)
        except AadError as exc:
            return _error_to_client(auth, exc)
        if auth.prompt == "none":
            return _silent(ctx, request, app, auth, scopes)
        csrf, fresh = pages.csrf_value(request)
        response = _sign_in_page(ctx, app, auth, scopes, csrf)
        if fresh:
            pages.set_cookie(response, request, pages.CSRF_COOKIE, csrf)
        return response

    async def post(request: Request) -> Response:
        form = await request.form()
        now = world.clock.time()
        data = pages.unsign(world, _text(form.get("ctx")), now=now)
        csrf = request.cookies.get(pages.CSRF_COOKIE)
        if data is None or not csrf or data.get("csrf") != csrf:
            return pages.error_page(AadError("invalid_request", 90023).text)
        auth = AuthRequest(**data["auth"])
        app = world.apps.get(auth.client_id)
        if app is None or auth.redirect_uri not in app.redirect_uris:
            return pages.error_page(AadError("unauthorized_client", 700016, client_id=auth.client_id).text)
        if _text(form.get("action")) != "accept":
            return _error_to_client(auth, AadError("access_denied", 65004))
        scopes = parse_scopes(auth.scope, tenant=auth.tenant_id, graph_base_url=ctx.config.base_url)
        user = _tenant_user(ctx, _text(form.get("user")), auth.tenant_id)
        password = _text(form.get("password"))
        if user is None or (user.password is not None and password != user.password):
            return _sign_in_page(ctx, app, auth, scopes, csrf, error=AadError("invalid_grant", 50126).text)
        if scopes.graph:
            app.user_consents.setdefault(user.id, set()).update(scopes.graph)
        response = _issue(ctx, auth, user)
        pages.set_cookie(
            response, request, pages.SESSION_COOKIE, pages.sign(world, {"iat": now, "uid": user.id})
        )
        return response

    return [
        Route("/{tenant}/oauth2/v2.0/authorize", get, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/authorize", post, methods=["POST"]),
    ]


def _selected(hint: str, user: User) -> str:
    return " selected" if hint in (user.user_principal_name.lower(), user.id) else ""


def _text(value: Any) -> str | None:
    """A form field as text (uploads are ignored)."""
    return value if isinstance(value, str) else None
