"""People's own connections (delegated permissions): connect, confirm, pause, preferences, disconnect.

A person signs in with Microsoft (authorization code + PKCE through msal, `offline_access` and the
configured scopes), sees what will be synced, and confirms; calsync then syncs their calendar with their
own token (calsync.services.connsync). The use cases live here once; the web pages and the CLI are thin.

Why it works this way:
- The sign-in under way (msal's flow: PKCE verifier, nonce, state) stays server-side, sealed, in the
  database, found by a digest of its `state` and bound to a digest of the browser session that began it
  (`begin_connect(session_id=...)`): a state used by another browser, used twice, or older than
  `FLOW_SECONDS` is refused before the code is redeemed (reliability-targets OA-02..OA-06).
- A person is `Person(tenant_id, home_account_id)`: the object id and tenant msal reports, never an
  e-mail address (nOAuth). Every action on a connection names the person acting, and a connection that
  is not theirs is answered exactly like one that does not exist (`UnknownConnection`), so ids cannot be
  probed.
- Errors are `ConnectionProblem`s with a `code`; the pages turn codes into words (`plain_words`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from calsync import wiring
from calsync.services.deployment import Deployment
from calsync.services.naming import mailbox_name
from calsync.sync.engine import off_loop

if TYPE_CHECKING:
    from collections.abc import Mapping

    from calsync.store.connections import ConnectionRecord, ConnectionStatus, ConnectionStore

FLOW_SECONDS = 600  # a sign-in must come back within 10 minutes (an authorization code lives as long)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

__all__ = [
    "ConnectionProblem",
    "Person",
    "Preview",
    "SignInRefused",
    "UnknownConnection",
    "begin_connect",
    "confirm",
    "connection_store",
    "finish_connect",
    "owned",
    "pause",
    "plain_words",
    "resume",
    "set_preferences",
]


class ConnectionProblem(Exception):
    """A connection use case refused; `code` says why (see `plain_words`)."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        super().__init__(detail or code)


class SignInRefused(ConnectionProblem):
    """The sign-in's answer was not accepted: unknown, replayed, foreign or expired state; an error
    from Microsoft; a refused code; another tenant. Nothing was stored."""


class UnknownConnection(ConnectionProblem):
    """No such connection for this person (whether it exists for someone else is not said)."""

    def __init__(self) -> None:
        super().__init__("unknown_connection")


@dataclass(frozen=True, slots=True)
class Person:
    """Who is signed in: their tenant and msal home_account_id ("<oid>.<tid>")."""

    tenant_id: str
    home_account_id: str


@dataclass(frozen=True)
class Preview:
    """What will be synced, shown before the person confirms (or after a relink)."""

    connection: ConnectionRecord
    person: Person
    feed_found: bool
    events: int
    calendar: str
    categories: tuple[str, ...]
    problem: str | None = None  # the feed's error code when it could not be read


_WORDS = {
    "unknown_state": "This sign-in link was already used, has expired or was started in another browser. "
    "Please start again.",
    "missing_state": "The answer from Microsoft was incomplete. Please start again.",
    "expired": "The sign-in took too long. Please start again.",
    "access_denied": "You did not accept the permissions calsync asks for, so nothing was connected.",
    "sign_in_failed": "Microsoft did not accept the sign-in. Please start again.",
    "wrong_tenant": "This account belongs to another organisation than the one calsync serves.",
    "wrong_account": "You signed in with another account than the one this connection belongs to.",
    "mailbox_taken": "Another account is already connected for this mailbox. Ask your administrator.",
    "unknown_connection": "There is no such connection.",
    "not_connected": "This connection is not active.",
    "invalid_grant": "Microsoft no longer accepts calsync's access to your calendar (the consent was "
    "withdrawn, the sign-in expired, or your password changed). Connect again to resume.",
    "no_tokens": "calsync holds no sign-in for this connection. Connect again to resume.",
    "TokenKeyMissing": "calsync cannot read its stored sign-in right now; your administrator was told.",
    "user": "You disconnected.",
    "busy": "A sync of your calendar is running right now. Please try again in a minute.",
    "bad_reminder": "A reminder is a whole number of minutes between 0 and 40320 (four weeks).",
    "bad_choice": "Choose whether calsync's events stay in your calendar or are removed.",
    "paused_by_user": "You paused syncing.",
}
_AADSTS_WORDS = {
    "AADSTS65001": "You (or your administrator) withdrew calsync's permission to your calendar. Connect "
    "again to resume.",
    "AADSTS700082": "Your sign-in expired after a long time without use. Connect again to resume.",
    "AADSTS70008": "Your sign-in expired or was revoked. Connect again to resume.",
    "AADSTS50173": "Your sign-in was revoked (for example after a password change). Connect again to resume.",
    "AADSTS50057": "Your account is disabled.",
}


