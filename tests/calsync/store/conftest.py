"""Store backends for the one contract suite: memory, SQLite (a temp file) and PostgreSQL (opt-in).

PostgreSQL runs when CALSYNC_TEST_POSTGRES_URL is set (`.ci/run` sets it). Each test session works in its
own freshly created schema (search_path set through libpq's `options`), dropped at the end, so runs never
see each other's rows and the database needs no cleanup.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, Engine

from calsync.store import (
    MemoryStateStore,
    RuntimeStateStore,
    ScopedStore,
    SqlStateStore,
    database_url,
    make_engine,
    upgrade,
)
from calsync.store.schema import metadata
from tests.calsync.conftest import PG_SKIP, with_search_path  # noqa: F401 - re-exported for the tests here


class FakeClock:
    """A clock the tests move by hand (lease expiry without sleeping)."""

    def __init__(self, start: datetime = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Backend:
    """One kind of store; `open()` gives another handle on the same data, as another worker would."""

    name: str
    clock: FakeClock
    url: URL | None = None
    memory: MemoryStateStore | None = None
    engines: list[Engine] = field(default_factory=list)
    profile: str | None = None  # a profile's view (ScopedStore) of the store must keep the same contract

    def open(self) -> RuntimeStateStore:
        if self.memory is not None:
            return self.memory
        assert self.url is not None
        engine = make_engine(self.url)
        self.engines.append(engine)
        store = SqlStateStore(engine, clock=self.clock)
        return store if self.profile is None else ScopedStore(store, self.profile)

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def pg_empty_url(pg_schema_factory: Callable[[], URL]) -> URL:
    """A new empty schema, for migration tests."""
    return pg_schema_factory()


@pytest.fixture(scope="session")
def pg_migrated_url(pg_schema_factory: Callable[[], URL]) -> URL:
    url = pg_schema_factory()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "state.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(
    params=["memory", "sqlite", "sqlite-profile", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        backend = Backend("memory", clock, memory=MemoryStateStore(clock=clock))
    elif request.param in ("sqlite", "sqlite-profile"):
        path = tmp_path / "state.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        profile = "exams" if request.param == "sqlite-profile" else None
        backend = Backend(request.param, clock, url=database_url(f"sqlite:///{path}"), profile=profile)
    else:
        url: URL = request.getfixturevalue("pg_migrated_url")
        backend = Backend("postgres", clock, url=url)
        engine = make_engine(url)
        with engine.begin() as conn:  # every test starts from empty tables (DELETE: faster than TRUNCATE)
            for table in metadata.sorted_tables:
                conn.execute(table.delete())
        engine.dispose()
    yield backend
    backend.close()


@pytest.fixture
def store(backend: Backend) -> RuntimeStateStore:
    return backend.open()
