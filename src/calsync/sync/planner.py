"""The planner: desired events x observed managed events x mappings -> a plan (pure, deterministic).

Rules, per source key (documented in docs/sync.md):

- The window rule (`Window.contains`) is applied identically to desired and observed events, so an
  event on an edge is in on both sides or out on both; it never flaps. A key is in scope when its
  desired event or one of its observed copies is in the window; all copies of an in-scope key count,
  also those outside the window (moved there by the user or by an earlier source version): such a copy
  is updated back, never left behind as a second tagged copy. Keys with nothing in the window are left
  alone. A series master (calsync.domain.series) is in the window while its span is: from its first
  occurrence to two days after its range's end date; the adapter reports an observed master with that
  span, so both sides use the same rule. An item that is now a series master in the window also brings
  into scope its former single event and occurrences outside the window: the series shows those dates
  too, so they are deleted (a switch to `recurrence = "series"` mid-term leaves no second copy).
- Only observed (managed) events are ever updated or deleted: foreign events never reach the planner.
- A desired event with no observed copy is created, with a transaction id derived from the mapping's
  generation. When the mapping says calsync had created it (state synced) the user deleted it: policy
  `recreate` creates it again with the next generation, `respect` skips it and remembers the choice.
- A tombstone (mapping state `detached`: calsync deleted the key's event because the source dropped it,
  or on purge) counts as no mapping, except that a create uses its generation as is (already bumped when
  the event was deleted): a key that comes back gets a new transaction id, and is not taken for a user's
  delete. An observed copy of a key with a tombstone (a delete that was lost) is handled as one the
  mapping does not know: adopted if the source has the key, else deleted.
- An observed copy whose content hash differs from the desired hash is updated. One that the user
  edited (the adapter sees its content no longer matches the hash calsync wrote) is put back under
  `source-wins`, kept under `keep-user-changes` (until the source itself changes that event).
- An observed event whose key the source no longer has is deleted, except when its key is protected
  (the source reported a problem with that item this run: never delete its last good copy).
- Several observed copies of one key: the mapped one (else the lowest remote id) is kept, the rest
  deleted as duplicates. An observed copy the mapping does not know is adopted, not created again.
- Quarantined keys are skipped.

Output order is deterministic (sorted by source key) so runs replay identically (SC-12).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from calsync.domain import DesiredEvent, SourceKey, Window, content_hash, event_span
from calsync.domain.series import SERIES_SUFFIX
from calsync.sync.ports import Action, Adopt, Create, Delete, Mapping, ObservedEvent, Skip, Update

UserChanges = Literal["source-wins", "keep-user-changes"]
UserDeletes = Literal["recreate", "respect"]


@dataclass(frozen=True, slots=True)
class Policy:
    """How the planner treats users' own changes to managed events."""

    user_changes: UserChanges = "source-wins"
    user_deletes: UserDeletes = "recreate"


@dataclass(frozen=True, slots=True)
class PlanInput:
    """Everything the planner looks at for one mailbox."""

    tenant_id: str
    mailbox: str
    window: Window
    desired: tuple[DesiredEvent, ...]
    observed: tuple[ObservedEvent, ...]
    mappings: dict[SourceKey, Mapping]
    quarantined: frozenset[SourceKey] = frozenset()
    protected_prefixes: frozenset[str] = frozenset()
    policy: Policy = field(default_factory=Policy)


def transaction_id(tenant_id: str, mailbox: str, source_key: str, generation: int) -> str:
    """The deterministic Graph transactionId of a create: the same inputs always give the same id, so
    a retried or re-planned create cannot make a second event; a new generation gives a new id."""
    raw = f"calsync|{tenant_id}|{mailbox.lower()}|{source_key}|{generation}".encode()
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:24]).decode()


def _is_protected(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + "/") for p in prefixes)


