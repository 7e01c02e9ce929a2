"""graphemu over TLS for client and service tests: a module-scoped server seeded like the in-process
tenant (tests.calsync.graph.conftest.SEED), tokens minted through its control API, and GraphClients that
trust its CA (app-only, or delegated for a user with scopes)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from calsync.graph import GraphClient
from graphemu import EmulatorConfig, World, world_from_seed
from graphemu.server import BackgroundServer, ServerInfo
from tests.calsync.graph.conftest import ADELE, CLIENT, SEED


def trust(info: ServerInfo) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=info.ca)


class TlsTokens:
    """Tokens from graphemu's control API over TLS: app-only, or delegated for `user` with `scopes`."""

    def __init__(self, info: ServerInfo, user: str | None = None, scopes: list[str] | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=info.base_url, verify=trust(info))
        self._body: dict[str, Any] = {"clientId": CLIENT}
        if user:
            self._body |= {"user": user, "scopes": scopes or []}

    async def token(self, *, force_refresh: bool = False) -> str:
        response = await self._http.post("/_emu/tokens", json=self._body)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerInfo, World]]:
    world = world_from_seed(SEED)
    with BackgroundServer(world, EmulatorConfig(), tls_dir=tmp_path_factory.mktemp("tls")) as info:
        yield info, world


async def client(info: ServerInfo, tokens: TlsTokens) -> GraphClient:
    return GraphClient(tokens, base_url=info.graph, verify=trust(info))


@pytest.fixture
async def app_graph(tls_server: tuple[ServerInfo, World]) -> AsyncIterator[GraphClient]:
    tokens = TlsTokens(tls_server[0])
    async with await client(tls_server[0], tokens) as g:
        yield g
    await tokens.aclose()


@pytest.fixture
async def user_graph(tls_server: tuple[ServerInfo, World]) -> AsyncIterator[GraphClient]:
    tokens = TlsTokens(tls_server[0], ADELE, ["Calendars.ReadWrite", "Calendars.Read.Shared"])
    async with await client(tls_server[0], tokens) as g:
        yield g
    await tokens.aclose()
