"""The REST API's request and answer bodies (they make its OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from calsync.services.unified_models import EVENT_ID


class Profile(BaseModel):
    provider_name: str = Field(description='Cronofy\'s provider name: "exchange" for Microsoft 365.')
    provider_service: str = Field(description='"office365".')
    provider_protocol: str = Field(description='How calsync reaches it: "graph" (Microsoft Graph).')
    profile_id: str
    profile_name: str = Field(description="The mailbox (user principal name).")
    profile_connected: bool
    profile_initial_sync_required: bool
    profile_relink_url: str | None = Field(
        default=None, description="Where the user reconnects; only when profile_connected is false."
    )

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})


class ProfilesAnswer(BaseModel):
    profiles: list[Profile]


class Calendar(BaseModel):
    provider_name: str
    profile_id: str
    profile_name: str
    calendar_id: str
    calendar_name: str
    calendar_readonly: bool = Field(description="True when events cannot be written (canEdit is false).")
    calendar_deleted: bool
    calendar_primary: bool = Field(description="The mailbox's default calendar.")
    calendar_integrated_conferencing_available: bool = Field(
        description="Teams meetings can be added (allowedOnlineMeetingProviders has teamsForBusiness)."
    )
    calendar_attachments_available: bool
    permission_level: str = Field(description='"sandbox": calsync changes only the events it created.')


class CalendarsAnswer(BaseModel):
    calendars: list[Calendar]


class DeleteEvent(BaseModel):
    """DELETE /v1/calendars/{calendar_id}/events: the event_id you upserted."""

    event_id: str = Field(pattern=EVENT_ID)


class Person(BaseModel):
    email: str
    display_name: str


class Attendee(Person):
    status: str


class EventLocation(BaseModel):
    description: str


class EventOptions(BaseModel):
    delete: bool
    update: bool
    change_participation_status: bool


class EventConferencing(BaseModel):
    provider_description: str
    join_url: str


class Event(BaseModel):
    calendar_id: str
    event_uid: str = Field(description="Graph's iCalUId: the event's identity across calendars.")
    event_id: str | None = Field(default=None, description="Your event_id, on events your key wrote.")
    managed: bool = Field(description="Written by calsync (this key, or a sync profile: managed_by).")
    managed_by: str | None = Field(default=None, description="The sync profile that wrote it.")
    summary: str
    description: str
    start: str = Field(description="A time in UTC (Z), or a date for an all-day event.")
    end: str
    deleted: bool
    created: str | None
    updated: str | None
    location: EventLocation
    participation_status: str
    organizer: Person
    attendees: list[Attendee]
    transparency: str
    status: str
    categories: list[str]
    recurring: bool
    event_private: bool
    options: EventOptions
    conferencing: EventConferencing | None = None


class Pages(BaseModel):
    current: int
    next_page: str | None = Field(default=None, description="The next page's URL; absent on the last.")


class EventsAnswer(BaseModel):
    pages: Pages
    events: list[Event]
