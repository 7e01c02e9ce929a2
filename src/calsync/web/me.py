"""`/me`: a connected person's own status page, and what they may change.

    GET  /me                 last successful sync, the next one, counts, the last error in plain words,
                             a relink button when disconnected; pause/resume; preferences; disconnect
    POST /me/sync            sync now (through the runtime, like the administrators' button)
    POST /me/pause, /me/resume
    POST /me/preferences     opt out of activity types (categories); reminder minutes per type
    POST /me/disconnect      keep or remove calsync's events ("remove" / "keep"); tokens are deleted

Every action names the connection id in its form and is checked against the session's person
(calsync.services.connections.owned): another person's id is answered like an unknown one (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from starlette.requests import Request

from calsync.services import connections as conn
from calsync.services import connstatus
from calsync.services.connsync import connection_scope, disconnect
from calsync.sync.engine import off_loop
from calsync.web.connect import person_of, refused, request_sync, signed_in
from calsync.web.pages import WebContext, flash, pages_router, render, see_other
from calsync.web.users import WebUser

__all__ = ["router"]

ConnectionField = Annotated[str, Form()]
Person = Annotated[WebUser, Depends(signed_in)]


def router(web: WebContext) -> APIRouter:
    pages = pages_router()
    web.add_nav("My calendar", "/me", audience="signed_in")

    @pages.get("/me")
    async def me(request: Request, user: Person) -> Response:
        mine = await off_loop(conn.connections_of, web.deployment, person_of(user))
        if not mine:
            return see_other("/connect")
        if mine[0].status == "pending":
            return see_other("/connect/confirm")
        view = await off_loop(connstatus.personal_status, web.deployment, person_of(user), mine[0].id)
        choices = await _choices(web, view)
        return render(request, "me.html", title="My calendar", view=view, choices=choices)

    @pages.post("/me/sync")
    async def sync_now(request: Request, user: Person, connection: ConnectionField) -> Response:
        return await _act(web, request, user, connection, "sync")

    @pages.post("/me/pause")
    async def pause(request: Request, user: Person, connection: ConnectionField) -> Response:
        return await _act(web, request, user, connection, "pause")

    @pages.post("/me/resume")
    async def resume(request: Request, user: Person, connection: ConnectionField) -> Response:
        return await _act(web, request, user, connection, "resume")

    @pages.post("/me/preferences")
    async def preferences(request: Request, user: Person, connection: ConnectionField) -> Response:
        opt_out, reminders = await _choices_sent(request)
        try:
            await off_loop(lambda: conn.set_preferences(web.deployment, person_of(user), connection,
                                                        opt_out=opt_out, reminders=reminders))  # fmt: skip
        except conn.ConnectionProblem as problem:
            raise refused(problem) from None
        await request_sync(request, connection_scope(connection))
        flash(request, "Saved. Your calendar follows your choices from the next sync.", "success")
        return see_other("/me")

    @pages.post("/me/disconnect")
    async def leave(
        request: Request, user: Person, connection: ConnectionField, events: Annotated[str, Form()]
    ) -> Response:
        if events not in ("keep", "remove"):
            raise refused(conn.ConnectionProblem("bad_choice"))
        try:
            result = await disconnect(
                web.deployment, person_of(user), connection, remove_events=events == "remove"
            )
        except conn.ConnectionProblem as problem:
            raise refused(problem) from None
        removed = f" {result.deleted} events were removed from your calendar." if result else ""
        flash(request, "Disconnected: calsync deleted its access to your calendar." + removed, "success")
        return see_other("/me")

    return pages


async def _choices(web: WebContext, view: connstatus.ConnectionStatusView) -> list[str]:
    """The activity types a person may opt out of: the profile's configured types' categories (without
    any, the categories their feed's events carry: read now, so the page costs one feed download), and
    whatever they chose before, so a choice can always be undone."""
    settings = web.deployment.profile(view.connection.profile).settings
    found = {c for rule in settings.activity_types.values() for c in rule.categories}
    found |= set(view.connection.preferences.get("opt_out", ()))
    found |= set(dict(view.connection.preferences.get("reminders", {})))
    if not settings.activity_types and view.connection.status in ("connected", "paused"):
        try:
            preview = await conn.preview(web.deployment, view.connection, conn.Person(
                view.connection.tenant_id, view.connection.home_account_id))  # fmt: skip
            found |= set(preview.categories)
        except Exception:  # the feed may be down: the page must still load
            return sorted(found)
    return sorted(found)


async def _act(web: WebContext, request: Request, user: WebUser, connection: str, what: str) -> Response:
    """Sync now, pause or resume the person's own connection."""
    person = person_of(user)
    try:
        if what == "pause":
            await off_loop(conn.pause, web.deployment, person, connection)
            flash(request, "Syncing is paused. Your events stay as they are.", "success")
        elif what == "resume":
            record = await off_loop(conn.resume, web.deployment, person, connection)
            await request_sync(request, connection_scope(record.id))
            flash(request, "Syncing resumed.", "success")
        else:
            record = await off_loop(conn.owned, conn.connection_store(web.deployment, keys=False),
                                    person, connection)  # fmt: skip
            if record.status != "connected":
                raise conn.ConnectionProblem("not_connected")
            queued = await request_sync(request, connection_scope(record.id))
            flash(request, "A sync is under way." if queued else "The next round will sync.", "success")
    except conn.ConnectionProblem as problem:
        raise refused(problem) from None
    return see_other("/me")


async def _choices_sent(request: Request) -> tuple[list[str], dict[str, int | None]]:
    """The preferences form: the activity types left out, and reminder minutes per type."""
    form = await request.form()
    opt_out = [str(v) for v in form.getlist("opt_out")]
    reminders: dict[str, int | None] = {}
    for key, value in form.multi_items():
        if key.startswith("reminder:") and str(value).strip():
            text = str(value).strip()
            if not text.isdigit():
                raise refused(conn.ConnectionProblem("bad_reminder"))
            reminders[key.removeprefix("reminder:")] = int(text)
    return opt_out, reminders
