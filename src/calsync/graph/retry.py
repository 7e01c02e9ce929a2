"""When to send a Graph request again, and how long to wait first.

Why not `stamina.retry` itself: stamina's model is followed (a pure backoff hook returning a delay or
False, bounded attempts *and* total time, the last exception let through unchanged), but stamina sleeps with
its own `asyncio.sleep`, and the tests must check that no request leaves before its Retry-After without
really sleeping. So the loop below takes a `Clock` (monotonic + async sleep) that tests replace with a
fake one advancing graphemu's clock.

What is safe to send again (`retry_safe`):
- GET, HEAD, OPTIONS, PUT, DELETE: idempotent by HTTP.
- PATCH: Graph's PATCH sets absolute property values, so repeating one leaves the same state. With If-Match
  a repeat of an applied PATCH answers 412, which the client reports as Indeterminate (see below).
- POST: only when the body carries a `transactionId` (Graph de-duplicates event creates by it, graph-facts
  §4) or the caller marks the request idempotent (e.g. a POST that only reads).

Backoff (`backoff`): a 429 or a 5xx with Retry-After waits exactly Retry-After (fractional seconds too);
without one, exponential backoff with full jitter, capped. A 429 is retried for every method, because
Graph did not run a throttled request. A transport error before sending is retried for every method. An
Indeterminate outcome or a 5xx is retried only when `retry_safe`; otherwise the caller gets Indeterminate.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from calsync.graph.errors import (
    Conflict,
    GraphClientError,
    Indeterminate,
    PreconditionFailed,
    ServerError,
    Throttled,
    TransportError,
    parse_retry_after,
)

__all__ = [
    "Clock",
    "RetryPolicy",
    "SystemClock",
    "backoff",
    "exponential",
    "is_retry_safe",
    "parse_retry_after",
    "retrying",
]

_T = TypeVar("_T")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, 509})  # 501, 505, 507 (quota) will not heal by waiting


class Clock(Protocol):
    """Where the client reads time and waits; tests pass a fake that never really sleeps."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The real clock: `time.monotonic` and `asyncio.sleep`."""

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)`."""
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds and shape of the retries.

    Attributes:
        max_attempts: attempts in all, the first included.
        max_total_seconds: no retry is scheduled that would end later than this after the first attempt.
        initial_backoff: the first exponential delay (seconds) when Graph gave no Retry-After.
        max_backoff: the cap of exponential delays (a Retry-After is never shortened).
        exp_base: growth factor of exponential delays.
    """

    max_attempts: int = 8
    max_total_seconds: float = 300.0
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    exp_base: float = 2.0


def is_retry_safe(method: str, body: Any = None, *, idempotent: bool | None = None) -> bool:
    """Whether sending the request twice leaves the same state as sending it once (module docstring)."""
    if idempotent is not None:
        return idempotent
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return isinstance(body, Mapping) and bool(body.get("transactionId"))


def backoff(
    exc: Exception, attempt: int, *, retry_safe: bool, policy: RetryPolicy, rng: random.Random
) -> float | Literal[False]:
    """The backoff hook: seconds to wait before attempt `attempt + 1`, or False to give up now.

    Pure: decisions depend only on the exception, the attempt number and the policy.
    """
    if isinstance(exc, Throttled):
        hinted: float | None = exc.retry_after
    elif isinstance(exc, TransportError) or (isinstance(exc, Indeterminate) and retry_safe):
        hinted = None
    elif isinstance(exc, ServerError) and retry_safe and exc.status in TRANSIENT_STATUSES:
        hinted = exc.retry_after
    else:
        return False
    return hinted if hinted is not None else exponential(attempt, policy, rng)


def exponential(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """The delay after failed attempt `attempt` (1-based) when Graph gave no Retry-After: exponential,
    capped, with "equal jitter" (uniform between half and all of it: never zero, never above the cap)."""
    ceiling = min(policy.max_backoff, policy.initial_backoff * policy.exp_base ** max(attempt - 1, 0))
    return rng.uniform(ceiling / 2, ceiling)


async def retrying(
    attempt: Callable[[], Awaitable[_T]],
    *,
    retry_safe: bool,
    method: str,
    path: str,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    on_retry: Callable[[Exception, int, float], None] | None = None,
) -> _T:
    """Call `attempt` until it returns, retrying per `backoff` within the policy's bounds.

    The last exception is raised unchanged, with two translations for writes that were not safe to repeat
    or that may already have been applied: a 5xx on an unsafe request becomes Indeterminate, and a 409/412
    answered to a *repeat* of a write whose earlier attempt had an unknown outcome becomes Indeterminate
    (our own first attempt may be what the server now reports as a conflict).
    """
    started = clock.monotonic()
    unknown_outcome = False
    number = 0
    while True:
        number += 1
        try:
            return await attempt()
        except GraphClientError as exc:
            if unknown_outcome and isinstance(exc, Conflict | PreconditionFailed):
                raise Indeterminate(
                    f"{method} repeated after an unknown outcome answered {exc.status}",
                    method=method,
                    path=path,
                ) from exc
            if isinstance(exc, ServerError) and not retry_safe:
                raise Indeterminate(
                    f"{method} answered {exc.status}: the write may have been applied",
                    method=method,
                    path=path,
                ) from exc
            delay = backoff(exc, number, retry_safe=retry_safe, policy=policy, rng=rng)
            elapsed = clock.monotonic() - started
            if delay is False or number >= policy.max_attempts or elapsed + delay > policy.max_total_seconds:
                raise
            if isinstance(exc, Indeterminate | ServerError) and method.upper() != "GET":
                unknown_outcome = True
            if on_retry is not None:
                on_retry(exc, number, delay)
            await clock.sleep(delay)
