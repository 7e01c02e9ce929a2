"""Limits: per-mailbox concurrency (batches hold every slot), pauses per mailbox, the global rate."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from calsync.graph import BatchItem, MailboxLimiter, Throttled, mailbox_key
from calsync.graph.limiter import RateLimiter, WeightedSemaphore

from .conftest import FakeClock, graph_error_response, mock_client


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/users/Adele@Contoso.com/events", "adele@contoso.com"),
        ("users/ABC-id/calendarView?x=1", "abc-id"),
        ("/v1.0/users/adele%40contoso.com/events/X", "adele@contoso.com"),
        ("https://graph.microsoft.com/v1.0/users/u1/events?$skip=10", "u1"),
        ("/me/events", "me"),
        ("/users", None),
        ("/subscriptions", None),
        ("/$batch", None),
        ("/groups/g/transitiveMembers", None),
    ],
)
def test_mailbox_key(path: str, key: str | None) -> None:
    """The mailbox is read from /users/{key}/... (lower-cased, decoded) or /me; other paths have none."""
    assert mailbox_key(path) == key


async def test_weighted_semaphore_is_fifo_for_batches() -> None:
    """A waiting batch (all units) is not overtaken by later single requests."""
    semaphore = WeightedSemaphore(4)
    order: list[str] = []
    await semaphore.acquire(1)

    async def take(name: str, weight: int) -> None:
        units = await semaphore.acquire(weight)
        order.append(name)
        await asyncio.sleep(0)
        semaphore.release(units)

    tasks = [asyncio.create_task(take("batch", 4)), asyncio.create_task(take("single", 1))]
    await asyncio.sleep(0)
    assert order == []  # the batch waits for the held unit; the single waits behind the batch
    semaphore.release(1)
    await asyncio.gather(*tasks)
    assert order == ["batch", "single"]
    assert semaphore.max_in_use == 4
    assert semaphore.in_use == 0


async def test_weighted_semaphore_cancellation_releases() -> None:
    """A cancelled waiter leaves no units taken and does not block the queue."""
    semaphore = WeightedSemaphore(2)
    await semaphore.acquire(2)
    waiter = asyncio.create_task(semaphore.acquire(2))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    semaphore.release(2)
    assert await semaphore.acquire(1) == 1
    assert semaphore.in_use == 1


async def test_rate_limiter_spaces_requests() -> None:
    """At 10 requests/s with a burst of 2, the 3rd-5th requests wait 0.1 s each."""
    clock = FakeClock()
    limiter = RateLimiter(10, burst=2, clock=clock)
    for _ in range(5):
        await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(0.3)


async def test_a_new_rate_applies_from_now_on() -> None:
    """A worker's share of the app's budget changes as workers come and go: at 10/s then 2/s (burst 2),
    the bucket spent at the old rate refills at the new one."""
    clock = FakeClock()
    limiter = RateLimiter(10, burst=2, clock=clock)
    for _ in range(3):
        await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(0.1)
    limiter.set_rate(2)
    for _ in range(2):
        await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(0.1 + 2 * 0.5)
    limiter.set_rate(0)  # unlimited
    for _ in range(100):
        await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(1.1)


async def test_paused_mailbox_waits_while_others_go_on() -> None:
    """After a pause on mailbox A, a request for A waits it out; a request for B goes at once."""
    clock = FakeClock()
    limiter = MailboxLimiter(4, clock=clock, rate_per_second=0)
    limiter.pause("a", 5.0)
    async with limiter.slot("b"):
        assert clock.now == 1000.0
    async with limiter.slot("a"):
        assert clock.now == pytest.approx(1005.0)
    assert limiter.paused_for("a") == 0.0


async def test_concurrency_per_mailbox_through_the_client() -> None:
    """40 concurrent requests to one mailbox and 40 to another: never more than 4 in flight per mailbox."""
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        key = mailbox_key(request.url.path) or ""
        in_flight[key] = in_flight.get(key, 0) + 1
        peak[key] = max(peak.get(key, 0), in_flight[key])
        await asyncio.sleep(0.001)
        in_flight[key] -= 1
        return httpx.Response(200, json={})

    async with mock_client(handler) as graph:
        await asyncio.gather(*(graph.request("GET", f"/users/{m}/events") for m in ["a", "b"] * 40))
    assert peak == {"a": 4, "b": 4}


async def test_batch_holds_every_slot_of_its_mailbox() -> None:
    """While a $batch for mailbox A is in flight, no single request for A is; B is unaffected."""
    active: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        name = "batch" if request.url.path.endswith("$batch") else request.url.path
        active.append(name)
        overlaps.append(tuple(active))
        await asyncio.sleep(0.002)
        active.remove(name)
        if name == "batch":
            import json

            ids = [r["id"] for r in json.loads(request.content)["requests"]]
            return httpx.Response(200, json={"responses": [{"id": i, "status": 204} for i in ids]})
        return httpx.Response(200, json={})

    async with mock_client(handler) as graph:
        items = [BatchItem("DELETE", f"/users/a/events/e{n}") for n in range(3)]
        await asyncio.gather(graph.batch(items), *(graph.request("GET", "/users/a/events") for _ in range(6)))
    for snapshot in overlaps:
        if "batch" in snapshot:
            assert snapshot == ("batch",), snapshot
    assert graph.limiter.max_in_flight("a") == 4


async def test_429_pauses_only_that_mailbox() -> None:
    """A 429 on mailbox A pauses A (any path) for Retry-After; mailbox B sends at once meanwhile."""
    clock = FakeClock()
    sent: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, clock.now))
        if len(sent) == 1:
            return graph_error_response(429, "ApplicationThrottled", headers={"Retry-After": "10"})
        return httpx.Response(200, json={})

    async with mock_client(handler, clock=clock) as graph:
        with pytest.raises(Throttled):
            await graph.send_once("GET", "/users/a/events")  # one attempt, no retry
        assert graph.limiter.paused_for("a") == 10
        assert graph.limiter.paused_for("b") == 0
        await graph.request("GET", "/users/b/events")
        await graph.request("GET", "/users/a/calendars")
    assert sent[1] == ("/v1.0/users/b/events", 1000.0)
    assert sent[2][0] == "/v1.0/users/a/calendars"
    assert sent[2][1] == pytest.approx(1010.0)
