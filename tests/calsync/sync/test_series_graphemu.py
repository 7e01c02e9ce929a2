"""`recurrence = "series"` end to end against graphemu: the demo's semester timetable (weekly lectures in
Europe/Berlin across the end of DST, EXDATEs, cancelled and moved sessions) lands as one Graph series per
course whose calendarView is exactly the occurrences calsync would otherwise write one by one."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from calsync.adapters.eventmap import parse_graph_time
from calsync.adapters.graph_target import GraphCalendarTarget
from calsync.demo import timetable
from calsync.domain import DesiredEvent
from calsync.graph import GraphClient
from calsync.sources.ics import load_ics
from calsync.sources.ics_document import IcsOptions
from calsync.store import MemoryStateStore
from calsync.sync.engine import Engine, SourceSnapshot
from calsync.sync.planner import Policy
from tests.calsync.sync.conftest import ADELE, TENANT, WINDOW
from tests.calsync.sync.test_engine_graphemu import last_seq, writes

Visible = tuple[str, datetime, datetime, str]


def term(changed: bool = False) -> bytes:
    tt = timetable.build([ADELE])
    if changed:
        timetable.change_term(tt)
    return timetable.feed(tt, ADELE)


def source(feed: bytes, mode: str) -> SourceSnapshot:
    loaded = load_ics(feed, mailbox=ADELE, window=WINDOW, options=IcsOptions(recurrence=mode))  # type: ignore[arg-type]
    return SourceSnapshot("ok", tuple(loaded.events), problems=tuple(str(p) for p in loaded.problems))


def visible(events: tuple[DesiredEvent, ...]) -> Counter[Visible]:
    return Counter((e.subject, e.start, e.end, e.location) for e in events)


async def calendar(graph: GraphClient) -> Counter[Visible]:
    """What Adele's calendar shows in the window, occurrence by occurrence."""
    seen: Counter[Visible] = Counter()
    async for item in graph.calendar_view(ADELE, WINDOW.start, WINDOW.end):
        start, end = parse_graph_time(item["start"]), parse_graph_time(item["end"])
        seen[(item["subject"], start, end, (item.get("location") or {}).get("displayName") or "")] += 1
    return seen


async def test_a_timetable_becomes_one_series_per_course_and_resyncs_without_writes(
    engine: Engine, graph: GraphClient, control: httpx.AsyncClient
) -> None:
    for feed in (term(), term(changed=True)):
        wanted = visible(source(feed, "occurrences").events)
        series = source(feed, "series")
        assert all(e.series is not None for e in series.events)
        assert not series.problems
        report, _ = await engine.run(ADELE, series, WINDOW)
        assert report.status == "ok", report.problems
        assert await calendar(graph) == wanted
        masters = (await control.get(f"/_emu/events/{ADELE}")).json()["value"]
        assert len(masters) == len(series.events)
        seq = await last_seq(control)
        again, _ = await engine.run(ADELE, series, WINDOW)
        assert (again.created, again.updated, again.deleted, again.adopted) == (0, 0, 0, 0)
        assert await writes(control, seq) == []


@pytest.mark.parametrize(
    "order", [("occurrences", "series", "occurrences"), ("series", "occurrences", "series")]
)
async def test_switching_modes_converges_without_duplicates(
    engine: Engine, graph: GraphClient, order: tuple[str, ...]
) -> None:
    feed = term(changed=True)
    wanted = visible(source(feed, "occurrences").events)
    for mode in order:
        report, _ = await engine.run(ADELE, source(feed, mode), WINDOW)
        assert report.status == "ok", report.problems
        assert await calendar(graph) == wanted


async def _delete_one_occurrence(graph: GraphClient) -> Visible:
    masters = [m async for m in graph.list_events(ADELE)]
    master = next(m for m in masters if m.get("type") == "seriesMaster")
    listed = [i async for i in graph.instances(ADELE, master["id"], WINDOW.start, WINDOW.end)]
    first = listed[0]
    await graph.delete_event(ADELE, first["id"])
    start, end = parse_graph_time(first["start"]), parse_graph_time(first["end"])
    return (first["subject"], start, end, first["location"]["displayName"])


@pytest.mark.parametrize("policy", ["source-wins", "keep-user-changes"])
async def test_a_person_deleting_one_occurrence_meets_the_user_change_policy(
    graph: GraphClient, policy: Any
) -> None:
    engine = Engine(
        GraphCalendarTarget(graph), MemoryStateStore(), tenant_id=TENANT, policy=Policy(user_changes=policy)
    )
    feed = term(changed=True)
    wanted = visible(source(feed, "occurrences").events)
    await engine.run(ADELE, source(feed, "series"), WINDOW)
    gone = await _delete_one_occurrence(graph)
    report, _ = await engine.run(ADELE, source(feed, "series"), WINDOW)
    assert report.status == "ok", report.problems
    shown = await calendar(graph)
    if policy == "source-wins":
        assert (report.updated, shown) == (1, wanted)
    else:
        assert (report.updated, shown) == (0, wanted - Counter([gone]))


