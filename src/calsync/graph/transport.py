"""The HTTP layer under GraphClient: the auth flow, the httpx client, and network errors as our errors.

- `GraphAuth` is an `httpx.Auth` that needs I/O (a token may have to be fetched), so it overrides
  `async_auth_flow` (httpx `_auth.py` docstring): add the bearer token, send, and on a 401 get a fresh
  token once and send again. It refuses to attach the token to any host other than the Graph base URL's,
  so a crafted `@odata.nextLink` cannot leak it.
- `build_http_client` makes the one `httpx.AsyncClient` of a GraphClient: pooling (in small pools, see
  `calsync.graph.pools`), HTTP/2 when `h2` is importable, timeouts, and a custom CA given as an
  `ssl.SSLContext` (httpx 0.28 deprecates path strings).
- `transport_error` maps httpx's network exceptions: failures before anything was sent (connect, connect or
  pool timeout) are `TransportError`; failures after (read timeout, reset, protocol error) `Indeterminate`.
- `loggable_path` is the only form of a URL that reaches logs: the path, and query *names* without values
  (skip and delta tokens, filters on personal data).
"""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import AsyncGenerator, Generator
from pathlib import Path

import httpx

from calsync.graph.errors import GraphClientError, Indeterminate, TransportError
from calsync.graph.pools import ShardedTransport
from calsync.graph.tokens import TokenProvider

__all__ = ["GraphAuth", "build_http_client", "loggable_path", "transport_error"]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class GraphAuth(httpx.Auth):
    """Bearer-token auth for Graph with one refresh on 401.

    Args:
        provider: where tokens come from.
        origin: scheme://host[:port] of the Graph base URL; the only place the token may be sent.
    """

    def __init__(self, provider: TokenProvider, origin: httpx.URL) -> None:
        self._provider = provider
        self._origin = (origin.scheme, origin.host, origin.port)
        self.refreshes = 0

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Not supported: calsync's Graph client is async only."""
        raise RuntimeError("GraphAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with a token; on 401 refresh once (unless a newer token already exists) and resend."""
        if (request.url.scheme, request.url.host, request.url.port) != self._origin:
            raise GraphClientError(
                f"refusing to send the Graph token to {request.url.scheme}://{request.url.host}"
            )
        token = await self._provider.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = await self._provider.token()
        if fresh == token:
            fresh = await self._provider.token(force_refresh=True)
        self.refreshes += 1
        request.headers["Authorization"] = f"Bearer {fresh}"
        yield request


def _ssl_context(verify: ssl.SSLContext | str | Path | bool) -> ssl.SSLContext | bool:
    if isinstance(verify, str | Path):
        return ssl.create_default_context(cafile=str(verify))
    return verify


def build_http_client(
    *,
    base_url: str,
    auth: httpx.Auth,
    verify: ssl.SSLContext | str | Path | bool = True,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    max_connections: int = 100,
    transport: httpx.AsyncBaseTransport | None = None,
    http2: bool | None = None,
    trust_env: bool = True,
) -> httpx.AsyncClient:
    """The httpx client of one GraphClient. `http2=None` means "when the h2 package is installed".

    `trust_env` lets httpx read proxy variables; a CA given in `verify` is always honoured (it becomes an
    SSLContext, which httpx never replaces from the environment).
    """
    if http2 is None:
        http2 = importlib.util.find_spec("h2") is not None
    context = _ssl_context(verify)
    if transport is None:
        transport = ShardedTransport(
            max_connections=max_connections, verify=context, http2=http2, trust_env=trust_env
        )
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        verify=context,  # for proxy transports httpx mounts from the environment
        timeout=timeout,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        transport=transport,
        http2=http2,
        follow_redirects=False,
        trust_env=trust_env,
    )


def transport_error(exc: httpx.TransportError, method: str, path: str) -> GraphClientError:
    """Our error for a network failure: nothing sent (TransportError) or outcome unknown (Indeterminate)."""
    what = type(exc).__name__
    if isinstance(exc, _NOT_SENT):
        return TransportError(f"{method} {path}: not sent ({what})")
    return Indeterminate(f"{method} {path}: sent, no answer ({what})", method=method, path=path)


def loggable_path(url: httpx.URL, base_path: str = "") -> str:
    """The path relative to the base URL plus query names without their values."""
    path = url.path
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :] or "/"
    names = [name for name, _ in url.params.multi_items()]
    return f"{path}?{'&'.join(f'{n}=*' for n in names)}" if names else path
