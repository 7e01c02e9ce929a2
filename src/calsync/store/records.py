"""What the store keeps beyond the engine's StateStore port, and the rules every implementation enforces.

`calsync.sync.ports.StateStore` is all the sync engine needs. The runtime, the CLI and the web pages need
more: each source's fetch state (conditional requests and the shrink guard), each calendar's delta link,
the per-mailbox lease ("one run per mailbox at a time", architecture.md invariant 5), and listing and
purging mailboxes. `RuntimeStateStore` is that wider interface; `SqlStateStore` and `MemoryStateStore`
both implement it, and one contract test suite runs against both.

The `check_*` functions are the rules both implementations apply before writing, so that a fake never
accepts what the database would refuse (a value PostgreSQL cannot store, a naive datetime, a negative
counter) and tests against memory mean what they say.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, get_args, get_type_hints, overload

from calsync.sync.ports import Mapping, MappingState, Quarantined, RunReport, StateStore

# Taken from the port's Literal types, so the CHECK constraints and the fakes follow the contract.
Clock = Callable[[], datetime]
"""The current time, aware; injected so that lease expiry can be tested without waiting."""


def utc_now() -> datetime:
    return datetime.now(UTC)


MAPPING_STATES: tuple[str, ...] = get_args(MappingState)
RUN_STATUSES: tuple[str, ...] = get_args(get_type_hints(RunReport)["status"])


@dataclass(frozen=True, slots=True)
class SourceState:
    """How a source was last fetched: validators for a conditional GET and the last good item count.

    `key` identifies the source without revealing it (see `source_state_key`). `etag` and
    `last_modified` are the response headers, kept verbatim to send back as If-None-Match and
    If-Modified-Since. `last_item_count` is what the shrink guard compares a new fetch with.
    """

    key: str
    etag: str | None = None
    last_modified: str | None = None
    last_ok_at: datetime | None = None
    last_item_count: int | None = None
    last_error: str | None = None


def source_state_key(url_or_id: str) -> str:
    """The `SourceState.key` for a source URL or id: a SHA-256 hex digest.

    Feed URLs often carry an access token (`?token=…`), so the database stores a digest, never the URL.
    """
    return hashlib.sha256(url_or_id.encode("utf-8")).hexdigest()


GOOD_RUN_STATUSES = ("ok", "not_applicable")  # a run that leaves the mailbox as it should be


@dataclass(frozen=True, slots=True)
class RunHealth:
    """How a mailbox has fared: its last good run and the runs that were not good since then (the
    consecutive failures an operator alerts on)."""

    mailbox: str
    last_success: datetime | None
    failures_since: int


class RuntimeStateStore(StateStore, Protocol):
    """StateStore plus what the runtime, CLI and web pages need. Each method commits on return."""

    def put_mappings(self, mappings: Iterable[Mapping]) -> None:
        """Insert or replace several mappings in one transaction (all or none)."""
        ...

    def mapping_by_remote_id(self, mailbox: str, remote_id: str) -> Mapping | None: ...

    def runs(self, mailbox: str, limit: int = 20) -> list[RunReport]:
        """The mailbox's runs, newest first."""
        ...

    def run_health(self) -> dict[str, RunHealth]:
        """Every mailbox with runs: its last good run's start and the runs since that were not good."""
        ...

    def source_state(self, key: str) -> SourceState | None: ...

    def put_source_state(self, state: SourceState) -> None: ...

    def delta_link(self, mailbox: str, calendar_id: str) -> str | None: ...

    def put_delta_link(self, mailbox: str, calendar_id: str, delta_link: str) -> None: ...

    def drop_delta_link(self, mailbox: str, calendar_id: str) -> None: ...

    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the mailbox's lease until now + ttl; False if another owner holds it unexpired."""
        ...

    def renew_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Extend the lease to now + ttl only if `owner` still holds it (expired or not, as long as nobody
        took it over): the fencing check of a run before each chunk of writes. False: it was taken over."""
        ...

    def release_lease(self, mailbox: str, owner: str) -> bool:
        """Give the lease up if `owner` holds it; True if it did."""
        ...

    def lease_owner(self, mailbox: str) -> str | None:
        """Who holds the mailbox's unexpired lease, if anyone."""
        ...

    def mailboxes(self) -> list[str]:
        """Every mailbox with mappings (tombstones do not count), quarantined items, runs or delta
        links, sorted."""
        ...

    def purge_mailbox(self, mailbox: str) -> None:
        """Forget the mailbox's quarantine, runs, delta links and departure (not its lease), and turn
        each of its mappings into a tombstone (`Mapping.detached()`, failures 0): the mailbox's events
        are gone, but a key's next create must still get a transaction id never sent before."""
        ...

    # -- departures (offboarding: calsync.services.offboarding) --------------------------------------

    def departures(self) -> dict[str, datetime]:
        """Every mailbox marked as gone from its selection, with the time it was first marked (UTC)."""
        ...

    def mark_departed(self, mailboxes: Iterable[str]) -> None:
        """Mark mailboxes as gone from their selection as of now (the store's clock), in one
        transaction; a mailbox already marked keeps its first time, so the grace period is not restarted
        by every round that still misses it."""
        ...

    def clear_departed(self, mailboxes: Iterable[str]) -> None:
        """Forget the marks of mailboxes that are back in their selection (unmarked ones: no-op)."""
        ...