def plan(inp: PlanInput) -> list[Action]:
    """The actions that make the mailbox's managed events equal to the desired ones."""
    desired_all: dict[SourceKey, DesiredEvent] = {}
    for event in inp.desired:
        desired_all.setdefault(event.source_key, event)  # sources report duplicates; the first wins
    desired = {k: e for k, e in desired_all.items() if inp.window.contains(*event_span(e))}
    by_key: dict[SourceKey, list[ObservedEvent]] = {}
    for obs in inp.observed:
        by_key.setdefault(obs.source_key, []).append(obs)
    # A key is in scope when its desired event or one of its copies is in the window; then all its
    # copies count, wherever they are (a copy moved out of the window is moved back, not duplicated).
    observed_in = {o.source_key for o in inp.observed if inp.window.contains(o.start, o.end)}
    replaced = _replaced_by_series(desired, desired_all, by_key)

    actions: list[Action] = []
    for key in sorted(set(desired) | observed_in | replaced):
        mapping = inp.mappings.get(key)
        copies = by_key.get(key, [])
        keep, duplicates = _choose(copies, mapping if mapping is not None and mapping.has_event else None)
        actions.extend(Delete(key, d.remote_id, d.change_key, "duplicate") for d in duplicates)
        if key in inp.quarantined:
            actions.append(Skip(key, "quarantined"))
            continue
        wanted = desired.get(key) or (desired_all.get(key) if keep is not None else None)
        if wanted is None:
            if keep is not None and not _is_protected(key, inp.protected_prefixes):
                actions.append(Delete(key, keep.remote_id, keep.change_key, "removed_from_source"))
            continue
        actions.extend(_plan_key(inp, key, wanted, keep, mapping))
    return actions


def _replaced_by_series(
    desired: dict[SourceKey, DesiredEvent],
    desired_all: dict[SourceKey, DesiredEvent],
    observed: dict[SourceKey, list[ObservedEvent]],
) -> set[SourceKey]:
    """Keys of an item's single event or occurrences (`<item>`, `<item>/<start>`) the source no longer
    has, wherever they are, when the item is now a series master (`<item>/series`) in the window: the
    series shows all of its occurrences, also those behind the window, so a copy kept there would show
    twice (a deployment that switches to series mid-term). Outside the window otherwise left alone."""
    items = {k[: -len(SERIES_SUFFIX)] for k, e in desired.items() if e.series is not None}
    if not items:
        return set()
    return {
        k for k in observed if k not in desired_all and (k[: k.rfind("/") + 1] in items or f"{k}/" in items)
    }


def _choose(
    copies: list[ObservedEvent], mapping: Mapping | None
) -> tuple[ObservedEvent | None, list[ObservedEvent]]:
    if not copies:
        return None, []
    ordered = sorted(copies, key=lambda o: o.remote_id)
    if mapping is not None and mapping.remote_id is not None:
        mapped = [o for o in ordered if o.remote_id == mapping.remote_id]
        if mapped:
            return mapped[0], [o for o in ordered if o is not mapped[0]]
    return ordered[0], ordered[1:]


def _plan_key(
    inp: PlanInput, key: SourceKey, event: DesiredEvent, keep: ObservedEvent | None, mapping: Mapping | None
) -> list[Action]:
    digest = content_hash(event)
    if keep is None:
        generation = mapping.generation if mapping is not None else 0  # a tombstone's: already the next
        if (
            mapping is not None
            and mapping.remote_id is not None
            and mapping.state in ("synced", "user_deleted")
        ):
            # calsync made it and it is gone: the user deleted it.
            if inp.policy.user_deletes == "respect":
                return [Skip(key, "user_deleted_respected")]
            generation += 1
        txid = transaction_id(inp.tenant_id, inp.mailbox, key, generation)
        return [Create(event, digest, txid)]
    actions: list[Action] = []
    live = mapping if mapping is not None and mapping.has_event else None  # a tombstone knows no event
    if live is None or (live.remote_id, live.change_key) != (keep.remote_id, keep.change_key):
        actions.append(Adopt(keep, keep.content_hash or ""))
    source_changed = keep.content_hash != digest
    if source_changed or (keep.user_modified and inp.policy.user_changes == "source-wins"):
        actions.append(Update(event, digest, keep.remote_id, keep.change_key))
    elif keep.user_modified:
        actions.append(Skip(key, "user_modified_kept"))
    elif not actions:
        actions.append(Skip(key, "unchanged"))
    return actions


def summarise(actions: Iterable[Action]) -> dict[str, int]:
    """Counts per action kind, for reports and `calsync plan`."""
    counts = {"create": 0, "update": 0, "delete": 0, "adopt": 0, "skip": 0}
    for action in actions:
        counts[type(action).__name__.lower()] += 1
    return counts