def plain_words(code: str | None) -> str:
    """A code of this module, of a disconnection or of a run, in words a person understands."""
    if not code:
        return ""
    return _AADSTS_WORDS.get(code) or _WORDS.get(code) or f"Something went wrong ({code})."


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def connection_store(deployment: Deployment, *, keys: bool = True) -> ConnectionStore:
    """The deployment's connections, with its token keys (SettingsError when none can be had);
    `keys=False` for reading statuses only (no key is read or made)."""
    from calsync.store.connections import ConnectionStore

    vault = wiring.token_vault(deployment.settings) if keys else None
    return ConnectionStore(deployment.store.engine, vault)


def owned(store: ConnectionStore, person: Person, connection_id: str) -> ConnectionRecord:
    """The person's connection `connection_id`; UnknownConnection if it is not theirs."""
    record = store.get(connection_id)
    if record is None or (record.tenant_id, record.home_account_id) != (
        person.tenant_id,
        person.home_account_id,
    ):
        raise UnknownConnection()
    return record


def connections_of(deployment: Deployment, person: Person) -> list[ConnectionRecord]:
    """The person's connection (at most one per account), as a list."""
    record = connection_store(deployment).by_account(person.tenant_id, person.home_account_id)
    return [record] if record is not None else []


async def begin_connect(
    deployment: Deployment,
    session_id: str,
    *,
    relink: str | None = None,
    login_hint: str | None = None,
    redirect_uri: str | None = None,
) -> str:
    """Start a sign-in for the browser session `session_id`; the URL to send the person to.

    `relink`: the id of the connection being relinked (the sign-in must then be the same account).
    `redirect_uri`: where Microsoft sends the answer (None: the `redirect_uri` setting)."""
    from calsync.graph import start_auth_code_flow

    settings = deployment.settings
    store = connection_store(deployment)
    flow = await start_auth_code_flow(
        wiring.delegated_app(settings),
        redirect_uri=redirect_uri or settings.redirect_uri,
        scopes=wiring.delegated_scopes(settings),
        login_hint=login_hint,
        response_mode="query",  # a top-level GET carries the SameSite=Lax session cookie; form_post would not
    )
    now = deployment.clock()
    await off_loop(store.drop_flows_before, now - timedelta(seconds=FLOW_SECONDS))
    await off_loop(store.put_flow, _digest(flow["state"]), _digest(session_id), json.dumps(flow), relink)
    return str(flow["auth_uri"])


async def finish_connect(deployment: Deployment, session_id: str, params: Mapping[str, str]) -> Preview:
    """Take Microsoft's answer (the redirect's query parameters) for the session's sign-in: the code is
    redeemed, the connection stored (its token cache sealed) and what will be synced is reported. A new
    connection (or one its person disconnected themselves) waits for `confirm`; a relinked one keeps
    its status (connected again when calsync had lost the grant).

    Raises:
        SignInRefused: see the class; the flow is used up either way.
    """
    from calsync.graph import AuthError, DelegatedTokenCache, finish_auth_code_flow

    settings = deployment.settings
    store = connection_store(deployment)
    state = params.get("state") or ""
    if not state:
        raise SignInRefused("missing_state")
    pending = await off_loop(store.take_flow, _digest(state), _digest(session_id))
    if pending is None:
        raise SignInRefused("unknown_state")
    if (deployment.clock() - pending.created_at).total_seconds() > FLOW_SECONDS:
        raise SignInRefused("expired")
    if params.get("error"):
        code = "access_denied" if params.get("error") == "access_denied" else "sign_in_failed"
        raise SignInRefused(code)
    caches: list[str] = []
    cache = DelegatedTokenCache(on_change=caches.append)
    try:
        signin = await finish_auth_code_flow(
            wiring.delegated_app(settings), json.loads(pending.flow), dict(params), cache=cache
        )
    except AuthError as exc:
        raise SignInRefused("sign_in_failed", f"AADSTS{exc.aadsts}" if exc.aadsts else exc.error) from None
    if not caches or not signin.home_account_id:
        raise SignInRefused("sign_in_failed")
    _check_tenant(settings.tenant_id, signin.tenant_id)
    person = Person(signin.tenant_id, signin.home_account_id)
    mailbox = mailbox_name(signin.username)
    profile = settings.connect_profile or settings.profile
    existing = await off_loop(store.by_account, person.tenant_id, person.home_account_id)
    if pending.relink is not None and (existing is None or existing.id != pending.relink):
        raise SignInRefused("wrong_account")
    others = await off_loop(store.by_mailbox, mailbox)
    if any((o.tenant_id, o.home_account_id) != (person.tenant_id, person.home_account_id) for o in others):
        raise SignInRefused("mailbox_taken")
    status: ConnectionStatus = "pending" if existing is None else existing.status
    if status == "disconnected":  # back after disconnecting themselves: confirm again; else a relink
        status = "pending" if existing is not None and existing.reason == "user" else "connected"
    record = await off_loop(
        lambda: store.upsert_signed_in(
            tenant_id=person.tenant_id,
            home_account_id=person.home_account_id,
            mailbox=mailbox,
            profile=profile,
            cache=caches[-1],
            status=status,
        )
    )
    return await preview(deployment, record, person)


