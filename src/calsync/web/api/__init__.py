"""The REST API `/v1` (docs/api.md): API keys, Cronofy-style profiles, calendars and events.

`install_api(app, deployment, request_run=...)` mounts it on the service's FastAPI app: the routes of
`api_router` under /v1, the API-key store the `require_scope` dependency reads, the one error shape
for /v1 (errors.py), `/openapi.json` (the API's operations only) and `/docs`, a page that loads nothing
from a third party (docs.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from calsync.graph import GraphClientError
from calsync.services import Deployment
from calsync.services.api_keys import ApiKeys
from calsync.services.unified import ConnectionSource
from calsync.services.unified_events import RequestRun
from calsync.store.apikeys import ApiKeyStore
from calsync.web.api import errors
from calsync.web.api.auth import KEYS_STATE, require_scope
from calsync.web.api.channels import channels_router
from calsync.web.api.docs import docs_page
from calsync.web.api.router import api_router

__all__ = ["RequestRun", "api_router", "install_api", "require_scope"]

API_PREFIX = "/v1"
DESCRIPTION = (
    "calsync's calendar API for Microsoft 365 (Cronofy's semantics): profiles, calendars, events "
    "upserted and deleted by your own event_id. Authenticate with an API key: "
    "`Authorization: Bearer csk_...` (`calsync api-keys create`). Errors: "
    '`{"errors": {field: [{"key": ..., "description": ...}]}}`.'
)


def _in_api(request: Request) -> bool:
    return request.url.path == API_PREFIX or request.url.path.startswith(API_PREFIX + "/")


def install_api(
    app: FastAPI,
    deployment: Deployment,
    *,
    request_run: RequestRun | None = None,
    connection_sources: Sequence[ConnectionSource] | None = None,
) -> None:
    """Mount /v1, its error shape, /openapi.json and /docs on `app` (see `api_router` for the sources)."""
    setattr(app.state, KEYS_STATE, ApiKeys(ApiKeyStore(deployment.store.engine)))
    router = api_router(deployment, request_run=request_run, connection_sources=connection_sources)
    app.include_router(router, prefix=API_PREFIX)
    app.include_router(channels_router(deployment), prefix=API_PREFIX)
    app.add_exception_handler(errors.ApiError, errors.api_error_handler)

    async def on_graph(request: Request, exc: Exception) -> Response:
        if not _in_api(request):
            raise exc  # elsewhere, the server's own 500 (and its log line)
        return await errors.graph_error_handler(request, exc)

    app.add_exception_handler(GraphClientError, on_graph)

    async def on_database(request: Request, exc: Exception) -> Response:
        if not _in_api(request):
            raise exc
        return errors.database_error(exc)

    app.add_exception_handler(SQLAlchemyError, on_database)

    async def on_validation(request: Request, exc: Exception) -> Response:
        if _in_api(request):
            return await errors.validation_handler(request, exc)
        assert isinstance(exc, RequestValidationError)
        return await request_validation_exception_handler(request, exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        if _in_api(request):
            return await errors.http_error_handler(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    document: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not document:
            full = get_openapi(title="calsync API", version="1", description=DESCRIPTION, routes=app.routes)
            paths = full.get("paths", {})
            full["paths"] = {p: item for p, item in paths.items() if p.startswith(API_PREFIX + "/")}
            document.update(full)
            document.setdefault("components", {})["securitySchemes"] = {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key, csk_..."}
            }
            document["security"] = [{"apiKey": []}]
        return document

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            docs_page(openapi()),
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )
