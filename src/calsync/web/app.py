"""The FastAPI application of `calsync serve`: health, readiness, metrics, the pages, /v1 and Graph's hooks.

- `/healthz`: the process is alive and its event loop answers (no dependency is checked: a liveness
  probe that fails on a database blip would restart a healthy process).
- `/readyz`: the state database answers and the runtime (scheduler or job queue) is up; 503 with the
  reasons otherwise, so a load balancer stops sending work to this process.
- `/metrics`: Prometheus text format (calsync.metrics), with scrape-time values: each mailbox's lag
  since its last successful run, and the queue depth.
- the pages (`calsync.web.pages.mount_pages`, docs/web.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from calsync import metrics
from calsync.services import Deployment
from calsync.sync.engine import off_loop
from calsync.web.api import install_api

if TYPE_CHECKING:
    from calsync.web.graphhooks import GraphHooks

Readiness = Callable[[], Awaitable[list[str]]]
"""The runtime's own readiness: the reasons it is not ready (an empty list when it is)."""
QueueDepth = Callable[[], float | None]
"""Runs waiting (scheduler's pending runs, or Procrastinate's todo jobs); called in a worker thread."""
RequestRun = Callable[[str, bool], Awaitable[str]]
"""Ask the runtime for a run of a (profile, mailbox) scope, full or not: "queued", "merged" or "refused"."""


def create_app(
    deployment: Deployment,
    *,
    runtime_ready: Readiness,
    queue_depth: QueueDepth,
    request_run: RequestRun | None = None,
    graph_hooks: GraphHooks | None = None,
) -> FastAPI:
    """The web application for one process; `deployment` is opened (and closed) by the caller.
    `graph_hooks`: Graph's change-notification endpoints (calsync.web.graphhooks), when given."""
    app = FastAPI(
        title="calsync",
        summary="Keeps Microsoft 365 calendars in step with a system of record.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the REST API (/v1) brings its OpenAPI document; health needs none
    )
    collectors = [
        metrics.lag_collector(lambda: _lags(deployment)),
        metrics.gauge_collector("calsync_queue_depth", "Runs waiting to start.", queue_depth),
    ]

    if graph_hooks is not None:
        from calsync.web.graphhooks import subscription_counts

        app.include_router(graph_hooks.router())
        collectors.append(
            metrics.labelled_gauge_collector(
                "calsync_graph_subscriptions", "Graph change-notification subscriptions, by status.",
                "status", lambda: subscription_counts(deployment),
            )
        )  # fmt: skip

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        problems = await _database_problems(deployment) + await runtime_ready()
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    def scrape() -> Response:  # a plain def: FastAPI runs it in a thread, and the collectors read SQL
        body, content_type = metrics.render(collectors)
        return Response(body, media_type=content_type)

    install_api(app, deployment, request_run=_incremental(request_run))  # /v1, /openapi.json, /docs
    from calsync.web.pages import mount_pages  # the pages (docs/web.md): sessions, CSRF, headers

    mount_pages(app, deployment, request_run=request_run)
    return app


def _incremental(request_run: RequestRun | None) -> Callable[[str], Awaitable[None]] | None:
    """The REST API asks for an incremental run of the scope an upsert touched (calsync.services.unified)."""
    if request_run is None:
        return None
    ask = request_run

    async def incremental(scope: str) -> None:
        await ask(scope, False)

    return incremental


def _lags(deployment: Deployment) -> dict[str, float]:
    now = datetime.now(UTC)
    return {
        mailbox: (now - health.last_success).total_seconds()
        for mailbox, health in deployment.store.run_health().items()
        if health.last_success is not None
    }


async def _database_problems(deployment: Deployment) -> list[str]:
    def ping() -> None:
        with deployment.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    try:
        await off_loop(ping)
    except sa.exc.SQLAlchemyError as exc:
        return [f"the state database does not answer ({type(exc).__name__})"]
    return []
