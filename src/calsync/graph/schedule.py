"""Typed calls for free/busy (`calendar: getSchedule`) and meeting times (`user: findMeetingTimes`).

Both are POSTs that only read, so they are marked idempotent: a timeout or a reset is retried like a GET
(retry.py). Times go out as UTC wall times labelled "UTC", the one zone Graph accepts everywhere; answers
come back in UTC unless `time_zone` asks for another (sent as `Prefer: outlook.timezone`).
findMeetingTimes has no application permission in Graph: with an app-only token it answers 403, and the
caller (calsync.services.connector) says so in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from calsync.graph.odata import user_path
from calsync.graph.requester import Requester

__all__ = ["ScheduleApi", "iso_duration", "utc_datetime_time_zone"]

ActivityDomain = Literal["work", "personal", "unrestricted"]


def utc_datetime_time_zone(value: datetime) -> dict[str, str]:
    """An aware datetime as Graph's dateTimeTimeZone in UTC; naive values are refused (ambiguous)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("use an aware datetime (with a time zone)")
    return {
        "dateTime": value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "timeZone": "UTC",
    }


def iso_duration(value: timedelta) -> str:
    """A positive timedelta as an ISO 8601 duration (PT1H30M), Graph's Edm.Duration."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        raise ValueError("the duration must be positive")
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{seconds}S" if seconds else "")


def _prefer(time_zone: str | None) -> dict[str, str] | None:
    return {"Prefer": f'outlook.timezone="{time_zone}"'} if time_zone else None


class ScheduleApi(Requester):
    """Free/busy and meeting suggestions (`mailbox` is a user id, a UPN, or "me")."""

    async def get_schedule(
        self,
        mailbox: str,
        schedules: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        interval_minutes: int = 30,
        time_zone: str | None = None,
    ) -> list[dict[str, Any]]:
        """One scheduleInformation per address, in order: `availabilityView` (a digit per slot of
        `interval_minutes`: 0 free, 1 tentative, 2 busy, 3 away), `scheduleItems`, `workingHours`, or an
        `error` for an address Graph could not resolve. `mailbox` is whose calendar the call goes through."""
        body = {
            "schedules": list(schedules),
            "startTime": utc_datetime_time_zone(start),
            "endTime": utc_datetime_time_zone(end),
            "availabilityViewInterval": interval_minutes,
        }
        result = await self.request_json(
            "POST",
            f"{user_path(mailbox)}/calendar/getSchedule",
            json=body,
            headers=_prefer(time_zone),
            idempotent=True,
        )
        values: list[dict[str, Any]] = result.get("value", [])
        return values

    async def find_meeting_times(
        self,
        mailbox: str,
        *,
        attendees: Sequence[str | Mapping[str, Any]] = (),
        slots: Sequence[tuple[datetime, datetime]] = (),
        duration: timedelta = timedelta(minutes=30),
        activity_domain: ActivityDomain = "work",
        max_candidates: int | None = None,
        minimum_attendee_percentage: float | None = None,
        organizer_optional: bool = False,
        return_reasons: bool = False,
        time_zone: str | None = None,
    ) -> dict[str, Any]:
        """The meetingTimeSuggestionsResult: `meetingTimeSuggestions` (best first) and
        `emptySuggestionsReason`. An attendee is an address (a required person) or Graph's attendeeBase."""
        body: dict[str, Any] = {
            "attendees": [
                {"type": "required", "emailAddress": {"address": a}} if isinstance(a, str) else dict(a)
                for a in attendees
            ],
            "timeConstraint": {
                "activityDomain": activity_domain,
                "timeSlots": [
                    {"start": utc_datetime_time_zone(s), "end": utc_datetime_time_zone(e)} for s, e in slots
                ],
            },
            "meetingDuration": iso_duration(duration),
            "isOrganizerOptional": organizer_optional,
            "returnSuggestionReasons": return_reasons,
        }
        if max_candidates is not None:
            body["maxCandidates"] = max_candidates
        if minimum_attendee_percentage is not None:
            body["minimumAttendeePercentage"] = minimum_attendee_percentage
        result: dict[str, Any] = await self.request_json(
            "POST",
            f"{user_path(mailbox)}/findMeetingTimes",
            json=body,
            headers=_prefer(time_zone),
            idempotent=True,
        )
        return result
