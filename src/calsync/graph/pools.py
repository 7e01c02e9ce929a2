"""Several small connection pools behind one httpx transport, each request sent on the least busy one.

Why: httpcore 1.0's connection pool re-examines every connection, and for each idle one counts all the
idle ones again, whenever a request is queued or a response is closed (`_assign_requests_to_connections`,
O(connections²) per request; encode/httpcore#1035 is the open fix). Over HTTP/1.1 every request in flight
needs its own connection, and a sync of many mailboxes keeps ~100 in flight: measured with
bench/sync_bench.py (64 mailboxes at once against graphemu), that bookkeeping took 2.4 s of the client's
5.8 s of CPU for 10,000 events. Split into pools of a few connections each, the same work costs
(connections / shards)² per request.

Requests go to the pool with the fewest requests in flight (a request counts until its response is
closed), so as long as the caller keeps at most `shards x per_shard` requests in flight (GraphClient's
limiter does) no request ever waits inside a pool, where waiting would end as a PoolTimeout. Over
HTTP/2 each pool holds one multiplexed connection, which is harmless.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator

import httpx

__all__ = ["ShardedTransport"]

PER_SHARD = 8  # connections per pool: 8² bookkeeping steps per request instead of 100²


class _Released(httpx.AsyncByteStream):
    """A response body that tells its pool's counter when it is closed (once, however often closed)."""

    def __init__(self, stream: httpx.AsyncByteStream, busy: list[int], index: int) -> None:
        self._stream = stream
        self._busy = busy
        self._index: int | None = index

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._index is not None:
                self._busy[self._index] -= 1
                self._index = None


class ShardedTransport(httpx.AsyncBaseTransport):
    """`max_connections` split into pools of at most `per_shard` connections.

    Args:
        max_connections: connections in all (the caller's cap on requests in flight).
        verify, http2, trust_env: as for `httpx.AsyncHTTPTransport`, the same for every pool.
        per_shard: connections per pool.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        verify: ssl.SSLContext | bool = True,
        http2: bool = False,
        trust_env: bool = True,
        per_shard: int = PER_SHARD,
    ) -> None:
        if max_connections < 1 or per_shard < 1:
            raise ValueError("max_connections and per_shard must be at least 1")
        shards = math.ceil(max_connections / per_shard)
        size = math.ceil(max_connections / shards)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._pools = [
            httpx.AsyncHTTPTransport(verify=verify, http2=http2, trust_env=trust_env, limits=limits)
            for _ in range(shards)
        ]
        self.busy = [0] * shards  # requests in flight per pool, response bodies not yet closed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            self.busy[index] -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Released(response.stream, self.busy, index),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
