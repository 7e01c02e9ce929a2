"""Syncing a person's connection with their own token, and what ends a connection.

The same engine, ownership tags, leases and run records as application permissions
(calsync.services.syncing): only the Graph client differs. Each run gets a client whose token provider
is the person's msal cache, opened from the vault, refreshed through offline_access, and sealed back
after every change (the new refresh token replaces the old one in one commit). Graph is addressed as
`/users/{their UPN}/...`, which a delegated token may use for its own mailbox as `/me` would.

A refusal that only the person can fix (invalid_grant: consent withdrawn, refresh token expired or
revoked, password reset; AADSTS65001/700082/70008/50173, or no sign-in in the cache) marks the
connection `disconnected` with the code, deletes its tokens, records a connection event and calls the
`on_connection_disconnected` subscribers once; it is never retried until the person connects again.
Anything else (Graph or the identity platform unreachable) is an ordinary failed run, retried next round.
A cache that no configured key opens fails the run (`TokenKeyMissing`) and changes nothing: a missing key
is the administrator's problem, not a reason to forget a person's sign-in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from calsync import wiring
from calsync.domain import Window
from calsync.services.connections import ConnectionProblem, Person, connection_store, owned
from calsync.services.deployment import Deployment, ProfileView
from calsync.sync.engine import SourceSnapshot, off_loop
from calsync.sync.ports import RunReport

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence

    from calsync.graph import AuthError, DelegatedTokenProvider
    from calsync.services.maintenance import PurgeResult
    from calsync.services.sourcing import SourceLoader
    from calsync.services.syncing import Progress, SyncResult
    from calsync.store.connections import ConnectionRecord, ConnectionStore

log = logging.getLogger("calsync.connections")

CONNECTION_SCOPE = "@connection:"  # scheduler/job keys of connections; "@" is in no profile name
DISCONNECTED = "Disconnected"
TOKEN_KEY_MISSING = "TokenKeyMissing"  # noqa: S105 - an error code, not a secret
_DISCONNECTING = frozenset({65001, 700082, 70008, 50173, 50057})

DisconnectSubscriber = Callable[["ConnectionRecord", str], None]
_subscribers: list[DisconnectSubscriber] = []


def subscribe_disconnected(subscriber: DisconnectSubscriber) -> None:
    """Call `subscriber(connection, reason)` whenever a connection becomes disconnected (notifications
    wire themselves here; a subscriber that raises is logged and does not stop the others)."""
    _subscribers.append(subscriber)


def on_connection_disconnected(record: ConnectionRecord, reason: str) -> None:
    """The hook run once per disconnection, after it is stored (and recorded in connection_events)."""
    log.warning("calsync.connection_disconnected", extra={"connection": record.id, "reason": reason})
    for subscriber in list(_subscribers):
        try:
            subscriber(record, reason)
        except Exception:
            log.exception("a disconnection subscriber failed")


def connection_scope(connection_id: str) -> str:
    return CONNECTION_SCOPE + connection_id


def is_connection_scope(key: str) -> bool:
    return key.startswith(CONNECTION_SCOPE)


def connection_scopes(deployment: Deployment) -> list[str]:
    """The scheduler keys of every connected connection (paused, pending and disconnected ones are not
    synced)."""
    store = connection_store(deployment, keys=False)  # statuses only: a deployment without keys has none
    return [connection_scope(r.id) for r in store.all("connected")]


def disconnecting(exc: AuthError) -> str | None:
    """The reason code when `exc` means only the person can fix it (they must connect again)."""
    from calsync.graph import ReconnectRequired

    if exc.aadsts in _DISCONNECTING:
        return f"AADSTS{exc.aadsts}"
    if exc.error == "invalid_grant":
        return "invalid_grant"
    if isinstance(exc, ReconnectRequired):
        return "no_tokens"
    return None


def personal_snapshot(
    snapshot: SourceSnapshot, preferences: Mapping[str, Any], footer: str | None
) -> SourceSnapshot:
    """The snapshot as this person wants it: events of an opted-out category left out (so calsync
    removes its copies), reminders per category, the deployment's footer appended to each body."""
    if snapshot.status != "ok":
        return snapshot
    opt_out = {c.casefold() for c in preferences.get("opt_out", ())}
    reminders = {k.casefold(): int(v) for k, v in dict(preferences.get("reminders", {})).items()}
    events = []
    for original in snapshot.events:
        kinds = [c.casefold() for c in original.categories]
        if opt_out.intersection(kinds):
            continue
        event = original
        minutes = next((reminders[k] for k in kinds if k in reminders), None)
        if minutes is not None:
            event = replace(event, reminder_minutes=minutes)
        if footer:
            event = replace(event, body=f"{event.body}\n\n{footer}" if event.body else footer)
        events.append(event)
    return replace(snapshot, events=tuple(events))


def footer_text(deployment: Deployment) -> str | None:
    s = deployment.settings
    if not s.event_footer:
        return None
    return s.event_footer.replace("{status_url}", s.status_page_url or "").strip()


