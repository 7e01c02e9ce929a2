"""`Settings`: every key of calsync.toml, typed and checked (docs/configuration.md)."""

from __future__ import annotations

import ipaddress
from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from calsync.settings.base import (
    CALENDAR_KEYS,
    PROFILE_NAME,
    SOURCE_KEYS,
    TEMPLATE_KEYS,
    ActivityTypeSettings,
    CalendarColor,
    CalendarName,
    ProfileSettings,
    SensitivityName,
    SettingsError,
    ShowAsName,
    check_public_url,
    one_calendar,
)
from calsync.templating import BUILTIN_FIELDS, CORE_FIELDS, TemplateError, field_name, parse_template


class Settings(BaseModel):
    """All of calsync's configuration. Field names are the TOML keys and, upper-cased with a CALSYNC_
    prefix, the environment variables (e.g. `tenant_id` / CALSYNC_TENANT_ID)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str | None = None
    client_id: str | None = None
    permissions: Literal["application", "delegated"] = "application"
    # Credentials (one of them): a secret, a PEM certificate + key, or a PKCS#12 file.
    client_secret: SecretStr | None = Field(default=None, repr=False)
    client_secret_file: Path | None = None
    certificate_file: Path | None = None
    private_key_file: Path | None = None
    private_key_password: SecretStr | None = Field(default=None, repr=False)
    pkcs12_file: Path | None = None
    pkcs12_password: SecretStr | None = Field(default=None, repr=False)
    pkcs12_password_file: Path | None = None
    # Where Microsoft is (or graphemu): national clouds and the emulator change these.
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: Path | None = None  # a CA bundle to trust (graphemu's ca.pem), honoured over REQUESTS_CA_BUNDLE
    # Delegated permissions.
    redirect_uri: str = "http://localhost:8400/auth/callback"
    delegated_scopes: list[str] = Field(default_factory=lambda: ["Calendars.ReadWrite"])
    # Issue 9: people's own connections (docs/delegated.md). Their msal token caches, and push channels'
    # secrets, are sealed with these keys (first = primary): a file (one key a line) or
    # CALSYNC_TOKEN_KEYS (comma-separated), never the database; none on SQLite: a key file is made beside
    # the database (0600).
    token_key_file: Path | None = None
    token_keys: SecretStr | None = Field(default=None, repr=False)
    connect_profile: str | None = None  # the profile whose source and templates connections use
    status_page_url: str | None = None  # the personal status page's address, for the event footer
    event_footer: str | None = None  # appended to connected people's events; {status_url} is the link
    # Limits.
    mailbox_concurrency: int = Field(default=4, ge=1, le=4)
    # Half of Graph's global limit per app (130,000 per 10 s, graph-facts §7), leaving room for other
    # processes of the same app registration; Outlook's own limits are per mailbox (mailbox_concurrency).
    requests_per_second: float = Field(default=6500.0, gt=0)
    # How long one Graph request is retried (throttling, server errors, network failures) before it fails:
    # a scheduled run should give up before the next one is due.
    graph_retry_seconds: float = Field(default=300.0, gt=0, le=3600)
    # State.
    database_url: str = "sqlite:///calsync.db"
    # Sync: which mailboxes, from which source, over which window, under which policies (docs/sync.md).
    mailboxes: list[str] = Field(default_factory=list)  # UPNs; or `group`, or the mailboxes a CSV/JSON names
    group: str | None = None  # a security group's id: its transitive user members are synced
    ics_url_template: SecretStr | None = Field(default=None, repr=False)  # e.g. https://…/ical/{upn}.ics
    ics_url_map_file: Path | None = None  # a mailbox -> feed URL file (CSV or JSON; docs/sources.md)
    ics_file: Path | None = None  # one feed for every listed mailbox
    csv_file: Path | None = None
    json_file: Path | None = None
    default_time_zone: str = "UTC"  # for floating times in feeds without X-WR-TIMEZONE
    calendar_id: str | None = None  # None: each mailbox's default calendar
    # Issue 10, item 2 (target calendar): a calendar of this name that calsync creates in each mailbox
    # and recognises by its tag (calsync.adapters.calendars); the colour it is created with; whether
    # `calsync purge` deletes it too (only when no event is left in it).
    calendar_name: CalendarName | None = None
    calendar_color: CalendarColor | None = None
    purge_removes_calendar: bool = False
    window_days_back: int = Field(default=30, ge=0, le=3650)
    window_days_ahead: int = Field(default=180, ge=1, le=3650)
    user_changes: Literal["source-wins", "keep-user-changes"] = "source-wins"
    user_deletes: Literal["recreate", "respect"] = "recreate"
    # Issue 12 (docs/sync.md, "Recurring series"): an iCalendar series as one Graph series (the default:
    # one write per series, not one per occurrence), or one event per occurrence. The default was
    # "occurrences" before; a deployment upgraded without setting it switches on its next run.
    recurrence: Literal["occurrences", "series"] = "series"
    shrink_ratio: float = Field(default=0.5, gt=0, le=1)
    shrink_min_deletes: int = Field(default=20, ge=0)
    max_deletes: int = Field(default=200, ge=0)
    max_failures: int = Field(default=5, ge=1)
    # Mailboxes synced at once. Outlook limits each mailbox separately, so parallel mailboxes cost no
    # throttling; a 100-event mailbox waits ~5 x latency per batch of 20, so few at once leave Graph idle.
    # Each costs ~0.8 MB at peak (sync bench: +40 MB RSS at 32, +64 MB at 64).
    mailbox_parallelism: int = Field(default=64, ge=1, le=256)
    # Feeds fetched at once: per-mailbox feeds usually come from one timetabling server, which should not
    # see every mailbox_parallelism request at the same moment.
    feed_parallelism: int = Field(default=8, ge=1, le=256)
    allow_private_feeds: bool = False  # allow feed hosts on private/loopback addresses (on-premise servers)
    allow_http_feeds: bool = False
    # Narrower than allow_private_feeds, for an on-premise timetabling server (docs/sources.md):
    feed_allow_hosts: list[str] = Field(default_factory=list)  # names that may resolve to private addresses
    feed_allow_networks: list[str] = Field(default_factory=list)  # CIDRs treated as public
    feed_only_hosts: list[str] | None = None  # fetch feeds from these hosts only
    feed_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=lambda: [443, 80]
    )  # any port with allow_private_feeds
    # Feed authentication, sent to each feed's own origin only (docs/sources.md); secrets never inline.
    feed_auth: Literal["none", "basic", "bearer", "header"] = "none"
    feed_username: str | None = None  # basic
    feed_password: SecretStr | None = Field(default=None, repr=False)  # basic: CALSYNC_FEED_PASSWORD
    feed_password_file: Path | None = None
    feed_token: SecretStr | None = Field(default=None, repr=False)  # bearer, header: CALSYNC_FEED_TOKEN
    feed_token_file: Path | None = None
    feed_header_name: str | None = None  # header: e.g. X-Api-Key
    # Members without an Exchange Online mailbox (unlicensed, on-premises): a run of theirs ends
    # "not_applicable" and does not make `calsync sync` exit 6, unless this says "error".
    mailbox_not_enabled: Literal["not-applicable", "error"] = "not-applicable"
    # Offboarding (issue 10, item 3; docs/profiles.md): a mailbox a successful read of the selection no
    # longer names loses the profile's events this many days later; a round where more than
    # offboard_max_mailboxes, or (two or more and) more than offboard_max_share of the profile's
    # mailboxes would go offboards none (OffboardBreaker; `calsync offboard` does it by hand).
    offboard_after_days: int = Field(default=7, ge=0, le=3650)
    offboard_max_mailboxes: int = Field(default=20, ge=0)
    offboard_max_share: float = Field(default=0.1, gt=0, le=1)
    # Profiles (docs/profiles.md): the keys above describe the profile named `profile`; each [[profiles]]
    # table is one more, with its own source. "default" keeps the ownership tags calsync always wrote.
    profile: Annotated[str, Field(pattern=PROFILE_NAME)] = "default"
    profiles: list[ProfileSettings] = Field(default_factory=list)
    # Event templates (issue 10, item 4; docs/profiles.md, "Templates"): how a profile's events look.
    subject_template: str | None = None  # e.g. "{module|subject} ({activity_type})"; None: the source's
    body_template: str | None = None
    location_template: str | None = None
    extra_fields: list[str] = Field(default_factory=list)  # source fields templates read: columns, X-props
    activity_type_field: str | None = None  # a field, or "categories"
    module_field: str | None = None
    activity_types: dict[str, ActivityTypeSettings] = Field(default_factory=dict)
    categories_by_module: dict[str, list[str]] = Field(default_factory=dict)
    show_as: ShowAsName | None = None  # every event's, over the source's
    sensitivity: SensitivityName | None = None
    # The service (`calsync serve`, `calsync worker`; docs/deploy.md).
    sync_interval_minutes: float = Field(default=15.0, gt=0, le=1440)  # an incremental round this often
    full_sync_at: time = time(3, 0)  # and a full reconcile daily at this time (full_sync_zone)
    full_sync_zone: str = "UTC"
    lease_seconds: float = Field(default=120.0, ge=10, le=86400)  # renewed every third while a run lasts
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8400, ge=1, le=65535)
    worker_concurrency: int = Field(default=16, ge=1, le=256)  # mailboxes one `calsync worker` runs at once
    finished_jobs_kept_hours: int = Field(default=24, ge=1)  # Procrastinate's finished jobs are purged after
    log_level: Literal["debug", "info", "warning", "error"] | None = None  # None: the command's default
    log_format: Literal["text", "json"] = "text"
    # Web pages (docs/web.md): where browsers reach the service, sessions, and who is an administrator.
    public_url: str | None = None  # e.g. https://calsync.example.edu; None: http://listen_host:listen_port
    web_insecure_http_loopback: bool = True  # an http:// public_url is accepted only on a loopback host
    session_secret: SecretStr | None = Field(default=None, repr=False)  # only CALSYNC_SESSION_SECRET
    session_secret_file: Path | None = None  # None: generated beside a SQLite database (0600)
    session_idle_minutes: int = Field(default=60, ge=1, le=1440)
    session_max_hours: int = Field(default=12, ge=1, le=720)
    admin_role: str = "calsync.admin"  # the app role (id_token `roles`) that makes an administrator
    admin_group_id: str | None = None  # or membership of this group (id_token `groups`)
    # Graph change notifications (issue 11, item 3; docs/notifications.md): the address at which Graph
    # reaches `calsync serve` is `public_url` (above; https and public for real Graph), and whether to
    # subscribe to every synced mailbox's events.
    change_notifications: bool = False
    subscription_lifetime_minutes: int = Field(default=4230, ge=45, le=10080)  # renewed at half of it
    # Push to subscribers (issue 11, item 2; docs/push.md).
    push_allow_private_callbacks: bool = False  # callback URLs on loopback/private addresses (tests, dev)
    push_allow_http_callbacks: bool = False  # plain http:// callback URLs
    push_timeout_seconds: float = Field(default=10.0, gt=0, le=60)  # one delivery attempt, all included
    push_kept_days: int = Field(default=7, ge=1, le=365)  # delivered and dead notifications are kept

    @field_validator("full_sync_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_origin(cls, value: str | None) -> str | None:
        """Paths are appended to it (`/graph/notifications`, redirect URIs): no trailing slash."""
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _notifications(self) -> Settings:
        if self.change_notifications and self.public_url is None:
            raise ValueError("change_notifications needs public_url (where Graph reaches calsync serve)")
        return self

    @field_validator("feed_allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network (e.g. 10.20.0.0/16)") from None
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> Settings:
        given = [
            name
            for name, present in (
                ("client_secret", self.client_secret is not None or self.client_secret_file is not None),
                ("certificate_file", self.certificate_file is not None),
                ("pkcs12_file", self.pkcs12_file is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise ValueError(f"give one credential, not {', '.join(given)}")
        if self.certificate_file is not None and self.private_key_file is None:
            raise ValueError("certificate_file needs private_key_file")
        sources = [n for n in SOURCE_KEYS if getattr(self, n)]
        if len(sources) > 1:
            raise ValueError(f"give one source, not {', '.join(sources)}")
        one_calendar(self.calendar_id, self.calendar_name, self.calendar_color)
        return self

    @model_validator(mode="after")
    def _public_url(self) -> Settings:
        """Cookies' Secure flag and redirect URIs come from `public_url`: https, or http on loopback only."""
        if self.public_url is not None:
            check_public_url(self.public_url, allow_http_loopback=self.web_insecure_http_loopback)
        return self

    @model_validator(mode="after")
    def _distinct_profiles(self) -> Settings:
        names = [self.profile, *(p.name for p in self.profiles)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"profiles: each name once ({', '.join(twice)} is used twice)")
        calendars: dict[str, str] = {}  # a named calendar is one profile's: its tag names the profile
        for name in self.profile_names():
            calendar = self.for_profile(name).calendar_name
            if calendar is not None and calendars.setdefault(calendar.casefold(), name) != name:
                raise ValueError(
                    f"profiles {calendars[calendar.casefold()]} and {name} both write to the calendar "
                    f"{calendar!r}: give each profile its own calendar_name"
                )
        return self

    @model_validator(mode="after")
    def _templates(self) -> Settings:
        problems: list[str] = []
        for name in self.profile_names():
            where = "" if name == self.profile else f"profile {name!r}: "
            problems += [where + p for p in self.for_profile(name).template_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def template_problems(self) -> list[str]:
        """What is wrong with this profile's templates: syntax, fields no source offers, extra fields an
        iCalendar feed cannot give (only X- properties). Checked at load, so a typo stops calsync there."""
        fields = [field_name(f) for f in self.extra_fields]
        problems = [
            f"extra_fields: {f!r} is not a field name (letters, digits, '_'; not {'/'.join(CORE_FIELDS)})"
            for f in fields
            if not f or not f[0].isalpha() or not f.replace("_", "").isalnum() or f in CORE_FIELDS
        ]
        if self.source_kind in ("ics-url", "ics-file"):
            problems += [
                f"extra_fields: {f!r}: an iCalendar feed offers X- properties only (e.g. x_activity_type)"
                for f in fields
                if not f.startswith("x_")
            ]
        known = {*BUILTIN_FIELDS, *fields}
        for key in TEMPLATE_KEYS:
            text = getattr(self, key)
            if text is not None:
                try:
                    parse_template(text, known)
                except TemplateError as exc:
                    problems.append(f"{key}: {exc}")
        sources = sorted({*CORE_FIELDS, *fields})
        for key in ("activity_type_field", "module_field"):
            value = getattr(self, key)
            if value is not None and field_name(value) not in sources:
                problems.append(f"{key}: unknown field {value!r} (known: {', '.join(sources)})")
        return problems

    def profile_names(self) -> list[str]:
        """The deployment's profiles: the top level's (when it has a source, or when there is no other
        profile, so a missing source is still reported) and each [[profiles]] table's, in order."""
        top = [self.profile] if self.source_kind is not None or not self.profiles else []
        return [*top, *(p.name for p in self.profiles)]

    def for_profile(self, name: str) -> Settings:
        """The settings as one profile sees them: its own keys over the top level's, its own source only.

        Raises:
            SettingsError: no profile has that name.
        """
        if name == self.profile and (self.source_kind is not None or not self.profiles):
            return self
        for extra in self.profiles:
            if extra.name == name:
                own = {k: v for k, v in extra.model_dump(exclude={"name"}).items() if v is not None}
                cleared: dict[str, object] = dict.fromkeys(SOURCE_KEYS)
                if extra.mailboxes is not None or extra.group is not None:  # the selection is one unit
                    cleared.update(mailboxes=[], group=None)
                if extra.calendar_id is not None or extra.calendar_name is not None:  # so is the calendar
                    cleared.update(dict.fromkeys(CALENDAR_KEYS))
                if extra.ics_url_template is not None:  # model_dump turns a SecretStr into a plain str
                    own["ics_url_template"] = extra.ics_url_template
                if extra.activity_types is not None:  # and models into dicts
                    own["activity_types"] = extra.activity_types
                return self.model_copy(update={**cleared, **own, "profile": name, "profiles": []})
        known = ", ".join(self.profile_names())
        raise SettingsError(
            [f"profile: no profile named {name!r} (this deployment has: {known})"], "settings"
        )

    @model_validator(mode="after")
    def _feed_auth_complete(self) -> Settings:
        """Each feed_auth kind names what it needs; a secret given twice (variable and file) is refused."""
        for secret in ("feed_password", "feed_token"):
            if getattr(self, secret) is not None and getattr(self, f"{secret}_file") is not None:
                raise ValueError(f"give {secret} or {secret}_file, not both")
        needs = {
            "basic": ("feed_username", "feed_password"),
            "bearer": ("feed_token",),
            "header": ("feed_header_name", "feed_token"),
        }.get(self.feed_auth, ())
        files = {"feed_password": self.feed_password_file, "feed_token": self.feed_token_file}
        missing = [n for n in needs if not getattr(self, n) and files.get(n) is None]
        if missing:
            raise ValueError(f"feed_auth = {self.feed_auth!r} needs {', '.join(missing)}")
        return self

    @property
    def source_kind(self) -> str | None:
        """Which source is configured: "ics-url", "ics-file", "csv", "json" or None."""
        for name, kind in (
            ("ics_url_template", "ics-url"),
            ("ics_url_map_file", "ics-url"),
            ("ics_file", "ics-file"),
            ("csv_file", "csv"),
            ("json_file", "json"),
        ):
            if getattr(self, name):
                return kind
        return None

    @property
    def authority(self) -> str:
        """The tenant-specific authority URL (app-only flows must not use /common)."""
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    def secret_value(self) -> str | None:
        """The client secret from the variable or the file (read now, never kept in logs)."""
        if self.client_secret is not None:
            return self.client_secret.get_secret_value()
        if self.client_secret_file is not None:
            return self.client_secret_file.read_text(encoding="utf-8").strip()
        return None

    def pkcs12_password_value(self) -> bytes | None:
        if self.pkcs12_password is not None:
            return self.pkcs12_password.get_secret_value().encode()
        if self.pkcs12_password_file is not None:
            return self.pkcs12_password_file.read_bytes().strip()
        return None

    def require(self, *names: str) -> None:
        """Raise SettingsError naming every missing required key (e.g. tenant_id, client_id)."""
        missing = [n for n in names if getattr(self, n) in (None, "")]
        if missing:
            raise SettingsError(
                [f"{n}: missing (set it in calsync.toml or CALSYNC_{n.upper()})" for n in missing], "settings"
            )
