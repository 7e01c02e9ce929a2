"""calendarView and instances: a mailbox's events expanded into what happens inside a time window.

    GET {u}/calendarView, {u}/calendar/calendarView, {u}/calendars/{id}/calendarView,
        {u}/calendarGroups/{gid}/calendars/{id}/calendarView          ?startDateTime=&endDateTime=
    GET {u}[/calendar | /calendars/{id} | /calendarGroups/{gid}/calendars/{id}]/events/{id}/instances
    GET {u}/[...]calendarView/delta and the v1.0-unsupported {u}/[...]events/delta (graphemu.graph.delta),
        each also spelled delta(), microsoft.graph.delta[()] or graph.delta[()] (the router's function form)

Facts (graph-facts §2.3): the window is required (400 ErrorInvalidParameter "This request requires a time
window ..."); values carry their own offset, none means UTC, and Prefer outlook.timezone does not apply to
them; parameter names are case-insensitive; a bad value (an unencoded '+' arrives as a space) is 400
ErrorInvalidParameter "The value '<v>' of parameter 'StartDateTime' is invalid." (the wording seen in
OfficeDev/Office-365-SDK-for-Java#9). Results are single instances, occurrences and exceptions, never series
masters; the Outlook default page size is 10 and nextLinks carry $skip (microsoft-graph-explorer-v4#1470).
Series are expanded by graphemu.recurrence in the recurrence time zone, so DST follows that zone's rules.

CHOICE: {u}/calendarView (no calendar segment) is the default calendar, as the docs describe it.
CHOICE: results are ordered by start, then id, unless $orderby is given (Graph does not promise an order).
CHOICE: an instance overlaps when start < window end and end > window start (a zero-length one when window
  start <= start < window end): an event ending exactly at the window start is not returned.
CHOICE: an end not after the start gives an empty collection, not an error; a date alone means midnight UTC.
Paging, $top, Prefer odata.maxpagesize, $select, $filter and $orderby behave as in every Outlook collection
(graphemu.graph.calendars.collection, whose docstring lists its choices).
CHOICE: instances of an event that is not a series master (a single instance, or an occurrence id) is an
  empty collection: the docs define the result only for series masters.
CHOICE: the calendar group id is not checked (graphemu keeps no calendar groups).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from graphemu.errors import GraphError, not_found
from graphemu.graph import eventmodel
from graphemu.graph.calendars import collection, find_calendar
from graphemu.graph.events import ALWAYS, EVENT_PROPERTIES
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Router
from graphemu.recurrence import RecurrenceError, expand
from graphemu.timezones import resolve
from graphemu.world import Event, User

router = Router()
MISSING_WINDOW = (
    "This request requires a time window specified by the query string parameters "
    "StartDateTime and EndDateTime."
)
MAX_INSTANCES = 50_000  # per series and window; more is 400 (graphemu.recurrence's ErrorInvalidRequest)
_VALUE_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)
_CACHE_SIZE = 256
_READ = "Calendars.Read"


class Window(NamedTuple):
    """A calendarView window in UTC, end exclusive."""

    start: datetime
    end: datetime


class Instance(NamedTuple):
    """One entry of a calendarView: a single instance, an occurrence or an exception (`original` set)."""

    start: datetime
    end: datetime
    id: str
    event_id: str
    original: datetime | None

    def sort_key(self) -> tuple[datetime, str]:
        return self.start, self.id


@dataclass(frozen=True, slots=True)
class Shape:
    """What decides an event's instances in any window; immutable, so delta can keep past versions."""

    calendar_id: str
    start: datetime
    end: datetime
    recurrence: dict[str, Any] | None
    zone: str
    moved: tuple[tuple[datetime, datetime, datetime], ...]  # exceptions: (original start, start, end)
    cancelled: frozenset[datetime]