def _personal(load: SourceLoader, preferences: Mapping[str, Any], footer: str | None) -> SourceLoader:
    async def loader(mailbox: str, window: Window) -> SourceSnapshot:
        return personal_snapshot(await load(mailbox, window), preferences, footer)

    return loader


def _report(mailbox: str, status: str, code: str, message: str) -> RunReport:
    now = datetime.now(UTC)
    return RunReport(mailbox, now, now, status=status, error_code=code, message=message)  # type: ignore[arg-type]


async def sync_connections(
    deployment: Deployment,
    mailboxes: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    stopping: asyncio.Event | None = None,
) -> SyncResult:
    """`calsync sync` / `plan` with `permissions = "delegated"`: every connected person (or those whose
    mailbox is named), each with their own token, one after the other's lease like the scheduler's."""
    from calsync.services.naming import mailbox_name
    from calsync.services.syncing import MailboxOutcome, SyncResult

    wanted = {mailbox_name(m) for m in mailboxes} if mailboxes else None
    records = await off_loop(connection_store(deployment).all, "connected")
    outcomes = []
    for record in records:
        if wanted is not None and record.mailbox not in wanted:
            continue
        if progress is not None:
            progress.mailbox_started(record.mailbox)
        report = await sync_connection(deployment, record.id, full=full or dry_run, stopping=stopping,
                                       dry_run=dry_run)  # fmt: skip
        if progress is not None:
            progress.mailbox_finished(record.mailbox, report)
        outcomes.append(MailboxOutcome(record.mailbox, report, profile=record.profile))
    return SyncResult(outcomes, deployment.window())


async def sync_connection(
    deployment: Deployment,
    connection_id: str,
    *,
    full: bool = False,
    stopping: asyncio.Event | None = None,
    dry_run: bool = False,
) -> RunReport:
    """One run of a connection with the person's own token (the scheduler's and workers' unit)."""
    from calsync.services.connections import plain_words

    store = connection_store(deployment)
    record = await off_loop(store.get, connection_id)
    if record is None or record.status != "connected":
        status = record.status if record else "gone"
        return _report(record.mailbox if record else connection_id, "skipped", "NotConnected", status)
    view = deployment.profile(record.profile)
    try:
        provider = await _provider(deployment, store, record)
    except ConnectionProblem as exc:
        report = _report(record.mailbox, "failed", exc.code, plain_words(exc.code))
        await off_loop(view.store.record_run, report)
        return report
    if provider is None:
        return await _disconnect_for(deployment, store, view, record, "no_tokens")
    try:
        return await _run(deployment, store, view, record, provider, full=full, stopping=stopping,
                          dry_run=dry_run)  # fmt: skip
    finally:
        await provider.aclose()


async def _provider(
    deployment: Deployment, store: ConnectionStore, record: ConnectionRecord
) -> DelegatedTokenProvider | None:
    from calsync.graph import DelegatedTokenCache, DelegatedTokenProvider
    from calsync.store.vault import VaultError

    try:
        cache_text = await off_loop(store.open_cache, record.id)
    except VaultError:
        log.error("calsync.token_key_missing", extra={"connection": record.id})
        raise ConnectionProblem(TOKEN_KEY_MISSING) from None
    if cache_text is None:
        return None

    async def save(serialized: str) -> None:
        await off_loop(store.save_cache, record.id, serialized)

    cache = DelegatedTokenCache(cache_text, on_change=save)
    settings = deployment.settings
    return DelegatedTokenProvider(
        wiring.delegated_app(settings),
        cache,
        account=record.home_account_id,
        scopes=wiring.delegated_scopes(settings),
    )


async def _run(
    deployment: Deployment,
    store: ConnectionStore,
    view: ProfileView,
    record: ConnectionRecord,
    provider: DelegatedTokenProvider,
    *,
    full: bool,
    stopping: asyncio.Event | None,
    dry_run: bool = False,
) -> RunReport:
    from calsync.graph import AuthError
    from calsync.services.connections import plain_words
    from calsync.services.sourcing import Sources
    from calsync.services.syncing import _run_one

    watched = _Watched(provider)
    async with wiring.graph_client(
        view.settings, transport=deployment.transport, tokens=watched, observer=deployment.observer
    ) as client:
        try:
            await provider.token()
        except AuthError as exc:
            reason = disconnecting(exc)
            if reason is not None:
                return await _disconnect_for(deployment, store, view, record, reason)
            report = _report(record.mailbox, "failed", f"AADSTS{exc.aadsts}" if exc.aadsts else exc.error,
                             exc.hint)  # fmt: skip
            await off_loop(view.store.record_run, report)
            return report
        named = wiring.named_calendar(view.settings, client)
        engine = wiring.sync_engine(view.settings, client, view.store, named)
        personal = ProfileView(deployment, view.settings, view.store, _engine=engine, _calendar=named)
        sources = Sources(view.settings, view.store, full=full, cache=view.sources)
        load = _personal(sources.loader(), record.preferences, footer_text(deployment))
        outcome = await _run_one(
            personal,
            engine,
            load,
            record.mailbox,
            view.window(),
            dry_run=dry_run,
            force=False,
            stopping=stopping,
        )
    if watched.failure is not None:  # refused in the middle of the run (a refresh after a 401)
        reason = disconnecting(watched.failure)
        if reason is not None:
            await _disconnect_for(deployment, store, view, record, reason, record_run=False)
            report = replace(outcome.report, status="failed", error_code=DISCONNECTED,
                             message=plain_words(reason))  # fmt: skip
            if not dry_run:  # the same (mailbox, started): replaces the run recorded as failed
                await off_loop(view.store.record_run, report)
            return report
    return outcome.report


