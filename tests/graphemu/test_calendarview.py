"""calendarView and instances over HTTP: windows, DST-correct expansion, exceptions, paging, options."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from graphemu.graph.eventmodel import occurrence_id
from tests.graphemu.conftest import mint

ADELE = "adele@contoso.onmicrosoft.com"
BERLIN = "W. Europe Standard Time"
VIEW = f"/users/{ADELE}/calendarView"


async def create(graph: httpx.AsyncClient, body: dict[str, Any], calendar: str | None = None) -> str:
    path = f"/users/{ADELE}/calendars/{calendar}/events" if calendar else f"/users/{ADELE}/events"
    response = await graph.post(path, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def single(subject: str, start: str, end: str, zone: str = "UTC") -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
    }


def weekly(subject: str, first: str, until: str) -> dict[str, Any]:
    """A weekly Monday 09:00-10:00 Berlin-time series starting on `first` (a Monday)."""
    return {
        **single(subject, f"{first}T09:00:00", f"{first}T10:00:00", BERLIN),
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "endDate", "startDate": first, "endDate": until},
        },
    }


def window(start: str, end: str, **extra: str) -> dict[str, str]:
    return {"startDateTime": start, "endDateTime": end, **extra}


async def all_pages(graph: httpx.AsyncClient, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    response = await graph.get(url, **kwargs)
    while True:
        assert response.status_code == 200, response.text
        items.extend(response.json()["value"])
        link = response.json().get("@odata.nextLink")
        if not link:
            return items
        response = await graph.get(link, headers=kwargs.get("headers"))


async def test_weekly_series_stays_at_local_nine_across_dst(graph: httpx.AsyncClient) -> None:
    """A weekly 09:00 Berlin series stays at 09:00 local: 07:00 UTC in summer time, 08:00 UTC in winter."""
    await create(graph, weekly("Standup", "2024-10-07", "2025-04-14"))
    params = window("2024-10-01T00:00:00Z", "2025-04-20T00:00:00Z", **{"$top": "100"})
    local = await graph.get(VIEW, params=params, headers={"Prefer": f'outlook.timezone="{BERLIN}"'})
    assert local.headers["Preference-Applied"] == f'outlook.timezone="{BERLIN}"'
    starts = [e["start"] for e in local.json()["value"]]
    assert len(starts) == 28
    assert {s["dateTime"][11:] for s in starts} == {"09:00:00.0000000"}
    assert {s["timeZone"] for s in starts} == {BERLIN}
    utc = (await graph.get(VIEW, params=params)).json()["value"]
    by_day = {e["start"]["dateTime"][:10]: e["start"]["dateTime"][11:16] for e in utc}
    assert by_day["2024-10-21"] == "07:00"  # CEST, last Monday before the 27 October change
    assert by_day["2024-10-28"] == "08:00"  # CET
    assert by_day["2025-03-24"] == "08:00"  # CET, last Monday before the 30 March change
    assert by_day["2025-03-31"] == "07:00"  # CEST
    assert {e["type"] for e in utc} == {"occurrence"}
    assert all(e["seriesMasterId"] and e["id"] != e["seriesMasterId"] for e in utc)


async def test_exceptions_are_moved_and_cancelled_occurrences_omitted(graph: httpx.AsyncClient) -> None:
    """An exception shows at its new time (even moved in from outside the window); a cancelled one is gone."""
    master_id = await create(graph, weekly("Review", "2025-01-06", "2025-03-31"))
    cancelled = occurrence_id(master_id, datetime(2025, 1, 13, 8, tzinfo=UTC))
    assert (await graph.delete(f"/users/{ADELE}/events/{cancelled}")).status_code == 204
    moved = single("Moved", "2025-01-21T15:00:00", "2025-01-21T16:00:00")
    moved_id = occurrence_id(master_id, datetime(2025, 1, 20, 8, tzinfo=UTC))
    assert (await graph.patch(f"/users/{ADELE}/events/{moved_id}", json=moved)).status_code == 200
    into = single("Review", "2025-02-01T10:00:00", "2025-02-01T11:00:00")
    into_id = occurrence_id(master_id, datetime(2025, 2, 3, 8, tzinfo=UTC))
    assert (await graph.patch(f"/users/{ADELE}/events/{into_id}", json=into)).status_code == 200
    items = (await graph.get(VIEW, params=window("2025-01-06T00:00:00Z", "2025-02-02T00:00:00Z"))).json()[
        "value"
    ]
    seen = [(e["start"]["dateTime"][:16], e["type"], e["subject"]) for e in items]
    assert seen == [
        ("2025-01-06T08:00", "occurrence", "Review"),
        ("2025-01-21T15:00", "exception", "Moved"),
        ("2025-01-27T08:00", "occurrence", "Review"),
        ("2025-02-01T10:00", "exception", "Review"),
    ]
    moved_item = items[1]
    assert moved_item["originalStart"] == "2025-01-20T08:00:00Z"
    assert moved_item["id"] == moved_id


async def test_window_edges(graph: httpx.AsyncClient) -> None:
    """An event ending exactly at the window start or starting at its end is out; any overlap is in."""
    await create(graph, single("ends at start", "2025-05-01T08:00:00", "2025-05-01T09:00:00"))
    await create(graph, single("starts at end", "2025-05-01T17:00:00", "2025-05-01T18:00:00"))
    await create(graph, single("straddles start", "2025-05-01T08:30:00", "2025-05-01T09:30:00"))
    await create(graph, single("inside", "2025-05-01T12:00:00", "2025-05-01T13:00:00"))
    await create(graph, single("zero length at start", "2025-05-01T09:00:00", "2025-05-01T09:00:00"))
    response = await graph.get(VIEW, params=window("2025-05-01T09:00:00", "2025-05-01T17:00:00"))
    assert [e["subject"] for e in response.json()["value"]] == [
        "straddles start",
        "zero length at start",
        "inside",
    ]


async def test_window_values_take_their_offset(graph: httpx.AsyncClient) -> None:
    """Offsets in the values count (none = UTC), names are case-insensitive, Prefer does not shift them."""
    await create(graph, single("nine utc", "2025-05-01T09:00:00", "2025-05-01T10:00:00"))
    inside = "startdatetime=2025-05-01T10:30:00%2B02:00&ENDDATETIME=2025-05-01T11:30:00.0000000%2B02:00"
    response = await graph.get(
        f"{VIEW}?{inside}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    )
    assert [e["subject"] for e in response.json()["value"]] == ["nine utc"]
    outside = await graph.get(VIEW, params=window("2025-05-01T10:30:00", "2025-05-01T11:30:00"))
    assert outside.json()["value"] == []


async def test_missing_or_malformed_window_is_400(graph: httpx.AsyncClient) -> None:
    """Without both parameters calendarView is 400 ErrorInvalidParameter; an unencoded '+' is invalid."""
    for path in (
        VIEW,
        f"/users/{ADELE}/calendar/calendarView",
        "/users/alex@contoso.onmicrosoft.com/calendarView",
    ):
        for params in ({}, {"startDateTime": "2025-01-01T00:00:00Z"}):
            response = await graph.get(path, params=params)
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "ErrorInvalidParameter"
            assert response.json()["error"]["message"] == (
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime."
            )
    plus = await graph.get(f"{VIEW}?startDateTime=2025-01-01T00:00:00+01:00&endDateTime=2025-01-02T00:00:00Z")
    assert plus.status_code == 400
    assert plus.json()["error"] == {
        **plus.json()["error"],
        "code": "ErrorInvalidParameter",
        "message": "The value '2025-01-01T00:00:00 01:00' of parameter 'StartDateTime' is invalid.",
    }


async def test_paging_follows_next_link_verbatim(graph: httpx.AsyncClient) -> None:
    """Ten per page by default; the nextLink carries $skip and the query, and yields every item once."""
    for day in range(1, 26):
        await create(
            graph, single(f"e{day:02d}", f"2025-06-{day:02d}T08:00:00", f"2025-06-{day:02d}T09:00:00")
        )
    first = await graph.get(VIEW, params=window("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z"))
    assert len(first.json()["value"]) == 10
    link = first.json()["@odata.nextLink"]
    assert link.startswith(f"https://graph.microsoft.com/v1.0/users/{ADELE}/calendarView?")
    assert "$skip=10" in link
    assert "startDateTime=2025-06-01T00%3A00%3A00Z" in link
    items = await all_pages(graph, VIEW, params=window("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z"))
    assert [e["subject"] for e in items] == [f"e{day:02d}" for day in range(1, 26)]


async def test_top_and_maxpagesize_set_the_page_size(graph: httpx.AsyncClient) -> None:
    """$top sets the page size (capped at 1000); so does Prefer odata.maxpagesize, echoed back."""
    for day in range(1, 8):
        await create(graph, single(f"e{day}", f"2025-06-{day:02d}T08:00:00", f"2025-06-{day:02d}T09:00:00"))
    span = window("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z")
    top = await graph.get(VIEW, params={**span, "$top": "3"})
    assert len(top.json()["value"]) == 3
    assert "$top=3" in top.json()["@odata.nextLink"]
    huge = await graph.get(VIEW, params={**span, "$top": "1000000"})
    assert len(huge.json()["value"]) == 7
    assert "@odata.nextLink" not in huge.json()
    preferred = await graph.get(VIEW, params=span, headers={"Prefer": "odata.maxpagesize=2"})
    assert len(preferred.json()["value"]) == 2
    assert preferred.headers["Preference-Applied"] == "odata.maxpagesize=2"
    bad = await graph.get(VIEW, params={**span, "$top": "-1"})
    assert bad.status_code == 400


async def test_select_filter_and_orderby(graph: httpx.AsyncClient) -> None:
    """$select keeps id and the etag; $filter and $orderby apply before paging."""
    for name, day in (("beta", 3), ("alpha", 2), ("gamma", 1)):
        await create(graph, single(name, f"2025-06-{day:02d}T08:00:00", f"2025-06-{day:02d}T09:00:00"))
    span = window("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z")
    selected = (await graph.get(VIEW, params={**span, "$select": "subject"})).json()
    assert selected["@odata.context"].endswith("/calendarView(subject)")
    assert {tuple(sorted(e)) for e in selected["value"]} == {("@odata.etag", "id", "subject")}
    ordered = (await graph.get(VIEW, params={**span, "$orderby": "subject desc", "$top": "2"})).json()
    assert [e["subject"] for e in ordered["value"]] == ["gamma", "beta"]
    rest = (await graph.get(ordered["@odata.nextLink"])).json()
    assert [e["subject"] for e in rest["value"]] == ["alpha"]
    filtered = (await graph.get(VIEW, params={**span, "$filter": "subject eq 'ALPHA'"})).json()
    assert [e["subject"] for e in filtered["value"]] == ["alpha"]
    broken = await graph.get(VIEW, params={**span, "$filter": "subject eq"})
    assert broken.status_code == 400


async def test_calendar_paths_address_one_calendar(graph: httpx.AsyncClient) -> None:
    """/calendarView and /calendar/calendarView read the default calendar; /calendars/{id} that one."""
    made = await graph.post(f"/users/{ADELE}/calendars", json={"name": "Other"})
    other = made.json()["id"]
    await create(graph, single("default", "2025-06-02T08:00:00", "2025-06-02T09:00:00"))
    await create(graph, single("other", "2025-06-02T10:00:00", "2025-06-02T11:00:00"), calendar=other)
    span = window("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z")

    async def subjects(path: str) -> list[str]:
        response = await graph.get(f"/users/{ADELE}/{path}", params=span)
        assert response.status_code == 200, response.text
        return [e["subject"] for e in response.json()["value"]]

    assert await subjects("calendarView") == ["default"]
    assert await subjects("calendar/calendarView") == ["default"]
    assert await subjects(f"calendars/{other}/calendarView") == ["other"]
    assert await subjects(f"calendarGroups/any/calendars/{other}/calendarView") == ["other"]
    missing = await graph.get(f"/users/{ADELE}/calendars/nope/calendarView", params=span)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ErrorItemNotFound"


async def test_me_calendar_view_with_a_delegated_token(app: Any, graph: httpx.AsyncClient) -> None:
    """/me/calendarView reads the signed-in user's calendar and its nextLink keeps /me."""
    for day in range(1, 4):
        await create(graph, single(f"e{day}", f"2025-06-{day:02d}T08:00:00", f"2025-06-{day:02d}T09:00:00"))
    token = mint(app, user=ADELE, scopes=["Calendars.Read"], roles=[])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=2"},
    ) as me:
        response = await me.get("/me/calendarView", params=window("2025-06-01", "2025-07-01"))
        assert response.status_code == 200, response.text
        assert response.json()["@odata.nextLink"].startswith(
            "https://graph.microsoft.com/v1.0/me/calendarView?"
        )
        assert len((await me.get(response.json()["@odata.nextLink"])).json()["value"]) == 1


