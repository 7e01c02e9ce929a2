"""SC-01: a Hypothesis RuleBasedStateMachine driving the real sync engine against graphemu in-process.

The machine owns its model of the source (mailbox -> source key -> DesiredEvent) and drives the real
`Engine` + `GraphCalendarTarget` + `GraphClient` against graphemu through `EmulatorTransport`, with a fake
clock (sleeps advance graphemu's clock; nothing really waits), a state store drawn per example
(`MemoryStateStore` or `SqlStateStore` on SQLite) and graphemu's answer to a reused transactionId drawn
per example too ("return-original", or "conflict": 409 even after the original was deleted, so any
transactionId calsync sends twice for two events fails the final check). Two mailboxes share one pool of
source keys. Rules:

- source: add, edit (time, subject, location, time zone), delete, reinstate a deleted event as it was;
  `source_cancels_then_reinstates`: delete one, sync, bring it back (a cancelled lecture reinstated);
  times include the window's edges (an event ending exactly at the window start, one starting exactly
  at its end, zero-length ones, all-day ones at midnight in three zones, events straddling an edge) and
  events outside the window;
- the window moves forward by whole days (SC-07);
- user, through Graph with another app's token: edit a managed event (subject, location, time: a little,
  or far out of the window), delete one, copy one (Outlook copies keep the tag), create a foreign
  (untagged) event;
- a fault profile for the next sync (PUT /_emu/faults): random 429/5xx at a rate, commit-then-drop with
  mode reset/timeout/503, transient 412, or all of them; it is cleared after that sync;
- `sync` (faults may leave a run partial: allowed), `sync_with_user_edit` (a user edits or deletes an
  event while the run is in flight, just before its k-th request: CF-08's concurrent edit),
  `lose_database` (the store is replaced by an empty one; not in "conflict" mode, where the lost
  tombstones make a returning key take one run per generation it had used), `crash_restart`, `purge`
  (`calsync purge`: tombstones.purge and the store's purge_mailbox, perhaps killed at its k-th effect).

Crash model (`crash_restart`): the process dies at the k-th *effect* of a run. Effects are every HTTP
exchange of the engine's client and every state-store write (each store method commits on return); the
crash hits either before the effect (the request is not sent / nothing is committed) or after it (the
server applied the request but the answer is lost / the row is committed and nothing after it runs).
It is raised as a BaseException that nothing in calsync catches; the engine, its client and whatever
they held in memory are thrown away and the next run starts from the store as committed. The engine is
single-threaded asyncio, so as far as graphemu and the database can tell these are all the points where
a real SIGKILL can land. test_crash.py kills a real `calsync sync` process with SIGKILL.

Checked at every step: calsync never has two live events of its own (with a transactionId) for one
mailbox and key (CF-02 "no event created twice"); a run stopped by the empty-source rail sent no
DELETE (SC-05); a fault-free run sends at most one create or update per key (SC-08).

Final check (teardown): faults off, then `sync` until a run sends no write, at most 3 runs (SC-03), with
`--force` only for a mailbox whose source is empty in the window (the documented override, SC-05); then
nothing is quarantined (every fault was transient) and the invariants of SC-01 hold: (a) every in-window
source event has a managed event in the window, (b) exactly one tagged event per key (anywhere),
(c) no in-window managed event without an in-window source event, (d) subject, start, end, location and
all-day equal, (e) the mapping is a bijection over its non-detached rows and agrees with graphemu's ids
and changeKeys, (f) foreign events byte-identical (stored props and changeKey), (g) a tombstone has no
event and, unless the database was lost, its generation's transactionId was never sent. One more run
sends 0 writes, at most one read per mailbox, and leaves the mapping unchanged (SC-02). Policy: the
defaults (source-wins, recreate).

Runs: HYPOTHESIS_PROFILE=ci: CI_EXAMPLES x CI_STEPS (SC-01's CI figure, about 50 s here; < 3 min on a
CI machine); other profiles: DEV_EXAMPLES x DEV_STEPS. CALSYNC_SM_EXAMPLES / CALSYNC_SM_STEPS override
both (nightly: 5000 examples). graphemu's ids and changeKeys come from a seeded RNG, so a failing
program printed by Hypothesis replays identically.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal, TypeVar
from unittest import mock
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import graphemu.ids
from calsync.adapters.eventmap import TAG_ID
from calsync.adapters.graph_target import GraphCalendarTarget
from calsync.domain import DesiredEvent, SourceKey, Window, normalise
from calsync.graph import GraphClient
from calsync.store import MemoryStateStore, SqlStateStore, make_engine, upgrade
from calsync.sync import tombstones
from calsync.sync.engine import Engine, SourceSnapshot
from calsync.sync.planner import transaction_id
from calsync.sync.ports import Mapping, RunReport, StateStore
from graphemu import EmulatorConfig, create_app, world_from_seed
from graphemu.testing import EmulatorTransport
from tests.calsync.graph.conftest import ALEX, CLIENT, GRAPH, SEED, EmuTokens, FakeClock, fast_policy

TENANT = SEED["tenants"][0]["id"]
ADELE = "adele@contoso.onmicrosoft.com"
MAILBOXES = (ADELE, ALEX)
USER_APP = "22222222-3333-4444-8555-666666666666"  # "the user": another app, so the log tells them apart
WORLD_SEED: dict[str, Any] = {
    **SEED,
    "apps": [
        *SEED["apps"],
        {
            "clientId": USER_APP,
            "displayName": "Outlook (the user)",
            "secrets": [{"value": "user-app-secret"}],
            "applicationPermissions": ["Calendars.ReadWrite"],
        },
    ],
}
WINDOW = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
KEYS = tuple(SourceKey(f"ics:k{i}") for i in range(7))
ZONES = ("Europe/Berlin", "UTC", "America/New_York")
WRITE_METHODS = ("POST", "PATCH", "DELETE")
NO_FAULTS: dict[str, Any] = {"rate": 0.0, "commit_then_drop_rate": 0.0, "transient_412_rate": 0.0}

CI_EXAMPLES, CI_STEPS = 200, 50
DEV_EXAMPLES, DEV_STEPS = 25, 30

T = TypeVar("T")
TxidMode = Literal["return-original", "conflict"]
EVERYTHING = Window(datetime(1601, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))  # as calsync purge


class Crash(BaseException):
    """The simulated SIGKILL: a BaseException, so no `except Exception` in calsync can swallow it."""


# -- times, relative to the window in force when a rule runs ---------------------------------------

H = timedelta(hours=1)
D = timedelta(days=1)
EDGES: tuple[Callable[[datetime, datetime], tuple[datetime, datetime]], ...] = (
    lambda ws, we: (ws - H, ws),  # 0 ends exactly at the window start: out
    lambda ws, we: (ws, ws + H),  # 1 starts exactly at the window start: in
    lambda ws, we: (ws - H, ws + H),  # 2 straddles the start: in
    lambda ws, we: (we - H, we),  # 3 ends exactly at the window end: in
    lambda ws, we: (we, we + H),  # 4 starts exactly at the window end: out
    lambda ws, we: (we - H, we + H),  # 5 straddles the end: in
    lambda ws, we: (ws, ws),  # 6 zero length at the start: in
    lambda ws, we: (we, we),  # 7 zero length at the end: out
    lambda ws, we: (ws - 10 * D, ws - 9 * D),  # 8 well before: out
    lambda ws, we: (we + 10 * D, we + 10 * D + 2 * H),  # 9 well after: out
    lambda ws, we: (ws + D, ws + D + 30 * H),  # 10 overnight, a day in: in
)
# all-day days: indexes 0-3 count from the day before the window starts, 4-6 from the day it ends
ALL_DAY_DAYS = (0, 1, 2, 40, -2, -1, 0)


@dataclass(frozen=True)
class When:
    """A source event's time, resolved against the current window (so an edge stays an edge)."""

    kind: str  # "inside" | "edge" | "all_day"
    zone: str = "UTC"
    day: int = 0  # inside: days after the window start; all_day: index into ALL_DAY_DAYS
    minute: int = 0
    length: int = 60  # minutes (inside) or days (all_day)
    edge: int = 0

    def resolve(self, window: Window) -> tuple[datetime, datetime, bool]:
        """(start, end, all_day)."""
        ws, we = window.start, window.end
        if self.kind == "edge":
            return (*EDGES[self.edge](ws, we), False)
        if self.kind == "all_day":
            offset = ALL_DAY_DAYS[self.day]
            base = ws.date() - D if self.day < 4 else we.date()
            day = base + timedelta(days=offset)
            zone = ZoneInfo(self.zone)
            last = day + timedelta(days=self.length)
            start = datetime(day.year, day.month, day.day, tzinfo=zone)
            return start, datetime(last.year, last.month, last.day, tzinfo=zone), True
        start = ws + timedelta(days=self.day, minutes=self.minute)
        return start, start + timedelta(minutes=self.length), False


