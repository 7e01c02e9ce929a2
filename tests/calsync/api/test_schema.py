"""Property-based tests generated from the API's own OpenAPI document (schemathesis): for every operation,
requests made from its schema (with a valid key, and often a real calendar id) never get a 5xx, and every
answer matches the document: its status, content type, headers and body schema.

The app runs as `calsync serve` runs it (the in-process runtime, so accepted upserts are really written to
graphemu over TLS), on an event loop of its own in a thread; each generated request goes to it through
httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS

from tests.calsync.api.conftest import ApiTenant, start_tenant

CHECKED = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


@dataclass
class Served:
    """The service on a loop of its own; `call` sends one request to it and waits for the answer."""

    loop: asyncio.AbstractEventLoop
    http: httpx.AsyncClient
    headers: dict[str, str]
    calendars: list[str]
    tenant: ApiTenant

    def call(self, **kwargs: Any) -> httpx.Response:
        future: Future[httpx.Response] = asyncio.run_coroutine_threadsafe(
            self.http.request(**kwargs), self.loop
        )
        return future.result(timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from calsync.runtime.embedded import EmbeddedRuntime
    from calsync.services import open_deployment
    from calsync.services.api_keys import ApiKeys
    from calsync.settings import load_settings
    from calsync.store.apikeys import ApiKeyStore
    from calsync.web.app import create_app

    folder = tmp_path_factory.mktemp("schema")
    tenant, server = start_tenant(folder)
    feed = folder / "feed.ics"
    feed.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stack = AsyncExitStack()

    async def start() -> Served:
        deployment = await stack.enter_async_context(
            open_deployment(load_settings(tenant.config(folder, feed)))
        )
        runtime = EmbeddedRuntime(deployment)
        app = create_app(
            deployment, runtime_ready=_ready, queue_depth=lambda: 0.0, request_run=runtime.request_run
        )
        runtime.start()
        stack.push_async_callback(runtime.stop, 10)
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://calsync.test")
        )
        key = ApiKeys(ApiKeyStore(deployment.store.engine)).create("schemathesis", ["admin"]).key
        headers = {"Authorization": f"Bearer {key}"}
        listed = (await http.get("/v1/calendars", headers=headers)).json()["calendars"]
        return Served(loop, http, headers, [c["calendar_id"] for c in listed], tenant)

    result = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=120)
    yield result
    asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(timeout=120)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)
    server.stop()


async def _ready() -> list[str]:
    return []


@pytest.fixture(scope="module")
def api_schema(served: Served) -> Any:
    document = served.call(method="GET", url="/openapi.json").json()
    return schemathesis.openapi.from_dict(document)


OPERATIONS = ("listProfiles", "listCalendars", "upsertEvent", "deleteEvent", "readEvents")


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_every_operation_answers_as_documented(operation_id: str, api_schema: Any, served: Served) -> None:
    (operation,) = [
        op
        for op in (r.ok() for r in api_schema.get_all_operations())
        if op.definition.raw.get("operationId") == operation_id
    ]
    checks = [c for c in CHECKS.get_all() if c.__name__ in CHECKED]

    @given(case=operation.as_strategy())
    @settings(suppress_health_check=list(HealthCheck), deadline=None)
    def answers(case: Any) -> None:
        if "calendar_id" in (case.path_parameters or {}):
            # half the cases name a real calendar (a generated id is almost never one)
            chosen = hash(repr(case.body)) % (2 * len(served.calendars))
            if chosen < len(served.calendars):
                case.path_parameters["calendar_id"] = served.calendars[chosen]
        kwargs = case.as_transport_kwargs(base_url="http://calsync.test", headers=served.headers)
        sent = {
            k: v for k, v in kwargs.items() if k in ("method", "url", "headers", "params", "json", "content")
        }
        response = served.call(**sent)
        case.validate_response(response, checks=checks)

    answers()


def test_the_checks_exist() -> None:
    """The check names above are schemathesis's (a rename would silently check nothing)."""
    names = {c.__name__ for c in CHECKS.get_all()}
    assert set(CHECKED) <= names
