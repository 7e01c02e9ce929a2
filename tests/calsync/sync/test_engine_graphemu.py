"""The engine against graphemu: creates, idempotence, foreign events, user deletes, a lost database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from calsync.domain import DesiredEvent, SourceKey
from calsync.store import MemoryStateStore
from calsync.sync.engine import Engine, SourceSnapshot
from tests.calsync.sync.conftest import ADELE, WINDOW


def lectures(n: int, subject: str = "Lecture") -> tuple[DesiredEvent, ...]:
    start = WINDOW.start + timedelta(days=3, hours=8)
    return tuple(
        DesiredEvent(
            ADELE,
            SourceKey(f"ics:l{i}"),
            f"{subject} {i}",
            start + timedelta(days=i),
            start + timedelta(days=i, hours=2),
            time_zone="Europe/Berlin",
            location="HS 1",
        )
        for i in range(n)
    )


async def writes(control: httpx.AsyncClient, since: int) -> list[dict[str, Any]]:
    log = (await control.get("/_emu/requests", params={"since": since})).json()["value"]
    return [e for e in log if e["method"] in ("POST", "PATCH", "DELETE") and e["path"] != "$batch"]


async def last_seq(control: httpx.AsyncClient) -> int:
    log = (await control.get("/_emu/requests")).json()["value"]
    return log[-1]["seq"] if log else 0


async def test_first_sync_creates_and_second_sync_writes_nothing(
    engine: Engine, control: httpx.AsyncClient
) -> None:
    """30 events are created (batched, tagged); an unchanged second run sends zero writes."""
    source = SourceSnapshot("ok", lectures(30))
    report, _ = await engine.run(ADELE, source, WINDOW)
    assert (report.status, report.created) == ("ok", 30)
    events = (await control.get(f"/_emu/events/{ADELE}")).json()["value"]
    assert len(events) == 30
    assert all(e["transactionId"] for e in events)
    seq = await last_seq(control)
    again, _ = await engine.run(ADELE, source, WINDOW)
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert await writes(control, seq) == []


async def test_changes_deletes_and_foreign_events(
    engine: Engine, graph: Any, control: httpx.AsyncClient
) -> None:
    """An edited source updates, a removed item deletes, and a user's own event is never touched."""
    foreign = await graph.create_event(
        ADELE,
        {
            "subject": "Dentist",
            "start": {"dateTime": "2026-09-10T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-09-10T11:00:00", "timeZone": "UTC"},
        },
    )
    await engine.run(ADELE, SourceSnapshot("ok", lectures(5)), WINDOW)
    changed = (*lectures(4, subject="Seminar"),)
    report, _ = await engine.run(ADELE, SourceSnapshot("ok", changed), WINDOW)
    assert (report.updated, report.deleted) == (4, 1)
    events = (await control.get(f"/_emu/events/{ADELE}")).json()["value"]
    subjects = sorted(e["props"]["subject"] for e in events)
    assert subjects == ["Dentist"] + [f"Seminar {i}" for i in range(4)]
    dentist = next(e for e in events if e["id"] == foreign["id"])
    assert dentist["changeKey"] == foreign["changeKey"]


async def test_user_delete_is_recreated_and_lost_database_adopts(
    engine: Engine, graph: Any, control: httpx.AsyncClient
) -> None:
    """A user-deleted event comes back; after losing the database nothing is duplicated."""
    source = SourceSnapshot("ok", lectures(6))
    await engine.run(ADELE, source, WINDOW)
    victim = (await control.get(f"/_emu/events/{ADELE}")).json()["value"][0]
    await graph.delete_event(ADELE, victim["id"])
    report, _ = await engine.run(ADELE, source, WINDOW)
    assert report.created == 1
    fresh = Engine(engine.target, MemoryStateStore(), tenant_id=engine.tenant_id)
    report, _ = await fresh.run(ADELE, source, WINDOW)
    assert (report.created, report.adopted) == (0, 6)
    assert len((await control.get(f"/_emu/events/{ADELE}")).json()["value"]) == 6


async def test_empty_source_is_stopped_and_access_policy_is_reported(engine: Engine) -> None:
    """An emptied source deletes nothing without --force; a mailbox outside the policy is reported."""
    await engine.run(ADELE, SourceSnapshot("ok", lectures(25)), WINDOW)
    report, _ = await engine.run(ADELE, SourceSnapshot("ok", ()), WINDOW)
    assert (report.status, report.error_code, report.deleted) == ("stopped", "SourceUnexpectedlyEmpty", 0)
    outside, _ = await engine.run(
        "outsider@contoso.onmicrosoft.com", SourceSnapshot("ok", lectures(1)), WINDOW
    )
    assert (outside.status, outside.error_code) == ("failed", "access_denied_by_policy")


async def test_poison_item_is_isolated_then_quarantined(engine: Engine, store: MemoryStateStore) -> None:
    """One event Graph always refuses (400) never blocks the others and is quarantined after 5 runs."""
    good = lectures(9)
    start = good[0].start
    end = start + timedelta(hours=1)
    poison = DesiredEvent(ADELE, SourceKey("ics:poison"), "All-day at nine?", start, end, all_day=True)
    source = SourceSnapshot("ok", (*good, poison))
    first, _ = await engine.run(ADELE, source, WINDOW)
    assert (first.status, first.created, first.failed) == ("partial", 9, 1)
    assert any("ics:poison" in p for p in first.problems)
    for _ in range(4):
        report, _ = await engine.run(ADELE, source, WINDOW)
    assert report.quarantined == 1
    assert "ics:poison" in store.quarantined(ADELE)
    quiet, _ = await engine.run(ADELE, source, WINDOW)
    assert (quiet.status, quiet.failed, quiet.quarantined) == ("ok", 0, 1)
    store.release_quarantine(ADELE, SourceKey("ics:poison"))
    retried, _ = await engine.run(ADELE, source, WINDOW)
    assert retried.failed == 1
