"""Settings' building blocks: the errors, the keys that go together, and one profile's table."""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

DEFAULT_CONFIG = Path("calsync.toml")
# Not accepted in calsync.toml: a file holding a secret ends up in backups and repositories.
FILE_FORBIDDEN = {
    "client_secret": "CALSYNC_CLIENT_SECRET or client_secret_file",
    "private_key_password": "CALSYNC_PRIVATE_KEY_PASSWORD",
    "pkcs12_password": "CALSYNC_PKCS12_PASSWORD or pkcs12_password_file",
    "feed_password": "CALSYNC_FEED_PASSWORD or feed_password_file",
    "feed_token": "CALSYNC_FEED_TOKEN or feed_token_file",
    "session_secret": "CALSYNC_SESSION_SECRET or session_secret_file",
    "token_keys": "CALSYNC_TOKEN_KEYS or token_key_file",
}

# CALSYNC_* variables that are read, but are no setting: not warned about as unknown.
OTHER_VARIABLES = {
    "CALSYNC_CONFIG": "the calsync.toml to read",
    "CALSYNC_LOG_WIRE": "frame-level HTTP logs (calsync.logs)",
    "CALSYNC_CRASH_AT": "crash points for the crash tests (calsync.sync.crashpoints)",
    "CALSYNC_TEST_POSTGRES_URL": "the PostgreSQL the test suite uses",
    "CALSYNC_TEST_CHROMIUM": "the chromium the browser tests drive",
    "CALSYNC_TEST_NO_SKIP": "CI: a skipped test fails the run",
    "CALSYNC_SCREENSHOTS": "the browser tests save screenshots of the pages",
}


class SettingsError(ValueError):
    """The configuration is unusable; `problems` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str], source: str) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.problems = problems
        self.source = source


PROFILE_NAME = r"^[a-z][a-z0-9-]{0,31}$"
SOURCE_KEYS = ("ics_url_template", "ics_url_map_file", "ics_file", "csv_file", "json_file")
# Issue 10, item 2 (target calendar): Graph's calendarColor members a created calendar may take.
CalendarColor = Literal[
    "auto", "lightBlue", "lightGreen", "lightOrange", "lightGray", "lightYellow", "lightTeal", "lightPink",
    "lightBrown", "lightRed",
]  # fmt: skip
CALENDAR_KEYS = ("calendar_id", "calendar_name", "calendar_color")  # one unit: a profile's replaces the top's
CalendarName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"\S")]


def one_calendar(calendar_id: str | None, name: str | None, color: str | None) -> None:
    if calendar_id is not None and name is not None:
        raise ValueError("give calendar_id or calendar_name, not both")
    if color is not None and name is None:
        raise ValueError("calendar_color needs calendar_name (the colour of the calendar calsync creates)")


# Event templates (issue 10, item 4; docs/profiles.md, "Templates").
ShowAsName = Literal["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"]
SensitivityName = Literal["normal", "personal", "private", "confidential"]
TEMPLATE_KEYS = ("subject_template", "body_template", "location_template")


class ActivityTypeSettings(BaseModel):
    """What one activity type (an `[activity_types.Lecture]` table) sets on its events; a key left out
    keeps the event's own value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: list[str] = Field(default_factory=list)  # added to the event's own
    reminder: int | None = Field(default=None, ge=0, le=40_320)  # minutes before the start
    show_as: ShowAsName | None = None
    sensitivity: SensitivityName | None = None


class ProfileSettings(BaseModel):
    """One more sync job of the deployment (a `[[profiles]]` table): its own source, and optionally its
    own mailboxes, calendar, window, policies and rails; a key it leaves out is the top level's. Its
    events carry its name in their ownership tag, so it never touches another profile's events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=PROFILE_NAME)]
    mailboxes: list[str] | None = None
    group: str | None = None
    ics_url_template: SecretStr | None = Field(default=None, repr=False)
    ics_url_map_file: Path | None = None
    ics_file: Path | None = None
    csv_file: Path | None = None
    json_file: Path | None = None
    default_time_zone: str | None = None
    calendar_id: str | None = None
    # Issue 10, item 2 (target calendar): the profile's own calendar (docs/profiles.md).
    calendar_name: CalendarName | None = None
    calendar_color: CalendarColor | None = None
    purge_removes_calendar: bool | None = None
    window_days_back: int | None = Field(default=None, ge=0, le=3650)
    window_days_ahead: int | None = Field(default=None, ge=1, le=3650)
    user_changes: Literal["source-wins", "keep-user-changes"] | None = None
    user_deletes: Literal["recreate", "respect"] | None = None
    recurrence: Literal["occurrences", "series"] | None = None
    shrink_ratio: float | None = Field(default=None, gt=0, le=1)
    shrink_min_deletes: int | None = Field(default=None, ge=0)
    max_deletes: int | None = Field(default=None, ge=0)
    max_failures: int | None = Field(default=None, ge=1)
    # Event templates (issue 10, item 4): None inherits the top level's.
    subject_template: str | None = None
    body_template: str | None = None
    location_template: str | None = None
    extra_fields: list[str] | None = None
    activity_type_field: str | None = None
    module_field: str | None = None
    activity_types: dict[str, ActivityTypeSettings] | None = None
    categories_by_module: dict[str, list[str]] | None = None
    show_as: ShowAsName | None = None
    sensitivity: SensitivityName | None = None
    # Offboarding (issue 10, item 3): see Settings.
    offboard_after_days: int | None = Field(default=None, ge=0, le=3650)
    offboard_max_mailboxes: int | None = Field(default=None, ge=0)
    offboard_max_share: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_source(self) -> ProfileSettings:
        given = [n for n in SOURCE_KEYS if getattr(self, n)]
        if len(given) != 1:
            raise ValueError(f"profile {self.name!r}: give one source ({', '.join(SOURCE_KEYS)})")
        try:
            one_calendar(self.calendar_id, self.calendar_name, self.calendar_color)
        except ValueError as exc:
            raise ValueError(f"profile {self.name!r}: {exc}") from None
        return self


def check_public_url(url: str, *, allow_http_loopback: bool) -> None:
    """`public_url` is an origin (scheme, host, port; no path, query or fragment) browsers reach the pages at.

    http is refused except on a loopback host with `web_insecure_http_loopback`: session cookies are
    Secure, and an OAuth redirect URI must be https off localhost (Microsoft identity platform).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"public_url: {url!r} is not an http(s) URL such as https://calsync.example.edu")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("public_url: give the origin only (no path, query, fragment or user)")
    if parts.scheme == "http":
        host = parts.hostname
        loopback = host == "localhost"
        with contextlib.suppress(ValueError):
            loopback = loopback or ipaddress.ip_address(host).is_loopback
        if not (loopback and allow_http_loopback):
            raise ValueError(
                "public_url: http is accepted only on a loopback host (with web_insecure_http_loopback); "
                "put a TLS-terminating proxy in front and give its https URL"
            )
