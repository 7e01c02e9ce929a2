"""Read Events of the unified API (service-facts §1.4): calendarView through the Graph client, in pages.

Which events: those of the asked calendars (all the caller can see when none are named) that overlap
[from, to) (dates in `tzid`). By default the caller's own managed events are left out, as Cronofy does;
`include_managed` adds them, `only_managed` returns only them. "Managed" means written by calsync for this
deployment: by this API key (the event carries the caller's `event_id`) or by a configured sync profile
(`managed_by` names it). Another API key is another application: its events look foreign here.
`last_modified` keeps events changed at or after that instant.

Paging: each page reads one calendar's slice (`$top`/`$skip` on calendarView); `pages.next_page` is the
same query with a `page` token holding only the calendar's position and the offset (no Graph URL is
ever handed out or taken back). A page may hold fewer events than the page size, even none, when
filters drop events: follow `next_page` until it is absent.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calsync.adapters.eventmap import Ownership
from calsync.graph import GraphClient
from calsync.graph.odata import expand_extended_properties, graph_datetime, segment, user_path
from calsync.services.unified_calendars import CalendarInfo
from calsync.services.unified_ids import scope_profile
from calsync.services.unified_models import FIRST_YEAR, LAST_YEAR, event_id_of

PAGE_SIZE = 100
MAX_DAYS = 3650
_SELECT = (
    "id,iCalUId,subject,body,start,end,isAllDay,location,showAs,sensitivity,isCancelled,categories,type,"
    "createdDateTime,lastModifiedDateTime,responseStatus,organizer,attendees,isOnlineMeeting,onlineMeeting,"
    "onlineMeetingProvider"
)
_PARTICIPATION = {"organizer": "accepted", "accepted": "accepted", "tentativelyAccepted": "tentative",
                  "declined": "declined", "notResponded": "needs_action", "none": "needs_action"}  # fmt: skip


class BadQuery(ValueError):
    """A query parameter that cannot be used: `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class EventQuery:
    start: datetime
    end: datetime
    only_managed: bool = False
    include_managed: bool = False
    last_modified: datetime | None = None
    page: tuple[int, int] = (0, 0)


def query(
    from_: date | None,
    to: date | None,
    tzid: str,
    *,
    only_managed: bool,
    include_managed: bool,
    last_modified: datetime | None,
    page: str | None,
    today: date,
) -> EventQuery:
    try:
        zone = ZoneInfo(tzid)
    except (ValueError, KeyError):
        raise BadQuery("tzid", f"unknown time zone {tzid!r}") from None
    first = from_ or today
    if not FIRST_YEAR <= first.year <= LAST_YEAR or (
        to is not None and not FIRST_YEAR <= to.year <= LAST_YEAR
    ):
        raise BadQuery("from", f"from and to must lie between the years {FIRST_YEAR} and {LAST_YEAR}")
    last = to or first + timedelta(days=30)
    if last <= first:
        raise BadQuery("to", "to must be after from")
    if (last - first).days > MAX_DAYS:
        raise BadQuery("to", f"from and to may be at most {MAX_DAYS} days apart")
    if last_modified is not None and last_modified.tzinfo is None:
        last_modified = last_modified.replace(tzinfo=UTC)
    return EventQuery(
        datetime.combine(first, time(), zone), datetime.combine(last, time(), zone),
        only_managed, include_managed, last_modified, decode_page(page),
    )  # fmt: skip


def encode_page(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def decode_page(token: str | None) -> tuple[int, int]:
    if not token:
        return (0, 0)
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        calendar, skip = int(raw[0]), int(raw[1])
    except (ValueError, TypeError, IndexError, binascii.Error, json.JSONDecodeError):
        raise BadQuery("page", "not a page token from next_page") from None
    if calendar < 0 or skip < 0 or skip > 1_000_000:
        raise BadQuery("page", "not a page token from next_page")
    return (calendar, skip)


def _time(value: dict[str, Any] | None, all_day: bool) -> str:
    text = str((value or {}).get("dateTime", ""))
    if all_day:
        return text[:10]
    moment = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(value: object) -> str | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _person(item: dict[str, Any] | None) -> dict[str, str]:
    address = (item or {}).get("emailAddress") or {}
    return {"email": str(address.get("address") or ""), "display_name": str(address.get("name") or "")}


def api_event(info: CalendarInfo, item: dict[str, Any], owners: dict[str, str | None]) -> dict[str, Any]:
    """Cronofy's event object for a Graph event. `owners`: tag id -> profile name (None: the caller's)."""
    all_day = bool(item.get("isAllDay"))
    tags = {p.get("id"): p.get("value") for p in item.get("singleValueExtendedProperties") or []}
    managed_by = [(owners[t], v) for t, v in tags.items() if t in owners and v]
    mine = next((str(v) for owner, v in managed_by if owner is None), None)
    status = (
        "cancelled"
        if item.get("isCancelled")
        else "tentative"
        if item.get("showAs") == "tentative"
        else "confirmed"
    )
    out: dict[str, Any] = {
        "calendar_id": info.calendar_id,
        "event_uid": item.get("iCalUId") or item.get("id"),
        "summary": item.get("subject") or "",
        "description": ((item.get("body") or {}).get("content") or ""),
        "start": _time(item.get("start"), all_day),
        "end": _time(item.get("end"), all_day),
        "deleted": False,
        "created": _stamp(item.get("createdDateTime")),
        "updated": _stamp(item.get("lastModifiedDateTime")),
        "location": {"description": str((item.get("location") or {}).get("displayName") or "")},
        "participation_status": _PARTICIPATION.get(
            str((item.get("responseStatus") or {}).get("response")), "unknown"
        ),
        "organizer": _person(item.get("organizer")),
        "attendees": [
            {
                **_person(a),
                "status": _PARTICIPATION.get(str((a.get("status") or {}).get("response")), "unknown"),
            }
            for a in item.get("attendees") or []
        ],
        "transparency": "transparent" if item.get("showAs") == "free" else "opaque",
        "status": status,
        "categories": list(item.get("categories") or []),
        "recurring": item.get("type") in ("occurrence", "exception"),
        "event_private": item.get("sensitivity") in ("private", "confidential"),
        "managed": bool(managed_by),
        "options": {
            "delete": mine is not None,
            "update": mine is not None and info.can_edit,
            "change_participation_status": False,
        },
    }
    if mine is not None:
        out["event_id"] = event_id_of(mine) or mine
    elif managed_by:
        out["managed_by"] = managed_by[0][0]
    join = (item.get("onlineMeeting") or {}).get("joinUrl")
    if join:
        out["conferencing"] = {"provider_description": "Microsoft Teams", "join_url": join}
    return out


def _wanted(event: dict[str, Any], mine: bool, q: EventQuery) -> bool:
    if q.only_managed and not mine:
        return False
    if mine and not (q.only_managed or q.include_managed):
        return False
    if q.last_modified is not None:
        updated = event.get("updated")
        if updated is None or datetime.fromisoformat(updated.replace("Z", "+00:00")) < q.last_modified:
            return False
    return True


async def read_page(
    client: GraphClient,
    key_id: str,
    profiles: list[str],
    calendars: list[CalendarInfo],
    q: EventQuery,
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """One page: the events of the calendar at the page's position, and the next position (or None)."""
    index, skip = q.page
    if index >= len(calendars):
        return [], None
    info = calendars[index]
    owners: dict[str, str | None] = {Ownership(p).tag_id: p for p in profiles}
    owners[Ownership(scope_profile(key_id, info.calendar_id)).tag_id] = None
    params = {
        "startDateTime": graph_datetime(q.start.astimezone(UTC)),
        "endDateTime": graph_datetime(q.end.astimezone(UTC)),
        "$select": _SELECT,
        "$expand": expand_extended_properties(owners),
        "$orderby": "start/dateTime",
        "$top": str(PAGE_SIZE),
        "$skip": str(skip),
    }
    path = f"{user_path(info.mailbox)}/calendars/{segment(info.graph_id)}/calendarView"
    prefer = 'outlook.timezone="UTC", outlook.body-content-type="text"'
    answer = await client.request_json("GET", path, params=params, headers={"Prefer": prefer})
    items = list(answer.get("value") or [])
    events = []
    for item in items:
        event = api_event(info, item, owners)
        if _wanted(event, bool(event["managed"]), q):
            events.append(event)
    if len(items) >= PAGE_SIZE:
        return events, (index, skip + len(items))
    return events, ((index + 1, 0) if index + 1 < len(calendars) else None)
