"""Fixtures shared by calsync's tests: PostgreSQL schemas for tests that need a real server.

PostgreSQL runs when CALSYNC_TEST_POSTGRES_URL is set (`.ci/run` sets it; elsewhere those tests skip).
Each test session works in freshly created schemas (search_path set through libpq's `options`), dropped
at the end, so runs never see each other's rows and the database needs no cleanup.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL

from calsync.store import database_url, make_engine

PG_ENV = "CALSYNC_TEST_POSTGRES_URL"
PG_SKIP = "set CALSYNC_TEST_POSTGRES_URL to run against PostgreSQL"


def with_search_path(url: URL, schema: str) -> URL:
    return url.update_query_dict({"options": f"-csearch_path={schema}"})


@pytest.fixture(scope="session")
def postgres_base_url() -> URL:
    raw = os.environ.get(PG_ENV)
    if not raw:
        pytest.skip(PG_SKIP)
    return database_url(raw)


@pytest.fixture(scope="session")
def pg_schema_factory(postgres_base_url: URL) -> Iterator[Callable[[], URL]]:
    """Makes fresh, empty schemas (URLs whose search_path is the schema) and drops them all at the end."""
    admin = make_engine(postgres_base_url)
    created: list[str] = []

    def new_schema() -> URL:
        name = f"calsync_test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        created.append(name)
        return with_search_path(postgres_base_url, name)

    yield new_schema
    with admin.begin() as conn:
        for name in created:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    admin.dispose()


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Commands run through CliRunner configure calsync's logging (calsync.cli.state); undo it after each
    test so that the next one, and pytest's own capture, see logging as it was."""
    yield
    from calsync import logs

    logs.reset_logging()
