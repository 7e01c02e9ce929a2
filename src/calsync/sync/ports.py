"""The ports of the sync engine: what it needs from a calendar and from a state store.

Terminology (used throughout calsync.sync, calsync.adapters and calsync.store):

- **desired event**: `calsync.domain.DesiredEvent`, what the source wants in the calendar.
- **observed event**: a *managed* event as read from the calendar: it carries calsync's ownership tag
  (the source key) and the content hash calsync wrote with it. Foreign events are never observed here,
  so nothing below can touch them.
- **remote id**: the calendar's id for an event (Graph event id); **change key**: its version (Graph
  changeKey), which changes on every edit, including a user's.
- **mapping**: the stored link source key -> remote id, change key and content hash. It is a cache of
  observations: the engine converges when it is empty or stale (events are adopted by their tag).
- **transaction id**: the deterministic id sent with a create (Graph `transactionId`), so a retried
  create makes no second event; it is derived from tenant, mailbox, source key and the mapping's
  generation (bumped when a create must really be repeated: after the user deleted the event, or after
  calsync deleted it, see "detached"). A transaction id is never sent for a second event: what Graph
  answers to a reused one is undocumented (graph-facts §4: the deleted original, or 409).

Mapping states (`MappingState`):

- `creating`: the intent of a create, committed before it is sent (no remote id yet); the next run
  finds the event by its tag or sends the create again with the same transaction id.
- `synced`: calsync wrote or adopted the event with this remote id, change key and content hash.
- `user_deleted`: the user deleted the event and policy `respect` keeps it deleted.
- `detached`: a tombstone. calsync deleted the key's event (the source dropped the key, or `calsync
  purge`); there is no event (remote id, change key and hash are None) and `generation` is the one the
  key's next create uses, already past every generation sent before. Everything that reads mappings
  treats it as "no mapping", except for that generation. One row per removed key stays.
- `deleting`: reserved (allowed by the schema; nothing writes it).

Implementations: `calsync.adapters.graph_target.GraphCalendarTarget` (Graph), `calsync.store` (SQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from calsync.domain import DesiredEvent, SourceKey, Window

# -- what the calendar side reports ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservedEvent:
    """A managed event as the calendar holds it now."""

    remote_id: str
    source_key: SourceKey
    change_key: str
    content_hash: str | None  # the hash calsync wrote; None if the tag is there but the hash is not
    start: datetime
    end: datetime
    user_modified: bool = False  # the calendar says it changed since calsync wrote it (hash mismatch)


MAILBOX_NOT_ENABLED = "mailbox_not_enabled"  # TargetError.code: the user has no Exchange Online mailbox
INVALID_USER = "invalid_user"  # TargetError.code: no such user in the tenant


class TargetError(Exception):
    """The calendar could not be read or written as a whole (the mailbox is skipped, nothing deleted)."""

    def __init__(self, message: str, *, code: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code  # e.g. "access_denied_by_policy", "mailbox_not_enabled", "unavailable"
        self.permanent = permanent


# -- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Create:
    desired: DesiredEvent
    content_hash: str
    transaction_id: str


@dataclass(frozen=True, slots=True)
class Update:
    desired: DesiredEvent
    content_hash: str
    remote_id: str
    change_key: str | None  # sent as If-Match when known


@dataclass(frozen=True, slots=True)
class Delete:
    source_key: SourceKey
    remote_id: str
    change_key: str | None
    reason: str  # "removed_from_source" | "left_window" | "duplicate" | "purge"

    @property
    def removes_key(self) -> bool:
        """The key's event goes, so its mapping becomes a tombstone; not for a duplicate copy, whose key
        keeps its mapped event."""
        return self.reason != "duplicate"


@dataclass(frozen=True, slots=True)
class Adopt:
    """Record an existing managed event in the mapping without writing to the calendar."""

    observed: ObservedEvent
    content_hash: str


@dataclass(frozen=True, slots=True)
class Skip:
    source_key: SourceKey
    reason: str  # "quarantined" | "user_deleted_respected" | "user_modified_kept" | "unchanged"


Action = Create | Update | Delete | Adopt | Skip

ActionStatus = Literal["ok", "failed", "indeterminate", "conflict", "gone"]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What happened to one write. `gone` means the event was no longer there (a delete's success, an
    update's cue to re-create); `indeterminate` means the outcome is unknown and must be resolved by
    looking the event up by its tag, never by creating again blindly."""

    action: Create | Update | Delete
    status: ActionStatus
    remote_id: str | None = None
    change_key: str | None = None
    error_code: str | None = None
    message: str | None = None
    retryable: bool = False


