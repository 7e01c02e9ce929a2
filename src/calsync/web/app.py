"""The FastAPI application of `calsync serve`: health, readiness, metrics and the pages (/v1 comes next).

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

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from calsync import metrics
from calsync.services import Deployment
from calsync.sync.engine import off_loop

Readiness = Callable[[], Awaitable[list[str]]]
"""The runtime's own readiness: the reasons it is not ready (an empty list when it is)."""
QueueDepth = Callable[[], float | None]
"""Runs waiting (scheduler's pending runs, or Procrastinate's todo jobs); called in a worker thread."""
RequestSync = Callable[[str, bool], Awaitable[str]]
"""(scope, full) -> "queued" / "merged" / "refused": a "sync now" through the runtime."""


def create_app(
    deployment: Deployment,
    *,
    runtime_ready: Readiness,
    queue_depth: QueueDepth,
    request_sync: RequestSync | None = None,
) -> FastAPI:
    """The web application for one process; `deployment` is opened (and closed) by the caller;
    `request_sync` lets pages ask the runtime for a run now (None: pages say the next round will)."""
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

    from calsync.web.pages import mount_pages  # the pages (docs/web.md): sessions, CSRF, headers

    app.state.request_sync = request_sync
    mount_pages(app, deployment)
    return app


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
