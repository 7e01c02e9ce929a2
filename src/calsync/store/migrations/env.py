"""Alembic's environment for calsync's state store.

Run through `calsync.store.migrate` (or `calsync db upgrade`), which passes an open connection in
`config.attributes["connection"]`; there is no alembic.ini. `render_as_batch=True` makes Alembic emit
ALTERs as batch operations, which SQLite needs (it recreates the table), and the target metadata carries
the naming convention, so constraints get the same names on SQLite and PostgreSQL and can be altered later.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from calsync.store.engine import begin_write, make_engine
from calsync.store.schema import metadata


def _run_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    """`--sql` mode: print the DDL for a DBA instead of running it."""
    context.configure(
        url=context.config.attributes["url"],
        target_metadata=metadata,
        render_as_batch=True,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode():
        _run_offline()
    elif connection is not None:
        _run_online(connection)
    else:
        url = context.config.attributes.get("url")
        if url is None:
            raise RuntimeError("use calsync.store.migrate.alembic_config(url) to run calsync's migrations")
        engine = make_engine(url)
        try:
            with begin_write(engine) as conn:
                _run_online(conn)
        finally:
            engine.dispose()


_main()
