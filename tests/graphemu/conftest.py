"""Shared fixtures: a small tenant world, the in-process app, and clients holding app or user tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from graphemu import EmulatorConfig, World, create_app, world_from_seed
from graphemu.testing import EmulatorTransport

TENANT = "8f3a1d2e-0000-4000-8000-00000000c0de"
CLIENT = "11111111-2222-4333-8444-555555555555"
OTHER_TENANT = "99999999-0000-4000-8000-000000000bad"

SEED: dict[str, Any] = {
    "tenants": [
        {"id": TENANT, "domain": "contoso.onmicrosoft.com", "displayName": "Contoso"},
        {"id": OTHER_TENANT, "domain": "fabrikam.onmicrosoft.com", "displayName": "Fabrikam"},
    ],
    "users": [
        {
            "userPrincipalName": "adele@contoso.onmicrosoft.com",
            "displayName": "Adele Vance",
            "holidayCalendar": True,
        },
        {"userPrincipalName": "alex@contoso.onmicrosoft.com", "displayName": "Alex Wilber"},
        {"userPrincipalName": "megan@contoso.onmicrosoft.com", "displayName": "Megan Bowen"},
        {
            "userPrincipalName": "nomail@contoso.onmicrosoft.com",
            "displayName": "No Mailbox",
            "hasMailbox": False,
        },
        {"userPrincipalName": "outsider@contoso.onmicrosoft.com", "displayName": "Outside Policy"},
        {"userPrincipalName": "eve@fabrikam.onmicrosoft.com", "tenantId": OTHER_TENANT},
    ],
    "groups": [
        {
            "displayName": "Staff",
            "mail": "staff@contoso.onmicrosoft.com",
            "members": ["megan@contoso.onmicrosoft.com"],
        },
        {
            "displayName": "Calendar sync",
            "mail": "calsync-scope@contoso.onmicrosoft.com",
            "members": [
                "adele@contoso.onmicrosoft.com",
                "alex@contoso.onmicrosoft.com",
                "Staff",
                "nomail@contoso.onmicrosoft.com",
            ],
        },
    ],
    "apps": [
        {
            "clientId": CLIENT,
            "displayName": "calsync tests",
            "secrets": [{"value": "test-secret-value"}],
            "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"],
            "adminConsentedScopes": ["Calendars.ReadWrite", "User.Read"],
            "redirectUris": ["http://localhost:8080/callback"],
        }
    ],
    "accessPolicies": [{"clientId": CLIENT, "group": "calsync-scope@contoso.onmicrosoft.com"}],
}


@pytest.fixture
def world() -> World:
    return world_from_seed(SEED)


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig()


@pytest.fixture
def app(world: World, config: EmulatorConfig) -> Any:
    return create_app(world, config)


def mint(app: Any, **claims: Any) -> str:
    """An access token from the emulator's signing key (what /_emu/tokens does)."""
    from graphemu.signing import access_token_claims

    world: World = app.state.world
    user = world.find_user(claims.pop("user")) if "user" in claims else None
    token_claims = access_token_claims(
        tenant_id=claims.pop("tenant_id", TENANT),
        client_id=claims.pop("client_id", CLIENT),
        now=world.clock.time(),
        lifetime=claims.pop("lifetime", 3599),
        roles=claims.pop("roles", ["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"]),
        scopes=claims.pop("scopes", None),
        user_id=user.id if user else None,
        upn=user.user_principal_name if user else None,
    )
    return str(world.extra["signing_key"].sign(token_claims))


@pytest.fixture
async def graph(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client with an app-only token, base URL https://graph.microsoft.com/v1.0."""
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {mint(app)}"},
    ) as client:
        yield client


@pytest.fixture
async def control(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the control API."""
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app), base_url="https://graph.microsoft.com"
    ) as client:
        yield client


@pytest.fixture
async def login(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the identity platform's endpoints (login.microsoftonline.com), in-process."""
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app), base_url="https://login.microsoftonline.com"
    ) as client:
        yield client
