"""Fixtures for the Graph client tests: a graphemu tenant in-process, a fake clock, token providers.

The fake clock never sleeps: `sleep(d)` records `d`, moves the client's monotonic time and graphemu's
clock forward by `d` (so graphemu sees the wait as having happened), and yields to the event loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from calsync.graph import GraphClient, RetryPolicy
from graphemu import EmulatorConfig, World, create_app, world_from_seed
from graphemu.testing import EmulatorTransport

TENANT = "8f3a1d2e-0000-4000-8000-00000000c0de"
CLIENT = "11111111-2222-4333-8444-555555555555"
SECRET = "test-secret-value"
ADELE = "adele@contoso.onmicrosoft.com"
ALEX = "alex@contoso.onmicrosoft.com"
MEGAN = "megan@contoso.onmicrosoft.com"
GRAPH = "https://graph.microsoft.com/v1.0"

SEED: dict[str, Any] = {
    "tenants": [{"id": TENANT, "domain": "contoso.onmicrosoft.com", "displayName": "Contoso"}],
    "users": [
        {"userPrincipalName": ADELE, "displayName": "Adele Vance"},
        {"userPrincipalName": ALEX, "displayName": "Alex Wilber"},
        {"userPrincipalName": MEGAN, "displayName": "Megan Bowen"},
        {
            "userPrincipalName": "nomail@contoso.onmicrosoft.com",
            "displayName": "No Mailbox",
            "hasMailbox": False,
        },
        {"userPrincipalName": "outsider@contoso.onmicrosoft.com", "displayName": "Outside Policy"},
    ],
    "groups": [
        {"displayName": "Staff", "mail": "staff@contoso.onmicrosoft.com", "members": [MEGAN]},
        {
            "displayName": "Calendar sync",
            "mail": "calsync-scope@contoso.onmicrosoft.com",
            "members": [ADELE, ALEX, "Staff", "nomail@contoso.onmicrosoft.com"],
        },
    ],
    "apps": [
        {
            "clientId": CLIENT,
            "displayName": "calsync tests",
            "secrets": [{"value": SECRET}],
            "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"],
            "adminConsentedScopes": ["Calendars.ReadWrite", "User.Read"],
            "redirectUris": ["http://localhost:8080/callback"],
        }
    ],
    "accessPolicies": [{"clientId": CLIENT, "group": "calsync-scope@contoso.onmicrosoft.com"}],
}


class FakeClock:
    """A monotonic clock that only moves when something sleeps; records every requested delay."""

    def __init__(self, on_advance: Callable[[float], None] | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_advance = on_advance

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self.now += seconds
            if self.on_advance is not None:
                self.on_advance(seconds)
        await asyncio.sleep(0)


class StaticTokens:
    """A TokenProvider for MockTransport tests: "tok-1", "tok-2", ... (a new one per forced refresh)."""

    def __init__(self) -> None:
        self.issued = 1
        self.calls: list[bool] = []

    async def token(self, *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        if force_refresh:
            self.issued += 1
        return f"tok-{self.issued}"


class EmuTokens:
    """A TokenProvider minting app tokens through graphemu's control API (POST /_emu/tokens).

    Used where the identity platform is not under test; `minted` counts the tokens obtained.
    """

    def __init__(self, app: Any, client_id: str = CLIENT, lifetime: int = 3599) -> None:
        self._http = httpx.AsyncClient(
            transport=EmulatorTransport(app), base_url="https://graph.microsoft.com"
        )
        self._client_id = client_id
        self._lifetime = lifetime
        self._token: str | None = None
        self.minted = 0

    async def token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            response = await self._http.post(
                "/_emu/tokens", json={"clientId": self._client_id, "lifetime": self._lifetime}
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
            self.minted += 1
        assert self._token is not None
        return self._token

    async def aclose(self) -> None:
        await self._http.aclose()


def fast_policy(**overrides: Any) -> RetryPolicy:
    """A retry policy for tests: generous attempts, time bounds in fake seconds."""
    values: dict[str, Any] = {"max_attempts": 12, "max_total_seconds": 3600.0}
    values.update(overrides)
    return RetryPolicy(**values)


@pytest.fixture
def world() -> World:
    return world_from_seed(SEED)


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig()


@pytest.fixture
def app(world: World, config: EmulatorConfig) -> Any:
    return create_app(world, config)


@pytest.fixture
def clock(world: World) -> FakeClock:
    """A fake clock whose sleeps also advance graphemu's clock."""
    return FakeClock(on_advance=world.clock.advance)


@pytest.fixture
async def tokens(app: Any) -> AsyncIterator[EmuTokens]:
    provider = EmuTokens(app)
    yield provider
    await provider.aclose()


@pytest.fixture
async def control(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for graphemu's control API (/_emu/...)."""
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app), base_url="https://graph.microsoft.com"
    ) as c:
        yield c


@pytest.fixture
async def graph(app: Any, tokens: EmuTokens, clock: FakeClock) -> AsyncIterator[GraphClient]:
    """A GraphClient on the in-process emulator, with the fake clock and a seeded jitter."""
    client = GraphClient(
        tokens,
        base_url=GRAPH,
        transport=EmulatorTransport(app),
        clock=clock,
        rng=random.Random(7),
        retry=fast_policy(),
    )
    async with client:
        yield client


def mock_client(
    handler: Callable[[httpx.Request], Any],
    *,
    clock: FakeClock | None = None,
    tokens: Any = None,
    **kwargs: Any,
) -> GraphClient:
    """A GraphClient on httpx.MockTransport (handlers return real httpx.Response objects)."""
    kwargs.setdefault("retry", fast_policy())
    return GraphClient(
        tokens or StaticTokens(),
        base_url=GRAPH,
        transport=httpx.MockTransport(handler),
        clock=clock or FakeClock(),
        rng=random.Random(1),
        **kwargs,
    )


def graph_error_response(
    status: int, code: str, message: str = "", headers: dict[str, str] | None = None
) -> httpx.Response:
    """An error response shaped like Graph's (graph-facts §9)."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2025-02-13T10:17:05",
                "request-id": "rid-inner",
                "client-request-id": "c",
            },
        }
    }
    return httpx.Response(status, json=body, headers={"request-id": f"rid-{status}", **(headers or {})})