# -- the rules ------------------------------------------------------------------------------------


def check_key(name: str, value: str) -> str:
    """A key column: non-empty, valid UTF-8 and no NUL (PostgreSQL text cannot hold NUL)."""
    if not value:
        raise ValueError(f"{name} must not be empty")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} must be valid Unicode (no lone surrogates)") from None
    return value


@overload
def clean_text(value: str) -> str: ...
@overload
def clean_text(value: None) -> None: ...
@overload
def clean_text(value: str | None) -> str | None: ...


def clean_text(value: str | None) -> str | None:
    """Free text (error messages): NUL and lone surrogates are replaced rather than refused, because a
    message quoting a bad input must not make recording the failure fail too."""
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    return value.encode("utf-8", "replace").decode("utf-8")


def check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def check_count(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must not be negative")


def check_mapping(mapping: Mapping) -> None:
    check_key("mailbox", mapping.mailbox)
    check_key("source_key", mapping.source_key)
    check_key("transaction_id", mapping.transaction_id)
    if mapping.state not in MAPPING_STATES:
        raise ValueError(f"mapping state must be one of {', '.join(MAPPING_STATES)}")
    check_count("generation", mapping.generation)
    check_count("failures", mapping.failures)
    for name in ("remote_id", "change_key", "content_hash"):
        value = getattr(mapping, name)
        if value is not None:
            check_key(name, value)


def check_quarantined(item: Quarantined) -> None:
    check_key("mailbox", item.mailbox)
    check_key("source_key", item.source_key)
    check_key("code", item.code)
    check_count("failures", item.failures)


def check_run(report: RunReport) -> None:
    check_key("mailbox", report.mailbox)
    check_aware("started", report.started)
    check_aware("finished", report.finished)
    if report.status not in RUN_STATUSES:
        raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}")
    for name in ("created", "updated", "deleted", "adopted", "unchanged", "failed", "quarantined"):
        check_count(name, getattr(report, name))


def check_source_state(state: SourceState) -> None:
    check_key("key", state.key)
    check_aware("last_ok_at", state.last_ok_at)
    check_count("last_item_count", state.last_item_count)


def check_lease(mailbox: str, owner: str, ttl_seconds: float) -> None:
    check_key("mailbox", mailbox)
    check_key("owner", owner)
    if not ttl_seconds > 0:
        raise ValueError("ttl_seconds must be positive")


RUNS_KEPT = 50  # runs kept per mailbox: a sync every 15 minutes would otherwise add ~35,000 a year each
MAX_PROBLEMS = 100  # problems stored per run; a feed with thousands of bad items keeps its first ones


def clean_problems(problems: Sequence[str]) -> list[str]:
    """Problems as stored: cleaned, and at most MAX_PROBLEMS, the last line saying how many were left out."""
    if len(problems) > MAX_PROBLEMS:
        kept = MAX_PROBLEMS - 1
        return [*(clean_text(p) for p in problems[:kept]), f"... and {len(problems) - kept} more problems"]
    return [clean_text(p) for p in problems]
