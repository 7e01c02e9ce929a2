"""Retries: which requests are repeated, how long the client waits, and the bounds (no real sleeping)."""

from __future__ import annotations

import itertools
import random

import httpx
import pytest

from calsync.graph import (
    Conflict,
    Indeterminate,
    PreconditionFailed,
    RetryPolicy,
    ServerError,
    Throttled,
    TransportError,
    Unauthorized,
)
from calsync.graph.errors import BadRequest
from calsync.graph.retry import backoff, exponential, is_retry_safe

from .conftest import FakeClock, StaticTokens, fast_policy, graph_error_response, mock_client

EVENTS = "/users/adele@contoso.onmicrosoft.com/events"


@pytest.mark.parametrize(
    ("method", "body", "idempotent", "safe"),
    [
        ("GET", None, None, True),
        ("DELETE", None, None, True),
        ("PATCH", {"subject": "x"}, None, True),
        ("PUT", b"x", None, True),
        ("POST", {"subject": "x"}, None, False),
        ("POST", {"subject": "x", "transactionId": "tx-1"}, None, True),
        ("POST", {"subject": "x", "transactionId": ""}, None, False),
        ("POST", None, True, True),
        ("GET", None, False, False),
    ],
)
def test_retry_safety(method: str, body: object, idempotent: bool | None, safe: bool) -> None:
    """Idempotent methods and creates carrying a transactionId are safe to repeat; other POSTs are not."""
    assert is_retry_safe(method, body, idempotent=idempotent) is safe


def test_backoff_hook_decisions() -> None:
    """The hook returns Retry-After when given, exponential delays otherwise, False for the rest."""
    policy, rng = RetryPolicy(initial_backoff=1.0, max_backoff=8.0), random.Random(0)
    throttled = Throttled(429)
    throttled.retry_after = 2.128
    assert backoff(throttled, 1, retry_safe=False, policy=policy, rng=rng) == 2.128
    unavailable = ServerError(503)
    unavailable.retry_after = 0.249
    assert backoff(unavailable, 1, retry_safe=True, policy=policy, rng=rng) == 0.249
    assert backoff(ServerError(507), 1, retry_safe=True, policy=policy, rng=rng) is False
    assert backoff(Indeterminate("x"), 1, retry_safe=False, policy=policy, rng=rng) is False
    assert 0.5 <= backoff(TransportError("x"), 1, retry_safe=False, policy=policy, rng=rng) <= 1.0
    assert backoff(BadRequest(400), 1, retry_safe=True, policy=policy, rng=rng) is False
    assert backoff(Conflict(409), 1, retry_safe=True, policy=policy, rng=rng) is False


def test_exponential_grows_with_jitter_and_cap() -> None:
    """Delays double per attempt, are jittered within [half, full], and never exceed the cap."""
    policy, rng = RetryPolicy(initial_backoff=0.5, max_backoff=4.0), random.Random(3)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delay = exponential(attempt, policy, rng)
        assert ceiling / 2 <= delay <= ceiling


async def test_retry_after_is_waited_exactly() -> None:
    """A 429 with Retry-After "2.128", then a 503 with "0.249": exactly those waits, then success."""
    answers = [
        graph_error_response(429, "TooManyRequests", headers={"Retry-After": "2.128"}),
        graph_error_response(503, "ServiceUnavailable", headers={"Retry-After": "0.249"}),
        httpx.Response(200, json={"value": []}),
    ]
    clock = FakeClock()
    async with mock_client(lambda request: answers.pop(0), clock=clock) as graph:
        response = await graph.request("GET", EVENTS)
    assert response.status_code == 200
    assert clock.sleeps == [pytest.approx(2.128), pytest.approx(0.249)]


async def test_no_request_leaves_before_retry_after() -> None:
    """With the fake clock, each attempt is sent only after the previous Retry-After has elapsed."""
    sent: list[float] = []
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock.monotonic())
        if len(sent) < 4:
            return graph_error_response(429, "ApplicationThrottled", headers={"Retry-After": "1.5"})
        return httpx.Response(200, json={})

    async with mock_client(handler, clock=clock) as graph:
        await graph.request("GET", EVENTS)
    assert [b - a for a, b in itertools.pairwise(sent)] == [pytest.approx(1.5)] * 3


async def test_exponential_backoff_without_retry_after() -> None:
    """5xx without Retry-After on a GET: jittered exponential delays, growing."""
    answers = [graph_error_response(502, "BadGateway") for _ in range(3)] + [httpx.Response(200, json={})]
    clock = FakeClock()
    async with mock_client(
        lambda r: answers.pop(0), clock=clock, retry=fast_policy(initial_backoff=1.0)
    ) as graph:
        await graph.request("GET", EVENTS)
    assert len(clock.sleeps) == 3
    for attempt, delay in enumerate(clock.sleeps, start=1):
        assert 2 ** (attempt - 1) / 2 <= delay <= 2 ** (attempt - 1)


