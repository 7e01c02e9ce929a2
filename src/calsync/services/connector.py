"""The connector operations beside the sync, once for the CLI (`calsync graph ...`) and the API (/v1):
calendars create/update/delete, the occurrences of a series, free/busy and meeting times.

Why a layer over the Graph client at all: the inputs are checked here, before anything is sent, with
messages that name the field (a caller gets "interval_minutes must be between 5 and 1440", not Graph's
400), and the two cases where Graph's answer misleads are turned into plain errors: deleting the default
calendar (Graph: 403, which reads like a missing permission) and findMeetingTimes with an app-only token
(Graph: 403, because the API has no application permission at all). Everything else Graph answers
(NotFound, Conflict for a taken name, throttling) passes through as calsync.graph's errors.

Results are Graph's JSON, unchanged: the CLI prints it with --json, the API maps it to its models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from calsync.graph import GraphClient

__all__ = [
    "COLORS",
    "ConnectorError",
    "DelegatedOnly",
    "InvalidInput",
    "MeetingQuery",
    "create_calendar",
    "delete_calendar",
    "free_busy",
    "meeting_times",
    "occurrences",
    "series_by_uid",
    "update_calendar",
]

COLORS = ("auto", "lightBlue", "lightGreen", "lightOrange", "lightGray", "lightYellow", "lightTeal",
          "lightPink", "lightBrown", "lightRed")  # fmt: skip
MAX_NAME = 255
MAX_SCHEDULES = 100  # addresses per getSchedule
MAX_FREE_BUSY = timedelta(days=62)  # getSchedule's longest window
MAX_OCCURRENCES_WINDOW = timedelta(days=5 * 366)
ActivityDomain = Literal["work", "personal", "unrestricted"]


class ConnectorError(Exception):
    """Base of the connector's own errors (Graph's errors are calsync.graph's)."""


class InvalidInput(ConnectorError, ValueError):
    """An argument the operation cannot take; the message names it. Nothing was sent to Graph."""


class DelegatedOnly(ConnectorError):
    """findMeetingTimes refused an app-only token: Graph offers it only to a signed-in user."""


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} needs a time zone (an offset or Z)")
    return value


def _window(start: datetime, end: datetime, longest: timedelta) -> None:
    _aware("start", start)
    _aware("end", end)
    if end <= start:
        raise InvalidInput("end must be after start")
    if end - start > longest:
        raise InvalidInput(f"the window may span at most {longest.days} days")


def _name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("the calendar name must not be empty")
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"the calendar name may have at most {MAX_NAME} characters")
    return cleaned


def _color(color: str) -> str:
    found = next((c for c in COLORS if c.lower() == color.lower()), None)
    if found is None:
        raise InvalidInput(f"unknown color {color!r}; one of: {', '.join(COLORS)}")
    return found


def _addresses(name: str, addresses: Sequence[str], *, at_least: int) -> list[str]:
    cleaned = [a.strip() for a in addresses]
    if len(cleaned) < at_least:
        raise InvalidInput(f"{name}: give at least {at_least} address")
    if len(cleaned) > MAX_SCHEDULES:
        raise InvalidInput(f"{name}: at most {MAX_SCHEDULES} addresses")
    for address in cleaned:
        local, _, domain = address.partition("@")
        if not local or "." not in domain or " " in address:
            raise InvalidInput(f"{name}: {address!r} is not an email address")
    return cleaned


# -- calendars --------------------------------------------------------------------------------------------


async def create_calendar(
    graph: GraphClient, mailbox: str, name: str, color: str | None = None
) -> dict[str, Any]:
    """Create a calendar in the mailbox (Conflict when the name is taken, in any case)."""
    properties = {"color": _color(color)} if color else {}
    return await graph.create_calendar(mailbox, _name(name), **properties)


async def update_calendar(
    graph: GraphClient, mailbox: str, calendar_id: str, *, name: str | None = None, color: str | None = None
) -> dict[str, Any]:
    """Rename or recolour a calendar; at least one of the two."""
    patch: dict[str, Any] = {}
    if name is not None:
        patch["name"] = _name(name)
    if color is not None:
        patch["color"] = _color(color)
    if not patch:
        raise InvalidInput("nothing to change: give a name or a color")
    return await graph.update_calendar(mailbox, calendar_id, patch)


async def delete_calendar(graph: GraphClient, mailbox: str, calendar_id: str) -> bool:
    """Delete a calendar and its events; False when it was already gone. The default calendar (and any
    Graph marks not removable) is refused here, in words, rather than by Graph's 403."""
    from calsync.graph import NotFound

    try:
        calendar = await graph.get_calendar(mailbox, calendar_id)
    except NotFound as exc:
        if exc.code == "ResourceNotFound":
            raise
        return False
    if calendar.get("isDefaultCalendar") or calendar.get("isRemovable") is False:
        raise InvalidInput(
            f"the calendar {calendar.get('name')!r} is the mailbox's default and cannot be deleted"
        )
    return await graph.delete_calendar(mailbox, calendar_id)


