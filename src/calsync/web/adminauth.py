"""Administrators sign in: with Entra (OpenID Connect, authorization code + PKCE through msal), or once
with the bootstrap token (`calsync admin bootstrap`).

Entra sign-in: `/admin/signin/start` starts msal's flow (state, nonce, PKCE S256) with
`response_mode=query`, keeps it server-side bound to this browser session (calsync.web.flows) and sends
the browser to Microsoft; Microsoft redirects back to `/admin/signin/callback` with a top-level GET, which
carries the SameSite=Lax session cookie (a form_post would not: service-facts §4). The callback takes the
flow (once: a replayed redirect finds nothing), lets msal redeem the code and check state and nonce,
checks the id token's audience, issuer and tenant (calsync.graph.signin), and decides from its claims:
an administrator has the app role `admin_role` (`roles`) or is in the group `admin_group_id` (`groups`).
Anyone else gets a 403 page. Only ids and names go into the session; the tokens are dropped.
Every attempt, accepted or refused, is in the audit log.

Redirect URI to register (Web platform): `{public_url}/admin/signin/callback`.
"""

from __future__ import annotations

import hashlib
import logging

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from calsync.graph.autherrors import AuthError
from calsync.services import admin as admin_service
from calsync.sync.engine import off_loop
from calsync.web.errors import PageError
from calsync.web.pages import WebContext, pages_router, render, return_path_of, see_other
from calsync.web.security import safe_return_path
from calsync.web.sessions import session_id
from calsync.web.users import ADMIN_SIGNIN, WebUser, sign_in

__all__ = ["CALLBACK", "router"]

CALLBACK = "/admin/signin/callback"
PURPOSE = "admin"
NEXT_KEY = "_admin_next"
log = logging.getLogger("calsync.web")


async def audit(
    web: WebContext,
    user: WebUser | None,
    action: str,
    outcome: str,
    detail: str | None = None,
    *,
    target: str | None = None,
) -> None:
    """Record in the audit log (off the event loop: it writes SQL)."""
    await off_loop(
        lambda: admin_service.record_action(
            web.deployment,
            actor=user.display if user else "(anonymous)",
            actor_key=user.key if user else "-",
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
        )
    )


def router(web: WebContext) -> APIRouter:
    """The sign-in page, the Entra flow and the bootstrap token."""
    pages = pages_router()

    @pages.get(ADMIN_SIGNIN)
    async def signin_page(request: Request) -> HTMLResponse:
        return render(request, "admin/signin.html", title="Administrator sign-in",
                      next=return_path_of(request, "/admin"), error=None)  # fmt: skip

    @pages.get(ADMIN_SIGNIN + "/start")
    async def start(request: Request) -> RedirectResponse:
        from calsync import wiring
        from calsync.graph.signin import start_auth_code_flow

        settings = web.settings
        if not settings.tenant_id or not settings.client_id:
            raise PageError(503, "Sign-in is not set up", "Set tenant_id and client_id in calsync.toml.")
        flow = await start_auth_code_flow(
            wiring.entra_app(settings),
            redirect_uri=web.url(CALLBACK),
            scopes=["User.Read"],
            response_mode="query",
            prompt="select_account",
        )
        web.flows.put(flow, session=session_id(request), purpose=PURPOSE)
        request.session[NEXT_KEY] = return_path_of(request, "/admin")
        return RedirectResponse(str(flow["auth_uri"]), status_code=303)

    @pages.get(CALLBACK)
    async def callback(request: Request) -> Response:
        from calsync import wiring
        from calsync.graph.auth import DelegatedTokenCache
        from calsync.graph.signin import finish_auth_code_flow

        params = dict(request.query_params)
        flow = web.flows.take(params.get("state"), session=session_id(request), purpose=PURPOSE)
        if "error" in params:
            await audit(
                web,
                None,
                "sign_in",
                "refused",
                f"{params['error']}: {params.get('error_description', '')[:300]}",
            )
            raise PageError(
                400,
                "Sign-in was not completed",
                _explain(params.get("error_description", ""), params["error"]),
            )
        try:
            done = await finish_auth_code_flow(
                wiring.entra_app(web.settings), flow, params, cache=DelegatedTokenCache()
            )
        except AuthError as exc:
            await audit(web, None, "sign_in", "refused", f"{exc.error} AADSTS{exc.aadsts or ''}")
            raise PageError(400, "Sign-in failed", exc.hint or "Start the sign-in again.") from None
        is_admin, why_not = _is_admin(web, done.roles, done.groups, done.groups_overage)
        user = WebUser(done.tenant_id, done.object_id, done.name, done.username, is_admin=is_admin)
        next_path = safe_return_path(request.session.get(NEXT_KEY), "/admin")
        sign_in(request, user)
        if not is_admin:
            await audit(web, user, "sign_in", "refused", why_not)
            raise PageError(403, "Not an administrator", why_not)
        await audit(web, user, "sign_in", "ok")
        return see_other(next_path)

    @pages.post("/admin/bootstrap")
    async def bootstrap(request: Request, token: str = Form("")) -> Response:
        used = await off_loop(admin_service.use_bootstrap_token, web.deployment, token)
        if not used:
            await audit(web, None, "bootstrap_sign_in", "refused")
            return render(request, "admin/signin.html", 400, title="Administrator sign-in", next="/admin",
                          error="That token is not valid: it is wrong, expired or already used. Run "
                                "`calsync admin bootstrap` for a new one.")  # fmt: skip
        label = hashlib.sha256(token.encode()).hexdigest()[:12]
        user = WebUser("bootstrap", label, "Bootstrap administrator", "", is_admin=True, via="bootstrap")
        sign_in(request, user)
        await audit(web, user, "bootstrap_sign_in", "ok")
        return see_other("/admin")

    return pages


def _is_admin(
    web: WebContext, roles: tuple[str, ...], groups: tuple[str, ...], overage: bool
) -> tuple[bool, str]:
    settings = web.settings
    if settings.admin_role and settings.admin_role in roles:
        return True, ""
    group = (settings.admin_group_id or "").lower()
    if group and group in (g.lower() for g in groups):
        return True, ""
    if group and overage:
        return False, (
            "Your account is in too many groups for Microsoft to list them in the sign-in: ask your "
            f"administrator to assign you the app role {settings.admin_role!r} instead."
        )
    how = f"the app role {settings.admin_role!r}" + (
        " or membership of the administrators' group" if group else ""
    )
    return (
        False,
        f"Your account does not have {how} on calsync's app registration. Ask your Microsoft 365 "
        "administrator for it, then sign in again.",
    )


AADSTS_HELP = {
    "65004": "You declined to give consent. Sign in again and accept, or ask an administrator.",
    "50011": "The redirect URI is not registered on the app registration (Authentication, Web platform).",
    "700016": "The app registration was not found in this tenant: check client_id and tenant_id.",
    "50105": "Your account is not assigned to the app (assignment required): ask your administrator.",
    "65001": "Consent has not been given for the app: an administrator can grant it.",
    "90094": "An administrator must grant consent for this app.",
}


def _explain(description: str, error: str) -> str:
    """A sentence for the error Microsoft sent back (the description is never shown raw: only its code)."""
    code = description.removeprefix("AADSTS").split(":")[0] if description.startswith("AADSTS") else ""
    if code in AADSTS_HELP:
        return f"{AADSTS_HELP[code]} (AADSTS{code})"
    if error == "access_denied":
        return "The sign-in was cancelled or refused. Start again when ready."
    shown = f" (AADSTS{code})" if code.isdigit() else ""
    return f"Microsoft answered {error!r}{shown}. Start the sign-in again."
