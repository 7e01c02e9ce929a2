"""`recurrence = "series"` end to end against graphemu: the demo's semester timetable (weekly lectures in
Europe/Berlin across the end of DST, EXDATEs, cancelled and moved sessions) lands as one Graph series per
course whose calendarView is exactly the occurrences calsync would otherwise write one by one."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
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