class CalendarTarget(Protocol):
    """One calendar per mailbox that calsync writes into."""

    async def list_managed(self, mailbox: str, window: Window) -> list[ObservedEvent]:
        """The mailbox's managed events: at least those overlapping the window (Window.contains), and
        any other copy of the same keys, wherever it is (the planner moves a copy that left the window
        back instead of creating a second one). A listing that fails part-way raises TargetError: a
        partial listing must never be taken for the truth."""
        ...

    async def find_by_key(self, mailbox: str, source_key: SourceKey) -> list[ObservedEvent]:
        """Managed events carrying this source key (used to resolve indeterminate creates)."""
        ...

    async def list_versions(self, mailbox: str) -> list[tuple[SourceKey, str, str]]:
        """(source key, remote id, change key) of every managed event, as `list_managed` lists them but
        nothing else (calsync.sync.unchanged); raises TargetError as it does."""
        ...

    async def edited_occurrences(
        self, mailbox: str, masters: Sequence[tuple[ObservedEvent, DesiredEvent]], window: Window
    ) -> set[str]:
        """The remote ids of those series masters (each with the desired series it should hold) of which
        a person changed an occurrence: an exception that is not what calsync wrote (calsync.sync.
        occurrences says which masters are worth asking about). Raises TargetError when it cannot tell."""
        ...

    async def apply(self, mailbox: str, actions: Sequence[Create | Update | Delete]) -> list[ActionResult]:
        """Run writes (batched, within the mailbox's limits); one result per action, same order. One
        action's failure does not stop the others."""
        ...


# -- what the state store keeps -------------------------------------------------------------------

MappingState = Literal["creating", "synced", "user_deleted", "detached", "deleting"]


@dataclass(frozen=True, slots=True)
class Mapping:
    """The stored link for one (mailbox, source key)."""

    mailbox: str
    source_key: SourceKey
    state: MappingState
    transaction_id: str
    generation: int = 0
    remote_id: str | None = None
    change_key: str | None = None
    content_hash: str | None = None  # hash of what calsync last wrote
    failures: int = 0

    @property
    def has_event(self) -> bool:
        """False for a tombstone: the key has no event of calsync's (see the module's Mapping states)."""
        return self.state != "detached"

    def detached(self) -> Mapping:
        """This key's tombstone: no event, and (unless it already is a tombstone, whose generation was
        never sent) the next generation, so the key's next create carries a transaction id never sent."""
        if self.state == "detached":
            return self
        return replace(
            self,
            state="detached",
            generation=self.generation + 1,
            remote_id=None,
            change_key=None,
            content_hash=None,
        )


@dataclass(frozen=True, slots=True)
class Quarantined:
    mailbox: str
    source_key: SourceKey
    code: str
    message: str
    failures: int


@dataclass
class RunReport:
    """The outcome of one run for one mailbox."""

    mailbox: str
    started: datetime
    finished: datetime | None = None
    status: Literal["ok", "partial", "failed", "stopped", "skipped", "not_applicable"] = "ok"
    created: int = 0
    updated: int = 0
    deleted: int = 0
    adopted: int = 0
    unchanged: int = 0
    failed: int = 0
    quarantined: int = 0
    error_code: str | None = None
    message: str | None = None
    problems: list[str] = field(default_factory=list)


class StateStore(Protocol):
    """Mappings, runs and quarantine. Each method commits on return (crash-safe per action)."""

    def mappings(self, mailbox: str) -> dict[SourceKey, Mapping]: ...

    def put_mapping(self, mapping: Mapping) -> None:
        """Insert or replace the mapping for (mapping.mailbox, mapping.source_key), committed."""
        ...

    def put_mappings(self, mappings: Iterable[Mapping]) -> None:
        """Several mappings in one transaction: all or none (a chunk's intents, a chunk's results)."""
        ...

    def delete_mapping(self, mailbox: str, source_key: SourceKey) -> None: ...

    def quarantined(self, mailbox: str) -> dict[SourceKey, Quarantined]: ...

    def put_quarantine(self, item: Quarantined) -> None: ...

    def release_quarantine(self, mailbox: str, source_key: SourceKey) -> None:
        """Let the item be tried again, with its failure count back at 0 (`calsync release`)."""
        ...

    def record_run(self, report: RunReport) -> None: ...

    def last_runs(self) -> list[RunReport]:
        """The latest run per mailbox."""
        ...
