"""Paging and delta rounds over MockTransport: links followed verbatim, removals, resync signals."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from calsync.graph import DeltaStart, GraphClientError, SyncStateNotFound
from calsync.graph.paging import with_max_page_size

from .conftest import GRAPH, graph_error_response, mock_client


def test_prefer_header_merges_max_page_size() -> None:
    """odata.maxpagesize joins an existing Prefer header and replaces an older page size."""
    headers = with_max_page_size({"prefer": 'outlook.timezone="UTC", odata.maxpagesize=5'}, 50)
    assert headers == {"prefer": 'outlook.timezone="UTC", odata.maxpagesize=50'}
    assert with_max_page_size(None, None) == {}
    with pytest.raises(ValueError, match="positive"):
        with_max_page_size(None, 0)


async def test_next_links_are_followed_verbatim() -> None:
    """Each nextLink is requested exactly as given (no parameters added), with the Prefer header kept."""
    link1 = f"{GRAPH}/users/a/events?%24top=2&$skiptoken=AbC%2Bd~e%3D"
    link2 = f"{GRAPH}/users/a/events?$skip=4"
    pages = {
        "/v1.0/users/a/events?%24select=subject": {
            "value": [{"id": "1"}, {"id": "2"}],
            "@odata.nextLink": link1,
        },
        link1.removeprefix("https://graph.microsoft.com"): {"value": [{"id": "3"}], "@odata.nextLink": link2},
        link2.removeprefix("https://graph.microsoft.com"): {"value": [{"id": "4"}]},
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.raw_path.decode()])

    async with mock_client(handler) as graph:
        items = [
            i async for i in graph.paginate("/users/a/events", params={"$select": "subject"}, page_size=2)
        ]
    assert [i["id"] for i in items] == ["1", "2", "3", "4"]
    assert all(r.headers["Prefer"] == "odata.maxpagesize=2" for r in seen)


async def test_empty_pages_are_fine() -> None:
    """An empty page with a nextLink continues; a page without value ends cleanly."""
    answers = [
        httpx.Response(200, json={"value": [], "@odata.nextLink": f"{GRAPH}/users/a/events?$skip=1"}),
        httpx.Response(200, json={}),
    ]
    async with mock_client(lambda r: answers.pop(0)) as graph:
        assert [i async for i in graph.paginate("/users/a/events")] == []


def delta_pages() -> dict[str, dict[str, object]]:
    next1 = f"{GRAPH}/users/a/calendarView/delta?$skiptoken=s1"
    next2 = f"{GRAPH}/users/a/calendarView/delta?$skiptoken=s2"
    return {
        "start": {
            "value": [{"id": "A", "subject": "a1"}, {"id": "B", "subject": "b"}, {"id": "X", "@removed": {}}],
            "@odata.nextLink": next1,
        },
        "s1": {
            "value": [{"id": "A", "@removed": {"reason": "deleted"}}, {"id": "C", "subject": "c"}],
            "@odata.nextLink": next2,
        },
        "s2": {
            "value": [
                {"id": "C", "@removed": {"reason": "deleted"}},
                {"id": "C", "subject": "c2"},
                {"id": "OUT", "@removed": {"reason": "deleted"}},
            ],
            "@odata.deltaLink": f"{GRAPH}/users/a/calendarView/delta?$deltatoken=d1",
        },
    }


def delta_handler(request: httpx.Request) -> httpx.Response:
    params = request.url.params
    key = params.get("$skiptoken") or ("start" if "startDateTime" in params else "")
    return httpx.Response(200, json=delta_pages()[key])


async def test_delta_round_across_pages() -> None:
    """A round follows nextLinks to the deltaLink; an id's last state wins; removals are reported."""
    start = DeltaStart("a", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    async with mock_client(delta_handler) as graph:
        result = await graph.delta_round(start, page_size=3)
    assert [e["id"] for e in result.changed] == ["B", "C"]
    assert result.changed[1]["subject"] == "c2"
    assert result.removed == ["X", "A", "OUT"]
    assert result.delta_link.endswith("$deltatoken=d1")


async def test_delta_removals_filtered_by_known_ids() -> None:
    """With known_ids, @removed noise for events the caller never had (out of window) is dropped."""
    start = DeltaStart("a", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")
    async with mock_client(delta_handler) as graph:
        result = await graph.delta_round(start, known_ids={"A", "B"})
    assert result.removed == ["A"]


async def test_delta_start_parameters() -> None:
    """The first call carries the window in UTC; a calendar id selects that calendar's view."""
    start = DeltaStart("Adele@x.com", datetime(2025, 1, 1, 1, tzinfo=UTC), "2025-02-01T00:00:00Z", "AAMk=")
    assert start.path() == "/users/Adele@x.com/calendars/AAMk%3D/calendarView/delta"
    assert start.params() == {"startDateTime": "2025-01-01T01:00:00Z", "endDateTime": "2025-02-01T00:00:00Z"}
    with pytest.raises(ValueError, match="aware"):
        DeltaStart("a", datetime(2025, 1, 1), datetime(2025, 1, 2)).params()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(410, headers={"Location": f"{GRAPH}/users/a/calendarView/delta"}),
        graph_error_response(400, "syncStateNotFound"),
        graph_error_response(404, "SyncStateNotFound"),
        graph_error_response(400, "resyncRequired"),
    ],
)
async def test_expired_delta_token_means_resync(answer: httpx.Response) -> None:
    """410 Gone or a syncStateNotFound/resyncRequired code raises SyncStateNotFound, without retrying."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return answer

    async with mock_client(handler) as graph:
        with pytest.raises(SyncStateNotFound):
            await graph.delta_round(f"{GRAPH}/users/a/calendarView/delta?$deltatoken=old")
    assert calls == [1]


async def test_delta_without_delta_link_is_an_error() -> None:
    """A round whose last page has no deltaLink is reported, not silently accepted."""
    async with mock_client(lambda r: httpx.Response(200, json={"value": []})) as graph:
        with pytest.raises(GraphClientError, match="deltaLink"):
            await graph.delta_round(f"{GRAPH}/users/a/calendarView/delta?$deltatoken=x")
