"""The REST API's event body (Cronofy's Upsert Event, service-facts §1.2) and its translation into a
`DesiredEvent` for the sync engine.

Times: `start`/`end` are each either a date (`"2026-03-02"`: an all-day event, end exclusive), a time
with an offset or `Z` (`"2026-03-02T09:00:00Z"`), a local time (`"2026-03-02T09:00:00"`, read in `tzid`),
or an object `{"time": ..., "tzid": ...}` whose own zone applies. Both must be of one kind (dates or
times), and the end after the start. `tzid` (IANA, default `Etc/UTC`) is also the zone Outlook shows the
event in.

Conferencing: `default` asks Graph for a Teams meeting (isOnlineMeeting + teamsForBusiness); `explicit`
writes the caller's join URL into the event's body (Graph lets no one else set a join URL); `none`
removes it. Omitted: the event keeps what it had (Cronofy: "we will not make changes").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from calsync.domain import DesiredEvent, SourceKey

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EVENT_ID = r"^[^\x00-\x1f\x7f]{1,200}$"
FIRST_YEAR, LAST_YEAR = 1900, 2200  # Outlook's own range is wider; this keeps windows and zones sane


def _parse(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time (`Z`, `z` and `t` as RFC 3339 allows)."""
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/London)") from None


class ZonedTime(BaseModel):
    """A time in its own zone: `{"time": "2026-03-02T09:00:00", "tzid": "Europe/London"}`."""

    time: str = Field(description="A local time, or one with an offset.")
    tzid: str = Field(description="IANA time zone of `time`.")

    @field_validator("tzid")
    @classmethod
    def _known(cls, value: str) -> str:
        _zone(value)
        return value


