"""The control API of subscriptions and notification delivery, for tests (`/_emu/subscriptions`, ...).

Split from `graphemu.graph.subscriptions`, which keeps the Graph routes and re-exports `control_routes`:
these routes are not Graph's, they let a test send lifecycle events, drain the queue and read the delivery
log. `graphemu.control` mounts them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from graphemu import notify
from graphemu.graph.router import Context
from graphemu.graph.subscription_store import to_json


def control_routes(ctx: Context) -> list[BaseRoute]:
    """Control API for tests (mounted by graphemu.control under /_emu/):

    POST /_emu/subscriptions/{id}/lifecycle  {"event": reauthorizationRequired|subscriptionRemoved|missed}
         -> 202 {"sent": bool}; subscriptionRemoved also deletes the subscription
    POST /_emu/notifications/drain           wait until due notifications are attempted -> {"pending": n}
    GET  /_emu/notifications?since=N         the delivery log (handshakes, deliveries, failures, drops)
    GET  /_emu/subscriptions                 every subscription of every app, clientState included
    """
    note = notify.notifier(ctx)

    async def lifecycle(request: Request) -> Response:
        sub = note.store.by_id.get(request.path_params["sub_id"])
        if sub is None:
            return JSONResponse({"error": "unknown subscription"}, status_code=404)
        event = (await request.json()).get("event")
        if event not in notify.LIFECYCLE_EVENTS:
            return JSONResponse(
                {"error": f"event must be one of {list(notify.LIFECYCLE_EVENTS)}"}, status_code=400
            )
        if event == "subscriptionRemoved":
            note.store.remove(sub.id)
        return JSONResponse({"sent": note.lifecycle(sub, event)}, status_code=202)

    async def drain(request: Request) -> Response:
        await notify.drain(ctx)
        return JSONResponse({"pending": len(note.queue)})

    async def log(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse({"value": list(note.log)[since:]})

    async def subscriptions(request: Request) -> Response:
        note.store.purge_expired(ctx.world.clock.now())
        return JSONResponse({"value": [to_json(ctx, s) for s in note.store.by_id.values()]})

    return [
        Route("/_emu/subscriptions/{sub_id}/lifecycle", lifecycle, methods=["POST"]),
        Route("/_emu/notifications/drain", drain, methods=["POST"]),
        Route("/_emu/notifications", log, methods=["GET"]),
        Route("/_emu/subscriptions", subscriptions, methods=["GET"]),
    ]