class _Watched:
    """The person's token provider, remembering the last refusal (the engine turns exceptions raised
    inside a run into a failed run; this keeps the reason for deciding about the connection)."""

    def __init__(self, inner: DelegatedTokenProvider) -> None:
        self.inner = inner
        self.failure: AuthError | None = None

    async def token(self, *, force_refresh: bool = False) -> str:
        from calsync.graph import AuthError

        try:
            return await self.inner.token(force_refresh=force_refresh)
        except AuthError as exc:
            self.failure = exc
            raise


async def _disconnect_for(
    deployment: Deployment,
    store: ConnectionStore,
    view: ProfileView,
    record: ConnectionRecord,
    reason: str,
    *,
    record_run: bool = True,
) -> RunReport:
    """Mark the connection disconnected (tokens deleted), record it, tell the subscribers once."""
    from calsync.services.connections import plain_words

    changed = await off_loop(lambda: store.set_status(record.id, "disconnected", reason, drop_tokens=True))
    report = _report(record.mailbox, "failed", DISCONNECTED, plain_words(reason))
    if record_run:
        await off_loop(view.store.record_run, report)
    if changed:
        fresh = await off_loop(store.get, record.id)
        on_connection_disconnected(fresh or record, reason)
        await _tell_subscribers(deployment, record)
    return report


async def _tell_subscribers(deployment: Deployment, record: ConnectionRecord) -> None:
    """`profile.disconnected` to the push channels (docs/push.md), with the page that relinks. A failure
    to write the outbox is logged: the disconnection itself is stored and shown on the pages."""
    from calsync import wiring
    from calsync.services import push
    from calsync.services.unified_ids import profile_id

    try:
        await push.publish_profile_disconnected(
            deployment,
            profile_id=profile_id(record.mailbox),
            relink_url=wiring.relink_url(deployment.settings, record.id),
        )
    except Exception:
        log.exception("profile.disconnected could not be written to the push outbox")


async def disconnect(
    deployment: Deployment, person: Person, connection_id: str, *, remove_events: bool
) -> PurgeResult | None:
    """The person disconnects: with `remove_events`, calsync's events are removed from their calendar
    first (with their token, while it still works); then their tokens are deleted and the connection
    is marked disconnected ("user"). Without, the events stay as they are and are no longer updated.

    Returns the purge's result when events were removed (None otherwise)."""
    from calsync.graph import AuthError

    store = connection_store(deployment)
    record = owned(store, person, connection_id)
    result = None
    if remove_events:
        provider = await _provider(deployment, store, record)
        if provider is None:
            raise ConnectionProblem("no_tokens")
        view = deployment.profile(record.profile)
        try:
            async with wiring.graph_client(
                view.settings, transport=deployment.transport, tokens=provider, observer=deployment.observer
            ) as client:
                named = wiring.named_calendar(view.settings, client)
                engine = wiring.sync_engine(view.settings, client, view.store, named)
                personal = ProfileView(deployment, view.settings, view.store, _engine=engine, _calendar=named)
                result = await _purge_when_free(personal, record.mailbox)
        except AuthError as exc:
            raise ConnectionProblem(disconnecting(exc) or "sign_in_failed") from None
        finally:
            await provider.aclose()
    await off_loop(lambda: store.set_status(record.id, "disconnected", "user", drop_tokens=True))
    return result


BUSY_WAIT_SECONDS = 30.0


async def _purge_when_free(view: ProfileView, mailbox: str) -> PurgeResult:
    """Purge once the mailbox's current run (e.g. the sync a relink queued) has ended: a person who
    clicks "Disconnect" during a sync should not get an error for it. ConnectionProblem("busy") after
    BUSY_WAIT_SECONDS."""
    import asyncio

    from calsync.services.leases import MailboxBusy
    from calsync.services.maintenance import purge_profile_mailbox

    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_WAIT_SECONDS
    while True:
        try:
            return await purge_profile_mailbox(view, mailbox)
        except MailboxBusy:
            if loop.time() > deadline:
                raise ConnectionProblem("busy") from None
            await asyncio.sleep(0.25)
