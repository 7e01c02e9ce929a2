"""Sync and plan: make mailboxes' calendars match the source (the main use case).

`sync_mailboxes` serves `calsync sync` and `calsync plan` (many mailboxes at once, progress for the CLI);
`sync_mailbox` serves the scheduler of `calsync serve` and the jobs of `calsync worker` (one mailbox, one
run). Both go through `_run_one`: the mailbox's lease (one run per mailbox across every process, renewed
and fenced: calsync.services.leases), its source, the engine, and the classification of a mailbox that
has no Exchange Online mailbox as `not_applicable`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from calsync import logs, metrics
from calsync.domain import Window
from calsync.services.deployment import Deployment, ProfileView
from calsync.services.leases import MailboxBusy, hold
from calsync.services.naming import mailbox_name
from calsync.services.offboarding import offboard_round
from calsync.services.sourcing import SourceLoader, Sources, resolve_mailboxes
from calsync.services.unified_ids import is_api_profile
from calsync.sync.engine import Engine, off_loop
from calsync.sync.ports import MAILBOX_NOT_ENABLED, Action, RunReport


class Progress(Protocol):
    """What a sync reports while it works (the CLI draws Rich progress bars from it)."""

    def mailbox_started(self, mailbox: str) -> None: ...

    def writes_progress(self, mailbox: str, done: int, total: int) -> None: ...

    def mailbox_finished(self, mailbox: str, report: RunReport) -> None: ...


@dataclass
class MailboxOutcome:
    mailbox: str
    report: RunReport
    actions: list[Action] = field(default_factory=list)  # the plan, kept for dry runs only
    profile: str = "default"
    offboarding: bool = False  # the mailbox left the selection (calsync.services.offboarding)


@dataclass
class SyncResult:
    outcomes: list[MailboxOutcome]
    window: Window

    @property
    def complete(self) -> bool:
        """Every mailbox ok, or not applicable (no Exchange Online mailbox) where that is allowed."""
        return all(o.report.status in ("ok", "not_applicable") for o in self.outcomes)


async def sync_mailboxes(
    deployment: Deployment,
    mailboxes: Sequence[str] | None = None,
    *,
    profile: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    stopping: asyncio.Event | None = None,
) -> SyncResult:
    """Sync (or with `dry_run`, plan) the given mailboxes, or every one a profile covers, for one profile
    or each in turn; outcomes in order, profile by profile.

    The app's credential is checked first, so a refused secret or certificate is an error even when
    every feed is unchanged and no other Graph call would be made; then that Graph can be reached at all,
    so an unreachable Graph is one error (calsync.graph.TransportError) rather than a failed run for each
    mailbox."""
    views = deployment.profiles(profile)  # an unknown profile is an error before any Graph call
    if deployment.settings.permissions == "delegated":  # each person's own token, never the app's
        from calsync.services.connsync import sync_connections

        return await sync_connections(deployment, mailboxes, dry_run=dry_run, full=full, progress=progress,
                                      stopping=stopping)  # fmt: skip
    await deployment.check_credential()
    await deployment.check_graph()
    outcomes: list[MailboxOutcome] = []
    win = deployment.window()
    for view in views:
        outcomes += await _sync_profile(
            view, mailboxes, dry_run=dry_run, force=force, full=full, progress=progress, stopping=stopping
        )
    return SyncResult(outcomes, win)


async def _sync_profile(
    view: ProfileView,
    mailboxes: Sequence[str] | None,
    *,
    dry_run: bool,
    force: bool,
    full: bool,
    progress: Progress | None,
    stopping: asyncio.Event | None,
) -> list[MailboxOutcome]:
    sources = Sources(view.settings, view.store, full=full or dry_run, cache=view.sources)
    win = view.window()
    targets = (
        list(dict.fromkeys(mailbox_name(m) for m in mailboxes))
        if mailboxes
        else await resolve_mailboxes(view.settings, await view.deployment.graph(), sources, win)
    )
    # Offboarding compares the profile's mailboxes with its whole selection, read successfully just
    # above (a failed read raised): never with mailboxes named on the command line, never in a plan.
    offboarding = not mailboxes and not dry_run
    engine = await view.engine()
    load = sources.loader(deferrable=True)
    if progress is not None:
        engine.on_progress = progress.writes_progress
    gate = asyncio.Semaphore(view.settings.mailbox_parallelism)

    async def one(mailbox: str) -> MailboxOutcome:
        async with gate:
            if progress is not None:
                progress.mailbox_started(mailbox)
            outcome = await _run_one(
                view, engine, load, mailbox, win, dry_run=dry_run, force=force, stopping=stopping
            )
            if progress is not None:
                progress.mailbox_finished(mailbox, outcome.report)
            return outcome

    outcomes = list(await asyncio.gather(*(one(m) for m in targets)))
    if offboarding and (stopping is None or not stopping.is_set()):
        selection = [*targets, *_named(view, sources, win)]
        done = await offboard_round(view, selection, now=view.deployment.clock())
        outcomes += [MailboxOutcome(r.mailbox, r, profile=view.name, offboarding=True) for r in done.reports]
    return outcomes


def _named(view: ProfileView, sources: Sources, win: Window) -> list[str]:
    """A file-driven selection also keeps every mailbox the file still names (see Sources.table_named)."""
    s = view.settings
    return [] if s.mailboxes or s.group else sources.table_named(win)


async def sync_mailbox(
    deployment: Deployment,
    mailbox: str,
    *,
    profile: str | None = None,
    full: bool = False,
    stopping: asyncio.Event | None = None,
) -> RunReport:
    """One run of one mailbox for one profile (the scheduler's and the workers' unit of work); a
    connection's key (calsync.services.connsync.connection_scope) runs that person's connection with
    their own token; an API profile's (the REST API's events, calsync.services.api_sync) runs those."""
    if mailbox.startswith("@connection:"):
        from calsync.services.connsync import CONNECTION_SCOPE, sync_connection

        cid = mailbox.removeprefix(CONNECTION_SCOPE)
        return await sync_connection(deployment, cid, full=full, stopping=stopping)

    if is_api_profile(profile):
        from calsync.services.api_sync import sync_api_scope

        assert profile is not None
        return await sync_api_scope(deployment, profile, mailbox_name(mailbox), stopping=stopping)
    view = deployment.profile(profile)
    sources = Sources(view.settings, view.store, full=full, cache=view.sources)
    outcome = await _run_one(
        view,
        await view.engine(),
        sources.loader(deferrable=True),
        mailbox_name(mailbox),
        view.window(),
        dry_run=False,
        force=False,
        stopping=stopping,
    )
    return outcome.report


async def mailboxes(deployment: Deployment, profile: str | None = None) -> list[str]:
    """Every mailbox a profile covers now (a group's members are read again each time)."""
    view = deployment.profile(profile)
    sources = Sources(view.settings, view.store, cache=view.sources)
    return await resolve_mailboxes(view.settings, await deployment.graph(), sources, view.window())


async def scopes(deployment: Deployment) -> list[str]:
    """Every (profile, mailbox) of the deployment now, as scope keys (calsync.store.scope_key), and
    every connected person's connection (calsync.services.connsync): what the scheduler and the
    workers' fan-out run. With `permissions = "delegated"` only connections: no app token is used."""
    from calsync.services.connsync import connection_scopes
    from calsync.store import scope_key

    found: list[str] = []
    for view in deployment.profiles() if deployment.settings.permissions == "application" else []:
        selected = await mailboxes(deployment, view.name)
        found += [scope_key(view.name, m) for m in selected]
        await _offboard(view, selected)
    return found + await _api_scopes(deployment) + await off_loop(connection_scopes, deployment)


async def _api_scopes(deployment: Deployment) -> list[str]:
    """The REST API's profiles with events, reconciled each round like the configured ones (a run that
    failed is retried, an event a user deleted in Outlook comes back per the policy)."""
    from calsync.store import scope_key
    from calsync.store.apievents import ApiEventStore

    pairs = await off_loop(ApiEventStore(deployment.store.engine).scopes)
    return [scope_key(profile, mailbox) for profile, mailbox in pairs]


async def _offboard(view: ProfileView, selected: list[str]) -> None:
    """The service's offboarding round for a profile whose selection was just read: its results are
    in the logs, the metrics and, for a breaker stop, the mailboxes' runs (`calsync status`)."""
    sources = Sources(view.settings, view.store, cache=view.sources)
    selection = [*selected, *_named(view, sources, view.window())]
    with logs.context(profile=view.name):
        await offboard_round(view, selection, now=view.deployment.clock())


async def _run_one(
    view: ProfileView,
    engine: Engine,
    load: SourceLoader,
    mailbox: str,
    window: Window,
    *,
    dry_run: bool,
    force: bool,
    stopping: asyncio.Event | None,
) -> MailboxOutcome:
    """One run under the mailbox's lease (the profile's); every log line inside it carries its run id,
    the profile and the mailbox."""
    settings, store = view.settings, view.store
    with logs.context(run_id=uuid.uuid4().hex[:12], profile=view.name, mailbox=mailbox), metrics.in_flight():
        try:
            async with hold(store, mailbox, seconds=settings.lease_seconds, stopping=stopping) as lease:
                source = await load(mailbox, window)
                report, actions = await engine.run(
                    mailbox, source, window, dry_run=dry_run, force=force, guard=lease.guard
                )
        except MailboxBusy:
            now = datetime.now(UTC)
            report = RunReport(mailbox, now, now, status="skipped", error_code="Busy",
                               message="another run of this mailbox is in progress")  # fmt: skip
            return MailboxOutcome(mailbox, report, profile=view.name)
        if report.error_code == MAILBOX_NOT_ENABLED and settings.mailbox_not_enabled == "not-applicable":
            report = replace(report, status="not_applicable")
            if not dry_run:  # the same (mailbox, started): replaces the row recorded as failed
                await off_loop(store.record_run, report)
        for observe in view.deployment.run_observers:
            observe(report, dry_run)
        if not dry_run:
            for hook in view.deployment.run_hooks:
                await hook(view.deployment, view.name, report)
    # Plans are kept only for dry runs (`calsync plan`): a real run of thousands of mailboxes would
    # otherwise hold every plan until the end.
    return MailboxOutcome(mailbox, report, actions if dry_run else [], profile=view.name)


run_one = _run_one  # one run under the mailbox's lease, for other sources' runs (calsync.services.api_sync)
