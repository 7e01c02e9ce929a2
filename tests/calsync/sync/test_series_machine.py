"""SC-01 for `recurrence = "series"`: a Hypothesis RuleBasedStateMachine over recurring iCalendar items.

It reuses test_state_machine's harness (the real engine, GraphCalendarTarget and GraphClient against
graphemu in-process, a fake clock, a crash at the k-th effect, seeded ids) and drives a source of
recurring items instead: the machine writes an iCalendar feed per mailbox (weekly or every-other-day
series in Europe/Berlin or America/New_York, across the end of DST, with EXDATEs, moved and renamed
occurrences and STATUS:CANCELLED ones) and each run reads it with `load_ics` in the mailbox's current
mode, "series" or "occurrences". Rules:

- source: add an item, change its pattern (count, time of day, frequency), add or drop an EXDATE,
  override one occurrence (moved within its day, renamed, cancelled) or drop the override, delete it;
- a profile switch: a mailbox's mode flips between "series" and "occurrences";
- a person, through Graph with another app's token: deletes, renames or moves (30 minutes) one occurrence
  of a managed series, renames a managed series or event, deletes one, creates a foreign event;
- faults for the next run (429/5xx, commit-then-drop, transient 412), `sync`, `crash_restart` (the
  process dies at its k-th effect), `lose_database`.

Final check: faults off, then runs until one sends no write (at most 3); then, per mailbox: the calendar
(calendarView over the window, foreign events left out) shows exactly the occurrences of the source
(the same multiset of subject, start, end and location, whichever mode); one managed event per source
item (a series master in series mode when the pattern is one Graph holds, else one per occurrence);
foreign events untouched; one more run writes nothing. Policy: the defaults (source-wins, recreate):
a deleted occurrence comes back, and so does a renamed or moved one (calsync reads the instances of a
series whose master's changeKey moved, calsync.sync.occurrences).

Runs: HYPOTHESIS_PROFILE=ci: 50 examples x 25 steps (about a minute here); otherwise 10 x 20.
CALSYNC_SERIES_SM_EXAMPLES / CALSYNC_SERIES_SM_STEPS override both.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from calsync.adapters.eventmap import parse_graph_time
from calsync.domain import DesiredEvent
from calsync.sources.ics import load_ics
from calsync.sources.ics_document import IcsOptions
from tests.calsync.sync.test_state_machine import (
    MAILBOXES,
    NO_FAULTS,
    WINDOW,
    Crash,
    Harness,
    TxidMode,
    is_write,
    tag,
)

Visible = tuple[str, datetime, datetime, str]
ZONES = ("Europe/Berlin", "America/New_York")
ITEMS = tuple(f"item{i}" for i in range(4))


@dataclass
class Item:
    """One recurring VEVENT and its RECURRENCE-ID overrides, by occurrence index."""

    uid: str
    subject: str
    zone: str
    first: date  # a day in October (DST ends in both zones within the series)
    clock: time
    freq: str  # "WEEKLY" or "DAILY;INTERVAL=2"
    count: int
    exdates: set[int] = field(default_factory=set)
    overrides: dict[int, tuple[int, str, bool]] = field(
        default_factory=dict
    )  # index -> (shift, subject, cancelled)

    def starts(self) -> list[datetime]:
        step = timedelta(days=7 if self.freq == "WEEKLY" else 2)
        tz = ZoneInfo(self.zone)
        return [datetime.combine(self.first + i * step, self.clock, tzinfo=tz) for i in range(self.count)]

    def lines(self) -> list[str]:
        starts = self.starts()
        fmt = "%Y%m%dT%H%M%S"
        tzid = f"TZID={self.zone}"
        out = [
            "BEGIN:VEVENT", f"UID:{self.uid}", "DTSTAMP:20260801T120000Z",
            f"DTSTART;{tzid}:{starts[0]:{fmt}}", "DURATION:PT1H30M",
            f"RRULE:FREQ={self.freq};COUNT={self.count}", f"SUMMARY:{self.subject}", "LOCATION:HS 1",
        ]  # fmt: skip
        out += [f"EXDATE;{tzid}:{starts[i]:{fmt}}" for i in sorted(self.exdates) if i < self.count]
        out.append("END:VEVENT")
        for index, (shift, subject, cancelled) in sorted(self.overrides.items()):
            if index >= self.count:
                continue
            begin = starts[index] + timedelta(minutes=shift)
            out += [
                "BEGIN:VEVENT", f"UID:{self.uid}", "DTSTAMP:20260801T120000Z",
                f"RECURRENCE-ID;{tzid}:{starts[index]:{fmt}}", f"DTSTART;{tzid}:{begin:{fmt}}",
                "DURATION:PT1H30M", f"SUMMARY:{subject}", "LOCATION:Aula",
            ]  # fmt: skip
            out += ["STATUS:CANCELLED"] if cancelled else []
            out.append("END:VEVENT")
        return out


def feed(items: dict[str, Item]) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync tests//EN"]
    for item in items.values():
        lines += item.lines()
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def load(mailbox: str, items: dict[str, Item], mode: str) -> tuple[DesiredEvent, ...]:
    options = IcsOptions(recurrence=mode)  # type: ignore[arg-type]
    loaded = load_ics(feed(items), mailbox=mailbox, window=WINDOW, options=options)
    assert not [p for p in loaded.problems if p.severity == "error"], loaded.problems
    return tuple(loaded.events)


subjects = st.sampled_from(("Algebra", "Analysis", "Databases", "Ethics"))


class SeriesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h: Harness | None = None
        self.broken = False
        self.items: dict[str, dict[str, Item]] = {m: {} for m in MAILBOXES}
        self.mode: dict[str, str] = dict.fromkeys(MAILBOXES, "series")
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
    def start(self, seed: int, store: str, txids: TxidMode) -> None:
        self.h = Harness(seed, store, txids)
        self.harness.fresh_engine()

    # -- the source -------------------------------------------------------------------------------------

    @rule(
        mailbox=st.sampled_from(MAILBOXES),
        uid=st.sampled_from(ITEMS),
        subject=subjects,
        zone=st.sampled_from(ZONES),
        day=st.integers(0, 30),
        hour=st.integers(8, 18),
        freq=st.sampled_from(("WEEKLY", "DAILY;INTERVAL=2")),
        count=st.integers(1, 12),
    )
    def source_adds(
        self, mailbox: str, uid: str, subject: str, zone: str, day: int, hour: int, freq: str, count: int
    ) -> None:
        if uid not in self.items[mailbox]:
            first = date(2026, 10, 1) + timedelta(days=day)
            self.items[mailbox][uid] = Item(uid, subject, zone, first, time(hour, 15), freq, count)

    def _pick(self, mailbox: str, pick: int) -> Item | None:
        items = self.items[mailbox]
        return items[sorted(items)[pick % len(items)]] if items else None

    @rule(
        mailbox=st.sampled_from(MAILBOXES),
        pick=st.integers(0, 100),
        what=st.sampled_from(("count", "clock", "freq", "subject")),
        value=st.integers(1, 12),
    )
    def source_edits_pattern(self, mailbox: str, pick: int, what: str, value: int) -> None:
        item = self._pick(mailbox, pick)
        if item is None:
            return
        if what == "count":
            item.count = value
        elif what == "clock":
            item.clock = time(7 + value, 45)
        elif what == "freq":
            item.freq = "WEEKLY" if item.freq != "WEEKLY" else "DAILY;INTERVAL=2"
        else:
            item.subject = f"{item.subject.split(' ')[0]} {value}"

    @rule(mailbox=st.sampled_from(MAILBOXES), pick=st.integers(0, 100), index=st.integers(0, 11))
    def source_toggles_exdate(self, mailbox: str, pick: int, index: int) -> None:
        item = self._pick(mailbox, pick)
        if item is not None and index > 0:  # DTSTART itself stays (EXDATE on it: a later first start)
            item.exdates ^= {index}

    @rule(
        mailbox=st.sampled_from(MAILBOXES),
        pick=st.integers(0, 100),
        index=st.integers(0, 11),
        shift=st.sampled_from((0, 60, -120)),
        subject=subjects,
        cancelled=st.booleans(),
        drop=st.booleans(),
    )
    def source_overrides(
        self, mailbox: str, pick: int, index: int, shift: int, subject: str, cancelled: bool, drop: bool
    ) -> None:
        item = self._pick(mailbox, pick)
        if item is None:
            return
        if drop:
            item.overrides.pop(index, None)
        else:
            item.overrides[index] = (shift, f"{subject} (moved)", cancelled)

    @rule(mailbox=st.sampled_from(MAILBOXES), pick=st.integers(0, 100))
    def source_deletes(self, mailbox: str, pick: int) -> None:
        item = self._pick(mailbox, pick)
        if item is not None:
            del self.items[mailbox][item.uid]

    @rule(mailbox=st.sampled_from(MAILBOXES))
    def profile_switches_mode(self, mailbox: str) -> None:
        self.mode[mailbox] = "occurrences" if self.mode[mailbox] == "series" else "series"

    # -- a person in Outlook ------------------------------------------------------------------------------

    @rule(
        mailbox=st.sampled_from(MAILBOXES),
        pick=st.integers(0, 100),
        what=st.sampled_from(("rename", "delete")),
    )
    def person_changes(self, mailbox: str, pick: int, what: str) -> None:
        self.broken = True

        async def go() -> None:
            h = self.harness
            managed = sorted((e for e in await h.events(mailbox) if tag(e)), key=lambda e: e["id"])
            if not managed:
                return
            item = managed[pick % len(managed)]
            if what == "delete occurrence" and item["props"].get("recurrence"):
                listed = [i async for i in h.user.instances(mailbox, item["id"], WINDOW.start, WINDOW.end)]
                if listed:
                    await h.user.delete_event(mailbox, listed[pick % len(listed)]["id"])
                    event("person deleted an occurrence")
            elif what == "rename":
                await h.user.update_event(mailbox, item["id"], {"subject": "Renamed by a person"})
            elif what == "delete":
                await h.user.delete_event(mailbox, item["id"])

        self.harness.run(go())
        self.broken = False

    @rule(mailbox=st.sampled_from(MAILBOXES), pick=st.integers(0, 100))
    def person_deletes_one_occurrence(self, mailbox: str, pick: int) -> None:
        self.person_changes(mailbox, pick, "delete occurrence")

    @rule(
        mailbox=st.sampled_from(MAILBOXES),
        pick=st.integers(0, 100),
        what=st.sampled_from(("rename occurrence", "move occurrence")),
    )
    def person_edits_one_occurrence(self, mailbox: str, pick: int, what: str) -> None:
        self.broken = True

        async def go() -> None:
            h = self.harness
            masters = [e for e in await h.events(mailbox) if tag(e) and e["props"].get("recurrence")]
            if not masters:
                return
            master = sorted(masters, key=lambda e: e["id"])[pick % len(masters)]
            listed = [i async for i in h.user.instances(mailbox, master["id"], WINDOW.start, WINDOW.end)]
            if not listed:
                return
            one = listed[pick % len(listed)]
            if what == "rename occurrence":
                change: dict[str, Any] = {"subject": "Moved online by a person"}
            else:  # 30 minutes later: within its day, as Graph requires of an exception
                later = {k: parse_graph_time(one[k]) + timedelta(minutes=30) for k in ("start", "end")}
                change = {
                    k: {"dateTime": v.replace(tzinfo=None).isoformat(), "timeZone": "UTC"}
                    for k, v in later.items()
                }
            await h.user.update_event(mailbox, one["id"], change)
            event(f"person: {what}")

        self.harness.run(go())
        self.broken = False

    @rule(mailbox=st.sampled_from(MAILBOXES), day=st.integers(0, 60))
    def person_creates_foreign_event(self, mailbox: str, day: int) -> None:
        self.broken = True

        async def go() -> None:
            h = self.harness
            start = datetime(2026, 10, 1, 12, tzinfo=UTC) + timedelta(days=day)
            body = {
                "subject": "Private: dentist",
                "start": {"dateTime": start.replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
                "end": {
                    "dateTime": (start + timedelta(hours=1)).replace(tzinfo=None).isoformat(),
                    "timeZone": "UTC",
                },
            }
            created = await h.user.create_event(mailbox, body)
            stored = {e["id"]: e for e in await h.events(mailbox)}[created["id"]]
            self.foreign[mailbox][created["id"]] = (stored["props"], stored["changeKey"])

        self.harness.run(go())
        self.broken = False

    # -- faults and runs ----------------------------------------------------------------------------------

    @rule(
        seed=st.integers(0, 2**16),
        rate=st.sampled_from((0.1, 0.3)),
        kind=st.sampled_from(("errors", "drop", "412")),
    )
    def set_fault_profile(self, seed: int, rate: float, kind: str) -> None:
        profile: dict[str, Any] = {**NO_FAULTS, "seed": seed, "retry_after": 2.0}
        if kind == "errors":
            profile.update(rate=rate, statuses=[429, 500, 503])
        elif kind == "drop":
            profile.update(commit_then_drop_rate=rate, commit_then_drop_mode="reset")
        else:
            profile.update(transient_412_rate=rate)
        self.faults = profile

    def _sync(self) -> list[dict[str, Any]]:
        h = self.harness
        h.world.clock.advance(300)
        faults, self.faults = self.faults, None
        sources = {m: load(m, self.items[m], self.mode[m]) for m in MAILBOXES}
        h.ensure_engine()
        seq = h.run(h.last_seq())

        async def go() -> None:
            await h.set_faults(faults or NO_FAULTS)
            try:
                await h.sync_all(sources, WINDOW, force=frozenset(MAILBOXES))
            finally:
                await h.set_faults(NO_FAULTS)

        try:
            h.run(go())
        except Crash:
            event("crashed")
            h.engine = None
        h.effects.disarm()
        return h.run(h.engine_log_since(seq))

    @rule()
    def sync(self) -> None:
        self.broken = True
        self._sync()
        self.broken = False

    @rule(at=st.integers(1, 30), after=st.booleans())
    def crash_restart(self, at: int, after: bool) -> None:
        self.broken = True
        self.harness.effects.arm(crash_at=at, after=after)
        self._sync()
        self.broken = False

    @rule()
    def lose_database(self) -> None:
        if self.harness.txids != "conflict":  # as in test_state_machine: tombstones are lost with it
            self.harness.lose_database()

    # -- the final check ----------------------------------------------------------------------------------

    def teardown(self) -> None:
        if self.h is None:
            return
        try:
            if not self.broken:
                self._converge_and_check()
        finally:
            self.harness.close()

    def _converge_and_check(self) -> None:
        self.faults = None
        counts = []
        for _ in range(3):
            writes = [e for e in self._sync() if is_write(e)]
            counts.append(len(writes))
            if not writes:
                break
        assert counts[-1] == 0, f"not quiescent after 3 fault-free runs: {counts}"
        for mailbox in MAILBOXES:
            self._check_mailbox(mailbox)
        assert [e for e in self._sync() if is_write(e)] == []

    def _check_mailbox(self, mailbox: str) -> None:
        h = self.harness
        wanted = Counter(
            (e.subject, e.start, e.end, e.location) for e in load(mailbox, self.items[mailbox], "occurrences")
        )
        desired = load(mailbox, self.items[mailbox], self.mode[mailbox])

        async def view() -> Counter[Visible]:
            seen: Counter[Visible] = Counter()
            async for item in h.user.calendar_view(mailbox, WINDOW.start, WINDOW.end):
                if item["subject"].startswith("Private:"):
                    continue
                start, end = parse_graph_time(item["start"]), parse_graph_time(item["end"])
                seen[(item["subject"], start, end, item["location"]["displayName"])] += 1
            return seen

        assert h.run(view()) == wanted, f"{mailbox} ({self.mode[mailbox]}): the calendar is not the source"
        items = h.run(h.events(mailbox))
        managed = Counter(str(tag(e)) for e in items if tag(e))
        assert managed == Counter(e.source_key for e in desired), f"{mailbox}: one managed event per item"
        if any(e.series is not None for e in desired):
            event("series synced")
        by_id = {e["id"]: e for e in items}
        for event_id, (props, change_key) in self.foreign[mailbox].items():
            assert (by_id[event_id]["props"], by_id[event_id]["changeKey"]) == (props, change_key)


TestSeriesMachine = SeriesMachine.TestCase
_ci = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
TestSeriesMachine.settings = settings(
    max_examples=int(os.environ.get("CALSYNC_SERIES_SM_EXAMPLES", "50" if _ci else "10")),
    stateful_step_count=int(os.environ.get("CALSYNC_SERIES_SM_STEPS", "25" if _ci else "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSeriesMachine.pytestmark = [pytest.mark.timeout(900)]