async def test_instances_of_a_series(graph: httpx.AsyncClient) -> None:
    """events/{id}/instances lists a series' occurrences in the window; a single event has none."""
    master_id = await create(graph, weekly("Series", "2025-01-06", "2025-03-31"))
    await create(graph, single("Other", "2025-01-07T08:00:00", "2025-01-07T09:00:00"))
    single_id = await create(graph, single("Single", "2025-01-08T08:00:00", "2025-01-08T09:00:00"))
    span = window("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")
    response = await graph.get(f"/users/{ADELE}/events/{master_id}/instances", params=span)
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith(f"/events('{master_id}')/instances")
    assert [e["start"]["dateTime"][:10] for e in body["value"]] == [
        "2025-01-06",
        "2025-01-13",
        "2025-01-20",
        "2025-01-27",
    ]
    assert {e["seriesMasterId"] for e in body["value"]} == {master_id}
    via_calendar = await graph.get(f"/users/{ADELE}/calendar/events/{master_id}/instances", params=span)
    assert len(via_calendar.json()["value"]) == 4
    assert (await graph.get(f"/users/{ADELE}/events/{single_id}/instances", params=span)).json()[
        "value"
    ] == []
    occurrence = body["value"][0]["id"]
    assert (await graph.get(f"/users/{ADELE}/events/{occurrence}/instances", params=span)).json()[
        "value"
    ] == []
    no_window = await graph.get(f"/users/{ADELE}/events/{master_id}/instances")
    assert no_window.status_code == 400
    assert no_window.json()["error"]["code"] == "ErrorInvalidParameter"
    unknown = await graph.get(f"/users/{ADELE}/events/AAMkAGnope=/instances", params=span)
    assert unknown.status_code == 404


async def test_access_rules_apply_to_calendar_view(graph: httpx.AsyncClient) -> None:
    """A mailbox outside the access policy is 403 and an unknown user 404, before the window is looked at."""
    outsider = await graph.get("/users/outsider@contoso.onmicrosoft.com/calendarView")
    assert outsider.status_code == 403
    assert outsider.json()["error"]["message"] == "Access to OData is disabled."
    unknown = await graph.get("/users/ghost@contoso.onmicrosoft.com/calendarView")
    assert unknown.status_code == 404
