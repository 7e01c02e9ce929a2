"""The sync engine wired to graphemu in-process: real GraphClient, GraphCalendarTarget and a state store."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from calsync.adapters.graph_target import GraphCalendarTarget
from calsync.domain import Window
from calsync.graph import GraphClient
from calsync.store import MemoryStateStore
from calsync.sync.engine import Engine
from graphemu import EmulatorConfig, World, create_app, world_from_seed
from graphemu.testing import EmulatorTransport
from tests.calsync.graph.conftest import CLIENT, GRAPH, SEED, EmuTokens, FakeClock, fast_policy

TENANT = SEED["tenants"][0]["id"]
WINDOW = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
ADELE = "adele@contoso.onmicrosoft.com"


@pytest.fixture
def world() -> World:
    return world_from_seed(SEED)


@pytest.fixture
def app(world: World) -> Any:
    return create_app(world, EmulatorConfig())


@pytest.fixture
async def graph(app: Any, world: World) -> AsyncIterator[GraphClient]:
    tokens = EmuTokens(app, CLIENT)
    client = GraphClient(
        tokens,
        base_url=GRAPH,
        transport=EmulatorTransport(app),
        clock=FakeClock(on_advance=world.clock.advance),
        rng=random.Random(7),
        retry=fast_policy(),
    )
    async with client:
        yield client
    await tokens.aclose()


@pytest.fixture
async def control(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app), base_url="https://graph.microsoft.com"
    ) as c:
        yield c


@pytest.fixture
def store() -> MemoryStateStore:
    return MemoryStateStore()


@pytest.fixture
def engine(graph: GraphClient, store: MemoryStateStore) -> Engine:
    return Engine(GraphCalendarTarget(graph), store, tenant_id=TENANT)