whens = st.one_of(
    st.builds(
        When,
        kind=st.just("inside"),
        zone=st.sampled_from(ZONES),
        day=st.integers(0, 151),
        minute=st.integers(7 * 4, 19 * 4).map(lambda q: q * 15),
        length=st.sampled_from((30, 60, 90, 120)),
    ),
    st.builds(When, kind=st.just("edge"), zone=st.sampled_from(ZONES), edge=st.integers(0, len(EDGES) - 1)),
    st.builds(
        When,
        kind=st.just("all_day"),
        zone=st.sampled_from(ZONES),
        day=st.integers(0, len(ALL_DAY_DAYS) - 1),
        length=st.integers(1, 2),
    ),
)
subjects = st.text(alphabet="abcXYZ éΩ-", min_size=1, max_size=8).map(lambda s: f"Lecture {s}")
locations = st.sampled_from(("", "HS 1", "HS 2", "Room 3.14", "Aula"))
mailboxes = st.sampled_from(MAILBOXES)
keys = st.sampled_from(KEYS)
picks = st.integers(0, 1000)  # an index into a list known only at run time (modulo its length)
user_whats = st.sampled_from(("subject", "location", "time", "time", "delete", "delete", "copy"))
shifts = st.sampled_from((30, -90, 24 * 60, -7 * 24 * 60, 400 * 24 * 60))  # minutes; the last: far out


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"}


def tag(item: dict[str, Any]) -> str | None:
    return (item.get("extended") or {}).get(TAG_ID) or None


