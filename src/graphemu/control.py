"""The control API under `/_emu/`: seed, inspect, request log, counters, faults, fake clock, tokens.

It exists for tests, benchmarks and the demo, and is enabled only when `EmulatorConfig.control_api` is
true (`graphemu serve --no-control` turns it off). It is not part of Graph and never shares its routes.

    POST   /_emu/seed                 body: a seed document (see graphemu.seed) added to the world
    GET    /_emu/state                counts of tenants, apps, users, groups, calendars, events
    GET    /_emu/events/{user}        every event of a mailbox, as stored (props, extended properties)
    GET    /_emu/requests?since=N     the request log (method, path, status, mailbox, outcome, body)
    DELETE /_emu/requests             clear the request log
    GET    /_emu/counters             retry-after violations, 400s, throttles, faults, max in flight
    POST   /_emu/counters/reset
    GET    /_emu/faults ; PUT /_emu/faults   the FaultConfig as JSON (partial updates allowed)
    PUT    /_emu/limits               mailboxConcurrency, mailboxWindowRequests, subscriptionMaxMinutes, ...
    GET    /_emu/clock ; POST /_emu/clock/advance {"seconds": N}
    POST   /_emu/tokens               mint an access token {"clientId", "user"?, "scopes"?, "roles"?}
    POST   /_emu/delta/invalidate     {"user": id or upn} (none: all mailboxes): saved delta tokens answer 410
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from graphemu.graph import subscriptions
from graphemu.graph.router import Context
from graphemu.pipeline import Pipeline
from graphemu.seed import SeedError, world_from_seed
from graphemu.signing import access_token_claims

_LIMIT_FIELDS = {
    "mailboxConcurrency": "mailbox_concurrency",
    "mailboxWindowRequests": "mailbox_window_requests",
    "mailboxWindowSeconds": "mailbox_window_seconds",
    "throttleRetryAfter": "throttle_retry_after",
    "subscriptionMaxMinutes": "subscription_max_minutes",
    "notificationBatch": "notification_batch",
    "notificationDuplicateRate": "notification_duplicate_rate",
    "notificationReorder": "notification_reorder",
    "enforceIfMatch": "enforce_if_match",
    "duplicateTransactionId": "duplicate_transaction_id",
    "unknownUserError": "unknown_user_error",
    "refreshTokenMode": "refresh_token_mode",
    "accessTokenSeconds": "access_token_seconds",
    "defaultPageSize": "default_page_size",
    "allowHttpNotificationUrl": "allow_http_notification_url",
    "subscriptionsPerMailbox": "subscriptions_per_mailbox",
    "deltaOutOfWindowRemovedNoise": "delta_out_of_window_removed_noise",
    "deltaInvalidTokenStatus": "delta_invalid_token_status",
    "batchShuffleResponses": "batch_shuffle_responses",
    "batchRejectMixedSequencing": "batch_reject_mixed_sequencing",
}


def build(ctx: Context, pipeline: Pipeline) -> list[BaseRoute]:
    """The control routes, bound to one world and pipeline."""
    world, config = ctx.world, ctx.config

    async def seed(request: Request) -> Response:
        try:
            world_from_seed(await request.json(), world)
        except SeedError as exc:
            return JSONResponse({"problems": exc.problems}, status_code=400)
        return JSONResponse(_state(), status_code=201)

    def _state() -> dict[str, int]:
        return {
            "tenants": len(world.tenants),
            "apps": len(world.apps),
            "users": len(world.users),
            "groups": len(world.groups),
            "calendars": sum(len(c) for c in world.calendars.values()),
            "events": sum(len(e) for e in world.events.values()),
        }

    async def state(request: Request) -> Response:
        return JSONResponse(_state())

    async def events(request: Request) -> Response:
        user = world.find_user(request.path_params["user"])
        if user is None:
            return JSONResponse({"error": "unknown user"}, status_code=404)
        items = [
            {
                "id": e.id,
                "calendarId": e.calendar_id,
                "changeKey": e.change_key,
                "transactionId": e.transaction_id,
                "props": e.props,
                "extended": e.extended,
                "start": e.start_utc.isoformat(),
                "end": e.end_utc.isoformat(),
                "cancelled": sorted(e.cancelled),  # a series' cancelled occurrences (original starts, UTC)
                "exceptions": sorted(e.overrides),  # its changed ones
            }
            for e in world.events.get(user.id, {}).values()
        ]
        return JSONResponse({"value": items})

    async def requests(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        if request.method == "DELETE":
            pipeline.log.clear()
            return Response(status_code=204)
        return JSONResponse({"value": [dataclasses.asdict(e) for e in pipeline.log if e.seq > since]})

    async def counters(request: Request) -> Response:
        return JSONResponse(dataclasses.asdict(world.counters))

    async def counters_reset(request: Request) -> Response:
        world.counters = type(world.counters)()
        return JSONResponse(dataclasses.asdict(world.counters))

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            body: dict[str, Any] = await request.json()
            unknown = set(body) - {f.name for f in dataclasses.fields(config.faults)}
            if unknown:
                return JSONResponse({"error": f"unknown fault settings: {sorted(unknown)}"}, status_code=400)
            for name, value in body.items():
                setattr(config.faults, name, tuple(value) if isinstance(value, list) else value)
            if "seed" in body:
                pipeline.reseed(int(body["seed"]))
        return JSONResponse(dataclasses.asdict(config.faults))

    async def limits(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        unknown = set(body) - set(_LIMIT_FIELDS)
        if unknown:
            return JSONResponse({"error": f"unknown limits: {sorted(unknown)}"}, status_code=400)
        for name, value in body.items():
            setattr(config, _LIMIT_FIELDS[name], value)
        return JSONResponse({k: getattr(config, v) for k, v in _LIMIT_FIELDS.items()})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            world.clock.advance(float((await request.json())["seconds"]))
        return JSONResponse({"now": world.clock.now().isoformat(), "offset": world.clock.offset})

    async def tokens(request: Request) -> Response:
        body = await request.json()
        app = world.apps.get(body.get("clientId", ""))
        if app is None:
            return JSONResponse({"error": "unknown clientId"}, status_code=400)
        user = world.find_user(body["user"]) if body.get("user") else None
        claims = access_token_claims(
            tenant_id=app.tenant_id,
            client_id=app.client_id,
            now=world.clock.time(),
            lifetime=int(body.get("lifetime", config.access_token_seconds)),
            roles=body.get("roles", sorted(app.application_permissions)),
            scopes=body.get("scopes"),
            user_id=user.id if user else None,
            upn=user.user_principal_name if user else None,
        )
        return JSONResponse({"access_token": world.extra["signing_key"].sign(claims), "claims": claims})

    async def delta_invalidate(request: Request) -> Response:
        body = await request.json()
        who = body.get("user")
        user = world.find_user(who) if who else None
        if who and user is None:
            return JSONResponse({"error": f"unknown user {who!r}"}, status_code=404)
        epochs: dict[str, int] = world.extra.setdefault("delta_epoch", {})
        key = user.id if user else "*"  # no user: every mailbox's tokens
        epochs[key] = epochs.get(key, 0) + 1
        return Response(status_code=204)

    return [
        Route("/_emu/seed", seed, methods=["POST"]),
        Route("/_emu/state", state, methods=["GET"]),
        Route("/_emu/events/{user}", events, methods=["GET"]),
        Route("/_emu/requests", requests, methods=["GET", "DELETE"]),
        Route("/_emu/counters", counters, methods=["GET"]),
        Route("/_emu/counters/reset", counters_reset, methods=["POST"]),
        Route("/_emu/faults", faults, methods=["GET", "PUT"]),
        Route("/_emu/limits", limits, methods=["PUT"]),
        Route("/_emu/clock", clock, methods=["GET"]),
        Route("/_emu/clock/advance", clock, methods=["POST"]),
        Route("/_emu/tokens", tokens, methods=["POST"]),
        Route("/_emu/delta/invalidate", delta_invalidate, methods=["POST"]),
        *subscriptions.control_routes(ctx),
    ]
