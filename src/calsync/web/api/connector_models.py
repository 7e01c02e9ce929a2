"""Request and answer models of the connector routes (calsync.web.api.connector), so that they appear,
with their constraints, in /openapi.json."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from calsync.web.api.models import Calendar

Color = Literal["auto", "lightBlue", "lightGreen", "lightOrange", "lightGray", "lightYellow", "lightTeal",
                "lightPink", "lightBrown", "lightRed"]  # fmt: skip
Email = str
TZID = Field(default="Etc/UTC", max_length=64, description="IANA zone the answer's times are given in.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCalendar(_Strict):
    profile_id: str = Field(max_length=400, description="The profile (mailbox) to create the calendar in.")
    name: str = Field(min_length=1, max_length=255, description="Unique in the mailbox (case-insensitive).")
    color: Color | None = Field(default=None, description="Outlook's calendar colour.")


class UpdateCalendar(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    color: Color | None = None


class CalendarAnswer(BaseModel):
    calendar: Calendar


class Occurrence(BaseModel):
    event_uid: str = Field(description="The occurrence's own iCalUId.")
    summary: str
    start: str = Field(description="ISO 8601 in tzid, or a date for an all-day occurrence.")
    end: str
    original_start: str | None = Field(default=None, description="Where the series put it (UTC), if moved.")
    status: Literal["confirmed", "tentative", "cancelled"]
    exception: bool = Field(description="True when this occurrence was changed on its own.")
    location: str


class OccurrencesAnswer(BaseModel):
    occurrences: list[Occurrence]


class FreeBusyQuery(_Strict):
    profile_id: str = Field(max_length=400, description="The profile whose calendar asks (its organisation).")
    emails: list[Email] = Field(min_length=1, max_length=100, description="People, rooms or equipment.")
    from_: AwareDatetime = Field(alias="from", description="Start, ISO 8601 with an offset.")
    to: AwareDatetime = Field(description="End, at most 62 days after from.")
    interval_minutes: int = Field(default=30, ge=5, le=1440, description="Minutes per free_busy_view slot.")
    tzid: str = TZID


class BusyPeriod(BaseModel):
    start: str
    end: str
    status: Literal["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"]
    private: bool
    summary: str | None = Field(default=None, description="Absent for private items.")
    location: str | None = None


class ScheduleError(BaseModel):
    code: str = Field(description="Graph's responseCode, e.g. ErrorMailRecipientNotFound.")
    description: str


class Schedule(BaseModel):
    email: str
    free_busy_view: str = Field(description="A digit per slot: 0 free, 1 tentative, 2 busy, 3 away.")
    busy: list[BusyPeriod]
    working_hours: dict[str, object] | None = Field(default=None, description="Graph's workingHours.")
    error: ScheduleError | None = None


class FreeBusyAnswer(BaseModel):
    schedules: list[Schedule]


class MeetingTimesQuery(_Strict):
    profile_id: str = Field(max_length=400, description="The organizer's profile (a delegated connection).")
    attendees: list[Email] = Field(default_factory=list, max_length=100)
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime
    duration_minutes: int = Field(default=30, ge=1, le=1440)
    activity_domain: Literal["work", "personal", "unrestricted"] = "work"
    max_candidates: int | None = Field(default=None, ge=1, le=100)
    minimum_attendee_percentage: float | None = Field(default=None, ge=0, le=100)
    organizer_optional: bool = False
    tzid: str = TZID


class AttendeeAvailability(BaseModel):
    email: str
    availability: str = Field(description="free, tentative, busy, oof or unknown.")


class Suggestion(BaseModel):
    start: str
    end: str
    confidence: float = Field(description="The chance everyone attends, 0-100.")
    organizer_availability: str
    attendees: list[AttendeeAvailability]


class MeetingTimesAnswer(BaseModel):
    empty_reason: str | None = Field(
        description="Why there is no suggestion (Graph's emptySuggestionsReason)."
    )
    suggestions: list[Suggestion]
