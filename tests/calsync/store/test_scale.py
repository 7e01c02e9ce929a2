"""Scale: 20,000 mappings over 200 mailboxes in SQLite; per-mailbox reads use the index, not a table scan."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from calsync.domain import SourceKey
from calsync.store import SqlStateStore, make_engine, upgrade
from calsync.sync.ports import Mapping

MAILBOXES = 200
PER_MAILBOX = 100


def test_per_mailbox_queries_use_the_index(tmp_path: Path) -> None:
    """mappings(mailbox) is an index search on (mailbox, …): its cost is the mailbox's rows."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = SqlStateStore(engine)
    try:
        started = time.perf_counter()
        for n in range(MAILBOXES):
            store.put_mappings(
                Mapping(
                    mailbox=f"user{n:03}@contoso.onmicrosoft.com",
                    source_key=SourceKey(f"ics:lecture-{i}/2026-09-{i % 28 + 1:02}"),
                    state="synced",
                    transaction_id=f"tx-{n}-{i}",
                    remote_id=f"AAMkAGI2-{n}-{i}",
                    change_key="DwAAABYAAAA",
                    content_hash=f"{i:032x}",
                )
                for i in range(PER_MAILBOX)
            )
        inserted = time.perf_counter() - started

        started = time.perf_counter()
        for i in range(500):
            store.put_mapping(
                Mapping(
                    "user000@contoso.onmicrosoft.com", SourceKey(f"ics:single-{i}"), "creating", f"tx-s{i}"
                )
            )
        single = (time.perf_counter() - started) / 500

        statements: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            statements.append((statement, parameters))

        sa.event.listen(engine, "before_cursor_execute", capture)
        started = time.perf_counter()
        for n in range(MAILBOXES):
            assert len(store.mappings(f"user{n:03}@contoso.onmicrosoft.com")) >= PER_MAILBOX
        read = (time.perf_counter() - started) / MAILBOXES
        sa.event.remove(engine, "before_cursor_execute", capture)

        statement, parameters = next(s for s in statements if s[0].lstrip().upper().startswith("SELECT"))
        with engine.connect() as conn:
            plan = " | ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            total = conn.execute(sa.text("SELECT count(*) FROM mappings")).scalar()
        print(
            f"\n{total} mappings: bulk insert {inserted:.2f} s ({MAILBOXES} batches), "
            f"put_mapping {single * 1000:.2f} ms each, mappings(mailbox) {read * 1000:.2f} ms each; "
            f"plan: {plan}"
        )
        assert total == MAILBOXES * PER_MAILBOX + 500
        assert "SEARCH mappings USING INDEX" in plan
        assert "(mailbox=?)" in plan
        assert "SCAN" not in plan
    finally:
        engine.dispose()
