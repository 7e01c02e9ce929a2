"""`MemoryStateStore`: the state store in a few dicts, for pure engine tests.

A fake is only useful if it honours the contract, so this one applies the same rules as `SqlStateStore`
(the `check_*` functions in calsync.store.records), returns the same values (datetimes in UTC, cleaned
text, copies rather than live objects) and passes the same contract test suite, leases included. It is
thread-safe, so concurrency tests can run against it too. Nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.domain import SourceKey
from calsync.store import records as rules
from calsync.store.records import GOOD_RUN_STATUSES, Clock, RunHealth, RuntimeStateStore, SourceState, utc_now
from calsync.sync.ports import Mapping, Quarantined, RunReport, StateStore


@dataclass(frozen=True, slots=True)
class _Lease:
    owner: str
    expires_at: datetime


class MemoryStateStore:
    """The state store (StateStore and RuntimeStateStore) in memory; see SqlStateStore for the contract."""

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._mappings: dict[str, dict[SourceKey, Mapping]] = {}
        self._quarantine: dict[str, dict[SourceKey, tuple[Quarantined, datetime]]] = {}
        self._runs: dict[str, dict[datetime, RunReport]] = {}
        self._sources: dict[str, SourceState] = {}
        self._delta: dict[str, dict[str, str]] = {}
        self._leases: dict[str, _Lease] = {}
        self._departures: dict[str, datetime] = {}

    def _now(self) -> datetime:
        now = self._clock()
        rules.check_aware("clock()", now)
        return now

    # -- mappings ----------------------------------------------------------------------------------

    def mappings(self, mailbox: str) -> dict[SourceKey, Mapping]:
        with self._lock:
            return dict(self._mappings.get(mailbox, {}))

    def mapping_by_remote_id(self, mailbox: str, remote_id: str) -> Mapping | None:
        with self._lock:
            found = [
                m
                for m in self._mappings.get(mailbox, {}).values()
                if m.has_event and m.remote_id == remote_id
            ]
        return min(found, key=lambda m: m.source_key, default=None)

    def put_mapping(self, mapping: Mapping) -> None:
        self.put_mappings([mapping])

    def put_mappings(self, mappings: Iterable[Mapping]) -> None:
        batch = list(mappings)
        for mapping in batch:
            rules.check_mapping(mapping)
        with self._lock:
            for mapping in batch:
                self._mappings.setdefault(mapping.mailbox, {})[mapping.source_key] = mapping

    def delete_mapping(self, mailbox: str, source_key: SourceKey) -> None:
        with self._lock:
            self._mappings.get(mailbox, {}).pop(source_key, None)

    # -- quarantine --------------------------------------------------------------------------------

    def quarantined(self, mailbox: str) -> dict[SourceKey, Quarantined]:
        with self._lock:
            return {key: item for key, (item, _since) in self._quarantine.get(mailbox, {}).items()}

    def put_quarantine(self, item: Quarantined) -> None:
        rules.check_quarantined(item)
        item = replace(item, code=rules.clean_text(item.code), message=rules.clean_text(item.message))
        now = self._now()
        with self._lock:
            items = self._quarantine.setdefault(item.mailbox, {})
            since = items[item.source_key][1] if item.source_key in items else now
            items[item.source_key] = (item, since)

    def release_quarantine(self, mailbox: str, source_key: SourceKey) -> None:
        with self._lock:
            self._quarantine.get(mailbox, {}).pop(source_key, None)
            mapping = self._mappings.get(mailbox, {}).get(source_key)
            if mapping is not None and mapping.failures:
                self._mappings[mailbox][source_key] = replace(mapping, failures=0)

    # -- runs --------------------------------------------------------------------------------------

    def record_run(self, report: RunReport) -> None:
        rules.check_run(report)
        stored = _copy_report(
            report,
            started=report.started.astimezone(UTC),
            finished=None if report.finished is None else report.finished.astimezone(UTC),
            error_code=rules.clean_text(report.error_code),
            message=rules.clean_text(report.message),
            problems=rules.clean_problems(report.problems),
        )
        with self._lock:
            runs = self._runs.setdefault(stored.mailbox, {})
            runs[stored.started] = stored
            for old in sorted(runs, reverse=True)[rules.RUNS_KEPT :]:
                del runs[old]

    def last_runs(self) -> list[RunReport]:
        with self._lock:
            latest = [by_start[max(by_start)] for _, by_start in sorted(self._runs.items()) if by_start]
        return [_copy_report(r) for r in latest]

    def run_health(self) -> dict[str, RunHealth]:
        with self._lock:
            runs = {
                m: sorted(by_start.values(), key=lambda r: r.started) for m, by_start in self._runs.items()
            }
        health = {}
        for mailbox, ordered in runs.items():
            good = [r.started for r in ordered if r.status in GOOD_RUN_STATUSES]
            last = good[-1] if good else None
            bad = sum(
                1 for r in ordered if r.status not in GOOD_RUN_STATUSES and (last is None or r.started > last)
            )
            health[mailbox] = RunHealth(mailbox, last, bad)
        return health

    def runs(self, mailbox: str, limit: int = 20) -> list[RunReport]:
        rules.check_count("limit", limit)
        with self._lock:
            by_start = dict(self._runs.get(mailbox, {}))
        return [_copy_report(by_start[s]) for s in sorted(by_start, reverse=True)[:limit]]

    # -- source fetch state ------------------------------------------------------------------------

    def source_state(self, key: str) -> SourceState | None:
        with self._lock:
            return self._sources.get(key)

    def put_source_state(self, state: SourceState) -> None:
        rules.check_source_state(state)
        stored = replace(
            state,
            etag=rules.clean_text(state.etag),
            last_modified=rules.clean_text(state.last_modified),
            last_ok_at=None if state.last_ok_at is None else state.last_ok_at.astimezone(UTC),
            last_error=rules.clean_text(state.last_error),
        )
        with self._lock:
            self._sources[state.key] = stored

    # -- delta links -------------------------------------------------------------------------------

    def delta_link(self, mailbox: str, calendar_id: str) -> str | None:
        with self._lock:
            return self._delta.get(mailbox, {}).get(calendar_id)

    def put_delta_link(self, mailbox: str, calendar_id: str, delta_link: str) -> None:
        rules.check_key("mailbox", mailbox)
        rules.check_key("calendar_id", calendar_id)
        rules.check_key("delta_link", delta_link)
        with self._lock:
            self._delta.setdefault(mailbox, {})[calendar_id] = delta_link

    def drop_delta_link(self, mailbox: str, calendar_id: str) -> None:
        with self._lock:
            self._delta.get(mailbox, {}).pop(calendar_id, None)

    # -- leases ------------------------------------------------------------------------------------

    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        rules.check_lease(mailbox, owner, ttl_seconds)
        now = self._now()
        with self._lock:
            held = self._leases.get(mailbox)
            if held is not None and held.owner != owner and now < held.expires_at:
                return False
            self._leases[mailbox] = _Lease(owner, now + timedelta(seconds=ttl_seconds))
            return True

    def renew_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        rules.check_lease(mailbox, owner, ttl_seconds)
        now = self._now()
        with self._lock:
            held = self._leases.get(mailbox)
            if held is None or held.owner != owner:
                return False
            self._leases[mailbox] = _Lease(owner, now + timedelta(seconds=ttl_seconds))
            return True

    def release_lease(self, mailbox: str, owner: str) -> bool:
        with self._lock:
            held = self._leases.get(mailbox)
            if held is None or held.owner != owner:
                return False
            del self._leases[mailbox]
            return True

    def lease_owner(self, mailbox: str) -> str | None:
        now = self._now()
        with self._lock:
            held = self._leases.get(mailbox)
        return held.owner if held is not None and now < held.expires_at else None

    # -- mailboxes ---------------------------------------------------------------------------------

    def mailboxes(self) -> list[str]:
        with self._lock:
            names = {
                mailbox for mailbox, rows in self._mappings.items() if any(m.has_event for m in rows.values())
            }
            names |= {mailbox for mailbox, rows in self._quarantine.items() if rows}
            names |= {mailbox for mailbox, rows in self._runs.items() if rows}
            names |= {mailbox for mailbox, rows in self._delta.items() if rows}
        return sorted(names)

    def purge_mailbox(self, mailbox: str) -> None:
        with self._lock:
            rows = self._mappings.get(mailbox, {})
            for key, mapping in rows.items():
                rows[key] = replace(mapping.detached(), failures=0)
            self._quarantine.pop(mailbox, None)
            self._runs.pop(mailbox, None)
            self._delta.pop(mailbox, None)
            self._departures.pop(mailbox, None)

    # -- departures --------------------------------------------------------------------------------

    def departures(self) -> dict[str, datetime]:
        with self._lock:
            return dict(sorted(self._departures.items()))

    def mark_departed(self, mailboxes: Iterable[str]) -> None:
        names = [rules.check_key("mailbox", m) for m in mailboxes]
        now = self._now().astimezone(UTC)
        with self._lock:
            for name in names:
                self._departures.setdefault(name, now)

    def clear_departed(self, mailboxes: Iterable[str]) -> None:
        with self._lock:
            for name in mailboxes:
                self._departures.pop(name, None)


def _copy_report(report: RunReport, **changes: Any) -> RunReport:
    """RunReport is mutable: store and hand out copies, as a database would."""
    copied = replace(report, **changes)
    copied.problems = list(copied.problems)
    return copied


if TYPE_CHECKING:  # mypy proves the class implements both interfaces, signatures and all

    def _implements(store: MemoryStateStore) -> tuple[StateStore, RuntimeStateStore]:
        return store, store
