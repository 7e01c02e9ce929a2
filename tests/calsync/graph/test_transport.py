"""Transport concerns: request ids, logging without secrets, the token's host, TLS settings."""

from __future__ import annotations

import logging
import ssl
import uuid
from pathlib import Path

import httpx
import pytest

from calsync.graph import GraphClientError, NotFound
from calsync.graph.transport import build_http_client, loggable_path, transport_error

from .conftest import GRAPH, graph_error_response, mock_client


async def test_client_request_id_on_every_request() -> None:
    """Every request carries a uuid4 client-request-id, a new one per logical request."""
    ids: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ids.append(request.headers["client-request-id"])
        return httpx.Response(200, json={})

    async with mock_client(handler) as graph:
        await graph.request("GET", "/users/a/events")
        await graph.request("GET", "/users/a/events")
    assert len(set(ids)) == 2
    assert all(uuid.UUID(i).version == 4 for i in ids)


async def test_errors_keep_graph_request_id() -> None:
    """An error raised to the caller carries Graph's request-id and our client-request-id."""

    def handler(request: httpx.Request) -> httpx.Response:
        response = graph_error_response(404, "ErrorItemNotFound")
        response.headers["client-request-id"] = request.headers["client-request-id"]
        return response

    async with mock_client(handler) as graph:
        with pytest.raises(NotFound) as info:
            await graph.request("GET", "/users/a/events/x")
    assert info.value.request_id == "rid-404"
    assert info.value.client_request_id is not None


async def test_logs_have_no_token_or_query_values(caplog: pytest.LogCaptureFixture) -> None:
    """The request log has event names and fields but no Authorization header, token or query values."""
    answers = [
        graph_error_response(429, "TooManyRequests", headers={"Retry-After": "1"}),
        httpx.Response(200),
    ]
    caplog.set_level(logging.DEBUG, logger="calsync.graph")
    async with mock_client(lambda r: answers.pop(0)) as graph:
        await graph.request("GET", "/users/a/events", params={"$filter": "subject eq 'secret-subject'"})
    names = [r.getMessage() for r in caplog.records]
    assert names.count("calsync.graph.request") == 2
    assert "calsync.graph.retry_scheduled" in names
    record = next(r for r in caplog.records if r.getMessage() == "calsync.graph.request")
    assert record.path == "/users/a/events?$filter=*"  # type: ignore[attr-defined]
    assert record.status == 429  # type: ignore[attr-defined]
    dumped = " ".join(str(vars(r)) for r in caplog.records)
    assert "Bearer" not in dumped
    assert "tok-1" not in dumped
    assert "secret-subject" not in dumped


async def test_token_never_sent_to_another_host() -> None:
    """A link to another host is refused before the token is attached."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={})

    async with mock_client(handler) as graph:
        with pytest.raises(GraphClientError, match="refusing"):
            await graph.request("GET", "https://evil.example.com/v1.0/users")
    assert calls == []


def test_transport_errors_split_by_whether_anything_was_sent() -> None:
    """Connect failures are TransportError (nothing sent); read timeouts and resets are Indeterminate."""
    request = httpx.Request("POST", f"{GRAPH}/users/a/events")
    from calsync.graph import Indeterminate, TransportError

    assert isinstance(transport_error(httpx.ConnectError("x", request=request), "POST", "/p"), TransportError)
    assert isinstance(transport_error(httpx.PoolTimeout("x", request=request), "POST", "/p"), TransportError)
    assert isinstance(transport_error(httpx.ReadTimeout("x", request=request), "POST", "/p"), Indeterminate)
    assert isinstance(
        transport_error(httpx.RemoteProtocolError("x", request=request), "POST", "/p"), Indeterminate
    )


def test_loggable_path_drops_query_values() -> None:
    """Only query names survive, and the base path is stripped."""
    url = httpx.URL(f"{GRAPH}/users/a/calendarView/delta?$deltatoken=SECRET&startDateTime=x")
    assert loggable_path(url, "/v1.0") == "/users/a/calendarView/delta?$deltatoken=*&startDateTime=*"


async def test_ca_path_becomes_ssl_context(tmp_path: Path) -> None:
    """A CA bundle path is turned into an SSLContext (httpx 0.28 deprecates path strings)."""
    from graphemu.tls import ensure_tls

    files = ensure_tls(tmp_path)
    client = build_http_client(base_url=GRAPH, auth=httpx.Auth(), verify=str(files.ca_cert))
    await client.aclose()
    from calsync.graph.transport import _ssl_context

    assert isinstance(_ssl_context(files.ca_cert), ssl.SSLContext)
