"""The emulated state: tenants, app registrations, users, groups, calendars, events.

Everything lives in memory (a snapshot can be written to a file, see `graphemu.snapshot`). The world
knows nothing about HTTP: the Graph and identity routes read and change it, and every change to an
event is recorded in a per-mailbox change log, which is what calendarView/delta and the subscription
notifier read. Handlers run on one event loop thread, so no locking is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from graphemu import ids
from graphemu.clock import Clock

ChangeKind = Literal["created", "updated", "deleted"]


@dataclass
class Tenant:
    """One Entra tenant."""

    id: str
    domain: str
    display_name: str = "Contoso"


@dataclass
class ClientSecret:
    """A client secret. `key_id` is what the portal shows as "Secret ID" (a GUID); `value` is the secret."""

    value: str
    key_id: str = field(default_factory=ids.guid)
    expires: datetime | None = None


@dataclass
class ClientCertificate:
    """A certificate uploaded to an app registration, known by its thumbprints."""

    der: bytes
    sha1: bytes
    sha256: bytes
    expires: datetime | None = None


@dataclass
class AppRegistration:
    """An app registration plus its service principal's grants in its home tenant."""

    client_id: str
    tenant_id: str
    display_name: str = "calsync"
    secrets: list[ClientSecret] = field(default_factory=list)
    certificates: list[ClientCertificate] = field(default_factory=list)
    application_permissions: set[str] = field(
        default_factory=set
    )  # granted app roles, e.g. Calendars.ReadWrite
    admin_consented_scopes: set[str] = field(default_factory=set)  # delegated scopes consented tenant-wide
    user_consents: dict[str, set[str]] = field(default_factory=dict)  # user id -> consented delegated scopes
    redirect_uris: list[str] = field(default_factory=list)
    public_client: bool = False
    app_roles: dict[str, str] = field(default_factory=dict)  # the manifest's appRoles: value -> id
    role_assignments: dict[str, set[str]] = field(default_factory=dict)  # user or group id -> role values
    group_membership_claims: str | None = None  # the manifest's groupMembershipClaims: SecurityGroup, All


@dataclass
class User:
    """A directory user; `has_mailbox` False models an unlicensed, inactive or on-premises mailbox."""

    id: str
    tenant_id: str
    user_principal_name: str
    display_name: str
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    account_enabled: bool = True
    has_mailbox: bool = True
    password: str | None = None  # the sign-in page accepts any password when None
    time_zone: str = "UTC"  # the mailbox setting


@dataclass
class Group:
    """A group; members are user or group ids (nesting is followed by transitiveMembers)."""

    id: str
    tenant_id: str
    display_name: str
    mail: str | None = None
    mail_enabled: bool = True
    security_enabled: bool = True
    group_types: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)


@dataclass
class AccessPolicy:
    """New-ApplicationAccessPolicy: RestrictAccess limits the app to the group; DenyAccess excludes it."""

    client_id: str
    group_id: str
    access_right: Literal["RestrictAccess", "DenyAccess"] = "RestrictAccess"


@dataclass
class Calendar:
    """A calendar folder in a mailbox."""

    id: str
    owner_id: str
    name: str
    is_default: bool = False
    can_edit: bool = True
    can_share: bool = True
    color: str = "auto"
    hex_color: str = ""
    is_removable: bool = True
    allowed_online_meeting_providers: list[str] = field(default_factory=lambda: ["teamsForBusiness"])
    default_online_meeting_provider: str = "teamsForBusiness"
    change_key: str = field(default_factory=ids.change_key)
    extended: dict[str, str] = field(default_factory=dict)  # extended property id -> value


@dataclass
class Event:
    """An event as stored. `props` holds the Graph properties the client controls, already normalised
    (start/end as given, with their time zones); the computed instants are kept for queries."""

    id: str
    owner_id: str
    calendar_id: str
    props: dict[str, Any]
    start_utc: datetime
    end_utc: datetime
    created: datetime
    modified: datetime
    change_key: str = field(default_factory=ids.change_key)
    transaction_id: str | None = None
    extended: dict[str, str] = field(default_factory=dict)  # extended property id -> value
    ical_uid: str = ""
    # Series masters: per-occurrence overrides (key: original start as ISO UTC) and cancelled occurrences.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)


@dataclass
class Change:
    """One entry of a mailbox's change log (delta and notifications read it)."""

    seq: int
    owner_id: str
    event_id: str
    kind: ChangeKind
    at: datetime
    calendar_id: str


@dataclass
class Counters:
    """What tests assert on: violations of Retry-After, 400s sent, throttles, faults."""

    retry_after_violations: int = 0
    status_400: int = 0
    time_zone_not_supported: int = 0
    throttled_mailbox_concurrency: int = 0
    throttled_window: int = 0
    injected_faults: int = 0
    commit_then_drop: int = 0
    requests: int = 0  # Graph requests run, each item of a `$batch` counted as one
    batches: int = 0  # `$batch` requests (envelopes) received, well-formed or not
    max_in_flight_per_mailbox: int = 0


ChangeListener = Callable[[Change], None]


