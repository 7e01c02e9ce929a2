"""What a Graph change notification means for calsync: which mailboxes to reconcile, and nothing else.

Graph posts `{"value": [changeNotification, ...]}` (graph-facts §8). A batch may mix subscriptions,
repeat a notification, arrive out of order, and carry the echoes of calsync's own writes (service-facts
§5: "Our own writes notify us"). `receive_changes` turns a batch into the set of scopes (profile,
mailbox) whose run must be asked for, one per scope however many items name it:

- an item whose subscription calsync does not know, or whose clientState does not match the hash stored
  for that subscription (constant-time comparison), is ignored and counted (`ignored`);
- an item about an event calsync does not manage (a user's own meeting, or calsync's own create not yet
  recorded) is `foreign`: calsync repairs only its own events;
- an `updated`/`created` item carrying the changeKey calsync stored after its own last write to that
  event is an `echo`: calsync's own write, not a user's change;
- an item whose `id` was accepted before (Graph re-sends notifications) is a duplicate;
- the rest (a user's edit, a user's delete of a managed event) ask for a run of the mailbox, naming
  the event (`Hints`).

`reconcile` is that run, made when the mailbox's earlier runs have ended: it checks the window against
what calsync stored after its own writes (an echo that arrived before calsync recorded its write is
caught there), then repairs per the profile's policy (`user_changes`, `user_deletes`). A notification
is only a hint that the mailbox changed, never a payload to apply (service-facts §5: one occurrence's
delete arrives as an `updated` of the series master).

`receive_lifecycle` answers lifecycle events: `reauthorizationRequired` -> reauthorize (or renew);
`subscriptionRemoved` -> create a new subscription, then reconcile the mailbox; `missed` -> reconcile.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from calsync import metrics
from calsync.services import subscribing
from calsync.services.deployment import Deployment
from calsync.store.subscriptions import SubscriptionRecord, client_state_matches
from calsync.sync.engine import off_loop
from calsync.sync.ports import Mapping as SyncMapping
from calsync.sync.ports import ObservedEvent, RunReport

log = logging.getLogger("calsync.notifications")

_ETAG = re.compile(r'^(?:W/)?"(.*)"$')
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


Hints = dict[str, set[str] | None]
"""scope -> the ids of the events notifications named since its last run; None: unknown (a lifecycle
event said notifications were lost), so the whole mailbox is reconciled."""


@dataclass
class Received:
    """The outcome of one batch: the scopes to reconcile (with their hints), and what each item was."""

    scopes: Hints = field(default_factory=dict)
    changes: int = 0  # items that ask for a run (a user's change)
    echoes: int = 0  # calsync's own writes, and duplicates of notifications already received
    foreign: int = 0
    ignored: int = 0  # unknown subscription, wrong clientState, malformed item
    lifecycle: int = 0

    def want(self, scope: str, event_id: str | None) -> None:
        add_hint(self.scopes, scope, event_id)

    def merge(self, other: Received) -> None:
        merge_hints(self.scopes, other.scopes)
        self.changes += other.changes
        self.echoes += other.echoes
        self.foreign += other.foreign
        self.ignored += other.ignored
        self.lifecycle += other.lifecycle


def add_hint(hints: Hints, scope: str, event_id: str | None) -> None:
    """Note that `event_id` of `scope` changed (None: something unknown did)."""
    if event_id is None:
        hints[scope] = None
        return
    known = hints.setdefault(scope, set())
    if known is not None:
        known.add(event_id)


def merge_hints(into: Hints, more: Hints) -> None:
    for scope, ids in more.items():
        if ids is None:
            into[scope] = None
        else:
            for event_id in ids:
                add_hint(into, scope, event_id)


def items_of(payload: object) -> list[Mapping[str, Any]]:
    """The notifications of a posted body; anything not shaped like one is dropped (and counted by the
    caller as ignored)."""
    if not isinstance(payload, Mapping):
        return []
    value = payload.get("value")
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


async def _authentic(
    deployment: Deployment, items: Iterable[Mapping[str, Any]], done: Received
) -> list[tuple[Mapping[str, Any], SubscriptionRecord]]:
    """Items paired with their subscription's record; the rest ignored (unknown id, wrong clientState)."""
    items = list(items)
    ids = {i["subscriptionId"] for i in items if isinstance(i.get("subscriptionId"), str)}
    records = await off_loop(subscribing.table(deployment).by_ids, ids)
    good: list[tuple[Mapping[str, Any], SubscriptionRecord]] = []
    for item in items:
        record = records.get(str(item.get("subscriptionId")))
        if record is None or not client_state_matches(item.get("clientState"), record.client_state_hash):
            done.ignored += 1
            metrics.record_notification("ignored")
            continue
        good.append((item, record))
    return good


