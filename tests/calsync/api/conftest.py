"""The REST API under test: calsync's web app over a graphemu tenant (TLS), reached through httpx's ASGI
transport, with API keys made by the service itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from calsync.services import Deployment, open_deployment
from calsync.services.api_keys import ApiKeys
from calsync.settings import load_settings
from calsync.store.apikeys import ApiKeyStore
from calsync.web.app import create_app
from tests.calsync.services.conftest import MAILBOX, Tenant, tenant  # noqa: F401  (the fixture)

__all__ = ["MAILBOX", "ApiClient", "api_client"]


@dataclass
class ApiClient:
    """The app, its deployment, and a way to make keys."""

    http: httpx.AsyncClient
    deployment: Deployment
    tenant: Tenant

    def key(self, *scopes: str) -> str:
        keys = ApiKeys(ApiKeyStore(self.deployment.store.engine))
        return keys.create("test", scopes or ("read", "write")).key

    def auth(self, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(*scopes)}"}


async def _ready() -> list[str]:
    return []


@asynccontextmanager
async def api_client(emulated: Tenant, folder: Path) -> AsyncIterator[ApiClient]:
    feed = folder / "feed.ics"
    feed.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n")
    settings = load_settings(emulated.config(folder, feed))
    async with open_deployment(settings) as deployment:
        app = create_app(deployment, runtime_ready=_ready, queue_depth=lambda: 0.0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://calsync.test") as http:
            yield ApiClient(http, deployment, emulated)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "deployment"
    path.mkdir()
    return path