async def test_post_without_transaction_id_is_not_repeated_after_timeout() -> None:
    """A create without transactionId that times out after sending raises Indeterminate, sent once."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    async with mock_client(handler) as graph:
        with pytest.raises(Indeterminate):
            await graph.request("POST", EVENTS, json={"subject": "x"})
    assert len(calls) == 1


async def test_post_with_transaction_id_is_repeated_after_reset() -> None:
    """A create carrying a transactionId is sent again after a reset, with the same client-request-id."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return httpx.Response(201, json={"id": "E1"})

    async with mock_client(handler) as graph:
        response = await graph.request("POST", EVENTS, json={"subject": "x", "transactionId": "tx"})
    assert response.json() == {"id": "E1"}
    assert len(calls) == 2
    assert calls[0].headers["client-request-id"] == calls[1].headers["client-request-id"]


async def test_unsafe_post_5xx_is_indeterminate() -> None:
    """A 5xx to a create without transactionId may hide an applied write: Indeterminate, no retry."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return graph_error_response(503, "ServiceUnavailable")

    async with mock_client(handler) as graph:
        with pytest.raises(Indeterminate) as info:
            await graph.request("POST", EVENTS, json={"subject": "x"})
    assert isinstance(info.value.__cause__, ServerError)
    assert len(calls) == 1


async def test_throttled_post_is_repeated() -> None:
    """A 429 means Graph did not run the request, so even an unsafe POST is sent again after Retry-After."""
    answers = [
        graph_error_response(429, "TooManyRequests", headers={"Retry-After": "1"}),
        httpx.Response(201),
    ]
    async with mock_client(lambda r: answers.pop(0)) as graph:
        assert (await graph.request("POST", EVENTS, json={"subject": "x"})).status_code == 201


async def test_connect_failure_is_repeated_for_any_method() -> None:
    """A connect failure sent nothing, so even an unsafe POST is tried again."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201)

    async with mock_client(handler) as graph:
        assert (await graph.request("POST", EVENTS, json={"subject": "x"})).status_code == 201
    assert len(calls) == 3


async def test_attempts_are_bounded() -> None:
    """After max_attempts the last error is raised unchanged."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return graph_error_response(429, "TooManyRequests", headers={"Retry-After": "1"})

    async with mock_client(handler, retry=fast_policy(max_attempts=4)) as graph:
        with pytest.raises(Throttled):
            await graph.request("GET", EVENTS)
    assert len(calls) == 4


async def test_total_time_is_bounded() -> None:
    """No retry beyond max_total_seconds: a 120 s Retry-After with a 60 s budget fails at once."""
    clock = FakeClock()
    answer = graph_error_response(429, "TooManyRequests", headers={"Retry-After": "120"})
    async with mock_client(lambda r: answer, clock=clock, retry=fast_policy(max_total_seconds=60)) as graph:
        with pytest.raises(Throttled) as info:
            await graph.request("GET", EVENTS)
    assert info.value.retry_after == 120
    assert clock.sleeps == []


async def test_patch_conflict_after_unknown_outcome_is_indeterminate() -> None:
    """A PATCH repeated after a timeout that answers 412 may meet its own first attempt: Indeterminate."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return graph_error_response(412, "ErrorIrresolvableConflict")

    async with mock_client(handler) as graph:
        with pytest.raises(Indeterminate) as info:
            await graph.request(
                "PATCH", f"{EVENTS}/E1", json={"subject": "y"}, headers={"If-Match": 'W/"ck"'}
            )
    assert isinstance(info.value.__cause__, PreconditionFailed)


async def test_plain_412_is_precondition_failed() -> None:
    """A 412 on a first attempt is a real conflict: PreconditionFailed, not retried."""
    async with mock_client(lambda r: graph_error_response(412, "ErrorIrresolvableConflict")) as graph:
        with pytest.raises(PreconditionFailed):
            await graph.request("PATCH", f"{EVENTS}/E1", json={}, headers={"If-Match": 'W/"ck"'})


async def test_401_refreshes_once() -> None:
    """An expired token (401) makes the client get a fresh token once and resend; success after that."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer tok-1":
            return graph_error_response(401, "InvalidAuthenticationToken", "Access token has expired")
        return httpx.Response(200, json={})

    tokens = StaticTokens()
    async with mock_client(handler, tokens=tokens) as graph:
        await graph.request("GET", EVENTS)
        await graph.request("GET", EVENTS)
    assert seen == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]
    assert tokens.calls.count(True) == 1


async def test_persistent_401_is_unauthorized() -> None:
    """If the fresh token is refused too, Unauthorized is raised (no loop of refreshes)."""
    tokens = StaticTokens()
    async with mock_client(
        lambda r: graph_error_response(401, "InvalidAuthenticationToken"), tokens=tokens
    ) as g:
        with pytest.raises(Unauthorized):
            await g.request("GET", EVENTS)
    assert tokens.calls.count(True) == 1
