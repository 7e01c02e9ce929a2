"""The app registration check (what `calsync auth test` finds, with the fixes) and admin consent for the
application permissions, as administrators' pages.

Admin consent: `/admin/consent/start` sends a Global or Privileged Role Administrator to Microsoft's v2
`/adminconsent` endpoint with `scope=https://graph.microsoft.com/.default` and a one-time `state` kept in
the session; Microsoft redirects back to `/admin/consent/callback` with `admin_consent=True` and, when it
failed or was declined, `error` + `error_description` (an AADSTS code), which the page explains.
Redirect URI to register (Web platform): `{public_url}/admin/consent/callback`.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.requests import Request

from calsync.graph.autherrors import AuthError
from calsync.web.admin import Admin
from calsync.web.adminauth import audit
from calsync.web.errors import PageError
from calsync.web.pages import WebContext, pages_router, render
from calsync.web.users import require_admin

__all__ = ["CONSENT_CALLBACK", "router"]

CONSENT_CALLBACK = "/admin/consent/callback"
STATE_KEY = "_consent_state"

CONSENT_HELP = {
    "65004": "The administrator declined the consent: nothing was granted.",
    "65001": "Consent is still missing: an administrator of the tenant must accept it.",
    "90094": "Only an administrator (Global, Application or Privileged Role Administrator) can grant these "
    "application permissions: sign in to the consent page with such an account.",
    "50011": "The redirect URI is not registered on the app registration: add "
    "{callback} under Authentication (Web platform).",
    "700016": "No app with this client_id in the tenant: check client_id and tenant_id.",
    "50020": "The signed-in account is from another tenant.",
}


def router(web: WebContext) -> APIRouter:
    """/admin/app, /admin/consent[/start|/callback]."""
    pages = pages_router(dependencies=[Depends(require_admin)])

    @pages.get("/admin/app")
    async def app_check(request: Request, user: Admin) -> HTMLResponse:
        from calsync.services.appcheck import MAX_PROBES, run_test

        report, failure = None, None
        try:
            report = await run_test(web.settings, list(web.settings.mailboxes[:MAX_PROBES]))
        except AuthError as exc:
            failure = (f"AADSTS{exc.aadsts}: " if exc.aadsts else "") + (exc.hint or exc.error or "refused")
        except Exception as exc:  # Graph or the network: shown in plain words
            failure = (
                f"{type(exc).__name__}: the check could not finish ({getattr(exc, 'hint', None) or exc})"
            )
        return render(request, "admin/app.html", title="App registration", report=report, failure=failure,
                      consent_callback=web.url(CONSENT_CALLBACK))  # fmt: skip

    @pages.get("/admin/consent")
    async def consent_page(request: Request, user: Admin) -> HTMLResponse:
        return render(request, "admin/consent.html", title="Admin consent", result=None,
                      callback=web.url(CONSENT_CALLBACK))  # fmt: skip

    @pages.get("/admin/consent/start")
    async def consent_start(request: Request, user: Admin) -> RedirectResponse:
        from calsync import wiring

        state = secrets.token_urlsafe(32)
        request.session[STATE_KEY] = state
        url = wiring.entra_app(web.settings).admin_consent_url(web.url(CONSENT_CALLBACK), state=state)
        await audit(web, user, "admin_consent_started", "ok")
        return RedirectResponse(url, status_code=303)

    @pages.get(CONSENT_CALLBACK)
    async def consent_callback(request: Request, user: Admin) -> HTMLResponse:
        params = request.query_params
        expected = request.session.pop(STATE_KEY, None)
        if not expected or not secrets.compare_digest(str(expected), params.get("state", "")):
            await audit(web, user, "admin_consent", "refused", "state mismatch")
            raise PageError(400, "This consent answer cannot be used",
                            "It does not belong to a consent started here (or was already used). "
                            "Start again.")  # fmt: skip
        error = params.get("error")
        if error:
            description = params.get("error_description", "")
            code = (
                description.removeprefix("AADSTS").split(":")[0] if description.startswith("AADSTS") else ""
            )
            text = CONSENT_HELP.get(code, f"Microsoft answered {error!r}.").format(
                callback=web.url(CONSENT_CALLBACK)
            )
            shown = f"AADSTS{code}" if code.isdigit() else error
            result: dict[str, object] = {"ok": False, "code": shown, "text": text}
            await audit(web, user, "admin_consent", "refused", shown)
        else:
            granted = "Consent was granted for the tenant. Run the app registration check to see the " \
                      "permissions in effect (new tokens carry them within a few minutes)."  # fmt: skip
            result = {"ok": params.get("admin_consent", "").lower() == "true", "code": "", "text": granted}
            await audit(web, user, "admin_consent", "ok" if result["ok"] else "failed")
        return render(request, "admin/consent.html", title="Admin consent", result=result,
                      callback=web.url(CONSENT_CALLBACK))  # fmt: skip

    return pages
