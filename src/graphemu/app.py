"""The ASGI app factory: identity platform, Graph v1.0 and the control API in one app.

`create_app(world, config)` is used in-process by tests (with `graphemu.testing.EmulatorTransport`, or
httpx's ASGITransport) and by `graphemu serve` behind uvicorn with TLS. Nothing is built at import time.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from graphemu import control
from graphemu.config import EmulatorConfig
from graphemu.errors import AadError
from graphemu.graph import build_router
from graphemu.graph.http import graph_endpoint
from graphemu.graph.router import Context
from graphemu.identity import routes as identity_routes
from graphemu.pipeline import Pipeline
from graphemu.signing import SigningKey
from graphemu.world import World

GRAPH_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


def create_app(world: World | None = None, config: EmulatorConfig | None = None) -> Starlette:
    """Build the emulator app around a world (a new empty one when None)."""
    world = world or World()
    config = config or EmulatorConfig()
    world.extra.setdefault("signing_key", SigningKey.generate())
    ctx = Context(world=world, config=config)
    pipeline = Pipeline(ctx, build_router())
    routes: list[BaseRoute] = [  # Graph first: it is the hot path, and routes are tried in order
        Route("/v1.0/{path:path}", graph_endpoint, methods=GRAPH_METHODS),
        *identity_routes.build(ctx),
    ]
    if config.control_api:
        routes.extend(control.build(ctx, pipeline))

    async def aad_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AadError)
        return JSONResponse(
            exc.body(world.clock.now()), status_code=exc.status, headers={"Cache-Control": "no-store"}
        )

    app = Starlette(routes=routes, exception_handlers={AadError: aad_error})
    app.state.world = world
    app.state.config = config
    app.state.ctx = ctx
    app.state.pipeline = pipeline
    from graphemu.graph import subscriptions

    subscriptions.install(ctx)
    return app