def shape_of(event: Event) -> Shape:
    """A snapshot of the event's timing (recurrence dicts copied: props may later change in place)."""
    recurrence = event.props.get("recurrence")
    if recurrence is None:
        return Shape(event.calendar_id, event.start_utc, event.end_utc, None, "UTC", (), frozenset())
    rng = dict(recurrence["range"])
    moved = tuple(
        (
            datetime.fromisoformat(key),
            datetime.fromisoformat(o["startUtc"]),
            datetime.fromisoformat(o["endUtc"]),
        )
        for key, o in event.overrides.items()
    )
    return Shape(
        event.calendar_id,
        event.start_utc,
        event.end_utc,
        {"pattern": dict(recurrence["pattern"]), "range": rng},
        rng.get("recurrenceTimeZone") or event.props.get("start", {}).get("timeZone") or "UTC",
        moved,
        frozenset(datetime.fromisoformat(key) for key in event.cancelled),
    )


def overlaps(start: datetime, end: datetime, window: Window) -> bool:
    if end > start:
        return start < window.end and end > window.start
    return window.start <= start < window.end


def instances_of(shape: Shape, event_id: str, window: Window) -> list[Instance]:
    """The event's instances overlapping the window (unsorted): occurrences expanded in the recurrence zone,
    cancelled ones left out, exceptions at their moved times."""
    if shape.recurrence is None:
        return (
            [Instance(shape.start, shape.end, event_id, event_id, None)]
            if overlaps(shape.start, shape.end, window)
            else []
        )
    duration = shape.end - shape.start
    try:
        starts = expand(
            shape.recurrence,
            first_start=shape.start,
            duration=duration,
            tz=resolve(shape.zone),
            window_start=window.start,
            window_end=window.end,
            max_instances=MAX_INSTANCES,
        )
    except RecurrenceError as exc:
        raise GraphError(400, exc.code, exc.message) from None
    skip = shape.cancelled.union(m[0] for m in shape.moved)
    occurrence_id = eventmodel.occurrence_id
    found = [
        Instance(s, s + duration, occurrence_id(event_id, s), event_id, s) for s in starts if s not in skip
    ]
    for original, start, end in shape.moved:
        if original not in shape.cancelled and overlaps(start, end, window):
            found.append(Instance(start, end, occurrence_id(event_id, original), event_id, original))
    return found


def _parse_value(name: str, raw: str) -> datetime:
    invalid = GraphError(400, "ErrorInvalidParameter", f"The value '{raw}' of parameter '{name}' is invalid.")
    match = _VALUE_RE.fullmatch(raw)
    if match is None:
        raise invalid
    day, hour_minute, second, fraction, offset = match.groups()
    text = f"{day}T{hour_minute or '00:00'}:{second or '00'}.{(fraction or '').ljust(6, '0')[:6]}"
    if offset:
        text += "+00:00" if offset in "Zz" else offset
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid from None


def parse_window(req: GraphRequest) -> Window:
    """The startDateTime/endDateTime window of a request, in UTC; 400 when missing or malformed."""
    raw_start, raw_end = req.param("startDateTime"), req.param("endDateTime")
    if raw_start is None or raw_end is None:
        raise GraphError(400, "ErrorInvalidParameter", MISSING_WINDOW)
    return Window(_parse_value("StartDateTime", raw_start), _parse_value("EndDateTime", raw_end))


def view(ctx: Context, owner_id: str, calendar_id: str, window: Window) -> list[Instance]:
    """Every instance of a calendar overlapping the window, sorted by (start, id). Do not mutate the result.

    Cached per (mailbox, calendar, window) under the owner's last change sequence number and event count, so
    any change made through World.put_event/remove_event invalidates it and paging costs O(page) per page.
    """
    world = ctx.world
    log = world.changes.get(owner_id)
    events = world.events.get(owner_id, {})
    stamp = (log[-1].seq if log else 0, len(events))
    cache: OrderedDict[tuple[str, str, Window], tuple[tuple[int, int], list[Instance]]]
    cache = world.extra.setdefault("calendarview_cache", OrderedDict())
    key = (owner_id, calendar_id, window)
    hit = cache.get(key)
    if hit is not None and hit[0] == stamp:
        cache.move_to_end(key)
        return hit[1]
    found: list[Instance] = []
    if window.end > window.start:
        for event in events.values():
            if event.calendar_id != calendar_id:
                continue
            if event.props.get("recurrence") is None:
                if overlaps(event.start_utc, event.end_utc, window):
                    found.append(Instance(event.start_utc, event.end_utc, event.id, event.id, None))
            else:
                found.extend(instances_of(shape_of(event), event.id, window))
    found.sort(key=Instance.sort_key)
    cache[key] = (stamp, found)
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return found