async def test_a_lost_database_adopts_the_series(graph: GraphClient, control: httpx.AsyncClient) -> None:
    target = GraphCalendarTarget(graph)
    feed = term(changed=True)
    series = source(feed, "series")
    await Engine(target, MemoryStateStore(), tenant_id=TENANT).run(ADELE, series, WINDOW)
    seq = await last_seq(control)
    report, _ = await Engine(target, MemoryStateStore(), tenant_id=TENANT).run(ADELE, series, WINDOW)
    assert (report.adopted, report.created, report.updated) == (len(series.events), 0, 0)
    assert await writes(control, seq) == []


async def _instances_read(control: httpx.AsyncClient, since: int) -> int:
    log = (await control.get("/_emu/requests", params={"since": since})).json()["value"]
    return sum(1 for e in log if e["method"] == "GET" and e["path"].endswith("/instances"))


async def _edit_one_occurrence(graph: GraphClient, how: str, overridden: bool) -> Visible:
    """A person renames or moves (by an hour) one occurrence: one the source changes itself, or not."""
    masters = [m async for m in graph.list_events(ADELE) if m.get("type") == "seriesMaster"]
    for master in sorted(masters, key=lambda m: m["id"]):
        listed = [i async for i in graph.instances(ADELE, master["id"], WINDOW.start, WINDOW.end)]
        picked = [i for i in listed if (i["type"] == "exception") == overridden]
        if picked:
            item = picked[len(picked) // 2]
            break
    else:
        raise AssertionError("the term has no such occurrence")
    start, end = parse_graph_time(item["start"]), parse_graph_time(item["end"])
    if how == "rename":
        await graph.update_event(ADELE, item["id"], {"subject": "Moved to Zoom"})
        return ("Moved to Zoom", start, end, item["location"]["displayName"])
    start, end = start + timedelta(hours=1), end + timedelta(hours=1)
    times = {
        k: {"dateTime": v.replace(tzinfo=None).isoformat(), "timeZone": "UTC"}
        for k, v in (("start", start), ("end", end))
    }
    await graph.update_event(ADELE, item["id"], times)
    return (item["subject"], start, end, item["location"]["displayName"])


SEMINAR = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VEVENT\r
UID:seminar\r
DTSTAMP:20260801T120000Z\r
DTSTART;TZID=Europe/Berlin:20261006T101500\r
DURATION:PT1H30M\r
RRULE:FREQ=WEEKLY;COUNT=10\r
SUMMARY:Seminar\r
LOCATION:HS 1\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:seminar\r
DTSTAMP:20260801T120000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20261103T101500\r
DTSTART;TZID=Europe/Berlin:20261103T121500\r
DURATION:PT1H30M\r
SUMMARY:Seminar (guest talk)\r
LOCATION:Aula\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.mark.parametrize("policy", ["source-wins", "keep-user-changes"])
@pytest.mark.parametrize(("how", "overridden"), [("rename", False), ("move", False), ("rename", True)])
async def test_a_person_editing_one_occurrence_meets_the_user_change_policy(
    graph: GraphClient, control: httpx.AsyncClient, policy: Any, how: str, overridden: bool
) -> None:
    """The edit moves only the master's changeKey; calsync reads that one series' instances, once, and
    puts the occurrence back (source-wins) or leaves it as the person made it (keep-user-changes)."""
    engine = Engine(
        GraphCalendarTarget(graph), MemoryStateStore(), tenant_id=TENANT, policy=Policy(user_changes=policy)
    )
    feed = SEMINAR if overridden else term(changed=True)
    wanted = visible(source(feed, "occurrences").events)
    await engine.run(ADELE, source(feed, "series"), WINDOW)
    assert await calendar(graph) == wanted
    seq = await last_seq(control)
    await engine.run(ADELE, source(feed, "series"), WINDOW)
    assert await _instances_read(control, seq) == 0, "a steady state reads no series' occurrences"
    before = await calendar(graph)
    edit = await _edit_one_occurrence(graph, how, overridden)
    edited = await calendar(graph)
    assert edited != before
    assert edited[edit] >= 1
    seq = await last_seq(control)
    report, _ = await engine.run(ADELE, source(feed, "series"), WINDOW)
    assert report.status == "ok", report.problems
    assert await _instances_read(control, seq) == 1 + (policy == "source-wins")  # + the rewrite's own
    if policy == "source-wins":
        assert (report.updated, await calendar(graph)) == (1, wanted)
    else:
        assert (report.updated, await calendar(graph)) == (0, edited)
    seq = await last_seq(control)
    again, _ = await engine.run(ADELE, source(feed, "series"), WINDOW)
    assert (again.updated, await writes(control, seq), await _instances_read(control, seq)) == (0, [], 0)
