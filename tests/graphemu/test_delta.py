"""calendarView/delta over HTTP: rounds, changes and removals, noise, invalidation and token checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from graphemu.config import EmulatorConfig
from graphemu.graph.eventmodel import occurrence_id

ADELE = "adele@contoso.onmicrosoft.com"
DELTA = f"/users/{ADELE}/calendarView/delta"
JUNE = {"startDateTime": "2025-06-01T00:00:00Z", "endDateTime": "2025-07-01T00:00:00Z"}
REMOVED = {"reason": "deleted"}


def single(subject: str, day: int, month: int = 6) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"2025-{month:02d}-{day:02d}T08:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2025-{month:02d}-{day:02d}T09:00:00", "timeZone": "UTC"},
    }


async def create(graph: httpx.AsyncClient, body: dict[str, Any], calendar: str | None = None) -> str:
    path = f"/users/{ADELE}/calendars/{calendar}/events" if calendar else f"/users/{ADELE}/events"
    response = await graph.post(path, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def run_round(
    graph: httpx.AsyncClient, url: str, params: dict[str, str] | None = None, prefer: str | None = None
) -> tuple[list[dict[str, Any]], int, str]:
    """Follow one round to its deltaLink: (items, pages, deltaLink)."""
    headers = {"Prefer": prefer} if prefer else {}
    items: list[dict[str, Any]] = []
    pages = 0
    response = await graph.get(url, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        body = response.json()
        items.extend(body["value"])
        if "@odata.deltaLink" in body:
            return items, pages, body["@odata.deltaLink"]
        response = await graph.get(body["@odata.nextLink"], headers=headers)


def removed(items: list[dict[str, Any]]) -> set[str]:
    return {i["id"] for i in items if "@removed" in i}


def present(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in items if "@removed" not in i}


async def test_first_round_pages_with_maxpagesize_then_gives_a_delta_link(graph: httpx.AsyncClient) -> None:
    """Seven events with odata.maxpagesize=3 come in three pages (skiptoken nextLinks), then a deltaLink."""
    made = {await create(graph, single(f"e{day}", day)) for day in range(1, 8)}
    await create(graph, single("july", 2, month=7))
    first = await graph.get(DELTA, params=JUNE, headers={"Prefer": "odata.maxpagesize=3"})
    assert first.headers["Preference-Applied"] == "odata.track-changes, odata.maxpagesize=3"
    assert first.json()["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#Collection(event)"
    assert first.json()["@odata.nextLink"].startswith(
        f"https://graph.microsoft.com/v1.0/users/{ADELE}/calendarView/delta?$skiptoken="
    )
    items, pages, link = await run_round(graph, DELTA, JUNE, "odata.maxpagesize=3")
    assert pages == 3
    assert link.startswith(f"https://graph.microsoft.com/v1.0/users/{ADELE}/calendarView/delta?$deltatoken=")
    assert [i["subject"] for i in items] == [f"e{day}" for day in range(1, 8)]
    assert {i["id"] for i in items} == made
    assert {i["@odata.type"] for i in items} == {"#microsoft.graph.event"}
    assert all(i["type"] == "singleInstance" and "@odata.etag" in i for i in items)


async def test_next_round_has_exactly_the_creates_updates_and_deletes(graph: httpx.AsyncClient) -> None:
    """After a create, an update and a delete in the window, the next round reports just those three."""
    kept = await create(graph, single("kept", 1))
    changed = await create(graph, single("changed", 2))
    gone = await create(graph, single("gone", 3))
    _, _, link = await run_round(graph, DELTA, JUNE)
    new = await create(graph, single("new", 4))
    assert (
        await graph.patch(f"/users/{ADELE}/events/{changed}", json={"subject": "renamed"})
    ).status_code == 200
    assert (await graph.delete(f"/users/{ADELE}/events/{gone}")).status_code == 204
    items, pages, link = await run_round(graph, link)
    assert pages == 1
    assert len(items) == 3
    assert {k: v["subject"] for k, v in present(items).items()} == {new: "new", changed: "renamed"}
    assert [i for i in items if "@removed" in i] == [
        {"@odata.type": "#microsoft.graph.event", "id": gone, "@removed": REMOVED}
    ]
    assert kept not in {i["id"] for i in items}
    quiet, _, _ = await run_round(graph, link)
    assert quiet == []


async def test_out_of_window_changes_are_removed_noise_unless_switched_off(
    graph: httpx.AsyncClient, config: EmulatorConfig
) -> None:
    """An event added outside the window shows as @removed (as the docs warn); the knob turns that off."""
    _, _, link = await run_round(graph, DELTA, JUNE)
    outside = await create(graph, single("august", 5, month=8))
    items, _, link = await run_round(graph, link)
    assert items == [{"@odata.type": "#microsoft.graph.event", "id": outside, "@removed": REMOVED}]
    setattr(config, "delta_out_of_window_removed_noise", False)  # noqa: B010 - knob pending in EmulatorConfig
    await create(graph, single("september", 5, month=9))
    items, _, _ = await run_round(graph, link)
    assert items == []


async def test_event_moved_out_of_the_window_is_removed(
    graph: httpx.AsyncClient, config: EmulatorConfig
) -> None:
    """Moving an event out of the window reports it as removed even without the noise."""
    setattr(config, "delta_out_of_window_removed_noise", False)  # noqa: B010
    event = await create(graph, single("leaving", 10))
    _, _, link = await run_round(graph, DELTA, JUNE)
    moved = single("leaving", 10, month=8)
    assert (await graph.patch(f"/users/{ADELE}/events/{event}", json=moved)).status_code == 200
    items, _, link = await run_round(graph, link)
    assert items == [{"@odata.type": "#microsoft.graph.event", "id": event, "@removed": REMOVED}]
    back = single("back", 11)
    assert (await graph.patch(f"/users/{ADELE}/events/{event}", json=back)).status_code == 200
    items, _, _ = await run_round(graph, link)
    assert [(i["id"], i["subject"]) for i in items] == [(event, "back")]


async def test_series_changes_come_as_instances_and_removed_occurrences(graph: httpx.AsyncClient) -> None:
    """A series is tracked as occurrences: a cancelled one is @removed, a moved one becomes an exception."""
    series = {
        **single("weekly", 2),
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "endDate", "startDate": "2025-06-02", "endDate": "2025-06-23"},
        },
    }
    master = await create(graph, series)
    first, _, link = await run_round(graph, DELTA, JUNE)
    assert [i["type"] for i in first] == ["occurrence"] * 4
    assert master not in {i["id"] for i in first}
    cancelled = occurrence_id(master, datetime(2025, 6, 9, 8, tzinfo=UTC))
    moved = occurrence_id(master, datetime(2025, 6, 16, 8, tzinfo=UTC))
    assert (await graph.delete(f"/users/{ADELE}/events/{cancelled}")).status_code == 204
    later = {"start": {"dateTime": "2025-06-17T10:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2025-06-17T11:00:00", "timeZone": "UTC"}}  # fmt: skip
    assert (await graph.patch(f"/users/{ADELE}/events/{moved}", json=later)).status_code == 200
    items, _, _ = await run_round(graph, link)
    assert removed(items) == {cancelled}
    now = present(items)
    assert now[moved]["type"] == "exception"
    assert now[moved]["start"]["dateTime"] == "2025-06-17T10:00:00.0000000"
    assert set(now) == {i["id"] for i in first} - {cancelled}


async def test_invalidated_tokens_answer_sync_state_not_found(
    graph: httpx.AsyncClient, control: httpx.AsyncClient, config: EmulatorConfig
) -> None:
    """After /_emu/delta/invalidate a deltaLink is 410 SyncStateNotFound (switchable); a new round works."""
    await create(graph, single("one", 1))
    _, _, link = await run_round(graph, DELTA, JUNE)
    assert (await control.post("/_emu/delta/invalidate", json={"user": ADELE})).status_code == 204
    gone = await graph.get(link)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    assert gone.json()["error"]["message"].startswith("The sync state generation is not found; generation=")
    items, _, link = await run_round(graph, DELTA, JUNE)
    assert [i["subject"] for i in items] == ["one"]
    setattr(config, "delta_invalid_token_status", 400)  # noqa: B010 - knob pending in EmulatorConfig
    assert (await control.post("/_emu/delta/invalidate", json={})).status_code == 204  # every mailbox
    again = await graph.get(link)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "SyncStateNotFound"


async def test_forged_or_misused_tokens_are_400(graph: httpx.AsyncClient) -> None:
    """A tampered token, a token of another mailbox and a skiptoken sent as deltatoken are all refused."""
    for day in (1, 2):
        await create(graph, single(f"e{day}", day))
    first = await graph.get(DELTA, params=JUNE, headers={"Prefer": "odata.maxpagesize=1"})
    skip_link = first.json()["@odata.nextLink"]
    _, _, link = await run_round(graph, DELTA, JUNE)
    token = link.split("$deltatoken=")[1]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for url in (
        f"{DELTA}?$deltatoken={forged}",
        f"/users/alex@contoso.onmicrosoft.com/calendarView/delta?$deltatoken={token}",
        f"{DELTA}?$deltatoken={skip_link.split('$skiptoken=')[1]}",
        f"{DELTA}?$skiptoken=not-a-token",
    ):
        response = await graph.get(url)
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "ErrorInvalidSyncStateData"


async def test_query_options_on_delta(graph: httpx.AsyncClient) -> None:
    """$select is ignored, $filter/$expand are 400, the window is required, tokens take no other option."""
    await create(graph, single("one", 1))
    full = await graph.get(DELTA, params={**JUNE, "$select": "subject"})
    assert full.status_code == 200
    assert "start" in full.json()["value"][0]
    assert (await graph.get(DELTA, params={**JUNE, "$filter": "subject eq 'one'"})).status_code == 400
    expand = await graph.get(DELTA, params={**JUNE, "$expand": "singleValueExtendedProperties"})
    assert expand.status_code == 400
    assert expand.json()["error"]["message"].startswith("Parsing OData Select and Expand failed")
    no_window = await graph.get(DELTA)
    assert no_window.status_code == 400
    assert no_window.json()["error"]["code"] == "ErrorInvalidParameter"
    link = full.json()["@odata.deltaLink"]
    assert (await graph.get(link + "&$top=5")).status_code == 400


async def test_events_delta_is_not_supported_in_v1(graph: httpx.AsyncClient) -> None:
    """/events/delta answers 400 "Change tracking is not supported against 'microsoft.graph.event'"."""
    qualified = "calendar/events/microsoft.graph.delta()"
    for path in ("events/delta", "calendar/events/delta", "events/delta()", qualified):
        response = await graph.get(f"/users/{ADELE}/{path}")
        assert response.status_code == 400
        assert response.json()["error"]["message"] == (
            "Unsupported request: Change tracking is not supported against 'microsoft.graph.event'."
        )


async def test_replaying_a_delta_link_repeats_its_changes(graph: httpx.AsyncClient) -> None:
    """A deltaLink used twice (a lost response) gives the same changes again."""
    _, _, link = await run_round(graph, DELTA, JUNE)
    new = await create(graph, single("new", 4))
    once, _, _ = await run_round(graph, link)
    twice, _, _ = await run_round(graph, link)
    assert [i["id"] for i in once] == [i["id"] for i in twice] == [new]


async def test_changes_during_a_round_skip_nothing(graph: httpx.AsyncClient) -> None:
    """A delete mid-round skips nothing; the next round reports that delete and the mid-round create."""
    ids = [await create(graph, single(f"e{day}", day)) for day in range(1, 6)]
    page = await graph.get(DELTA, params=JUNE, headers={"Prefer": "odata.maxpagesize=2"})
    seen = [i["id"] for i in page.json()["value"]]
    assert (await graph.delete(f"/users/{ADELE}/events/{ids[0]}")).status_code == 204
    late = await create(graph, single("late", 30))
    rest, _, link = await run_round(graph, page.json()["@odata.nextLink"], prefer="odata.maxpagesize=2")
    seen += [i["id"] for i in rest]
    assert set(ids) <= set(seen)
    items, _, _ = await run_round(graph, link)
    assert removed(items) == {ids[0]}
    assert set(present(items)) == {late}


async def test_calendar_scoped_delta_sees_only_its_calendar(graph: httpx.AsyncClient) -> None:
    """calendars/{id}/calendarView/delta tracks that calendar; changes elsewhere, even noise, stay out."""
    other = (await graph.post(f"/users/{ADELE}/calendars", json={"name": "Other"})).json()["id"]
    mine = await create(graph, single("mine", 1), calendar=other)
    await create(graph, single("default", 1))
    url = f"/users/{ADELE}/calendars/{other}/calendarView/delta"
    items, _, link = await run_round(graph, url, JUNE)
    assert [i["id"] for i in items] == [mine]
    await create(graph, single("default again", 2))
    await create(graph, single("default outside", 2, month=9))
    items, _, _ = await run_round(graph, link)
    assert items == []


async def test_delta_items_follow_prefer_outlook_timezone(graph: httpx.AsyncClient) -> None:
    """Prefer outlook.timezone sets the zone of start/end in delta items and is echoed back."""
    await create(graph, single("one", 1))
    prefer = 'outlook.timezone="Pacific Standard Time"'
    response = await graph.get(DELTA, params=JUNE, headers={"Prefer": prefer})
    assert response.headers["Preference-Applied"] == f"odata.track-changes, {prefer}"
    assert response.json()["value"][0]["start"] == {
        "dateTime": "2025-06-01T01:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }


@pytest.mark.parametrize(
    "spelling", ["delta()", "microsoft.graph.delta", "microsoft.graph.delta()", "graph.delta()", "Delta"]
)
async def test_every_spelling_of_the_delta_function_runs_rounds(
    graph: httpx.AsyncClient, spelling: str
) -> None:
    """`/delta` is the documented short form of the bound function `microsoft.graph.delta()` (Kiota SDKs
    send `delta()`, the OpenAPI paths say `microsoft.graph.delta()`, `graph` is the namespace's alias):
    each spelling runs the same round, and the links it hands out lead to the next one."""
    first = await create(graph, single("first", 3))
    items, _, link = await run_round(graph, f"/users/{ADELE}/calendarView/{spelling}", JUNE)
    assert set(present(items)) == {first}
    second = await create(graph, single("second", 4))
    items, _, _ = await run_round(graph, link)
    assert set(present(items)) == {second}


async def test_calendar_scoped_delta_accepts_the_qualified_function(graph: httpx.AsyncClient) -> None:
    """The calendar-scoped calendarView takes the qualified spelling too (what the SDKs build for it)."""
    calendars = (await graph.get(f"/users/{ADELE}/calendars")).json()["value"]
    default = next(c["id"] for c in calendars if c["isDefaultCalendar"])
    event = await create(graph, single("scoped", 5))
    path = f"/users/{ADELE}/calendars/{default}/calendarView/microsoft.graph.delta()"
    items, _, _ = await run_round(graph, path, JUNE)
    assert set(present(items)) == {event}