def body_key(entry: dict[str, Any]) -> str | None:
    body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
    for prop in body.get("singleValueExtendedProperties") or ():
        if prop.get("id") == TAG_ID:
            return str(prop.get("value"))
    return None


def is_write(entry: dict[str, Any]) -> bool:
    return entry["method"] in WRITE_METHODS or "$batch" in entry["path"]


# -- the harness: graphemu, the engine's client with crash points, the user's client ---------------


class Effects:
    """Counts the engine's effects during one run and crashes (or lets the user meddle) at one of them."""

    def __init__(self) -> None:
        self.count = 0
        self.crash_at: int | None = None
        self.crash_after = False
        self.meddle_at: int | None = None
        self.meddle: Callable[[], Coroutine[Any, Any, None]] | None = None

    def arm(self, *, crash_at: int | None = None, after: bool = False) -> None:
        self.count, self.crash_at, self.crash_after = 0, crash_at, after

    def disarm(self) -> None:
        self.crash_at, self.meddle_at, self.meddle = None, None, None

    def before(self) -> None:
        self.count += 1
        if self.crash_at == self.count and not self.crash_after:
            raise Crash(f"before effect {self.count}")

    def after(self) -> None:
        if self.crash_at == self.count and self.crash_after:
            raise Crash(f"after effect {self.count}")


class CrashingTransport(httpx.AsyncBaseTransport):
    """The engine's HTTP: each exchange is an effect; the user may meddle just before the k-th."""

    def __init__(self, inner: httpx.AsyncBaseTransport, effects: Effects) -> None:
        self.inner, self.effects = inner, effects

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        effects = self.effects
        effects.before()
        if (
            effects.meddle is not None
            and effects.meddle_at is not None
            and effects.count >= effects.meddle_at
        ):
            meddle, effects.meddle = effects.meddle, None
            with contextlib.suppress(Exception):  # the user's edit failed under the run's faults
                await meddle()
        response = await self.inner.handle_async_request(request)
        effects.after()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class CrashingStore:
    """The state store with every write an effect (each store method commits on return)."""

    WRITES = frozenset(
        {
            "put_mapping",
            "put_mappings",
            "delete_mapping",
            "put_quarantine",
            "release_quarantine",
            "record_run",
        }
    )

    def __init__(self, inner: StateStore, effects: Effects) -> None:
        self.inner, self.effects = inner, effects

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if name not in self.WRITES:
            return value

        @functools.wraps(value)
        def write(*args: Any, **kwargs: Any) -> Any:
            self.effects.before()
            result = value(*args, **kwargs)
            self.effects.after()
            return result

        return write


def new_store(kind: str) -> MemoryStateStore | SqlStateStore:
    if kind == "memory":
        return MemoryStateStore()
    engine = make_engine("sqlite://")  # one shared in-memory connection, migrated like a real database
    upgrade(engine)
    return SqlStateStore(engine)


class Harness:
    """One graphemu world, the engine's client (rebuilt after a crash), the user's client, the store."""

    def __init__(self, seed: int, store: str = "memory", txids: TxidMode = "return-original") -> None:
        self.loop = asyncio.new_event_loop()
        ids_rng = random.Random(seed)  # graphemu's ids and changeKeys, so a failing program replays
        self._ids = mock.patch.object(graphemu.ids, "secrets", SimpleNamespace(token_bytes=ids_rng.randbytes))
        self._ids.start()
        self.store_kind = store
        self.world = world_from_seed(WORLD_SEED)
        self.txids = txids  # graphemu's answer to a reused transactionId (graph-facts §4)
        self.app = create_app(self.world, EmulatorConfig(duplicate_transaction_id=txids))
        self.clock = FakeClock(on_advance=self.world.clock.advance)
        self.tokens = EmuTokens(self.app, CLIENT, lifetime=10**8)
        self.user_tokens = EmuTokens(self.app, USER_APP, lifetime=10**8)
        self.control = httpx.AsyncClient(
            transport=EmulatorTransport(self.app), base_url="https://graph.microsoft.com"
        )
        self.user = GraphClient(
            self.user_tokens,
            base_url=GRAPH,
            transport=EmulatorTransport(self.app),
            clock=self.clock,
            rng=random.Random(seed + 1),
            retry=fast_policy(),
        )
        self.effects = Effects()
        self.store = new_store(store)
        self.client: GraphClient | None = None
        self.engine: Engine | None = None
        self.restarts = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def fresh_engine(self) -> Engine:
        """A new process: a new client (no memory of earlier Retry-After) over the same database."""
        if self.client is not None:
            self.run(self.client.aclose())
        self.restarts += 1
        self.client = GraphClient(
            self.tokens,
            base_url=GRAPH,
            transport=CrashingTransport(EmulatorTransport(self.app), self.effects),
            clock=self.clock,
            rng=random.Random(self.restarts),
        )
        self.engine = Engine(
            GraphCalendarTarget(self.client),
            CrashingStore(self.store, self.effects),  # type: ignore[arg-type]
            tenant_id=TENANT,
            chunk_size=5,  # several chunks per run: results are committed between them
        )
        return self.engine

    def ensure_engine(self) -> Engine:
        return self.engine or self.fresh_engine()

    def lose_database(self) -> None:
        self._dispose()
        self.store = new_store(self.store_kind)
        self.engine = None

    def _dispose(self) -> None:
        if isinstance(self.store, SqlStateStore):
            self.store.engine.dispose()

    def close(self) -> None:
        try:
            for client in (self.client, self.user):
                if client is not None:
                    self.run(client.aclose())
            self.run(self.control.aclose())
            self.run(self.tokens.aclose())
            self.run(self.user_tokens.aclose())
            self._dispose()
        finally:
            self.loop.close()
            self._ids.stop()

    # -- graphemu's truth ----------------------------------------------------------------------------

    async def events(self, mailbox: str) -> list[dict[str, Any]]:
        response = await self.control.get(f"/_emu/events/{mailbox}")
        response.raise_for_status()
        return list(response.json()["value"])

    async def last_seq(self) -> int:
        log = (await self.control.get("/_emu/requests")).json()["value"]
        return int(log[-1]["seq"]) if log else 0

    async def engine_log_since(self, seq: int) -> list[dict[str, Any]]:
        """The engine's requests after `seq` (the user's app is left out)."""
        log = (await self.control.get("/_emu/requests", params={"since": seq})).json()["value"]
        return [e for e in log if e["client_id"] == CLIENT]

    async def set_faults(self, profile: dict[str, Any]) -> None:
        (await self.control.put("/_emu/faults", json=profile)).raise_for_status()

    async def sync_all(
        self,
        sources: dict[str, tuple[DesiredEvent, ...]],
        window: Window,
        *,
        force: frozenset[str] = frozenset(),
    ) -> list[RunReport]:
        engine = self.engine
        assert engine is not None, "call ensure_engine() first (outside the event loop)"
        reports = []
        for mailbox in MAILBOXES:
            snapshot = SourceSnapshot("ok", sources.get(mailbox, ()))
            report, _ = await engine.run(mailbox, snapshot, window, force=mailbox in force)
            reports.append(report)
        return reports


