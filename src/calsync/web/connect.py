"""`/connect`: a person connects their own calendar (delegated permissions, docs/delegated.md).

    GET  /connect           what calsync does, and a "Sign in with Microsoft" button
    GET  /connect/start     begins the sign-in (PKCE, state, nonce kept server-side, bound to this
                            browser's session) and sends the browser to Microsoft; `?relink=` = a
                            connection of the signed-in person, to connect it again. A GET, like any
                            sign-in link: it only adds a sign-in under way for this browser, which
                            nothing else can finish, and a POST could not redirect to Microsoft under
                            the pages' CSP (`form-action 'self'` applies to a form's redirects too)
    GET  /connect/callback  Microsoft's answer (response_mode=query, so the SameSite=Lax session cookie
                            comes along): redeemed, the person signed in (a new session), then a 303 to
                            a URL without code or state
    GET  /connect/confirm   what will be synced: the feed found, its events, the calendar
    POST /connect/confirm   start syncing (the first sync is queued like a "sync now"), or cancel

The use cases are calsync.services.connections'; this module only maps them to pages. Errors are told in
plain words (`plain_words`), never with what Microsoft sent (it is not echoed into any page).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from calsync.services import connections as conn
from calsync.services.connsync import connection_scope
from calsync.sync.engine import off_loop
from calsync.web.errors import PageError
from calsync.web.pages import WebContext, flash, pages_router, render, see_other, web_context
from calsync.web.sessions import session_id
from calsync.web.users import WebUser, current_user, sign_in, user_required

__all__ = ["CALLBACK", "person_of", "request_sync", "router"]

CALLBACK = "/connect/callback"  # calsync.wiring.CONNECT_CALLBACK
log = logging.getLogger("calsync.web")
signed_in = user_required("/connect")


def person_of(user: WebUser) -> conn.Person:
    """The person a signed-in user is (msal's home_account_id is "<oid>.<tid>")."""
    return conn.Person(user.tenant_id, f"{user.object_id}.{user.tenant_id}")


def redirect_uri(web: WebContext) -> str:
    """The `redirect_uri` setting when it was given, else this site's callback (from `public_url`)."""
    from calsync import wiring

    settings = web.settings
    return (
        settings.redirect_uri
        if "redirect_uri" in settings.model_fields_set
        else web.url(wiring.CONNECT_CALLBACK)
    )


async def request_sync(request: Request, scope: str) -> bool:
    """Ask the runtime for a run of `scope` now; False when this process cannot (the next round will)."""
    ask = web_context(request).request_run
    if ask is None:
        return False
    return bool(await ask(scope, False) != "refused")


def refused(problem: conn.ConnectionProblem) -> PageError:
    status = 404 if isinstance(problem, conn.UnknownConnection) else 400
    return PageError(status, "This could not be done", conn.plain_words(problem.code))


def router(web: WebContext) -> APIRouter:
    pages = pages_router()
    web.add_nav("Connect", "/connect", audience="anonymous")

    @pages.get("/connect")
    async def connect_page(request: Request) -> Response:
        user = current_user(request)
        if user is not None:
            mine = await off_loop(conn.connections_of, web.deployment, person_of(user))
            if mine and mine[0].status == "pending":
                return see_other("/connect/confirm")
            if mine:
                return see_other("/me")
        return render(
            request, "connect.html", title="Connect your calendar", scopes=web.settings.delegated_scopes
        )

    @pages.get("/connect/start")
    async def start(request: Request, relink: str = "") -> RedirectResponse:
        relinking = None
        if relink:
            user = current_user(request)
            if user is None:
                raise refused(conn.UnknownConnection())
            try:
                store = conn.connection_store(web.deployment, keys=False)
                relinking = (await off_loop(conn.owned, store, person_of(user), relink)).id
            except conn.ConnectionProblem as problem:
                raise refused(problem) from None
        user = current_user(request)
        uri = await conn.begin_connect(
            web.deployment,
            session_id(request),
            relink=relinking,
            login_hint=user.username if relinking and user else None,
            redirect_uri=redirect_uri(web),
        )
        return RedirectResponse(uri, status_code=303)

    @pages.get(CALLBACK)
    async def callback(request: Request) -> Response:
        return await _finish(web, request)

    @pages.get("/connect/confirm")
    async def confirm_page(request: Request, user: Annotated[WebUser, Depends(signed_in)]) -> Response:
        mine = await off_loop(conn.connections_of, web.deployment, person_of(user))
        if not mine or mine[0].status != "pending":
            return see_other("/me" if mine else "/connect")
        preview = await conn.preview(web.deployment, mine[0], person_of(user))
        return render(request, "connect_confirm.html", title="Check and confirm", preview=preview,
                      problem=conn.plain_words(preview.problem) if preview.problem else "")  # fmt: skip

    @pages.post("/connect/confirm")
    async def confirm(
        request: Request,
        user: Annotated[WebUser, Depends(signed_in)],
        connection: Annotated[str, Form()],
        action: Annotated[str, Form()] = "confirm",
    ) -> Response:
        person = person_of(user)
        try:
            if action == "cancel":
                from calsync.services.connsync import disconnect

                await disconnect(web.deployment, person, connection, remove_events=False)
                flash(request, "Nothing was connected; calsync forgot your sign-in.")
                return see_other("/")
            record = await off_loop(conn.confirm, web.deployment, person, connection)
        except conn.ConnectionProblem as problem:
            raise refused(problem) from None
        queued = await request_sync(request, connection_scope(record.id))
        flash(request, "Connected. Your first sync is under way." if queued else
              "Connected. Your calendar will be synced within the next round.", "success")  # fmt: skip
        return see_other("/me")

    return pages


async def _finish(web: WebContext, request: Request) -> Response:
    """Microsoft's answer: redeem it, sign the person in (a new session), 303 to a clean URL."""
    params = {k: v for k, v in request.query_params.items() if k in ("code", "state", "error",
              "session_state", "client_info")}  # fmt: skip
    try:
        preview = await conn.finish_connect(web.deployment, session_id(request), params)
    except conn.SignInRefused as problem:
        log.warning("calsync.web.connect_refused", extra={"reason": problem.code})
        raise PageError(400, "Your calendar was not connected", conn.plain_words(problem.code)) from None
    record = preview.connection
    oid = record.home_account_id.split(".", 1)[0]
    before = current_user(request)
    same = before is not None and (before.tenant_id, before.object_id) == (record.tenant_id, oid)
    admin = same and before is not None and before.is_admin
    sign_in(request, WebUser(record.tenant_id, oid, "", record.mailbox, is_admin=admin))
    if record.status == "pending":
        return see_other("/connect/confirm")
    flash(request, "Your calendar is connected again.", "success")
    if record.status == "connected":
        await request_sync(request, connection_scope(record.id))
    return see_other("/me")
