"""The REST API under test: calsync's web app and its in-process runtime over a graphemu tenant (TLS),
reached through httpx's ASGI transport, with API keys made by the service itself.

The tenant's mailbox has its default calendar (Teams allowed), a read-only holiday calendar and a
writable calendar without Teams; graphemu's faults can be turned on while a test runs (`faults`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.certs import create_certificate
from calsync.runtime.embedded import EmbeddedRuntime
from calsync.services import Deployment, open_deployment
from calsync.services.api_keys import ApiKeys
from calsync.settings import load_settings
from calsync.store.apikeys import ApiKeyStore
from calsync.web.app import create_app
from graphemu import EmulatorConfig, world_from_seed
from graphemu.config import FaultConfig
from graphemu.server import BackgroundServer
from tests.calsync.services.conftest import CLIENT, MAILBOX, TENANT, Tenant

__all__ = ["MAILBOX", "ApiClient", "ApiTenant", "api_client", "eventually"]


@dataclass
class ApiTenant(Tenant):
    emulator: EmulatorConfig | None = None

    @property
    def faults(self) -> FaultConfig:
        assert self.emulator is not None
        return self.emulator.faults

    def calendar_events(self, name: str | None = None) -> list[Any]:
        """The mailbox's events (in the calendar called `name`, or all)."""
        user = self.world.find_user(MAILBOX)
        calendars = self.world.calendars[user.id]
        return [e for e in self.events() if name is None or calendars[e.calendar_id].name == name]


def start_tenant(path: Path) -> tuple[ApiTenant, BackgroundServer]:
    """graphemu over TLS with the mailbox's three calendars; stop the server when done."""
    cert = create_certificate(path / "cert")
    world = world_from_seed(
        {
            "tenants": [{"id": TENANT, "domain": "uni.example"}],
            "users": [{"userPrincipalName": MAILBOX, "holidayCalendar": True}],
            "apps": [{"clientId": CLIENT, "certificates": [{"pem": cert.certificate.read_text()}],
                      "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"]}],
        }
    )  # fmt: skip
    user = world.find_user(MAILBOX)
    world.add_calendar(user.id, "Rooms", allowed_online_meeting_providers=[],
                       default_online_meeting_provider="unknown")  # fmt: skip
    config = EmulatorConfig(default_page_size=50)
    server = BackgroundServer(world, config, tls_dir=path / "tls")
    return ApiTenant(world, server.start(), cert, config), server


@pytest.fixture
def api_tenant(tmp_path: Path) -> Iterator[ApiTenant]:
    tenant, server = start_tenant(tmp_path)
    yield tenant
    server.stop()


@dataclass
class ApiClient:
    """The app, its deployment and runtime, and a way to make keys."""

    http: httpx.AsyncClient
    deployment: Deployment
    tenant: ApiTenant
    runtime: EmbeddedRuntime

    def key(self, *scopes: str) -> str:
        keys = ApiKeys(ApiKeyStore(self.deployment.store.engine))
        return keys.create("test", scopes or ("read", "write")).key

    def auth(self, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(*scopes)}"}


async def _ready() -> list[str]:
    return []


@asynccontextmanager
async def api_client(emulated: ApiTenant, folder: Path) -> AsyncIterator[ApiClient]:
    """The service as `calsync serve` runs it on SQLite: the app and the in-process scheduler."""
    feed = folder / "feed.ics"
    feed.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n")
    settings = load_settings(emulated.config(folder, feed))
    async with open_deployment(settings) as deployment:
        runtime = EmbeddedRuntime(deployment)
        app = create_app(
            deployment, runtime_ready=_ready, queue_depth=lambda: 0.0, request_run=runtime.request_run
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://calsync.test") as http:
            runtime.start()
            try:
                yield ApiClient(http, deployment, emulated, runtime)
            finally:
                await runtime.stop(grace=10)


async def eventually(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Wait until `check()` holds; fail (naming `what`) when it has not after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {limit:.0f} s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "deployment"
    path.mkdir()
    return path