class RecentIds:
    """The ids of the last `limit` notifications accepted: Graph re-sends a notification with the same
    `id` (a retry whose 2xx it did not see, or a plain duplicate), and a duplicate that arrives after the
    repair would otherwise ask for a run that finds nothing to do."""

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def first_time(self, note_id: object) -> bool:
        if not isinstance(note_id, str) or not note_id:
            return True  # no id to recognise it by: treat it as new
        if note_id in self._ids:
            return False
        self._ids[note_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True


async def receive_changes(
    deployment: Deployment, items: Iterable[Mapping[str, Any]], seen: RecentIds | None = None
) -> Received:
    """Sort one batch of change notifications (see the module docstring); with `seen`, a notification
    whose id was accepted before is a duplicate and counted as an echo."""
    done = Received()
    by_scope: dict[str, list[Mapping[str, Any]]] = {}
    for item, record in await _authentic(deployment, items, done):
        if seen is not None and not seen.first_time(item.get("id")):
            done.echoes += 1
            metrics.record_notification("duplicate")
            continue
        by_scope.setdefault(record.scope, []).append(item)
    store = subscribing.table(deployment)
    for scope, notes in by_scope.items():
        ids = [_event_id(n) for n in notes]
        stored = await off_loop(store.managed_change_keys, scope, [i for i in ids if i])
        for note, event_id in zip(notes, ids, strict=True):
            kind = _classify(note, event_id, stored)
            metrics.record_notification(kind)
            if kind == "change":
                done.changes += 1
                done.want(scope, event_id)
            elif kind == "echo":
                done.echoes += 1
            else:
                done.foreign += 1
    if done.scopes:
        log.info("calsync.notifications.changed", extra={"mailboxes": len(done.scopes)})
    return done


def _classify(note: Mapping[str, Any], event_id: str | None, stored: Mapping[str, str | None]) -> str:
    if event_id is None or event_id not in stored:
        return "foreign"
    if note.get("changeType") == "deleted":
        return "change"  # calsync's own deletes leave no synced mapping behind: this was a user's
    received = _change_key(note)
    if received is not None and received == stored[event_id]:
        return "echo"
    return "change"


def _event_id(note: Mapping[str, Any]) -> str | None:
    data = note.get("resourceData")
    if isinstance(data, Mapping) and isinstance(data.get("id"), str):
        return str(data["id"])
    resource = note.get("resource")
    if isinstance(resource, str) and "/" in resource:  # Users/{id}/Events/{id}
        return resource.rstrip("/").rsplit("/", 1)[1] or None
    return None


def _change_key(note: Mapping[str, Any]) -> str | None:
    data = note.get("resourceData")
    etag = data.get("@odata.etag") if isinstance(data, Mapping) else None
    if not isinstance(etag, str):
        return None
    match = _ETAG.match(etag)
    return match[1] if match else etag


async def receive_lifecycle(deployment: Deployment, items: Iterable[Mapping[str, Any]]) -> Received:
    """Answer lifecycle events (see the module docstring); the scopes returned are to be reconciled."""
    done = Received()
    store = subscribing.table(deployment)
    for item, known in await _authentic(deployment, items, done):
        event = item.get("lifecycleEvent")
        if event not in LIFECYCLE_EVENTS:
            done.ignored += 1
            metrics.record_notification("ignored")
            continue
        done.lifecycle += 1
        metrics.record_notification(f"lifecycle_{event}")
        log.info("calsync.notifications.lifecycle", extra={"scope": known.scope, "event": event})
        record = known.with_event(str(event), deployment.clock())
        client = await deployment.graph()
        if event == "reauthorizationRequired":
            await off_loop(store.put, record)
            await subscribing.reauthorize(deployment, client, store, record)
        elif event == "subscriptionRemoved":
            removed = replace(record, status="removed")
            await off_loop(store.put, removed)
            await subscribing.create(deployment, client, store, record.scope, removed)
            done.want(record.scope, None)
        else:  # missed: some notifications were never delivered
            await off_loop(store.put, record)
            done.want(record.scope, None)
    return done


async def reconcile(
    deployment: Deployment,
    scope: str,
    *,
    named: set[str] | None,
    incremental: bool,
    stopping: asyncio.Event | None = None,
) -> tuple[RunReport | None, bool]:
    """The run a notification asked for, once the mailbox's earlier runs have ended (the runtime runs
    one per mailbox at a time): if every managed event in the window still carries the changeKey calsync
    stored after its own last write, and none the notifications `named` is missing (None: notifications
    were lost, reconcile anyway), the notifications were echoes of
    calsync's own writes (or about foreign events) and nothing is repaired; then only the `incremental`
    run also asked for, if any, is made (no report when none was). Otherwise a run that re-reads the mailbox
    and the source (full: a feed's 304 must not skip it) repairs per the profile's policy.

    Deciding here rather than when the notification arrived matters: the echo of a repair usually
    arrives while the repairing run is still recording its results.

    Returns the run's report (None when no run was made) and whether the mailbox needed repair."""
    from calsync.services.syncing import sync_mailbox
    from calsync.store.scoped import split_scope
    from calsync.sync.ports import TargetError

    profile, mailbox = split_scope(scope)
    view = deployment.profile(profile)
    engine = await view.engine()
    try:
        observed = await engine.target.list_managed(mailbox, view.window())
        mappings = await off_loop(view.store.mappings, mailbox)
        steady = named is not None and in_step(observed, mappings.values(), named)
    except TargetError:
        steady = False  # the run finds and records the same failure
    if not steady:
        log.info("calsync.notifications.repairing", extra={"scope": scope})
        return await sync_mailbox(deployment, mailbox, profile=profile, full=True, stopping=stopping), True
    if incremental:
        return await sync_mailbox(deployment, mailbox, profile=profile, stopping=stopping), False
    return None, False


def in_step(observed: Iterable[ObservedEvent], mappings: Iterable[SyncMapping], named: set[str]) -> bool:
    """Whether the window's managed events are exactly what calsync last wrote: each known, with the
    changeKey stored after calsync's own write, not edited (content hash), not twice; and every managed
    event a notification named still there (a user's delete, or a move out of the window, is not)."""
    written = {m.remote_id: m.change_key for m in mappings if m.state == "synced" and m.remote_id}
    seen: set[str] = set()
    for event in observed:
        if event.user_modified or event.remote_id in seen or written.get(event.remote_id) != event.change_key:
            return False
        seen.add(event.remote_id)
    return all(event_id in seen for event_id in named if event_id in written)
