"""The Graph event model: how a stored Event looks on the wire, occurrence ids, and field converters.

Public API (other modules depend on these names):
- `event_json(ctx, event, req, *, occurrence_start=None)`: an event, or one occurrence of a series master,
  as Graph returns it (graph-facts §2.2; user-post-events.md, event-get.md examples). Honours
  `Prefer: outlook.timezone` (400 TimeZoneNotSupportedException for an unsupported name, as Microsoft
  showed in microsoft-graph-docs#6870), `Prefer: outlook.body-content-type`,
  `$expand=singleValueExtendedProperties(...)` and `$select=cancelledOccurrences`. Callers add
  `prefer_headers(req)` (Preference-Applied) to their responses.
- `occurrence_id(master_id, original_start_utc)` / `parse_occurrence_id(event_id)`: reversible, case-sensitive
  ids for occurrences; `occurrence_key(original_start_utc)` keys Event.overrides and Event.cancelled;
  `occurrence_span(master, original_start_utc)` is an occurrence's current (start, end) in UTC.
- `create_event`, `update_event`: implemented in `graphemu.graph.eventwrite`, which stores `Event.props` in
  output shape so rendering here is dictionary reads.
Output times are UTC unless `Prefer: outlook.timezone` names a zone; all-day events always show
midnight-to-midnight whatever the zone (microsoft-graph-docs#1802, answered by Microsoft).
CHOICE: an event without any of the expanded extended properties has no singleValueExtendedProperties key.
CHOICE: `$expand=singleValueExtendedProperties` without `$filter` is 400, since Graph "cannot list all
  extended properties in one call" (graph-facts §3).
CHOICE: transactionId is always present, null unless a client set it (the delta sample shows
  `"transactionId": null`; event.md says it is "only returned ... if an app has set it").
CHOICE: cancelledOccurrences appears only when `$select` names it (event.md: "Returned only on $select");
  values are "OID.{masterId}.{yyyy-MM-dd}" (beta event-get example), the date in the recurrence zone.
CHOICE: an occurrence's id encodes the master id and original start (base64url, Exchange-like "AAMk" prefix);
  an exception keeps that id.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from graphemu.errors import GraphError
from graphemu.odata import ExpandExtendedProps, ODataError, extended_property_key, parse_expand
from graphemu.timezones import TimeZoneNotSupported, canonical_name, resolve, to_output

if TYPE_CHECKING:
    from graphemu.graph.router import Context, GraphRequest
    from graphemu.world import Calendar, Event, User

_OCCURRENCE_PREFIX = b"\x00\x03\x24\x0aOC"  # base64 "AAMkCk9D": Exchange's "AAMk", then a marker
_ENCODED_PREFIX = base64.urlsafe_b64encode(_OCCURRENCE_PREFIX).decode()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OWA = "https://outlook.office365.com/owa/"  # event.md: the webLink format for work or school accounts
_NO_RESPONSE_TIME = "0001-01-01T00:00:00Z"


# -- occurrence ids ---------------------------------------------------------------------------------


def occurrence_key(original_start_utc: datetime) -> str:
    """The key of an occurrence in Event.overrides / Event.cancelled: original start, ISO UTC with "Z"."""
    return original_start_utc.astimezone(UTC).isoformat().replace("+00:00", "Z")


def occurrence_id(master_id: str, original_start_utc: datetime) -> str:
    """The id of one occurrence: base64url of a marker, the master id and the original start (µs)."""
    raw = master_id.encode()
    micros = (original_start_utc - _EPOCH) // timedelta(microseconds=1)
    payload = _OCCURRENCE_PREFIX + len(raw).to_bytes(2, "big") + raw + micros.to_bytes(8, "big", signed=True)
    return base64.urlsafe_b64encode(payload).decode()


def parse_occurrence_id(event_id: str) -> tuple[str, datetime] | None:
    """(master id, original start UTC) for an id made by `occurrence_id`, else None. Case-sensitive."""
    if not event_id.startswith(_ENCODED_PREFIX):
        return None
    try:
        data = base64.b64decode(event_id, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    head = len(_OCCURRENCE_PREFIX) + 2
    size = int.from_bytes(data[head - 2 : head], "big")
    if len(data) != head + size + 8:
        return None
    try:
        master_id = data[head : head + size].decode()
        start = _EPOCH + timedelta(microseconds=int.from_bytes(data[head + size :], "big", signed=True))
    except (UnicodeDecodeError, OverflowError):
        return None
    return (master_id, start) if occurrence_id(master_id, start) == event_id else None


def occurrence_span(master: Event, original_start_utc: datetime) -> tuple[datetime, datetime]:
    """Where an occurrence is now: moved by its exception, else the original start plus the series length."""
    override = master.overrides.get(occurrence_key(original_start_utc))
    if override:
        return datetime.fromisoformat(override["startUtc"]), datetime.fromisoformat(override["endUtc"])
    return original_start_utc, original_start_utc + (master.end_utc - master.start_utc)


def recurrence_zone(master: Event) -> str:
    """Where a series recurs: recurrenceTimeZone, else its start zone; occurrence dates are local to it."""
    recurrence = master.props.get("recurrence") or {}
    return str(recurrence.get("range", {}).get("recurrenceTimeZone") or master.props["start"]["timeZone"])


_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<br\s*/?>|</p>|</div>", re.IGNORECASE)
_NEWLINES = re.compile(r"[\r\n]+")  # insignificant in HTML
_AROUND_BREAK = re.compile(r" *\r\n *")
_HEAD = re.compile(r"<head>.*?</head>", re.IGNORECASE | re.DOTALL)


def html_to_text(content: str) -> str:
    """Plain text of an HTML body (for bodyPreview and `Prefer: outlook.body-content-type="text"`)."""
    text = _BREAK.sub("\r\n", _NEWLINES.sub(" ", _HEAD.sub("", content)))
    return _AROUND_BREAK.sub("\r\n", html.unescape(_TAG.sub("", text))).strip()


# -- request preferences ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _zone_preference(header: str) -> str | None:
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "outlook.timezone":
            try:
                return canonical_name(value.strip().strip('"'))
            except TimeZoneNotSupported as exc:
                raise GraphError(400, "TimeZoneNotSupportedException", str(exc)) from None
    return None


def output_zone(req: GraphRequest) -> str | None:
    """The canonical zone named by `Prefer: outlook.timezone`, None for UTC; 400 for an unsupported name."""
    header = req.headers.get("prefer")
    return _zone_preference(header) if header else None


def _text_body(req: GraphRequest) -> bool:
    return (
        req.prefer().get("outlook.body-content-type", "").lower() == "text"
        if "prefer" in req.headers
        else False
    )


def prefer_headers(req: GraphRequest) -> dict[str, str]:
    """`Preference-Applied` for the outlook.* preferences this model honours (event-get.md example)."""
    applied = []
    zone = output_zone(req)
    if zone is not None:
        applied.append(f'outlook.timezone="{zone}"')
    body_type = req.prefer().get("outlook.body-content-type", "").lower() if "prefer" in req.headers else ""
    if body_type in ("text", "html"):
        applied.append(f'outlook.body-content-type="{body_type}"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


@functools.lru_cache(maxsize=256)
def _expand(text: str) -> ExpandExtendedProps | None:
    try:
        expand = parse_expand(text)
    except ODataError as exc:
        raise GraphError(400, "BadRequest", exc.message) from None
    if expand is not None and expand.property_ids is None:
        raise GraphError(
            400, "BadRequest", "singleValueExtendedProperties can only be expanded with $filter=id eq '...'."
        )
    return expand


def check_expand(req: GraphRequest) -> None:
    """400 for an `$expand` graphemu cannot answer, before any event is rendered."""
    text = req.param("$expand")
    if text:
        _expand(text)


def apply_extended(extended: dict[str, str], updates: dict[str, str | None]) -> None:
    """Set or (null value) remove extended properties of an event or a calendar; a property keeps the id
    it was created with."""
    by_key = {extended_property_key(k): k for k in extended}
    for prop_id, value in updates.items():
        key = extended_property_key(prop_id)
        stored = by_key.setdefault(key, prop_id)
        if value is None:
            extended.pop(stored, None)
            by_key.pop(key)
        else:
            extended[stored] = value


def expanded_properties(event: Event | Calendar, req: GraphRequest) -> list[dict[str, str]] | None:
    """The stored extended properties `$expand=singleValueExtendedProperties($filter=...)` asks for (of an
    event or a calendar: both carry them, singlevaluelegacyextendedproperty-get.md)."""
    text = req.param("$expand")
    expand = _expand(text) if text else None
    if expand is None or not event.extended:
        return None
    wanted = {extended_property_key(i) for i in expand.property_ids or ()}
    found = [{"id": k, "value": v} for k, v in event.extended.items() if extended_property_key(k) in wanted]
    return found or None


# -- rendering --------------------------------------------------------------------------------------


def timestamp(moment: datetime) -> str:
    """An Edm.DateTimeOffset as Graph writes it: UTC, up to 7 fractional digits, trailing zeros cut."""
    text = f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}".rstrip("0").rstrip(".")
    return text + "Z"


def _when(moment: datetime, zone: str | None, all_day_zone: str | None) -> dict[str, str]:
    if all_day_zone is not None:  # all-day: the local midnight, labelled with the requested zone
        return {"dateTime": to_output(moment, all_day_zone)[0], "timeZone": zone or "UTC"}
    text, name = to_output(moment, zone)
    return {"dateTime": text, "timeZone": name}


def _copy(value: Any) -> Any:
    """A fresh copy of stored JSON, so a response can never alias (and later mutate) the store."""
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, dict | list) else v for v in value]
    return value


_URL_SAFE_ID = re.compile(r"[A-Za-z0-9_.~=-]*")  # what Exchange-style ids are made of


def _quote_id(event_id: str) -> str:
    """`quote(event_id, safe="")`, without its per-character work for ids of base64url characters."""
    return event_id.replace("=", "%3D") if _URL_SAFE_ID.fullmatch(event_id) else quote(event_id, safe="")


def event_json(
    ctx: Context, event: Event, req: GraphRequest, *, occurrence_start: datetime | None = None
) -> dict[str, Any]:
    """The full Graph JSON of `event`, or of its occurrence originally starting at `occurrence_start`."""
    zone = output_zone(req)
    props, change_key, modified = event.props, event.change_key, timestamp(event.modified)
    start, end, ical_uid, event_id = event.start_utc, event.end_utc, event.ical_uid, event.id
    extended = event.extended
    if occurrence_start is not None:
        override = event.overrides.get(occurrence_key(occurrence_start))
        start, end = occurrence_span(event, occurrence_start)
        event_id = occurrence_id(event.id, occurrence_start)
        local = occurrence_start.astimezone(resolve(recurrence_zone(event)))
        ical_uid = f"{ical_uid[:32]}{local.year:04X}{local.month:02X}{local.day:02X}{ical_uid[40:]}"
        kind = "exception" if override else "occurrence"
        if override:
            props = {**props, **override["props"]}
            change_key = override["changeKey"]
            modified = timestamp(datetime.fromisoformat(override["lastModifiedDateTime"]))
            extended = {**extended, **override.get("extended", {})}
    else:
        kind = "seriesMaster" if props.get("recurrence") else "singleInstance"
    all_day_zone = props["start"]["timeZone"] if props.get("isAllDay") else None
    body = _copy(props["body"])
    if _text_body(req):
        body = {"contentType": "text", "content": html_to_text(body["content"])}
    item: dict[str, Any] = {
        "@odata.etag": f'W/"{change_key}"',
        "id": event_id,
        "createdDateTime": timestamp(event.created),
        "lastModifiedDateTime": modified,
        "changeKey": change_key,
        "categories": list(props["categories"]),
        "transactionId": event.transaction_id,
        "originalStartTimeZone": props["originalStartTimeZone"],
        "originalEndTimeZone": props["originalEndTimeZone"],
        "iCalUId": ical_uid,
        "reminderMinutesBeforeStart": props["reminderMinutesBeforeStart"],
        "isReminderOn": props["isReminderOn"],
        "hasAttachments": False,
        "subject": props["subject"],
        "bodyPreview": props["bodyPreview"],
        "importance": props["importance"],
        "sensitivity": props["sensitivity"],
        "isAllDay": props["isAllDay"],
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": props["responseRequested"],
        "seriesMasterId": event.id if occurrence_start is not None else None,
        "showAs": props["showAs"],
        "type": kind,
        "webLink": f"{_OWA}?itemid={_quote_id(event_id)}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": props["isOnlineMeeting"],
        "onlineMeetingProvider": props["onlineMeetingProvider"],
        "allowNewTimeProposals": props["allowNewTimeProposals"],
        "isDraft": False,
        "hideAttendees": props["hideAttendees"],
        "responseStatus": {"response": "organizer", "time": _NO_RESPONSE_TIME},
        "body": body,
        "start": _when(start, zone, all_day_zone),
        "end": _when(end, zone, all_day_zone),
        "location": _copy(props["location"]),
        "locations": _copy(props["locations"]),
        "recurrence": _copy(props.get("recurrence")) if occurrence_start is None else None,
        "attendees": _copy(props["attendees"]),
        "organizer": _copy(props["organizer"]),
        "onlineMeeting": _copy(props.get("onlineMeeting")),
    }
    if occurrence_start is not None:
        item["originalStart"] = timestamp(occurrence_start)
    if req.query and "cancelledoccurrences" in (req.param("$select") or "").lower():
        item["cancelledOccurrences"] = cancelled_occurrences(event) if occurrence_start is None else []
    if req.query:
        found = expanded_properties(event if extended is event.extended else _with(event, extended), req)
        if found is not None:
            item["singleValueExtendedProperties"] = found
    return item


def _with(event: Event, extended: dict[str, str]) -> Event:
    from dataclasses import replace

    return replace(event, extended=extended)


def cancelled_occurrences(master: Event) -> list[str]:
    """occurrenceId values of a master's cancelled occurrences, in date order."""
    zone = resolve(recurrence_zone(master)) if master.props.get("recurrence") else UTC
    days = sorted(
        datetime.fromisoformat(k.replace("Z", "+00:00")).astimezone(zone).date() for k in master.cancelled
    )
    return [f"OID.{master.id}.{day.isoformat()}" for day in days]


# -- writes (implemented in eventwrite; imported lazily because eventwrite builds on this module) -------


def create_event(ctx: Context, mailbox: User, calendar: Calendar, body: Any) -> Event:
    """Validate and normalise a new event's JSON, store it in `calendar` and log the change."""
    from graphemu.graph.eventwrite import create_event as create

    return create(ctx, mailbox, calendar, body)


def update_event(ctx: Context, event: Event, body: Any) -> Event:
    """Apply a PATCH body to a single instance or series master, store it and log the change."""
    from graphemu.graph.eventwrite import update_event as update

    return update(ctx, event, body)