# -- occurrences ------------------------------------------------------------------------------------------


async def occurrences(
    graph: GraphClient,
    mailbox: str,
    event_id: str,
    start: datetime,
    end: datetime,
    *,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The occurrences and exceptions of a series in [start, end), in order, at most `limit` (paging
    stops there). An event that is not a series has none."""
    _window(start, end, MAX_OCCURRENCES_WINDOW)
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1")
    found: list[dict[str, Any]] = []
    async for item in graph.instances(mailbox, event_id, start, end, page_size=min(limit or 100, 100)):
        found.append(item)
        if limit is not None and len(found) >= limit:
            break
    return found


# -- free/busy --------------------------------------------------------------------------------------------


async def free_busy(
    graph: GraphClient,
    mailbox: str,
    addresses: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    interval_minutes: int = 30,
    time_zone: str | None = None,
) -> list[dict[str, Any]]:
    """Graph's scheduleInformation per address (view, items, working hours, or an error for one it
    cannot resolve), asked through `mailbox`'s calendar."""
    schedules = _addresses("addresses", addresses, at_least=1)
    _window(start, end, MAX_FREE_BUSY)
    if not 5 <= interval_minutes <= 1440:
        raise InvalidInput("interval_minutes must be between 5 and 1440")
    return await graph.get_schedule(
        mailbox, schedules, start, end, interval_minutes=interval_minutes, time_zone=time_zone
    )


# -- meeting times ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingQuery:
    """What to find a meeting time for: who, when, how long."""

    attendees: Sequence[str]
    start: datetime
    end: datetime
    duration: timedelta = timedelta(minutes=30)
    activity_domain: ActivityDomain = "work"
    max_candidates: int | None = None
    minimum_attendee_percentage: float | None = None
    organizer_optional: bool = False
    return_reasons: bool = False


def _check_meeting(query: MeetingQuery) -> list[str]:
    attendees = _addresses("attendees", query.attendees, at_least=0)
    _window(query.start, query.end, MAX_FREE_BUSY)
    if query.duration <= timedelta(0):
        raise InvalidInput("duration must be positive")
    if query.duration > query.end - query.start:
        raise InvalidInput("duration is longer than the window")
    if query.max_candidates is not None and not 1 <= query.max_candidates <= 100:
        raise InvalidInput("max_candidates must be between 1 and 100")
    percentage = query.minimum_attendee_percentage
    if percentage is not None and not 0 <= percentage <= 100:
        raise InvalidInput("minimum_attendee_percentage must be between 0 and 100")
    if query.activity_domain not in ("work", "personal", "unrestricted"):
        raise InvalidInput("activity_domain must be work, personal or unrestricted")
    return attendees


async def meeting_times(
    graph: GraphClient, mailbox: str, query: MeetingQuery, *, time_zone: str | None = None
) -> dict[str, Any]:
    """Graph's meetingTimeSuggestionsResult for `mailbox` as organizer. Needs a delegated connection:
    an app-only token is refused by Graph and reported as DelegatedOnly."""
    from calsync.graph import Forbidden

    attendees = _check_meeting(query)
    try:
        return await graph.find_meeting_times(
            mailbox,
            attendees=attendees,
            slots=[(query.start, query.end)],
            duration=query.duration,
            activity_domain=query.activity_domain,
            max_candidates=query.max_candidates,
            minimum_attendee_percentage=query.minimum_attendee_percentage,
            organizer_optional=query.organizer_optional,
            return_reasons=query.return_reasons,
            time_zone=time_zone,
        )
    except Forbidden as exc:
        if exc.access_policy:
            raise
        raise DelegatedOnly(
            "Microsoft Graph suggests meeting times only to a signed-in user (delegated permission "
            "Calendars.Read.Shared); it offers no application permission for findMeetingTimes. Use a "
            "delegated connection, or free/busy (getSchedule), which works with the app's permissions."
        ) from exc


async def series_by_uid(
    graph: GraphClient, mailbox: str, calendar_id: str, uid: str
) -> dict[str, Any] | None:
    """The series master (or single event) of a calendar with this iCalUId, or None. The API names events
    by iCalUId; Graph's instances call needs the master's id, and a master keeps the series' iCalUId
    (occurrences have their own, so an occurrence's uid finds nothing here)."""
    from calsync.graph import literal

    if not uid.strip():
        raise InvalidInput("the event uid must not be empty")
    async for item in graph.list_events(mailbox, calendar_id, filter=f"iCalUId eq {literal(uid)}"):
        return item
    return None
