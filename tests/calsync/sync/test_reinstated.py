"""Keys that come back, against a Graph that answers every reused transactionId with 409.

A cancelled lecture is often reinstated. calsync deleted its event when the key left the source; when the
key comes back, its create must carry a *new* transactionId: what Graph answers to a reused one is
undocumented (graph-facts §4), and graphemu's "conflict" mode answers 409 ErrorDuplicateTransactionId
even after the original event was deleted, so a reused id would never create the event again. The same
holds after `calsync purge`, after a crash between a delete and its record, and after a crash between a
create and its record when the user then deleted the event.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from calsync.adapters.eventmap import TAG_ID
from calsync.adapters.graph_target import GraphCalendarTarget
from calsync.graph import GraphClient
from calsync.store import MemoryStateStore
from calsync.sync.engine import Engine, SourceSnapshot
from calsync.sync.planner import Policy, UserDeletes
from graphemu import EmulatorConfig, World, create_app
from graphemu.testing import EmulatorTransport
from tests.calsync.graph.conftest import CLIENT, GRAPH, EmuTokens, FakeClock, fast_policy
from tests.calsync.sync.conftest import ADELE, TENANT, WINDOW
from tests.calsync.sync.test_engine_graphemu import last_seq, lectures, writes

POLICIES: tuple[UserDeletes, ...] = ("recreate", "respect")


class Crash(BaseException):
    """The simulated SIGKILL: nothing in calsync catches a BaseException."""


class CrashAfter(httpx.AsyncBaseTransport):
    """graphemu's transport that dies once, just after a `$batch` carrying `method` was answered (the
    writes are applied in graphemu, the answer never reaches calsync)."""

    def __init__(self, app: Any, method: str) -> None:
        self.inner, self.method, self.armed = EmulatorTransport(app), method, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if (
            self.armed
            and request.url.path.endswith("$batch")
            and f'"{self.method}"' in request.content.decode()
        ):
            self.armed = False
            raise Crash(self.method)
        return response


@pytest.fixture
def app(world: World) -> Any:
    return create_app(world, EmulatorConfig(duplicate_transaction_id="conflict"))


@pytest.fixture
async def clients(app: Any, world: World) -> AsyncIterator[Callable[[httpx.AsyncBaseTransport], GraphClient]]:
    """GraphClients over a given transport (a crashed process's client is thrown away, as its process)."""
    tokens = EmuTokens(app, CLIENT)
    made: list[GraphClient] = []

    def make(transport: httpx.AsyncBaseTransport) -> GraphClient:
        clock = FakeClock(on_advance=world.clock.advance)
        client = GraphClient(
            tokens,
            base_url=GRAPH,
            transport=transport,
            clock=clock,
            rng=random.Random(7),
            retry=fast_policy(),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
    await tokens.aclose()


def engine_for(graph: GraphClient, store: MemoryStateStore, user_deletes: UserDeletes) -> Engine:
    return Engine(
        GraphCalendarTarget(graph), store, tenant_id=TENANT, policy=Policy(user_deletes=user_deletes)
    )


async def managed(control: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    """graphemu's events of Adele carrying calsync's tag `key`."""
    items = (await control.get(f"/_emu/events/{ADELE}")).json()["value"]
    return [e for e in items if (e.get("extended") or {}).get(TAG_ID) == key]


async def crash(run: Awaitable[object]) -> None:
    with pytest.raises(Crash):
        await run


@pytest.mark.parametrize("user_deletes", POLICIES)
async def test_a_key_that_comes_back_is_created_with_a_new_transaction_id(
    store: MemoryStateStore, graph: GraphClient, control: httpx.AsyncClient, user_deletes: UserDeletes
) -> None:
    """Synced, removed from the source (deleted), brought back (created: one event, a new transactionId);
    twice over, so every return gets an id of its own; then a run writes nothing."""
    engine = engine_for(graph, store, user_deletes)
    events = lectures(3)
    full, short = SourceSnapshot("ok", events), SourceSnapshot("ok", events[:2])
    first, _ = await engine.run(ADELE, full, WINDOW)
    assert (first.status, first.created) == ("ok", 3)
    seen = {e["transactionId"] for e in await managed(control, "ics:l2")}
    for _ in range(2):
        gone, _ = await engine.run(ADELE, short, WINDOW)
        assert (gone.status, gone.deleted) == ("ok", 1)
        assert await managed(control, "ics:l2") == []
        back, _ = await engine.run(ADELE, full, WINDOW)
        assert (back.status, back.created, back.failed) == ("ok", 1, 0), back.problems
        (event,) = await managed(control, "ics:l2")
        assert event["transactionId"] not in seen
        seen.add(event["transactionId"])
    seq = await last_seq(control)
    quiet, _ = await engine.run(ADELE, full, WINDOW)
    assert (quiet.status, quiet.created, quiet.deleted) == ("ok", 0, 0)
    assert await writes(control, seq) == []
    assert store.quarantined(ADELE) == {}


@pytest.mark.parametrize("user_deletes", POLICIES)
async def test_a_crash_between_a_delete_and_its_record_still_converges(
    app: Any,
    store: MemoryStateStore,
    clients: Callable[[httpx.AsyncBaseTransport], GraphClient],
    control: httpx.AsyncClient,
    user_deletes: UserDeletes,
) -> None:
    """The process dies after Graph deleted the event and before calsync recorded it: when the key comes
    back it is still created (not taken for a user's delete, not sent with the old transactionId)."""
    events = lectures(3)
    plain = engine_for(clients(EmulatorTransport(app)), store, user_deletes)
    await plain.run(ADELE, SourceSnapshot("ok", events), WINDOW)
    (before,) = await managed(control, "ics:l2")
    dying = engine_for(clients(CrashAfter(app, "DELETE")), store, user_deletes)
    await crash(dying.run(ADELE, SourceSnapshot("ok", events[:2]), WINDOW))
    assert await managed(control, "ics:l2") == []
    restarted = engine_for(clients(EmulatorTransport(app)), store, user_deletes)
    back, _ = await restarted.run(ADELE, SourceSnapshot("ok", events), WINDOW)
    assert (back.status, back.created, back.failed) == ("ok", 1, 0), back.problems
    (after,) = await managed(control, "ics:l2")
    assert after["transactionId"] != before["transactionId"]


async def test_a_spent_transaction_id_is_replaced(
    app: Any,
    store: MemoryStateStore,
    clients: Callable[[httpx.AsyncBaseTransport], GraphClient],
    graph: GraphClient,
    control: httpx.AsyncClient,
) -> None:
    """The process dies after Graph created the event and before calsync recorded it, and the user deletes
    that event: the next create's transactionId is spent (409, and no event carries the tag), so calsync
    moves to the next generation and the run after creates the event."""
    events = lectures(2)
    dying = engine_for(clients(CrashAfter(app, "POST")), store, "recreate")
    await crash(dying.run(ADELE, SourceSnapshot("ok", events), WINDOW))
    for item in await managed(control, "ics:l1"):
        await graph.delete_event(ADELE, item["id"])
    restarted = engine_for(clients(EmulatorTransport(app)), store, "recreate")
    spent, _ = await restarted.run(ADELE, SourceSnapshot("ok", events), WINDOW)
    assert (spent.created, spent.adopted, spent.failed) == (0, 1, 1)
    assert any("ErrorDuplicateTransactionId" in p for p in spent.problems)
    again, _ = await restarted.run(ADELE, SourceSnapshot("ok", events), WINDOW)
    assert (again.status, again.created, again.failed) == ("ok", 1, 0), again.problems
    assert len(await managed(control, "ics:l1")) == 1
    assert store.quarantined(ADELE) == {}


@pytest.mark.parametrize("user_deletes", POLICIES)
async def test_purge_then_sync_recreates(
    store: MemoryStateStore, graph: GraphClient, control: httpx.AsyncClient, user_deletes: UserDeletes
) -> None:
    """`calsync purge` (calsync.sync.tombstones.purge, then the store's purge_mailbox) removes every
    managed event; the next sync creates them all again, each with a new transactionId."""
    from calsync.sync.tombstones import purge

    engine = engine_for(graph, store, user_deletes)
    source = SourceSnapshot("ok", lectures(4))
    await engine.run(ADELE, source, WINDOW)
    before = {e["transactionId"] for e in (await control.get(f"/_emu/events/{ADELE}")).json()["value"]}
    found = await engine.target.list_managed(ADELE, WINDOW)
    assert await purge(engine.target, store, TENANT, ADELE, found) == 4
    store.purge_mailbox(ADELE)
    assert (await control.get(f"/_emu/events/{ADELE}")).json()["value"] == []
    report, _ = await engine.run(ADELE, source, WINDOW)
    assert (report.status, report.created, report.failed) == ("ok", 4, 0), report.problems
    after = {e["transactionId"] for e in (await control.get(f"/_emu/events/{ADELE}")).json()["value"]}
    assert len(after) == 4
    assert not after & before
