"""The REST API's one error shape, Cronofy's: `{"errors": {field: [{"key": ..., "description": ...}]}}`.

Every error answer of `/v1` has this body: validation (422, one entry per field, the field named by its
dotted path, e.g. `start` or `conferencing.profile_id`), authentication (401, field `authorization`),
scope (403, field `scope`), unknown resources (404), read-only calendars (403/422) and Graph failures
(502/503, field `graph`). `key` is a stable machine-readable code (`errors.required`, `errors.forbidden`,
...), `description` is for people. Nothing secret is ever put in either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorItem(BaseModel):
    key: str = Field(description="A stable code, e.g. errors.required or errors.readonly_calendar.")
    description: str = Field(description="What went wrong, for people.")


class ErrorBody(BaseModel):
    """The body of every error answer of /v1."""

    errors: dict[str, list[ErrorItem]]


class ApiError(Exception):
    """An error answer: status, field and key; raised by the routes, rendered by `api_error_handler`."""

    def __init__(
        self,
        status: int,
        field: str,
        key: str,
        description: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status, self.field, self.key, self.description = status, field, key, description
        self.headers = dict(headers or {})


def error_body(field: str, key: str, description: str) -> dict[str, Any]:
    return {"errors": {field: [{"key": key, "description": description}]}}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route documents, for its OpenAPI entry."""
    return {s: {"model": ErrorBody, "description": _REASONS.get(s, "Error")} for s in statuses}


_REASONS = {
    401: "No API key, or not a valid one (see WWW-Authenticate).",
    403: "The key lacks the scope, or the calendar is read-only.",
    404: "No such profile, calendar or event for this key.",
    422: "The request is not valid; each field's problems are listed.",
    502: "Microsoft Graph answered with an error.",
    503: "Microsoft Graph could not be reached, or throttled us; retry later.",
}


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.field, exc.key, exc.description), exc.status, headers=exc.headers)


def validation_items(errors: Sequence[Any]) -> dict[str, list[dict[str, str]]]:
    """Pydantic's errors per field, by dotted path without the `body`/`query` location."""
    out: dict[str, list[dict[str, str]]] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        field = ".".join(loc) or "request"
        kind = str(error.get("type", "invalid"))
        key = "errors.required" if kind == "missing" else f"errors.{kind.replace('_', '.')}"
        out.setdefault(field, []).append({"key": key, "description": str(error.get("msg", "invalid"))})
    return out


async def validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"errors": validation_items(exc.errors())}, 422)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers under /v1 (404 for an unknown path, 405) in the same shape."""
    assert isinstance(exc, StarletteHTTPException)
    key = {404: "errors.not_found", 405: "errors.method_not_allowed"}.get(exc.status_code, "errors.http")
    return JSONResponse(error_body("request", key, str(exc.detail)), exc.status_code, headers=exc.headers)


async def graph_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Graph's failures while answering a read: 503 (retry later, with Retry-After when Graph gave one)
    when Graph was throttling, down or unreachable; 502 for any other answer it gave. The text names
    Graph's error code, never a token or a URL with secrets."""
    from calsync.graph import (
        AuthError,
        GraphClientError,
        HTTPStatusError,
        Indeterminate,
        ServerError,
        Throttled,
        TransportError,
    )

    assert isinstance(exc, GraphClientError)
    headers: dict[str, str] = {}
    if isinstance(exc, Throttled | ServerError | TransportError | Indeterminate):
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            headers["Retry-After"] = str(max(1, round(retry_after)))
        text = "Microsoft Graph is unavailable or throttling; retry later"
        return JSONResponse(error_body("graph", "errors.graph_unavailable", text), 503, headers=headers)
    if isinstance(exc, AuthError):
        text = "calsync could not sign in to Microsoft Graph (see the service's logs)"
    elif isinstance(exc, HTTPStatusError):
        text = f"Microsoft Graph answered {exc.status} {exc.code}".strip()
    else:
        text = "Microsoft Graph failed"
    return JSONResponse(error_body("graph", "errors.graph", text), 502)


def database_error(exc: Exception) -> JSONResponse:
    """The state database could not take the request (busy beyond its timeout, or down): 503, to be
    retried; nothing was accepted, so nothing is lost. The exception's text (SQL, paths) is not shown."""
    text = "the service's database is busy or unavailable; nothing was stored, retry shortly"
    return JSONResponse(error_body("request", "errors.unavailable", text), 503, headers={"Retry-After": "1"})