class World:
    """All emulated state plus the clock. Lookups are by id; UPNs are case-insensitive."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.tenants: dict[str, Tenant] = {}
        self.apps: dict[str, AppRegistration] = {}
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.policies: list[AccessPolicy] = []
        self._members_cache: dict[str, dict[str, None]] = {}  # group id -> nested members (_closure)
        self._by_upn: dict[str, str] = {}  # lower-cased UPN -> user id, checked on use (find_user)
        self.calendars: dict[str, dict[str, Calendar]] = {}  # owner id -> calendar id -> calendar
        self.events: dict[str, dict[str, Event]] = {}  # owner id -> event id -> event
        self.transactions: dict[tuple[str, str], str] = {}  # (owner id, transactionId) -> event id
        self.changes: dict[str, list[Change]] = {}  # owner id -> change log
        self.counters = Counters()
        self.listeners: list[ChangeListener] = []
        self.extra: dict[str, Any] = {}  # per-feature state (subscriptions, codes, tokens) keyed by module
        self._seq = itertools.count(1)

    # -- directory -------------------------------------------------------------------------------

    def add_tenant(self, tenant: Tenant) -> Tenant:
        self.tenants[tenant.id] = tenant
        return tenant

    def add_app(self, app: AppRegistration) -> AppRegistration:
        self.apps[app.client_id] = app
        return app

    def add_user(self, user: User, *, extra_calendars: tuple[str, ...] = ()) -> User:
        """Add a user; a user with a mailbox gets a default calendar named "Calendar"."""
        self.users[user.id] = user
        if user.has_mailbox:
            self.calendars.setdefault(user.id, {})
            self.events.setdefault(user.id, {})
            self.changes.setdefault(user.id, [])
            if not any(c.is_default for c in self.calendars[user.id].values()):
                self.add_calendar(user.id, "Calendar", is_default=True, is_removable=False)
            for name in extra_calendars:
                self.add_calendar(user.id, name)
        return user

    def add_group(self, group: Group) -> Group:
        self.groups[group.id] = group
        self._members_cache.clear()
        return group

    def add_member(self, group: Group, member_id: str) -> None:
        """Add a user or group to a group (the way to change membership: it resets the cached closures)."""
        group.members.append(member_id)
        self._members_cache.clear()

    def find_user(self, key: str, tenant_id: str | None = None) -> User | None:
        """A user by object id or userPrincipalName (case-insensitive), optionally within a tenant.

        UPN lookups go through `_by_upn`, which remembers the id a UPN was last found under and is
        checked on every hit, so a stale entry (a user replaced by a snapshot load) falls back to the scan.
        """
        user = self.users.get(key) or self.users.get(key.lower())
        if user is None:
            lowered = key.lower()
            known = self.users.get(self._by_upn.get(lowered, ""))
            if known is not None and known.user_principal_name.lower() == lowered:
                user = known
            else:
                users = self.users.values()
                user = next((u for u in users if u.user_principal_name.lower() == lowered), None)
                if user is not None:
                    self._by_upn[lowered] = user.id
        if user is not None and tenant_id is not None and user.tenant_id != tenant_id:
            return None
        return user

    def transitive_members(self, group_id: str) -> list[str]:
        """Ids of all nested members (users and groups), each once, in a stable depth-first order."""
        return list(self._closure(group_id))

    def _closure(self, group_id: str) -> dict[str, None]:
        """The nested members of a group, computed once per membership change (add_group, add_member):
        access policies are checked on every request, and a policy group may hold thousands of users."""
        cached = self._members_cache.get(group_id)
        if cached is not None:
            return cached
        seen: dict[str, None] = {}
        stack = list(reversed(self.groups[group_id].members)) if group_id in self.groups else []
        while stack:
            member = stack.pop()
            if member in seen:
                continue
            seen[member] = None
            if member in self.groups:
                stack.extend(reversed(self.groups[member].members))
        self._members_cache[group_id] = seen
        return seen

    def app_may_access(self, client_id: str, user_id: str) -> bool:
        """Apply application access policies: RestrictAccess allows only the group's members."""
        policies = [p for p in self.policies if p.client_id == client_id]
        for policy in policies:
            members = self._closure(policy.group_id)
            if policy.access_right == "RestrictAccess" and user_id not in members:
                return False
            if policy.access_right == "DenyAccess" and user_id in members:
                return False
        return True

    # -- calendars and events ----------------------------------------------------------------------

    def add_calendar(self, owner_id: str, name: str, **kwargs: Any) -> Calendar:
        calendar = Calendar(id=ids.exchange_id(), owner_id=owner_id, name=name, **kwargs)
        self.calendars.setdefault(owner_id, {})[calendar.id] = calendar
        return calendar

    def default_calendar(self, owner_id: str) -> Calendar:
        return next(c for c in self.calendars[owner_id].values() if c.is_default)

    def record_change(self, event: Event, kind: ChangeKind) -> Change:
        """Append to the owner's change log and tell the listeners (delta, notifications)."""
        change = Change(
            seq=next(self._seq),
            owner_id=event.owner_id,
            event_id=event.id,
            kind=kind,
            at=self.clock.now(),
            calendar_id=event.calendar_id,
        )
        self.changes.setdefault(event.owner_id, []).append(change)
        for listener in self.listeners:
            listener(change)
        return change

    def current_seq(self) -> int:
        """The sequence number the next change will be greater than."""
        return max((log[-1].seq for log in self.changes.values() if log), default=0)

    def put_event(self, event: Event, kind: ChangeKind) -> Event:
        """Store a created or updated event: new changeKey and modification time, then log the change."""
        if kind != "created":
            event.change_key = ids.change_key()
            event.modified = self.clock.now()
        self.events.setdefault(event.owner_id, {})[event.id] = event
        if event.transaction_id:
            self.transactions[(event.owner_id, event.transaction_id)] = event.id
        self.record_change(event, kind)
        return event

    def remove_event(self, owner_id: str, event_id: str) -> Event | None:
        event = self.events.get(owner_id, {}).pop(event_id, None)
        if event is not None:
            self.record_change(event, "deleted")
        return event
