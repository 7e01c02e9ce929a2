"""`calsync sync`, `plan`, `status`, `purge` and `db upgrade`: the main job from the command line.

Exit codes (README): 0 every mailbox ok; 6 some mailbox failed, was stopped by a safety rail or had
failed items; 3 configuration; 4 authentication; 5 Graph unreachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from calsync import wiring
from calsync.cli.output import EXIT_PARTIAL, console, emit_json, err_console, reported
from calsync.cli.state import settings_from
from calsync.domain import Window
from calsync.runtime import MailboxOutcome, Runner, acquire, this_process
from calsync.settings import Settings
from calsync.store import SqlStateStore, upgrade
from calsync.sync import tombstones
from calsync.sync.ports import Create, Delete, Quarantined, RunReport, Update

COUNTS = ("created", "updated", "deleted", "adopted", "unchanged", "failed")
MailboxOpt = Annotated[
    list[str] | None, typer.Option("--mailbox", "-m", help="Only this mailbox (repeatable).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


class RichProgress:
    """Rich bars: one for all mailboxes, one per mailbox while it writes."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.overall = progress.add_task("mailboxes", total=total)
        self.tasks: dict[str, TaskID] = {}

    def mailbox_started(self, mailbox: str) -> None:
        self.tasks[mailbox] = self.progress.add_task(mailbox, total=None)

    def writes_progress(self, mailbox: str, done: int, total: int) -> None:
        task = self.tasks.get(mailbox)
        if task is not None:
            self.progress.update(task, completed=done, total=max(total, 1))

    def mailbox_finished(self, mailbox: str, report: RunReport) -> None:
        task = self.tasks.pop(mailbox, None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.advance(self.overall)


async def _run(
    config: str | None,
    mailboxes: Sequence[str] | None,
    *,
    dry_run: bool,
    force: bool,
    quiet: bool,
    full: bool = False,
) -> tuple[list[MailboxOutcome], Window]:
    settings = settings_from(config)
    with wiring.open_store(settings) as store:
        return await _run_with(
            settings, store, mailboxes, dry_run=dry_run, force=force, quiet=quiet, full=full
        )


async def _run_with(
    settings: Settings,
    store: SqlStateStore,
    mailboxes: Sequence[str] | None,
    *,
    dry_run: bool,
    force: bool,
    quiet: bool,
    full: bool,
) -> tuple[list[MailboxOutcome], Window]:
    async with wiring.graph_client(settings) as client:
        sources = wiring.Sources(settings, store, full=full or dry_run)
        win = wiring.window(settings)
        targets = (
            list(dict.fromkeys(wiring.mailbox_name(m) for m in mailboxes))
            if mailboxes
            else await wiring.resolve_mailboxes(settings, client, sources, win)
        )
        engine = wiring.sync_engine(settings, client, store)
        runner = Runner(engine, store, sources.loader(), parallelism=settings.mailbox_parallelism)
        if quiet:
            return await runner.run(targets, win, dry_run=dry_run, force=force), win
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            runner.progress = RichProgress(progress, len(targets))
            return await runner.run(targets, win, dry_run=dry_run, force=force), win


def _summary(outcomes: Sequence[MailboxOutcome], *, limit: int = 25) -> Table:
    """Totals, and one row per mailbox (problem mailboxes first) up to `limit`."""
    table = Table(title="Sync summary")
    table.add_column("mailbox", no_wrap=True, min_width=12, max_width=24, overflow="ellipsis")
    table.add_column("status", no_wrap=True, min_width=7)
    for name in ("new", "upd", "del", "adopt", "same", "fail"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    totals = RunReport("total", datetime.now(UTC))
    shown = sorted(outcomes, key=lambda o: (o.report.status == "ok", o.mailbox))
    for i, outcome in enumerate(shown):
        r = outcome.report
        for field in COUNTS:
            setattr(totals, field, getattr(totals, field) + getattr(r, field))
        if i < limit:
            table.add_row(r.mailbox, r.status, *(str(getattr(r, f)) for f in COUNTS))
    if len(shown) > limit:
        table.add_row(f"... {len(shown) - limit} more", "", "", "", "", "", "", "")
    ok = sum(1 for o in outcomes if o.report.status == "ok")
    totals_row = (f"[bold]{getattr(totals, f)}[/]" for f in COUNTS)
    table.add_row(f"[bold]{len(outcomes)} mailboxes[/]", f"{ok} ok", *totals_row)
    return table


def print_summary(outcomes: Sequence[MailboxOutcome], *, limit: int = 25) -> None:
    """The summary table, then why each mailbox that is not ok is not, and its first problems."""
    console.print(_summary(outcomes, limit=limit))
    for o in sorted(outcomes, key=lambda o: o.mailbox):
        r = o.report
        if r.error_code:
            console.print(f"[yellow]{o.mailbox}[/]: {r.status}: {r.error_code}: {r.message}")
        for problem in r.problems[:3]:
            console.print(f"[yellow]{o.mailbox}[/]: {problem}")


def _q(item: Quarantined) -> dict[str, object]:
    return {"key": item.source_key, "code": item.code, "message": item.message, "failures": item.failures}


def _report_json(r: RunReport) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(r).items()}


def sync(
    ctx: typer.Context,
    mailbox: MailboxOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and report, write nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Override the safety rails (empty source, mass delete).")
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="Reconcile every mailbox, even those whose feed is unchanged (304)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make each mailbox's calendar match the source (creates, updates, deletes calsync's own events).

    Feeds that answer "not modified" are skipped; run with --full regularly (e.g. nightly) to also repair
    what users changed in Outlook."""
    with reported():
        run = _run(ctx.obj, mailbox, dry_run=dry_run, force=force, quiet=as_json, full=full)
        outcomes, _ = asyncio.run(run)
        if as_json:
            emit_json([_report_json(o.report) for o in outcomes])
        else:
            print_summary(outcomes)
        if any(o.report.status != "ok" for o in outcomes):
            raise typer.Exit(EXIT_PARTIAL)


def plan(ctx: typer.Context, mailbox: MailboxOpt = None, as_json: JsonOpt = False) -> None:
    """Show what a sync would do, as a table of actions (nothing is written)."""
    with reported():
        outcomes, _ = asyncio.run(_run(ctx.obj, mailbox, dry_run=True, force=False, quiet=True))
        rows: list[tuple[str, str, str, str, str, str]] = []
        for o in outcomes:
            for a in o.actions:
                if isinstance(a, Create | Update):
                    rows.append((o.mailbox, type(a).__name__.lower(), a.desired.source_key, a.desired.subject,
                                 a.desired.start.isoformat(timespec="minutes"), ""))  # fmt: skip
                elif isinstance(a, Delete):
                    rows.append((o.mailbox, "delete", a.source_key, "", "", a.reason))
            if o.report.error_code:
                rows.append((o.mailbox, "stop", "", "", "", f"{o.report.error_code}: {o.report.message}"))
        if as_json:
            emit_json(
                [
                    dict(zip(("mailbox", "action", "key", "subject", "start", "reason"), r, strict=True))
                    for r in rows
                ]
            )
            return
        table = Table(title=f"Plan: {len(rows)} actions")
        for name in ("mailbox", "action", "key", "subject", "start", "reason"):
            table.add_column(name)
        for row in rows[:500]:
            table.add_row(*row)
        console.print(table)
        if len(rows) > 500:
            console.print(f"... and {len(rows) - 500} more (use --json for all)")


def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Per mailbox: the last run, its counts and errors, and quarantined items."""
    with reported():
        settings = settings_from(ctx.obj)
        with wiring.open_store(settings, migrate=False) as store:
            runs = sorted(store.last_runs(), key=lambda r: r.mailbox)
            quarantined = {r.mailbox: store.quarantined(r.mailbox) for r in runs}
        if as_json:
            emit_json(
                [
                    {**_report_json(r), "quarantinedItems": [_q(q) for q in quarantined[r.mailbox].values()]}
                    for r in runs
                ]
            )
            return
        table = Table(title=f"Status of {len(runs)} mailboxes (last run, UTC)")
        table.add_column("mailbox", no_wrap=True, min_width=12, max_width=21, overflow="ellipsis")
        table.add_column("last run", no_wrap=True)
        table.add_column("status", no_wrap=True)
        for name in ("new", "upd", "del", "fail", "quar"):
            table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
        for r in runs:
            when = (r.finished or r.started).strftime("%m-%d %H:%M")
            counts = (str(r.created), str(r.updated), str(r.deleted), str(r.failed))
            table.add_row(r.mailbox, when, r.status, *counts, str(len(quarantined[r.mailbox])))
        console.print(table)
        for r in runs:
            if r.error_code:
                console.print(f"[yellow]{r.mailbox}[/]: {r.status}: {r.error_code}: {r.message}")
        for mailbox, items in quarantined.items():
            for q in items.values():
                console.print(f"[yellow]quarantined[/] {mailbox} {q.source_key}: {q.code} {q.message}")


def purge(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option("--mailbox", "-m", help="The mailbox to clean.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove every event calsync created in a mailbox (after a confirmation); other events stay."""
    mailbox = wiring.mailbox_name(mailbox)
    with reported():
        settings = settings_from(ctx.obj)

        async def go(store: SqlStateStore) -> int:
            async with wiring.graph_client(settings) as client:
                engine = wiring.sync_engine(settings, client, store)
                everything = Window(datetime(1601, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
                managed = await engine.target.list_managed(mailbox, everything)
                # with no events left (e.g. a purge killed after its deletes) the state is still cleaned
                if (
                    managed
                    and not yes
                    and not typer.confirm(f"Delete {len(managed)} calsync events from {mailbox}?")
                ):
                    raise typer.Abort()
                # tombstones first (a later sync re-creates with new transaction ids), then the deletes
                deleted = await tombstones.purge(engine.target, store, engine.tenant_id, mailbox, managed)
                store.purge_mailbox(mailbox)
                return deleted

        with wiring.open_store(settings) as store:
            owner = this_process()
            if not acquire(store, mailbox, owner, 3600.0):  # never while a sync of the mailbox runs
                err_console.print(
                    f"[bold red]error:[/] {mailbox} is being synced; purge it when that run ends."
                )
                raise typer.Exit(EXIT_PARTIAL)
            try:
                deleted = asyncio.run(go(store))
            finally:
                store.release_lease(mailbox, owner)
        console.print(f"Deleted {deleted} calsync events from {mailbox}.")


db_app = typer.Typer(help="The state database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the state database to the latest schema (safe to run again)."""
    with reported():
        settings = settings_from(ctx.obj)
        revision = upgrade(settings.database_url)
        console.print(f"Database at revision {revision}.")


def release(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option("--mailbox", "-m", help="The mailbox whose items to release.")],
    keys: Annotated[
        list[str] | None, typer.Argument(help="Source keys to release (see `calsync status`).")
    ] = None,
    all_items: Annotated[
        bool, typer.Option("--all", help="Release every quarantined item of the mailbox.")
    ] = False,
) -> None:
    """Let quarantined items be tried again on the next sync (after fixing what made them fail)."""
    mailbox = wiring.mailbox_name(mailbox)
    with reported():
        with wiring.open_store(settings_from(ctx.obj)) as store:
            held = store.quarantined(mailbox)
            chosen = list(held) if all_items else [k for k in held if k in set(keys or [])]
            if not chosen:
                raise typer.BadParameter("name quarantined keys (see `calsync status`) or use --all")
            for key in chosen:
                store.release_quarantine(mailbox, key)
        console.print(f"Released {len(chosen)} item(s) of {mailbox}; the next sync tries them again.")
