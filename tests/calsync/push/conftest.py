"""Fixtures for push tests: a deployment on a fresh database (SQLite, or PostgreSQL when configured)
with an encryption key and loopback callbacks allowed, on a virtual clock; and a loopback receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import URL

from calsync.runtime.clock import VirtualClock
from calsync.services import Deployment, open_deployment
from calsync.settings import Settings
from tests.calsync.push.receiver import Receiver, running_receiver

START = datetime.now(UTC).replace(microsecond=0)  # near the wall clock: receivers check timestamps


@dataclass
class Env:
    settings: Settings
    deployment: Deployment
    clock: VirtualClock


def push_settings(database_url: str | URL, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": str(database_url)
        if isinstance(database_url, str)
        else database_url.render_as_string(hide_password=False),
        "token_keys": Fernet.generate_key().decode(),
        "push_allow_private_callbacks": True,
        "push_allow_http_callbacks": True,
        "push_timeout_seconds": 2.0,
    }
    values.update(extra)
    return Settings(**values)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | URL:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    factory: Callable[[], URL] = request.getfixturevalue("pg_schema_factory")
    return factory()


@pytest.fixture
async def env(database: str | URL) -> AsyncIterator[Env]:
    settings = push_settings(database)
    clock = VirtualClock(START)
    async with open_deployment(settings) as deployment:
        deployment.clock = clock.now
        yield Env(settings, deployment, clock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running
