"""Typed settings, read once at the edge (CLI, web) from calsync.toml and CALSYNC_* variables.

Precedence: explicit overrides > CALSYNC_* environment variables > calsync.toml > defaults. Secrets are
never required inline: a client secret comes from CALSYNC_CLIENT_SECRET or `client_secret_file`, a
PKCS#12 password from CALSYNC_PKCS12_PASSWORD or `pkcs12_password_file`. Every problem in the file is
reported at once with its key (pydantic collects them; `SettingsError.problems` lists them).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG = Path("calsync.toml")
# Not accepted in calsync.toml: a file holding a secret ends up in backups and repositories.
FILE_FORBIDDEN = {
    "client_secret": "CALSYNC_CLIENT_SECRET or client_secret_file",
    "private_key_password": "CALSYNC_PRIVATE_KEY_PASSWORD",
    "pkcs12_password": "CALSYNC_PKCS12_PASSWORD or pkcs12_password_file",
}


class SettingsError(ValueError):
    """The configuration is unusable; `problems` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str], source: str) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.problems = problems
        self.source = source


PROFILE_NAME = r"^[a-z][a-z0-9-]{0,31}$"
SOURCE_KEYS = ("ics_url_template", "ics_file", "csv_file", "json_file")


class ProfileSettings(BaseModel):
    """One more sync job of the deployment (a `[[profiles]]` table): its own source, and optionally its
    own mailboxes, calendar, window, policies and rails; a key it leaves out is the top level's. Its
    events carry its name in their ownership tag, so it never touches another profile's events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=PROFILE_NAME)]
    mailboxes: list[str] | None = None
    group: str | None = None
    ics_url_template: SecretStr | None = Field(default=None, repr=False)
    ics_file: Path | None = None
    csv_file: Path | None = None
    json_file: Path | None = None
    default_time_zone: str | None = None
    calendar_id: str | None = None
    window_days_back: int | None = Field(default=None, ge=0, le=3650)
    window_days_ahead: int | None = Field(default=None, ge=1, le=3650)
    user_changes: Literal["source-wins", "keep-user-changes"] | None = None
    user_deletes: Literal["recreate", "respect"] | None = None
    shrink_ratio: float | None = Field(default=None, gt=0, le=1)
    shrink_min_deletes: int | None = Field(default=None, ge=0)
    max_deletes: int | None = Field(default=None, ge=0)
    max_failures: int | None = Field(default=None, ge=1)
    # Offboarding (issue 10, item 3): see Settings.
    offboard_after_days: int | None = Field(default=None, ge=0, le=3650)
    offboard_max_mailboxes: int | None = Field(default=None, ge=0)
    offboard_max_share: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_source(self) -> ProfileSettings:
        given = [n for n in SOURCE_KEYS if getattr(self, n)]
        if len(given) != 1:
            raise ValueError(f"profile {self.name!r}: give one source ({', '.join(SOURCE_KEYS)})")
        return self


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
    ics_file: Path | None = None  # one feed for every listed mailbox
    csv_file: Path | None = None
    json_file: Path | None = None
    default_time_zone: str = "UTC"  # for floating times in feeds without X-WR-TIMEZONE
    calendar_id: str | None = None  # None: each mailbox's default calendar
    window_days_back: int = Field(default=30, ge=0, le=3650)
    window_days_ahead: int = Field(default=180, ge=1, le=3650)
    user_changes: Literal["source-wins", "keep-user-changes"] = "source-wins"
    user_deletes: Literal["recreate", "respect"] = "recreate"
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

    @field_validator("full_sync_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

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
        sources = [n for n in ("ics_url_template", "ics_file", "csv_file", "json_file") if getattr(self, n)]
        if len(sources) > 1:
            raise ValueError(f"give one source, not {', '.join(sources)}")
        return self

    @model_validator(mode="after")
    def _distinct_profiles(self) -> Settings:
        names = [self.profile, *(p.name for p in self.profiles)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"profiles: each name once ({', '.join(twice)} is used twice)")
        return self

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
                if extra.ics_url_template is not None:  # model_dump turns a SecretStr into a plain str
                    own["ics_url_template"] = extra.ics_url_template
                return self.model_copy(update={**cleared, **own, "profile": name, "profiles": []})
        known = ", ".join(self.profile_names())
        raise SettingsError(
            [f"profile: no profile named {name!r} (this deployment has: {known})"], "settings"
        )

    @property
    def source_kind(self) -> str | None:
        """Which source is configured: "ics-url", "ics-file", "csv", "json" or None."""
        for name, kind in (
            ("ics_url_template", "ics-url"),
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


def _is_list(annotation: Any) -> bool:
    """`list[...]` or `list[...] | None`."""
    return get_origin(annotation) is list or any(get_origin(a) is list for a in get_args(annotation))


def load_settings(path: Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read calsync.toml (if present, or the given path, which must exist) and CALSYNC_* variables."""
    env = dict(os.environ if env is None else env)
    data: dict[str, Any] = {}
    source = str(path or DEFAULT_CONFIG)
    config_path = path or (Path(env["CALSYNC_CONFIG"]) if "CALSYNC_CONFIG" in env else DEFAULT_CONFIG)
    if path is not None or config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError([f"cannot read: {exc.strerror}"], str(config_path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"not valid TOML: {exc}"], str(config_path)) from None
        data = dict(data.get("calsync", data))
        source = str(config_path)
        inline = [
            f"{key}: not accepted in the file (it would keep a secret in plain text); use {instead}"
            for key, instead in FILE_FORBIDDEN.items()
            if key in data
        ]
        if inline:
            raise SettingsError(inline, source)
    for name, info in Settings.model_fields.items():
        value = env.get(f"CALSYNC_{name.upper()}")
        if value is not None:  # a list-typed key's variable is comma-separated
            data[name] = (
                [v.strip() for v in value.split(",") if v.strip()] if _is_list(info.annotation) else value
            )
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"]) or "(file)"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(
                f"{key}: {message}" if error["type"] != "extra_forbidden" else f"{key}: unknown key"
            )
        raise SettingsError(problems, source) from None
