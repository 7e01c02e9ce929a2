"""Run the state store's Alembic migrations from code, with no alembic.ini.

A new database is created by these migrations, never by `metadata.create_all`, so that a database made
today and one made a year ago and upgraded are the same schema (the tests compare the migrated schema with
`calsync.store.schema`). The migration scripts ship inside the package (`calsync/store/migrations`).

`upgrade` runs all pending migrations in one transaction (PostgreSQL and SQLite both have transactional
DDL; SQLite's is enabled by calsync.store.engine), and serialises concurrent callers: two workers starting
at once on a fresh database both succeed, one migrating and the other finding the schema current.

To write a new migration: `calsync.store.migrate.alembic_config(url)` gives a Config for Alembic's
`command.revision(cfg, message=..., autogenerate=True)`; review the result, keep `render_as_batch` ops.

Alembic is imported by the functions that use it, not with this module: `calsync status` opens the store
without migrating, and Alembic would add about a quarter of a second to its start. `upgrade` does not
import it either when the database is already at the newest revision (every start of `calsync sync`,
`serve` and `worker` but the first): the shipped scripts' `revision` and `down_revision` lines name the
head (`shipped_head`), and one SELECT of `alembic_version` says where the database is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from calsync.store.engine import begin_write, make_engine, safe_url

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("calsync.store")

MIGRATIONS = Path(__file__).with_name("migrations")

# Any constant will do; it only has to be the same in every calsync process sharing a database.
_PG_MIGRATION_LOCK = 0x63616C73796E63  # "calsync"


def alembic_config(url: str | URL | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic Config for calsync's migrations.

    Args:
        url: used by env.py when no connection is given (e.g. `command.revision(..., autogenerate=True)`).
        connection: an open connection for env.py to run on (what `upgrade` passes).
    """
    from alembic.config import Config

    config = Config()
    # Config values go through configparser interpolation, so a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # Passed as an attribute, not as `sqlalchemy.url`: a percent-encoded password would break the
        # interpolation, and Alembic may echo its options.
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"$', re.MULTILINE)
_DOWN = re.compile(r'^down_revision(?:: [^=]+)? = (None|"[^"]+")$', re.MULTILINE)


def shipped_head() -> str | None:
    """The newest migration, read from the scripts' `revision` / `down_revision` lines without Alembic;
    None when that is not one plain chain (a merge, a branch, a line written otherwise): Alembic decides.
    """
    revisions: dict[str, str | None] = {}
    for script in (MIGRATIONS / "versions").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        rev, down = _REVISION.findall(text), _DOWN.findall(text)
        if len(rev) != 1 or len(down) != 1:
            return None
        revisions[rev[0]] = None if down[0] == "None" else down[0].strip('"')
    heads = set(revisions) - {d for d in revisions.values() if d is not None}
    return heads.pop() if len(heads) == 1 else None


def _at(engine: Engine, head: str) -> bool:
    """True when the database's single alembic_version row is `head` (False if there is no such table)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.DBAPIError:
        return False
    return rows == [head]


def head_revision() -> str:
    """The newest migration shipped with this calsync."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "calsync ships at least one migration"
    return head


@contextmanager
def _engine_for(database: str | URL | Engine) -> Iterator[Engine]:
    if isinstance(database, Engine):
        yield database
        return
    engine = make_engine(database)
    try:
        yield engine
    finally:
        engine.dispose()


def current_revision(database: str | URL | Engine) -> str | None:
    """The database's migration revision, or None for a database calsync has never migrated."""
    from alembic.runtime.migration import MigrationContext

    with _engine_for(database) as engine, engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database: str | URL | Engine, revision: str = "head") -> str | None:
    """Migrate the database to `revision` (default: the newest) and return its revision afterwards.

    Safe to call on every start: a current database is left unchanged.
    """
    with _engine_for(database) as engine:
        head = shipped_head() if revision == "head" else None
        if head is not None and _at(engine, head):
            return head  # current: no Alembic, no write transaction
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        with begin_write(engine) as conn:
            if conn.dialect.name == "postgresql":
                # Released at commit; SQLite's BEGIN IMMEDIATE already serialises writers.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(alembic_config(connection=conn), revision)
            after = MigrationContext.configure(conn).get_current_revision()
        if before != after:
            log.info(
                "calsync.store.migrated",
                extra={"database": safe_url(engine.url), "from_revision": before, "to_revision": after},
            )
        return after


def downgrade(database: str | URL | Engine, revision: str) -> str | None:
    """Migrate the database down to `revision` ("base" drops every table); for development and tests."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with _engine_for(database) as engine, begin_write(engine) as conn:
        command.downgrade(alembic_config(connection=conn), revision)
        return MigrationContext.configure(conn).get_current_revision()