# -- the machine -----------------------------------------------------------------------------------


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Mark the machine broken while a step runs, so after a failed step teardown only cleans up."""

    @functools.wraps(method)
    def step(self: SyncMachine, *args: Any, **kwargs: Any) -> None:
        self.broken = True
        method(self, *args, **kwargs)
        self.broken = False

    return step


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h: Harness | None = None
        self.broken = False
        self.window = WINDOW
        self.source: dict[str, dict[SourceKey, DesiredEvent]] = {m: {} for m in MAILBOXES}
        self.removed: dict[str, dict[SourceKey, DesiredEvent]] = {m: {} for m in MAILBOXES}  # to reinstate
        self.lost_database = False
        self.foreign: dict[str, dict[str, tuple[Any, str]]] = {m: {} for m in MAILBOXES}
        self.faults: dict[str, Any] | None = None

    @property
    def harness(self) -> Harness:
        assert self.h is not None
        return self.h

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        store=st.sampled_from(("memory", "sqlite")),
        txids=st.sampled_from(("return-original", "conflict")),
    )
    def start(self, seed: int, store: str, txids: TxidMode = "return-original") -> None:
        self.h = Harness(seed, store, txids)
        self.harness.fresh_engine()

    def _desired(self, mailbox: str, key: SourceKey, subject: str, when: When, location: str) -> DesiredEvent:
        start, end, all_day = when.resolve(self.window)
        event = DesiredEvent(
            mailbox, key, subject, start, end, time_zone=when.zone, all_day=all_day, location=location
        )
        return normalise(event)

    def _in_window_source(self, mailbox: str) -> dict[SourceKey, DesiredEvent]:
        return {k: e for k, e in self.source[mailbox].items() if self.window.contains(e.start, e.end)}

    # -- the source and the window -------------------------------------------------------------------

    @rule(mailbox=mailboxes, key=keys, subject=subjects, when=whens, location=locations)
    def source_add(self, mailbox: str, key: SourceKey, subject: str, when: When, location: str) -> None:
        if key not in self.source[mailbox]:
            self.source[mailbox][key] = self._desired(mailbox, key, subject, when, location)

    @rule(
        mailbox=mailboxes,
        pick=picks,
        what=st.sampled_from(("time", "subject", "location", "zone")),
        subject=subjects,
        when=whens,
        location=locations,
    )
    def source_edit(
        self, mailbox: str, pick: int, what: str, subject: str, when: When, location: str
    ) -> None:
        events = self.source[mailbox]
        if not events:
            return
        key = sorted(events)[pick % len(events)]
        old = events[key]
        if what == "time":
            events[key] = self._desired(mailbox, key, old.subject, when, old.location)
        elif what == "zone" and not old.all_day:  # an all-day event's midnights belong to its zone
            events[key] = replace(old, time_zone=when.zone)
        elif what == "subject":
            events[key] = normalise(replace(old, subject=subject))
        elif what == "location":
            events[key] = normalise(replace(old, location=location))

    @rule(mailbox=mailboxes, pick=picks)
    def source_delete(self, mailbox: str, pick: int) -> None:
        events = self.source[mailbox]
        if events:
            key = sorted(events)[pick % len(events)]
            self.removed[mailbox][key] = events.pop(key)

    @rule(mailbox=mailboxes, pick=picks)
    def source_reinstates(self, mailbox: str, pick: int) -> None:
        """A removed event comes back as it was (a cancelled lecture reinstated): same key, same content."""
        removed = {k: e for k, e in self.removed[mailbox].items() if k not in self.source[mailbox]}
        if removed:
            key = sorted(removed)[pick % len(removed)]
            self.source[mailbox][key] = self.removed[mailbox].pop(key)

    @rule(mailbox=mailboxes, pick=picks)
    @guarded
    def source_cancels_then_reinstates(self, mailbox: str, pick: int) -> None:
        """A lecture is cancelled, a run deletes its event (under the pending fault profile; with --force
        if it was the mailbox's last one, the empty-source rail's override), and the lecture is reinstated:
        the next run creates it again, with a transactionId of its own."""
        inside = sorted(self._in_window_source(mailbox))
        if not inside:
            return
        key = inside[pick % len(inside)]
        cancelled = self.source[mailbox].pop(key)
        self._sync(final=True)
        self.source[mailbox][key] = cancelled
        self.removed[mailbox].pop(key, None)

    @rule(days=st.sampled_from((1, 1, 1, 7)))
    def window_moves(self, days: int) -> None:
        """The next run's window starts `days` later (Window.around on a later day)."""
        self.window = Window(self.window.start + timedelta(days=days), self.window.end + timedelta(days=days))

    # -- the user, in Outlook -------------------------------------------------------------------------

    async def _user_change(self, mailbox: str, pick: int, what: str, shift: int) -> None:
        managed = sorted((e for e in await self.harness.events(mailbox) if tag(e)), key=lambda e: e["id"])
        if not managed:
            return
        item = managed[pick % len(managed)]
        user, props = self.harness.user, item["props"]
        if what == "delete":
            await user.delete_event(mailbox, item["id"])
        elif what == "copy":  # Outlook's copy keeps the named properties: a second tagged event
            extended = [{"id": k, "value": v} for k, v in sorted(item["extended"].items())]
            body = {
                "subject": props["subject"],
                "start": props["start"],
                "end": props["end"],
                "isAllDay": props["isAllDay"],
                "location": {"displayName": props["location"]["displayName"]},
                "singleValueExtendedProperties": extended,
            }
            await user.create_event(mailbox, body)
        elif what == "subject":
            await user.update_event(mailbox, item["id"], {"subject": props["subject"] + " (moved to Zoom)"})
        elif what == "location":
            await user.update_event(mailbox, item["id"], {"location": {"displayName": "Somewhere else"}})
        elif props["isAllDay"]:  # moving an all-day event needs midnights: the user renames it instead
            await user.update_event(mailbox, item["id"], {"subject": props["subject"] + "!"})
        else:
            delta = timedelta(minutes=shift)
            patch = {
                "start": _graph_time(_utc(item["start"]) + delta),
                "end": _graph_time(_utc(item["end"]) + delta),
            }
            await user.update_event(mailbox, item["id"], patch)

    @rule(mailbox=mailboxes, pick=picks, what=user_whats, shift=shifts)
    @guarded
    def user_changes_managed_event(self, mailbox: str, pick: int, what: str, shift: int) -> None:
        self.harness.run(self._user_change(mailbox, pick, what, shift))

    @rule(mailbox=mailboxes, subject=subjects, when=whens)
    @guarded
    def user_creates_foreign_event(self, mailbox: str, subject: str, when: When) -> None:
        start, end, _ = when.resolve(self.window)

        async def go() -> None:
            body = {
                "subject": "Private: " + subject,
                "start": _graph_time(start),
                "end": _graph_time(end),
                "location": {"displayName": "Dentist"},
            }
            created = await self.harness.user.create_event(mailbox, body)
            stored = {e["id"]: e for e in await self.harness.events(mailbox)}[created["id"]]
            self.foreign[mailbox][created["id"]] = (stored["props"], stored["changeKey"])

        self.harness.run(go())

    # -- faults and runs ------------------------------------------------------------------------------

    @rule(
        seed=st.integers(0, 2**16),
        kind=st.sampled_from(("errors", "drop", "412", "mixed")),
        rate=st.sampled_from((0.1, 0.3, 0.5)),
        mode=st.sampled_from(("reset", "timeout", "503")),
        statuses=st.sampled_from(((429,), (500, 502, 503, 504), (429, 500, 502, 503, 504, 507))),
    )
    def set_fault_profile(
        self, seed: int, kind: str, rate: float, mode: str, statuses: tuple[int, ...]
    ) -> None:
        profile: dict[str, Any] = {**NO_FAULTS, "seed": seed, "retry_after": 2.0}
        if kind in ("errors", "mixed"):
            profile.update(rate=rate, statuses=list(statuses))
        if kind in ("drop", "mixed"):
            profile.update(commit_then_drop_rate=rate, commit_then_drop_mode=mode)
        if kind in ("412", "mixed"):
            profile.update(transient_412_rate=rate)
        self.faults = profile

    def _sync(self, *, final: bool = False) -> tuple[list[RunReport], list[dict[str, Any]]]:
        """One run of every mailbox under the pending fault profile: the reports and the engine's requests.
        `final`: force the mailboxes whose source is empty in the window (the documented override)."""
        h = self.harness
        h.world.clock.advance(300)  # time passes between runs: old Retry-Afters have run out
        faults, self.faults = self.faults, None
        sources = {m: tuple(self.source[m].values()) for m in MAILBOXES}
        force = frozenset(m for m in MAILBOXES if final and not self._in_window_source(m))

        h.ensure_engine()
        seq = h.run(h.last_seq())

        async def go() -> list[RunReport]:
            await h.set_faults(faults or NO_FAULTS)
            try:
                return await h.sync_all(sources, self.window, force=force)
            finally:
                await h.set_faults(NO_FAULTS)

        try:
            reports = h.run(go())
        except Crash:
            event("crashed")
            h.effects.disarm()
            h.engine = None  # the process died: a new one starts from the database
            reports = []
        h.effects.disarm()
        log = h.run(h.engine_log_since(seq))
        self._check_run(reports, log, faults=faults is not None)
        return reports, log

    def _check_run(self, reports: list[RunReport], log: list[dict[str, Any]], *, faults: bool) -> None:
        """What must hold of every run, even a faulty or killed one."""
        for report in reports:
            event(f"run {report.status}")
            if report.error_code == "SourceUnexpectedlyEmpty":  # SC-05: the rail deleted nothing
                mine = f"users/{report.mailbox}/"
                assert not [e for e in log if e["method"] == "DELETE" and e["path"].startswith(mine)], log
        # CF-01: every create of one key in one run carries the same transactionId (a retry is a replay)
        txids: dict[tuple[str, str], set[str]] = {}
        # CF-08: no tight loop on 412: at most 3 conflicting PATCHes per event and run
        conflicts: dict[str, int] = {}
        # SC-08: without faults, at most one successful create or update per key and mailbox
        written: dict[tuple[str, str], int] = {}
        for entry in log:
            key = body_key(entry)
            if entry["method"] == "POST" and key is not None:
                txids.setdefault((entry["mailbox"], key), set()).add(entry["body"].get("transactionId"))
            if entry["method"] == "PATCH" and entry["status"] == 412:
                conflicts[entry["path"]] = conflicts.get(entry["path"], 0) + 1
            if entry["method"] in ("POST", "PATCH") and entry["status"] < 300 and key is not None:
                written[(entry["mailbox"], key)] = written.get((entry["mailbox"], key), 0) + 1
        assert all(len(ids) == 1 for ids in txids.values()), txids
        assert all(n <= 3 for n in conflicts.values()), conflicts
        if not faults:
            assert all(n <= 1 for n in written.values()), written

    @rule()
    @guarded
    def sync(self) -> None:
        self._sync()

    @rule(at=st.integers(1, 40), after=st.booleans())
    @guarded
    def crash_restart(self, at: int, after: bool) -> None:
        self.harness.effects.arm(crash_at=at, after=after)
        self._sync()

    @rule(
        at=st.integers(1, 12),
        mailbox=mailboxes,
        pick=picks,
        what=st.sampled_from(("subject", "time", "delete")),
        shift=shifts,
    )
    @guarded
    def sync_with_user_edit(self, at: int, mailbox: str, pick: int, what: str, shift: int) -> None:
        effects = self.harness.effects
        effects.arm()
        effects.meddle_at = at
        effects.meddle = lambda: self._user_change(mailbox, pick, what, shift)
        self._sync()

    @rule()
    def lose_database(self) -> None:
        """Not when graphemu refuses reused transactionIds: the tombstones (which transactionIds a key has
        used) are lost with the database, so a returning key needs one run per generation it had used,
        more than the final check's three runs allow (docs/sync.md). A no-op there rather than a
        precondition, which would make Hypothesis redraw the rule."""
        if self.harness.txids == "conflict":
            return
        self.harness.lose_database()
        self.lost_database = True

    @rule(mailbox=mailboxes, at=st.none() | st.integers(1, 8), after=st.booleans())
    @guarded
    def purge(self, mailbox: str, at: int | None, after: bool) -> None:
        """`calsync purge` (tombstones.purge, then the store's purge_mailbox), perhaps killed at an effect."""
        h = self.harness
        engine = h.ensure_engine()

        async def go() -> None:
            found = await engine.target.list_managed(mailbox, EVERYTHING)
            await tombstones.purge(engine.target, engine.store, TENANT, mailbox, found)

        h.effects.arm(crash_at=at, after=after)
        try:
            h.run(go())
            h.store.purge_mailbox(mailbox)
        except Crash:
            event("purge crashed")
            h.engine = None
        h.effects.disarm()

    # -- at every step ---------------------------------------------------------------------------------

    @invariant()
    def calsync_never_creates_twice(self) -> None:
        """CF-02's "no event created twice", faults and crashes included: calsync's creates carry a
        transactionId, so two live events with one (mailbox, key) and a transactionId each are two
        creates by calsync (a user's copy has none, and is removed by the next run)."""
        if self.h is None or self.broken:
            return
        for mailbox in MAILBOXES:
            made: dict[str, list[str]] = {}
            for item in self.harness.run(self.harness.events(mailbox)):
                if tag(item) and item["transactionId"]:
                    made.setdefault(str(tag(item)), []).append(item["id"])
            assert all(len(ids) == 1 for ids in made.values()), f"calsync created twice in {mailbox}: {made}"

    # -- the final check ------------------------------------------------------------------------------

    def teardown(self) -> None:
        if self.h is None:
            return
        try:
            if not self.broken:
                self._converge_and_check()
        finally:
            self.harness.close()

    def _converge_and_check(self) -> None:
        h = self.harness
        self.faults = None
        runs: list[tuple[list[RunReport], int]] = []
        for _ in range(3):  # SC-03: quiescent within 3 fault-free runs
            reports, log = self._sync(final=True)
            writes = [e for e in log if is_write(e)]
            runs.append((reports, len(writes)))
            if not writes:
                break
        assert runs[-1][1] == 0, f"not quiescent after 3 fault-free runs: {runs}"
        for report in runs[-1][0]:
            assert report.status == "ok", report
        for mailbox in MAILBOXES:  # every fault was transient: nothing may end in quarantine
            assert h.store.quarantined(mailbox) == {}, h.store.quarantined(mailbox)
        before = {m: h.store.mappings(m) for m in MAILBOXES}
        sent: dict[tuple[str, str], set[str]] = {}  # (user id, key) -> every transactionId calsync sent
        for entry in h.run(h.engine_log_since(0)):
            if entry["method"] == "POST" and body_key(entry) is not None:
                sent.setdefault((entry["mailbox"], str(body_key(entry))), set()).add(
                    entry["body"]["transactionId"]
                )
        for mailbox in MAILBOXES:
            self._check_mailbox(mailbox, h.run(h.events(mailbox)), before[mailbox], sent)

        # SC-02: once more: no write, at most one read (one page of the tag listing) per mailbox, and
        # the mapping unchanged.
        _, log = self._sync(final=True)
        assert [e for e in log if is_write(e)] == []
        assert len([e for e in log if e["method"] == "GET"]) <= len(MAILBOXES), log
        assert {m: h.store.mappings(m) for m in MAILBOXES} == before

    def _check_mailbox(
        self,
        mailbox: str,
        items: list[dict[str, Any]],
        mappings: dict[SourceKey, Mapping],
        sent: dict[tuple[str, str], set[str]],
    ) -> None:
        wanted = self._in_window_source(mailbox)
        by_id = {e["id"]: e for e in items}
        tagged: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            key = tag(item)
            if key is not None:
                tagged.setdefault(key, []).append(item)
        inside = {
            k: [e for e in copies if self.window.contains(_utc(e["start"]), _utc(e["end"]))]
            for k, copies in tagged.items()
        }
        for key, source in wanted.items():
            copies = inside.get(key, [])
            assert copies, f"(a) lost: {mailbox} {key} has no managed event in the window"
            assert len(tagged[key]) == 1, f"(b) duplicate: {mailbox} {key}: {[c['id'] for c in tagged[key]]}"
            (graph,) = copies
            props = graph["props"]
            seen = (
                props["subject"],
                _utc(graph["start"]),
                _utc(graph["end"]),
                props["location"]["displayName"],
            )
            assert seen == (source.subject, source.start, source.end, source.location), f"(d) content {key}"
            assert bool(props["isAllDay"]) == source.all_day, f"(d) all-day {key}"
            mapping = mappings.get(key)
            assert mapping is not None, f"(e) {mailbox} {key} has no mapping"
            assert mapping.state == "synced", f"(e) {mailbox} {key}: {mapping}"
            assert (mapping.remote_id, mapping.change_key) == (graph["id"], graph["changeKey"]), f"(e) {key}"
        for key, copies in inside.items():
            assert not copies or key in wanted, f"(c) orphan: {mailbox} {key} is not in the source"
        live = {k: m for k, m in mappings.items() if m.has_event}  # tombstones have no event
        remote_ids = [m.remote_id for m in live.values() if m.remote_id is not None]
        assert len(remote_ids) == len(set(remote_ids)), f"(e) not injective: {mappings}"
        for key, mapping in live.items():
            if mapping.remote_id in by_id:
                assert tag(by_id[mapping.remote_id]) == key, f"(e) {key} maps to another key's event"
        for key, mapping in mappings.items():
            if not mapping.has_event:
                assert (mapping.remote_id, mapping.change_key, mapping.content_hash) == (None, None, None)
                if not self.lost_database:  # (g) a tombstone's next transactionId was never sent
                    event("tombstone checked")
                    used = sent.get((str(self.harness.world.find_user(mailbox).id), key), set())
                    assert transaction_id(TENANT, mailbox, key, mapping.generation) not in used, f"(g) {key}"
        for event_id, (props, change_key) in self.foreign[mailbox].items():
            assert event_id in by_id, f"(f) foreign event {event_id} was deleted"
            assert (by_id[event_id]["props"], by_id[event_id]["changeKey"]) == (props, change_key), "(f)"
            assert tag(by_id[event_id]) is None, "(f) foreign event got tagged"


