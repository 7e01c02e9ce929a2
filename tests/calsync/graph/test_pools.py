"""The sharded connection pools under GraphClient, over real TLS sockets to graphemu.

What must hold: requests spread over the pools instead of piling into one, no pool ever opens more than its
share of connections, a pool's count of requests in flight returns to zero however the response ends
(read, closed unread, failed), and HTTP/2 stays on where h2 is installed.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.graph import GraphClient
from calsync.graph.pools import ShardedTransport
from graphemu import EmulatorConfig, World
from graphemu.server import BackgroundServer

from .conftest import ADELE, ALEX, MEGAN, TENANT, EmuTokens, StaticTokens


def _connections(transport: ShardedTransport) -> list[int]:
    return [len(pool._pool.connections) for pool in transport._pools]


async def test_concurrent_requests_spread_over_pools(world: World, tmp_path: Path) -> None:
    """40 calendar reads at once with 50 ms latency: every pool is used, none holds more than its share
    of connections, and every pool is idle again afterwards."""
    config = EmulatorConfig()
    config.faults.latency_ms = 50
    server = BackgroundServer(world, config, tls_dir=tmp_path / "tls")
    with server as info:
        assert info.ca is not None
        tokens = EmuTokens(server.app)
        graph = GraphClient(tokens, base_url=info.graph, verify=info.ca, max_in_flight=40, http2=False)
        transport = graph._http._transport
        assert isinstance(transport, ShardedTransport)
        async with graph:
            mailboxes = [ADELE, ALEX, MEGAN] * 14

            async def calendars(mailbox: str) -> list[Any]:
                return [c async for c in graph.list_calendars(mailbox)]

            results = await asyncio.gather(*(calendars(m) for m in mailboxes[:40]))
            opened = _connections(transport)
            assert transport.busy == [0] * len(transport.busy)
        await tokens.aclose()
    assert all(calendars for calendars in results)
    assert len(opened) == 5  # 40 connections in pools of at most 8
    assert all(1 <= n <= 8 for n in opened), opened
    assert sum(opened) <= 40


async def test_counts_return_to_zero_however_the_response_ends(world: World, tmp_path: Path) -> None:
    """A body read, a body closed unread (twice), and a request that fails to connect each leave the
    pool's count at zero."""
    with BackgroundServer(world, EmulatorConfig(), tls_dir=tmp_path / "tls") as info:
        assert info.ca is not None
        context = ssl.create_default_context(cafile=info.ca)
        transport = ShardedTransport(max_connections=4, per_shard=2, verify=context)
        async with httpx.AsyncClient(transport=transport, base_url=info.login) as http:
            discovery = f"/{TENANT}/v2.0/.well-known/openid-configuration"
            assert (await http.get(discovery)).status_code == 200
            async with http.stream("GET", discovery) as response:
                assert response.status_code == 200
                assert transport.busy.count(1) == 1
            await response.aclose()
            assert transport.busy == [0, 0]
    refused = ShardedTransport(max_connections=2, per_shard=1)
    async with httpx.AsyncClient(transport=refused) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{info.port}/")  # the server is gone
    assert refused.busy == [0, 0]


async def test_http2_is_offered_by_default_when_h2_is_installed() -> None:
    """Graph speaks HTTP/2; each pool offers it (ALPN) when the h2 package is importable."""
    pytest.importorskip("h2", reason="HTTP/2 needs the h2 package (the httpx[http2] extra)")
    graph = GraphClient(StaticTokens())
    transport: Any = graph._http._transport
    assert isinstance(transport, ShardedTransport)
    assert all(pool._pool._http2 for pool in transport._pools)
    await graph.aclose()


def test_rejects_empty_pools() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ShardedTransport(max_connections=0)