_TIME_STRINGS: list[dict[str, Any]] = [
    {"type": "string", "format": "date"},
    {"type": "string", "format": "date-time"},
    {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"},
]


def _time_schema(schema: dict[str, Any]) -> None:
    """The forms a time takes, in the OpenAPI document: a date, a time with an offset, a local time, or
    an object (generated clients and property tests then make real times, not any string)."""
    alternatives = schema.get("anyOf", [])
    schema["anyOf"] = [*_TIME_STRINGS, *(a for a in alternatives if a.get("type") != "string")]
    schema["description"] = (
        "A date (all-day, YYYY-MM-DD), a time (ISO 8601; local in tzid without an offset), or {time, tzid}."
    )


TimeValue = Annotated[str | ZonedTime, Field(json_schema_extra=_time_schema)]


class Location(BaseModel):
    description: str = Field(default="", max_length=1024)


class Reminder(BaseModel):
    minutes: int = Field(ge=0, le=40320, description="Minutes before the start (at most 4 weeks).")


class Conferencing(BaseModel):
    profile_id: Literal["default", "explicit", "none"] = Field(
        description='"default": a Teams meeting; "explicit": your join_url; "none": remove it.'
    )
    provider_description: str | None = Field(default=None, max_length=255)
    join_url: HttpUrl | None = Field(default=None, description="For explicit: the meeting's join URL.")

    @model_validator(mode="after")
    def _explicit_has_url(self) -> Conferencing:
        if self.profile_id == "explicit" and self.join_url is None:
            raise ValueError("explicit conferencing needs a join_url")
        if self.join_url is not None and self.join_url.scheme not in ("https", "http"):
            raise ValueError("join_url must be an http(s) URL")
        return self


class UpsertEvent(BaseModel):
    """POST /v1/calendars/{calendar_id}/events: create or update the event with your `event_id`."""

    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(
        pattern=EVENT_ID, description="Your own id: the first call creates, later ones update."
    )
    summary: str = Field(min_length=1, max_length=1024)
    description: str = Field(default="", max_length=32000, description="Plain text.")
    start: TimeValue
    end: TimeValue
    tzid: str = Field(default="Etc/UTC", description="IANA zone for local times; Outlook shows it in it.")
    location: Location | None = None
    reminders: list[Reminder] | None = Field(
        default=None, max_length=5, description="The first is used; [] for none; omitted: Outlook's 15."
    )
    transparency: Literal["transparent", "opaque"] | None = None
    categories: list[Annotated[str, Field(max_length=255)]] = Field(default_factory=list, max_length=25)
    conferencing: Conferencing | None = None

    @field_validator("tzid")
    @classmethod
    def _known(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("start", "end")
    @classmethod
    def _readable(cls, value: str | ZonedTime) -> str | ZonedTime:
        text = value.time if isinstance(value, ZonedTime) else value
        if isinstance(value, str) and _DATE.match(value):
            date.fromisoformat(value)
            return value
        try:
            _parse(text)
        except ValueError:
            raise ValueError("not a date (YYYY-MM-DD) or an ISO 8601 time") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> UpsertEvent:
        span = resolve_times(self)
        if not (span.start.year >= FIRST_YEAR and span.end.year <= LAST_YEAR):
            raise ValueError(f"times must lie between the years {FIRST_YEAR} and {LAST_YEAR}")
        shortest = timedelta(days=1) if span.all_day else timedelta(0)
        if span.end - span.start < shortest or span.end == span.start:
            raise ValueError("end must be after start (an all-day event lasts at least a day)")
        if not self.summary.strip():
            raise ValueError("summary must not be blank")
        return self


@dataclass(frozen=True, slots=True)
class Times:
    start: datetime
    end: datetime
    all_day: bool
    zone: str


def _is_date(value: str | ZonedTime) -> bool:
    return isinstance(value, str) and bool(_DATE.match(value))


def _instant(value: str | ZonedTime, default_zone: str) -> tuple[datetime, str]:
    text, zone = (value.time, value.tzid) if isinstance(value, ZonedTime) else (value, default_zone)
    moment = _parse(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(zone))
    return moment, zone


def resolve_times(event: UpsertEvent) -> Times:
    """Aware start and end, whether all-day, and the zone Outlook shows the event in.

    Raises ValueError when one is a date and the other a time."""
    if _is_date(event.start) != _is_date(event.end):
        raise ValueError("start and end must both be dates (all-day) or both be times")
    if _is_date(event.start):
        zone = _zone(event.tzid)
        assert isinstance(event.start, str)
        assert isinstance(event.end, str)
        start = datetime.combine(date.fromisoformat(event.start), time(), zone)
        end = datetime.combine(date.fromisoformat(event.end), time(), zone)
        return Times(start, end, True, event.tzid)
    start, zone_name = _instant(event.start, event.tzid)
    end, _ = _instant(event.end, event.tzid)
    return Times(start, end, False, zone_name)


def source_key(event_id: str, generation: int) -> SourceKey:
    """The engine's key of an API event; the generation moves on when a Teams meeting is removed, since
    Graph cannot take one off an event (graph-facts: onlineMeeting "can't be changed back"): the event
    is replaced by a new one."""
    return SourceKey(f"api/{generation}/{event_id}")


def event_id_of(key: str) -> str | None:
    """The caller's event_id in an API source key (None for any other key)."""
    parts = key.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "api" and parts[1].isdigit() else None


def desired_event(
    mailbox: str, event: UpsertEvent, generation: int, conferencing: Conferencing | None
) -> DesiredEvent:
    """What the engine writes for an accepted upsert (`conferencing`: the one in effect)."""
    times = resolve_times(event)
    body = event.description
    if conferencing is not None and conferencing.profile_id == "explicit" and conferencing.join_url:
        label = conferencing.provider_description or "Join online"
        body = f"{body}\n\n{label}: {conferencing.join_url}".strip()
    reminder: int | None = 15
    if event.reminders is not None:
        reminder = event.reminders[0].minutes if event.reminders else None
    return DesiredEvent(
        mailbox=mailbox,
        source_key=source_key(event.event_id, generation),
        subject=event.summary,
        start=times.start.astimezone(UTC),
        end=times.end.astimezone(UTC),
        time_zone=times.zone,
        all_day=times.all_day,
        location=event.location.description if event.location else "",
        body=body,
        categories=tuple(event.categories),
        show_as="free" if event.transparency == "transparent" else "busy",
        reminder_minutes=reminder,
        teams_meeting=conferencing is not None and conferencing.profile_id == "default",
        source="api",
    )


def stored_body(event: UpsertEvent, generation: int, conferencing: Conferencing | None) -> dict[str, Any]:
    return {
        "event": event.model_dump(mode="json"),
        "generation": generation,
        "conferencing": conferencing.model_dump(mode="json") if conferencing else None,
    }


def from_stored(body: dict[str, Any]) -> tuple[UpsertEvent, int, Conferencing | None]:
    conferencing = body.get("conferencing")
    return (
        UpsertEvent.model_validate(body["event"]),
        int(body.get("generation", 0)),
        Conferencing.model_validate(conferencing) if conferencing else None,
    )