def _check_tenant(configured: str | None, signed_in: str) -> None:
    """A configured tenant GUID must be the sign-in's (a domain cannot be compared here)."""
    if configured and _GUID.match(configured) and configured.lower() != signed_in.lower():
        raise SignInRefused("wrong_tenant")


async def preview(deployment: Deployment, record: ConnectionRecord, person: Person) -> Preview:
    """What the connection's source offers now, with the person's preferences applied."""
    from calsync.services.connsync import personal_snapshot
    from calsync.services.sourcing import Sources

    view = deployment.profile(record.profile)
    sources = Sources(view.settings, None, full=True, cache=view.sources)
    snapshot = await sources.loader()(record.mailbox, view.window())
    found = snapshot.status == "ok"
    categories = tuple(sorted({c for e in snapshot.events for c in e.categories}))
    mine = personal_snapshot(snapshot, record.preferences, None)
    s = view.settings
    calendar = s.calendar_name or ("the configured calendar" if s.calendar_id else "your main calendar")
    return Preview(
        record, person, found, len(mine.events), calendar, categories, None if found else snapshot.error_code
    )


def confirm(deployment: Deployment, person: Person, connection_id: str) -> ConnectionRecord:
    """The person confirms what will be synced: a pending connection becomes connected (the caller
    queues its first sync through the runtime, like a "sync now")."""
    store = connection_store(deployment)
    record = owned(store, person, connection_id)
    if record.status == "pending":
        store.set_status(connection_id, "connected")
    return owned(store, person, connection_id)


def pause(deployment: Deployment, person: Person, connection_id: str) -> ConnectionRecord:
    store = connection_store(deployment)
    record = owned(store, person, connection_id)
    if record.status != "connected":
        raise ConnectionProblem("not_connected")
    store.set_status(connection_id, "paused", "paused_by_user")
    return owned(store, person, connection_id)


def resume(deployment: Deployment, person: Person, connection_id: str) -> ConnectionRecord:
    store = connection_store(deployment)
    record = owned(store, person, connection_id)
    if record.status != "paused":
        raise ConnectionProblem("not_connected")
    store.set_status(connection_id, "connected")
    return owned(store, person, connection_id)


MAX_REMINDER = 40_320  # Graph's limit: four weeks


def set_preferences(
    deployment: Deployment,
    person: Person,
    connection_id: str,
    *,
    opt_out: list[str],
    reminders: Mapping[str, int | None],
) -> ConnectionRecord:
    """Opt out of activity types (by category) and set reminder minutes per type; applied from the
    next sync (opted-out events are removed from the calendar then).

    Raises:
        ConnectionProblem("bad_reminder"): a reminder outside 0..40320 minutes.
    """
    store = connection_store(deployment)
    owned(store, person, connection_id)
    clean: dict[str, int] = {}
    for category, minutes in reminders.items():
        if minutes is None:
            continue
        if not 0 <= minutes <= MAX_REMINDER:
            raise ConnectionProblem("bad_reminder", f"{category}: between 0 and {MAX_REMINDER} minutes")
        clean[category.strip()] = int(minutes)
    prefs: dict[str, Any] = {
        "opt_out": sorted({c.strip() for c in opt_out if c.strip()}),
        "reminders": dict(sorted(clean.items())),
    }
    store.set_preferences(connection_id, prefs)
    record = owned(store, person, connection_id)
    # an unchanged feed would answer 304 and the next run would skip the mailbox: forget its
    # validators so the next run applies the new preferences
    from calsync.services.sourcing import forget_feed

    view = deployment.profile(record.profile)
    forget_feed(view.settings, view.store, record.mailbox)
    return record