def _settings() -> settings:
    ci = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
    examples = int(os.environ.get("CALSYNC_SM_EXAMPLES", CI_EXAMPLES if ci else DEV_EXAMPLES))
    steps = int(os.environ.get("CALSYNC_SM_STEPS", CI_STEPS if ci else DEV_STEPS))
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


TestSyncMachine = SyncMachine.TestCase
TestSyncMachine.settings = _settings()
# A failure is shrunk for up to 5 minutes (Hypothesis' own cap) before the program is printed.
TestSyncMachine.pytestmark = [pytest.mark.timeout(900)]


# -- SC-07: the window moves by a day at a time ---------------------------------------------------


def test_window_moving_by_a_day_never_flaps() -> None:
    """SC-07: events on and around both edges (timed, zero-length, all-day at midnight in three zones,
    straddling), synced, then 5 runs each a day later: a key gets at most one POST ever (when it enters
    the window), no DELETE (events that leave the window are left alone), and each position's second run
    writes nothing."""
    h = Harness(7)
    h.ensure_engine()
    try:
        window = WINDOW
        events: list[DesiredEvent] = []
        for i, edge in enumerate(EDGES):
            start, end = edge(window.start, window.end)
            events.append(DesiredEvent(ADELE, SourceKey(f"ics:edge{i}"), f"Edge {i}", start, end))
        for zone in ZONES:
            for n in range(len(ALL_DAY_DAYS)):
                start, end, _ = When("all_day", zone, day=n, length=1).resolve(window)
                key = SourceKey(f"ics:allday-{zone}-{n}")
                events.append(DesiredEvent(ADELE, key, "Holiday", start, end, time_zone=zone, all_day=True))
        # a day ahead of each edge, so that moving the window brings edge cases across the start too
        for i, edge in enumerate(EDGES):
            start, end = edge(window.start + D, window.end + D)
            events.append(DesiredEvent(ADELE, SourceKey(f"ics:next{i}"), f"Next {i}", start, end))
        source = {ADELE: tuple(normalise(e) for e in events)}
        posted: dict[str, int] = {}
        for day in range(6):
            moved = Window(window.start + day * D, window.end + day * D)
            seq = h.run(h.last_seq())
            h.run(h.sync_all(source, moved))
            log = h.run(h.engine_log_since(seq))
            assert [e for e in log if e["method"] == "DELETE"] == [], f"day {day}: a DELETE"
            for entry in log:
                if entry["method"] == "POST" and body_key(entry):
                    posted[str(body_key(entry))] = posted.get(str(body_key(entry)), 0) + 1
            assert all(n == 1 for n in posted.values()), f"day {day}: posted twice: {posted}"
            items = h.run(h.events(ADELE))
            inside = sorted(str(tag(e)) for e in items if moved.contains(_utc(e["start"]), _utc(e["end"])))
            expected = sorted(e.source_key for e in source[ADELE] if moved.contains(e.start, e.end))
            assert inside == expected, f"day {day}"
            seq = h.run(h.last_seq())
            h.run(h.sync_all(source, moved))
            assert [e for e in h.run(h.engine_log_since(seq)) if is_write(e)] == [], (
                f"day {day}: not idempotent"
            )
        assert len(h.run(h.events(ADELE))) == len(posted)  # whatever left the window is still there
    finally:
        h.close()


