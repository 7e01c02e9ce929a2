"""Event routes (graph-facts §2.3, §3, §4) and the writes that turn occurrences into exceptions.

For each collection C (users/{user}/events, users/{user}/calendar/events, users/{user}/calendars/{id}/events):
    GET C             single instances and series masters, never occurrences (user-list-events.md); paged
                      like every Outlook collection (see calendars.collection); $filter incl.
                      singleValueExtendedProperties/Any(...), $orderby, $select, $expand
    POST C            201 + the event; a repeated transactionId creates nothing new (see the CHOICEs)
    GET C/{id}        an event, or an occurrence by its occurrence id (eventmodel.occurrence_id)
    PATCH C/{id}      200 + the event; on an occurrence id the occurrence becomes an exception
    DELETE C/{id}     204; on an occurrence id the occurrence is cancelled (cancelledOccurrences)

users/{user}/events/{id} finds an event in any calendar; the calendar-scoped paths only in their calendar.
Writes to a calendar with canEdit false are 403 ErrorAccessDenied. With config.enforce_if_match, an If-Match
header (W/"changeKey", "changeKey", changeKey or *) that does not match answers 412 ErrorIrresolvableConflict
(graph-facts §4, analogdotnow/Analog#475; reliability target CF-08).
CHOICE: a repeated create with a known transactionId answers 201 with the original event
  (duplicate_transaction_id="return-original"), or 409 ErrorDuplicateTransactionId ("conflict"); graph-facts
  §4 says the real answer is undocumented.
CHOICE: a transactionId stays used after its event is deleted: "conflict" still answers 409, while
  "return-original", having no original to return, creates a new event (which then owns the id).
CHOICE: POST answers carry Location: the event's canonical URL.
CHOICE: an id that is not base64 is 400 ErrorInvalidIdMalformed "Id is malformed." (graph-facts §9); an
  unknown one, or one in another calendar than the path names, is 404 ErrorItemNotFound.
CHOICE: an exception may move only between its neighbours' days (event-update.md,
  ErrorOccurrenceCrossingBoundary); neighbours are searched 800 days either side.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from graphemu import ids
from graphemu.errors import GraphError, access_denied, not_found
from graphemu.graph.calendars import collection, find_calendar, selected
from graphemu.graph.eventmodel import (
    check_expand,
    create_event,
    event_json,
    occurrence_id,
    occurrence_key,
    parse_occurrence_id,
    prefer_headers,
    recurrence_zone,
    update_event,
)
from graphemu.graph.eventwrite import apply_times, read_changes, sync_locations
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Router
from graphemu.odata import apply_select
from graphemu.recurrence import expand
from graphemu.timezones import resolve
from graphemu.world import Calendar, Event, User

router = Router()

EVENT_PROPERTIES = (
    "id", "categories", "changeKey", "createdDateTime", "lastModifiedDateTime", "allowNewTimeProposals",
    "attendees", "body", "bodyPreview", "cancelledOccurrences", "end", "hasAttachments", "hideAttendees",
    "iCalUId", "importance", "isAllDay", "isCancelled", "isDraft", "isOnlineMeeting", "isOrganizer",
    "isReminderOn", "location", "locations", "onlineMeeting", "onlineMeetingProvider", "onlineMeetingUrl",
    "organizer", "originalEndTimeZone", "originalStart", "originalStartTimeZone", "recurrence",
    "reminderMinutesBeforeStart", "responseRequested", "responseStatus", "sensitivity", "seriesMasterId",
    "showAs", "start", "subject", "transactionId", "type", "webLink", "attachments", "calendar",
    "exceptionOccurrences", "extensions", "instances", "multiValueExtendedProperties",
    "singleValueExtendedProperties",
)  # fmt: skip
CONFLICT = (
    "The send or update operation could not be performed because the change key passed in the request does "
    "not match the current change key for the item."
)
ALWAYS = ("id", "singleValueExtendedProperties")  # kept by $select: an $expand'ed navigation stays
_WELL_FORMED = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


# -- occurrences --------------------------------------------------------------------------------------


def _starts(master: Event, start: datetime, end: datetime, limit: int = 5000) -> list[datetime]:
    return expand(
        master.props["recurrence"], first_start=master.start_utc, duration=timedelta(0),
        tz=resolve(recurrence_zone(master)), window_start=start, window_end=end, max_instances=limit,
    )  # fmt: skip


def is_occurrence(master: Event, original_start: datetime) -> bool:
    """True when `original_start` is an occurrence of the series that was not cancelled."""
    if master.props.get("recurrence") is None or occurrence_key(original_start) in master.cancelled:
        return False
    return bool(_starts(master, original_start, original_start + timedelta(microseconds=1)))


def update_occurrence(ctx: Context, master: Event, original_start: datetime, body: Any) -> None:
    """PATCH one occurrence: it becomes an exception, stored in master.overrides[occurrence_key] as
    {"props", "startUtc", "endUtc", "changeKey", "lastModifiedDateTime", "extended"}."""
    changes = read_changes(body, occurrence=True)
    key = occurrence_key(original_start)
    override = master.overrides.get(key, {})
    props = {**master.props, **override.get("props", {}), **changes.props}
    start = datetime.fromisoformat(override["startUtc"]) if override else original_start
    end = (
        datetime.fromisoformat(override["endUtc"])
        if override
        else start + (master.end_utc - master.start_utc)
    )
    start, end = apply_times(props, changes, start, end)
    sync_locations(props, changes)
    if changes.start is not None:
        zone, span = resolve(recurrence_zone(master)), timedelta(days=800)
        others = [
            s
            for s in _starts(master, original_start - span, original_start + span, 100_000)
            if s != original_start
        ]
        day = start.astimezone(zone).date()
        before = [s.astimezone(zone).date() for s in others if s < original_start]
        after = [s.astimezone(zone).date() for s in others if s > original_start]
        if (before and day <= before[-1]) or (after and day >= after[0]):
            raise GraphError(
                400,
                "ErrorOccurrenceCrossingBoundary",
                "Modified occurrence is crossing or overlapping adjacent occurrence.",
            )
    kept = {*changes.props, *override.get("props", {}), "start", "end", "bodyPreview", "location",
            "locations", "originalStartTimeZone", "originalEndTimeZone"}  # fmt: skip
    extended = {
        **override.get("extended", {}),
        **{k: v for k, v in changes.extended.items() if v is not None},
    }
    master.overrides[key] = {
        "props": {k: v for k, v in props.items() if k in kept},
        "startUtc": start.isoformat(),
        "endUtc": end.isoformat(),
        "changeKey": ids.change_key(),
        "lastModifiedDateTime": ctx.world.clock.now().isoformat(),
        "extended": extended,
    }
    _log_occurrence(ctx, master, original_start, "updated")


def cancel_occurrence(ctx: Context, master: Event, original_start: datetime) -> None:
    """DELETE one occurrence: it joins master.cancelled (cancelledOccurrences) and loses any exception."""
    key = occurrence_key(original_start)
    master.overrides.pop(key, None)
    master.cancelled.add(key)
    _log_occurrence(ctx, master, original_start, "deleted")


def _log_occurrence(ctx: Context, master: Event, original_start: datetime, kind: str) -> None:
    """The master changes (new changeKey, logged "updated"), and the instance's own change is logged under
    its occurrence id, so delta and notifications can report the instance."""
    from dataclasses import replace

    ctx.world.put_event(master, "updated")
    instance = replace(master, id=occurrence_id(master.id, original_start))
    ctx.world.record_change(instance, "deleted" if kind == "deleted" else "updated")


# -- lookups ------------------------------------------------------------------------------------------


def find_event(
    ctx: Context, mailbox: User, calendar: Calendar | None, event_id: str
) -> tuple[Event, datetime | None]:
    """(event, None), or (series master, original start) for an occurrence id; 400/404 as Graph answers."""
    events = ctx.world.events.get(mailbox.id, {})
    event = events.get(event_id)
    if event is None:
        parsed = parse_occurrence_id(event_id)
        master = events.get(parsed[0]) if parsed else None
        in_scope = master is not None and (calendar is None or master.calendar_id == calendar.id)
        if parsed and master and in_scope and is_occurrence(master, parsed[1]):
            return master, parsed[1]
        if len(event_id) % 4 or not _WELL_FORMED.fullmatch(event_id):
            raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        raise not_found()
    if calendar is not None and event.calendar_id != calendar.id:
        raise not_found()
    return event, None


def _check_writable(ctx: Context, req: GraphRequest, event: Event, occurrence: datetime | None) -> None:
    """403 for a read-only calendar; 412 when an enforced If-Match names another changeKey."""
    if not ctx.world.calendars[event.owner_id][event.calendar_id].can_edit:
        raise access_denied()
    header = req.headers.get("if-match")
    if not ctx.config.enforce_if_match or header is None:
        return
    override = event.overrides.get(occurrence_key(occurrence)) if occurrence else None
    change_key = str(override["changeKey"]) if override else event.change_key
    accepted = {"*", change_key, f'"{change_key}"', f'W/"{change_key}"'}
    if not any(tag.strip() in accepted for tag in header.split(",")):
        raise GraphError(412, "ErrorIrresolvableConflict", CONFLICT)


def _entity(ctx: Context, req: GraphRequest, item: dict[str, Any], fragment: str) -> dict[str, Any]:
    fields = selected(req, EVENT_PROPERTIES, "Event")
    if fields:
        item = apply_select(item, fields, ALWAYS)
        fragment = f"{fragment}({','.join(fields)})"
    return {"@odata.context": ctx.context_url(f"{fragment}/$entity"), **item}


# -- handlers -----------------------------------------------------------------------------------------


def _scope(ctx: Context, mailbox: User, path: str, calendar_id: str | None) -> tuple[Calendar | None, str]:
    """The calendar a collection path names (None: all of the mailbox) and its @odata.context fragment."""
    if path == "events":
        return None, f"users('{mailbox.id}')/events"
    if path == "calendar":
        return find_calendar(ctx, mailbox, None), f"users('{mailbox.id}')/calendar/events"
    calendar = find_calendar(ctx, mailbox, calendar_id)
    return calendar, f"users('{mailbox.id}')/calendars('{calendar.id}')/events"


def _register(prefix: str, path: str) -> None:
    """The five operations on one of the three event collections."""

    @router.route("GET", prefix, permission="Calendars.Read")
    def list_events(
        ctx: Context, req: GraphRequest, mailbox: User, calendar_id: str | None = None
    ) -> GraphResponse:
        calendar, fragment = _scope(ctx, mailbox, path, calendar_id)
        headers = prefer_headers(req)
        check_expand(req)
        events = [
            e
            for e in ctx.world.events.get(mailbox.id, {}).values()
            if calendar is None or e.calendar_id == calendar.id
        ]
        return collection(
            ctx, req, events, lambda e: event_json(ctx, e, req), context=fragment, known=EVENT_PROPERTIES,
            type_name="Event", extended=lambda e: e.extended, always=ALWAYS, headers=headers,
        )  # fmt: skip

    @router.route("POST", prefix, permission="Calendars.ReadWrite")
    def create(
        ctx: Context, req: GraphRequest, mailbox: User, calendar_id: str | None = None
    ) -> GraphResponse:
        calendar, fragment = _scope(ctx, mailbox, path, calendar_id)
        calendar = calendar or find_calendar(ctx, mailbox, None)
        headers = prefer_headers(req)
        if not calendar.can_edit:
            raise access_denied()
        body = req.body if isinstance(req.body, dict) else {}
        tid = next((v for k, v in body.items() if k.lower() == "transactionid"), None)
        known = ctx.world.transactions.get((mailbox.id, tid)) if isinstance(tid, str) and tid else None
        if known is not None and ctx.config.duplicate_transaction_id == "conflict":  # even if deleted since
            raise GraphError(
                409, "ErrorDuplicateTransactionId", "An event with this transactionId already exists."
            )
        event = ctx.world.events.get(mailbox.id, {}).get(known) if known else None
        event = event or create_event(ctx, mailbox, calendar, req.body)
        headers["Location"] = ctx.url(f"users('{mailbox.id}')/events('{event.id}')")
        return GraphResponse(201, _entity(ctx, req, event_json(ctx, event, req), fragment), headers)

    @router.route("GET", f"{prefix}/{{event_id}}", permission="Calendars.Read")
    def get(
        ctx: Context, req: GraphRequest, mailbox: User, event_id: str, calendar_id: str | None = None
    ) -> GraphResponse:
        calendar, fragment = _scope(ctx, mailbox, path, calendar_id)
        event, occurrence = find_event(ctx, mailbox, calendar, event_id)
        headers = prefer_headers(req)
        item = event_json(ctx, event, req, occurrence_start=occurrence)
        return GraphResponse(200, _entity(ctx, req, item, fragment), headers)

    @router.route("PATCH", f"{prefix}/{{event_id}}", permission="Calendars.ReadWrite")
    def update(
        ctx: Context, req: GraphRequest, mailbox: User, event_id: str, calendar_id: str | None = None
    ) -> GraphResponse:
        calendar, fragment = _scope(ctx, mailbox, path, calendar_id)
        event, occurrence = find_event(ctx, mailbox, calendar, event_id)
        headers = prefer_headers(req)
        _check_writable(ctx, req, event, occurrence)
        if occurrence is None:
            update_event(ctx, event, req.body)
        else:
            update_occurrence(ctx, event, occurrence, req.body)
        item = event_json(ctx, event, req, occurrence_start=occurrence)
        return GraphResponse(200, _entity(ctx, req, item, fragment), headers)

    @router.route("DELETE", f"{prefix}/{{event_id}}", permission="Calendars.ReadWrite")
    def delete(
        ctx: Context, req: GraphRequest, mailbox: User, event_id: str, calendar_id: str | None = None
    ) -> GraphResponse:
        calendar, _ = _scope(ctx, mailbox, path, calendar_id)
        event, occurrence = find_event(ctx, mailbox, calendar, event_id)
        _check_writable(ctx, req, event, occurrence)
        if occurrence is None:
            ctx.world.remove_event(mailbox.id, event.id)
        else:
            cancel_occurrence(ctx, event, occurrence)
        return GraphResponse(204)


for _prefix, _path in (
    ("users/{user}/events", "events"),
    ("users/{user}/calendar/events", "calendar"),
    ("users/{user}/calendars/{calendar_id}/events", "calendars"),
):
    _register(_prefix, _path)
