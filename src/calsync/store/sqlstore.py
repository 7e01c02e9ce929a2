"""`SqlStateStore`: the state store on SQLite or PostgreSQL, through SQLAlchemy Core.

Every public method is one short transaction that has committed when it returns, so a crash between two
calls loses nothing acknowledged (the engine records intent before a create and the result after it).
Every write is a single statement or starts with one, and inserts use `INSERT … ON CONFLICT`, which both
SQLite and PostgreSQL support, so no method reads and then writes on a stale snapshot.

Per-mailbox queries are index searches (the primary keys and indexes all lead with `mailbox`), so their
cost is the mailbox's own rows, not the table's (tests/calsync/store/test_scale.py checks the plan).
The schema must exist: run `calsync.store.upgrade(url)` first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from calsync.domain import SourceKey
from calsync.store import records as rules
from calsync.store import schema
from calsync.store.records import (
    GOOD_RUN_STATUSES,
    RunHealth,
    RuntimeStateStore,
    SourceState,
)
from calsync.store.sqlleases import SqlLeases
from calsync.sync.ports import Mapping, MappingState, Quarantined, RunReport, StateStore

_COUNTS = ("created", "updated", "deleted", "adopted", "unchanged", "failed", "quarantined")


class SqlStateStore(SqlLeases):
    """The state store (calsync.sync.ports.StateStore and calsync.store.RuntimeStateStore) over SQL.

    Args:
        engine: from `calsync.store.make_engine`, on a migrated database.
        clock: the current time (aware); leases and `updated_at` columns use it. Workers sharing a
            database must have synchronised clocks (NTP) for leases to mean the same to all of them.
    """

    # -- mappings ----------------------------------------------------------------------------------

    def mappings(self, mailbox: str) -> dict[SourceKey, Mapping]:
        with self._read() as conn:
            rows = conn.execute(sa.select(schema.mappings).where(schema.mappings.c.mailbox == mailbox))
            return {SourceKey(row.source_key): _mapping(row) for row in rows}

    def mapping_by_remote_id(self, mailbox: str, remote_id: str) -> Mapping | None:
        """The mapping of a remote id; if several claim it (a bug elsewhere), the first by source key.
        Never a tombstone (state detached: it has no event)."""
        query = (
            sa.select(schema.mappings)
            .where(
                schema.mappings.c.mailbox == mailbox,
                schema.mappings.c.remote_id == remote_id,
                schema.mappings.c.state != "detached",
            )
            .order_by(schema.mappings.c.source_key)
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _mapping(row)

    def put_mapping(self, mapping: Mapping) -> None:
        self.put_mappings([mapping])

    def put_mappings(self, mappings: Iterable[Mapping]) -> None:
        # Last one wins within a batch, as with successive put_mapping calls; PostgreSQL would refuse
        # one INSERT … ON CONFLICT that touches the same row twice.
        batch = {(m.mailbox, m.source_key): m for m in mappings}
        for mapping in batch.values():
            rules.check_mapping(mapping)
        if not batch:
            return
        now = self._now()
        rows = [_mapping_row(m, now) for m in batch.values()]
        with self._write() as conn:
            self._upsert(conn, schema.mappings, rows, keys=("mailbox", "source_key"), update=_MAPPING_UPDATE)

    def delete_mapping(self, mailbox: str, source_key: SourceKey) -> None:
        with self._write() as conn:
            conn.execute(
                sa.delete(schema.mappings).where(
                    schema.mappings.c.mailbox == mailbox, schema.mappings.c.source_key == source_key
                )
            )

    # -- quarantine --------------------------------------------------------------------------------

    def quarantined(self, mailbox: str) -> dict[SourceKey, Quarantined]:
        with self._read() as conn:
            rows = conn.execute(sa.select(schema.quarantine).where(schema.quarantine.c.mailbox == mailbox))
            return {
                SourceKey(row.source_key): Quarantined(
                    mailbox=row.mailbox,
                    source_key=SourceKey(row.source_key),
                    code=row.code,
                    message=row.message,
                    failures=row.failures,
                )
                for row in rows
            }

    def put_quarantine(self, item: Quarantined) -> None:
        """Quarantine an item, or update its reason and count; `since` keeps the first quarantine time."""
        rules.check_quarantined(item)
        row = {
            "mailbox": item.mailbox,
            "source_key": item.source_key,
            "code": rules.clean_text(item.code),
            "message": rules.clean_text(item.message),
            "failures": item.failures,
            "since": self._now(),
        }
        with self._write() as conn:
            self._upsert(
                conn,
                schema.quarantine,
                [row],
                keys=("mailbox", "source_key"),
                update=("code", "message", "failures"),
            )

    def release_quarantine(self, mailbox: str, source_key: SourceKey) -> None:
        """Forget the quarantine and the key's failure count: a released item gets its full budget."""
        mappings = schema.mappings.c
        with self._write() as conn:
            conn.execute(
                sa.delete(schema.quarantine).where(
                    schema.quarantine.c.mailbox == mailbox, schema.quarantine.c.source_key == source_key
                )
            )
            conn.execute(
                sa.update(schema.mappings)
                .where(mappings.mailbox == mailbox, mappings.source_key == source_key, mappings.failures != 0)
                .values(failures=0)
            )

    # -- runs --------------------------------------------------------------------------------------

    def record_run(self, report: RunReport) -> None:
        """Record a run; recording the same (mailbox, started) again replaces it. Only the newest
        RUNS_KEPT runs of a mailbox are kept (older ones are deleted in the same transaction)."""
        rules.check_run(report)
        row: dict[str, Any] = {
            "mailbox": report.mailbox,
            "started": report.started,
            "finished": report.finished,
            "status": report.status,
            "error_code": rules.clean_text(report.error_code),
            "message": rules.clean_text(report.message),
            "problems": rules.clean_problems(report.problems),
        }
        row.update({name: getattr(report, name) for name in _COUNTS})
        update = [name for name in row if name not in {"mailbox", "started"}]
        runs = schema.runs.c
        kept = (
            sa.select(runs.started)
            .where(runs.mailbox == report.mailbox)
            .order_by(runs.started.desc())
            .offset(rules.RUNS_KEPT - 1)
            .limit(1)
            .scalar_subquery()
        )
        with self._write() as conn:
            self._upsert(conn, schema.runs, [row], keys=("mailbox", "started"), update=update)
            conn.execute(sa.delete(schema.runs).where(runs.mailbox == report.mailbox, runs.started < kept))

    def last_runs(self) -> list[RunReport]:
        latest = (
            sa.select(schema.runs.c.mailbox, sa.func.max(schema.runs.c.started).label("started"))
            .group_by(schema.runs.c.mailbox)
            .subquery()
        )
        query = (
            sa.select(schema.runs)
            .join(
                latest,
                sa.and_(schema.runs.c.mailbox == latest.c.mailbox, schema.runs.c.started == latest.c.started),
            )
            .order_by(schema.runs.c.mailbox)
        )
        with self._read() as conn:
            return [_report(row) for row in conn.execute(query)]

    def run_health(self) -> dict[str, RunHealth]:
        """Two grouped scans of `runs` (at most RUNS_KEPT rows per mailbox), whatever the mailbox count."""
        runs = schema.runs.c
        good = runs.status.in_(GOOD_RUN_STATUSES)
        last_good = (
            sa.select(runs.mailbox, sa.func.max(sa.case((good, runs.started))).label("last_success"))
            .group_by(runs.mailbox)
            .subquery()
        )
        bad_since = sa.func.sum(
            sa.case(
                (
                    sa.and_(
                        sa.not_(good),
                        sa.or_(last_good.c.last_success.is_(None), runs.started > last_good.c.last_success),
                    ),
                    1,
                ),
                else_=0,
            )
        )
        query = (
            sa.select(runs.mailbox, sa.func.max(last_good.c.last_success), bad_since)
            .join(last_good, last_good.c.mailbox == runs.mailbox)
            .group_by(runs.mailbox)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {m: RunHealth(m, None if last is None else _utc(last), int(bad or 0)) for m, last, bad in rows}

    def runs(self, mailbox: str, limit: int = 20) -> list[RunReport]:
        rules.check_count("limit", limit)
        query = (
            sa.select(schema.runs)
            .where(schema.runs.c.mailbox == mailbox)
            .order_by(schema.runs.c.started.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [_report(row) for row in conn.execute(query)]

    # -- source fetch state ------------------------------------------------------------------------

    def source_state(self, key: str) -> SourceState | None:
        with self._read() as conn:
            row = conn.execute(sa.select(schema.source_state).where(schema.source_state.c.key == key)).first()
        if row is None:
            return None
        return SourceState(
            key=row.key,
            etag=row.etag,
            last_modified=row.last_modified,
            last_ok_at=row.last_ok_at,
            last_item_count=row.last_item_count,
            last_error=row.last_error,
        )

    def put_source_state(self, state: SourceState) -> None:
        rules.check_source_state(state)
        row = {
            "key": state.key,
            "etag": rules.clean_text(state.etag),
            "last_modified": rules.clean_text(state.last_modified),
            "last_ok_at": state.last_ok_at,
            "last_item_count": state.last_item_count,
            "last_error": rules.clean_text(state.last_error),
            "updated_at": self._now(),
        }
        with self._write() as conn:
            self._upsert(
                conn, schema.source_state, [row], keys=("key",), update=[n for n in row if n != "key"]
            )

    # -- delta links -------------------------------------------------------------------------------

    def delta_link(self, mailbox: str, calendar_id: str) -> str | None:
        query = sa.select(schema.delta_links.c.delta_link).where(
            schema.delta_links.c.mailbox == mailbox, schema.delta_links.c.calendar_id == calendar_id
        )
        with self._read() as conn:
            return conn.execute(query).scalar_one_or_none()

    def put_delta_link(self, mailbox: str, calendar_id: str, delta_link: str) -> None:
        rules.check_key("mailbox", mailbox)
        rules.check_key("calendar_id", calendar_id)
        rules.check_key("delta_link", delta_link)
        row = {
            "mailbox": mailbox,
            "calendar_id": calendar_id,
            "delta_link": delta_link,
            "updated_at": self._now(),
        }
        with self._write() as conn:
            self._upsert(
                conn,
                schema.delta_links,
                [row],
                keys=("mailbox", "calendar_id"),
                update=("delta_link", "updated_at"),
            )

    def drop_delta_link(self, mailbox: str, calendar_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                sa.delete(schema.delta_links).where(
                    schema.delta_links.c.mailbox == mailbox, schema.delta_links.c.calendar_id == calendar_id
                )
            )

    # -- mailboxes ---------------------------------------------------------------------------------

    def mailboxes(self) -> list[str]:
        """Mailboxes with state: a mapping other than a tombstone, a quarantined item, a run, a delta link."""
        mappings = sa.select(schema.mappings.c.mailbox).where(schema.mappings.c.state != "detached")
        query = sa.union(mappings, *(sa.select(table.c.mailbox) for table in _FORGOTTEN))
        with self._read() as conn:
            return sorted(conn.execute(query).scalars())

    def purge_mailbox(self, mailbox: str) -> None:
        """Forget the mailbox (quarantine, runs, delta links, departure) but turn its mappings into tombstones
        (Mapping.detached, with no failures): a key's next create must not reuse a transaction id."""
        m = schema.mappings.c
        detach = (
            sa.update(schema.mappings)
            .where(m.mailbox == mailbox)
            .values(
                state="detached",
                generation=sa.case((m.state == "detached", m.generation), else_=m.generation + 1),
                remote_id=None,
                change_key=None,
                content_hash=None,
                failures=0,
                updated_at=self._now(),
            )
        )
        with self._write() as conn:
            conn.execute(detach)  # SET reads the row as it was: the CASE sees the old state
            for table in (*_FORGOTTEN, schema.departures):
                conn.execute(sa.delete(table).where(table.c.mailbox == mailbox))

    # -- departures --------------------------------------------------------------------------------

    def departures(self) -> dict[str, datetime]:
        query = sa.select(schema.departures).order_by(schema.departures.c.mailbox)
        with self._read() as conn:
            return {row.mailbox: row.since for row in conn.execute(query)}

    def mark_departed(self, mailboxes: Iterable[str]) -> None:
        names = sorted({rules.check_key("mailbox", m) for m in mailboxes})
        if not names:
            return
        now = self._now()
        with self._write() as conn:
            conn.execute(
                self._insert(conn, schema.departures).on_conflict_do_nothing(index_elements=["mailbox"]),
                [{"mailbox": name, "since": now} for name in names],
            )

    def clear_departed(self, mailboxes: Iterable[str]) -> None:
        names = sorted(set(mailboxes))
        if not names:
            return
        with self._write() as conn:
            conn.execute(sa.delete(schema.departures).where(schema.departures.c.mailbox.in_(names)))


_FORGOTTEN = (schema.quarantine, schema.runs, schema.delta_links)  # per mailbox, dropped on purge
_MAPPING_UPDATE = tuple(c.name for c in schema.mappings.columns if c.name not in {"mailbox", "source_key"})


def _mapping_row(mapping: Mapping, now: datetime) -> dict[str, Any]:
    return {
        "mailbox": mapping.mailbox,
        "source_key": mapping.source_key,
        "state": mapping.state,
        "transaction_id": mapping.transaction_id,
        "generation": mapping.generation,
        "remote_id": mapping.remote_id,
        "change_key": mapping.change_key,
        "content_hash": mapping.content_hash,
        "failures": mapping.failures,
        "updated_at": now,
    }


def _utc(value: datetime | str) -> datetime:
    """A timestamp read through an aggregate, which bypasses the column type: SQLite gives text, naive."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _mapping(row: sa.Row[Any]) -> Mapping:
    return Mapping(
        mailbox=row.mailbox,
        source_key=SourceKey(row.source_key),
        state=cast(MappingState, row.state),  # the CHECK constraint allows only MappingState values
        transaction_id=row.transaction_id,
        generation=row.generation,
        remote_id=row.remote_id,
        change_key=row.change_key,
        content_hash=row.content_hash,
        failures=row.failures,
    )


def _report(row: sa.Row[Any]) -> RunReport:
    return RunReport(
        mailbox=row.mailbox,
        started=row.started,
        finished=row.finished,
        status=row.status,
        error_code=row.error_code,
        message=row.message,
        problems=list(row.problems),
        **{name: getattr(row, name) for name in _COUNTS},
    )


if TYPE_CHECKING:  # mypy proves the class implements both interfaces, signatures and all

    def _implements(store: SqlStateStore) -> tuple[StateStore, RuntimeStateStore]:
        return store, store