# -- SC-12: a program replays identically ----------------------------------------------------------


def _scripted_program() -> list[tuple[Any, ...]]:
    """A fixed program of the machine's rules (faults, a crash, user edits, a lost database); the
    engine's request log as (method, path, status, outcome, body)."""
    machine = SyncMachine()
    machine.start(seed=11, store="sqlite")
    inside = [When("inside", "Europe/Berlin", day=d, minute=600) for d in (3, 9, 27)]
    edges = [When("edge", "UTC", edge=e) for e in (1, 5)] + [When("all_day", "America/New_York", day=1)]
    for n, when in enumerate(inside + edges):
        machine.source_add(
            mailbox=MAILBOXES[n % 2], key=KEYS[n], subject=f"Lecture {n}", when=when, location="HS 1"
        )
    machine.sync()
    machine.user_changes_managed_event(mailbox=ADELE, pick=1, what="time", shift=400 * 24 * 60)
    machine.user_changes_managed_event(mailbox=ALEX, pick=0, what="copy", shift=0)
    machine.set_fault_profile(seed=3, kind="mixed", rate=0.5, mode="reset", statuses=(429, 503))
    machine.sync()
    machine.source_edit(
        mailbox=ADELE, pick=0, what="subject", subject="Lecture X", when=inside[0], location=""
    )
    machine.crash_restart(at=4, after=True)
    machine.lose_database()
    machine.sync_with_user_edit(at=2, mailbox=ALEX, pick=0, what="delete", shift=0)
    machine.window_moves(days=1)
    machine.sync()
    h = machine.harness
    log = h.run(h.engine_log_since(0))
    machine.teardown()
    return [(e["method"], e["path"], e["status"], e["outcome"], repr(e["body"])) for e in log]


def test_same_program_same_request_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """SC-12: the same program gives the same request log, so a failing program Hypothesis prints
    replays exactly (seeded graphemu ids and faults, a fake clock, seeded client jitter)."""
    monkeypatch.setattr(sys.modules[__name__], "event", lambda *_: None)  # outside a Hypothesis test
    first = _scripted_program()
    assert len(first) > 20
    assert _scripted_program() == first