def _extended(event: Event, item: Instance) -> Mapping[str, str]:
    """The extended properties $filter sees: an exception's own on top of its master's."""
    if item.original is None or not event.overrides:
        return event.extended
    override = event.overrides.get(eventmodel.occurrence_key(item.original), {})
    return {**event.extended, **override["extended"]} if override.get("extended") else event.extended


def list_instances(
    ctx: Context, req: GraphRequest, mailbox: User, items: list[Instance], context: str
) -> GraphResponse:
    """One page of a calendarView-like collection, paged, filtered, ordered and selected like every Outlook
    collection (graphemu.graph.calendars.collection: $top, Prefer odata.maxpagesize, a $skip nextLink)."""
    events = ctx.world.events.get(mailbox.id, {})
    return collection(
        ctx,
        req,
        items,
        lambda i: eventmodel.event_json(ctx, events[i.event_id], req, occurrence_start=i.original),
        context=context,
        known=EVENT_PROPERTIES,
        type_name="Event",
        extended=lambda i: _extended(events[i.event_id], i),
        always=ALWAYS,
        headers=eventmodel.prefer_headers(req),
    )


def calendar_view(
    ctx: Context, req: GraphRequest, mailbox: User, calendar: str | None = None, **_: str
) -> GraphResponse:
    """GET .../calendarView on any of its four paths."""
    calendar_id = find_calendar(ctx, mailbox, calendar).id
    items = view(ctx, mailbox.id, calendar_id, parse_window(req))
    return list_instances(ctx, req, mailbox, items, f"users('{mailbox.id}')/calendarView")


def instances(
    ctx: Context, req: GraphRequest, mailbox: User, event: str, *, calendar: str | None = None, **_: str
) -> GraphResponse:
    """GET .../events/{id}/instances: a series' occurrences and exceptions in the window."""
    events = ctx.world.events.get(mailbox.id, {})
    parsed = eventmodel.parse_occurrence_id(event) if event not in events else None
    found = events.get(parsed[0] if parsed else event)
    if found is None or (
        calendar is not None and found.calendar_id != find_calendar(ctx, mailbox, calendar).id
    ):
        raise not_found()
    window = parse_window(req)
    items: list[Instance] = []
    if parsed is None and found.props.get("recurrence") is not None and window.end > window.start:
        items = sorted(instances_of(shape_of(found), found.id, window), key=Instance.sort_key)
    return list_instances(ctx, req, mailbox, items, f"users('{mailbox.id}')/events('{event}')/instances")


def _default_calendar_instances(ctx: Context, req: GraphRequest, mailbox: User, event: str) -> GraphResponse:
    return instances(ctx, req, mailbox, event, calendar=ctx.world.default_calendar(mailbox.id).id)


def _delta(
    ctx: Context, req: GraphRequest, mailbox: User, calendar: str | None = None, **_: str
) -> GraphResponse:
    from graphemu.graph import delta  # delta builds on this module; imported late to avoid a cycle

    return delta.calendar_view_delta(ctx, req, mailbox, calendar)


def _events_delta(ctx: Context, req: GraphRequest, mailbox: User, **_: str) -> GraphResponse:
    from graphemu.graph import delta

    return delta.events_delta(ctx, req, mailbox)


_CALENDARS = ("users/{user}", "users/{user}/calendar", "users/{user}/calendars/{calendar}",
              "users/{user}/calendarGroups/{group}/calendars/{calendar}")  # fmt: skip
for _prefix in _CALENDARS:
    # Delta first: these must win over the events module's `events/{id}` routes.
    router.route("GET", f"{_prefix}/calendarView/delta()", permission=_READ)(_delta)
    router.route("GET", f"{_prefix}/events/delta()", permission=_READ)(_events_delta)
    router.route("GET", f"{_prefix}/calendarView", permission=_READ)(calendar_view)
    _instances = _default_calendar_instances if _prefix.endswith("/calendar") else instances
    router.route("GET", f"{_prefix}/events/{{event}}/instances", permission=_READ)(_instances)
