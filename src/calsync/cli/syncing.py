"""`calsync sync`, `plan`, `status`, `purge`, `release` and `db upgrade`: thin callers of calsync.services.

Exit codes (README): 0 every mailbox ok (or not applicable); 6 some mailbox failed, was stopped by a safety
rail or had failed items (`plan`: some mailbox would stop); 3 configuration; 4 authentication; 5 Graph.
Every command takes --json: one documented document on stdout (docs/cli-json.md), errors included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from calsync import services
from calsync.cli import render
from calsync.cli.output import EXIT_PARTIAL, EXIT_USAGE, console, emit_json, err_console, reported
from calsync.cli.state import settings_from

if TYPE_CHECKING:
    from calsync.services import SyncResult
    from calsync.services.connstatus import ConnectionStatusView

MailboxOpt = Annotated[
    list[str] | None, typer.Option("--mailbox", "-m", help="Only this mailbox (repeatable).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (docs/cli-json.md).")]
ProfilesOpt = Annotated[
    str | None, typer.Option("--profile", "-p", help="Only this profile (default: every profile).")
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", help="The profile (default: the top level's).")
]


async def run_sync(
    config: str | None,
    mailboxes: Sequence[str] | None,
    *,
    dry_run: bool,
    force: bool,
    quiet: bool,
    full: bool = False,
    profile: str | None = None,
) -> SyncResult:
    """One sync (or plan) of the configured deployment, with progress bars unless `quiet`."""
    settings = settings_from(config)
    async with services.open_deployment(settings) as deployment:
        if quiet:
            return await services.sync_mailboxes(
                deployment, mailboxes, profile=profile, dry_run=dry_run, force=force, full=full
            )
        with render.progress_bars() as progress:
            return await services.sync_mailboxes(
                deployment,
                mailboxes,
                profile=profile,
                dry_run=dry_run,
                force=force,
                full=full,
                progress=progress,
            )


def sync(
    ctx: typer.Context,
    mailbox: MailboxOpt = None,
    profile: ProfilesOpt = None,
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
    what users changed in Outlook. `calsync serve` does both on a schedule."""
    import asyncio  # here, not at the top: `calsync --help` does not need it

    with reported(as_json=as_json):
        run = run_sync(
            ctx.obj, mailbox, dry_run=dry_run, force=force, quiet=as_json, full=full, profile=profile
        )
        result = asyncio.run(run)
        if as_json:
            emit_json([render.outcome_json(o) for o in result.outcomes])
        else:
            render.print_summary(result.outcomes)
        if not result.complete:
            raise typer.Exit(EXIT_PARTIAL)


def plan(
    ctx: typer.Context, mailbox: MailboxOpt = None, profile: ProfilesOpt = None, as_json: JsonOpt = False
) -> None:
    """Show what a sync would do, as a table of actions (nothing is written). Exits 6 when a mailbox
    would be stopped (a safety rail, an unavailable source) or could not be planned."""
    import asyncio

    with reported(as_json=as_json):
        result = asyncio.run(
            run_sync(ctx.obj, mailbox, dry_run=True, force=False, quiet=True, profile=profile)
        )
        rows = render.plan_rows(result.outcomes)
        if as_json:
            emit_json([dict(zip(render.PLAN_COLUMNS, r, strict=True)) for r in rows])
        else:
            render.print_plan(rows)
        if not result.complete:
            raise typer.Exit(EXIT_PARTIAL)


def status(
    ctx: typer.Context,
    mailbox: MailboxOpt = None,
    profile: ProfilesOpt = None,
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Runs started at or after this time (ISO 8601, UTC if no offset)."),
    ] = None,
    history: Annotated[
        int | None, typer.Option("--history", min=1, max=50, help="Runs per mailbox (default 10 with -m).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per mailbox: the last run, the last success, consecutive failures, quarantined items; with
    --mailbox or --since, the run history too."""
    import asyncio

    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)
        since = render.aware(since)
        count = history or (10 if mailbox or since else 0)
        if since is not None and not history:
            count = 50

        people: list[ConnectionStatusView] = []

        async def read() -> tuple[list[services.MailboxStatus], list[str], list[str]]:
            from calsync.services import connstatus, offboarding

            async with services.open_deployment(settings, migrate=False) as deployment:
                people.extend(connstatus.overview(deployment))
                found = services.status(
                    deployment, mailboxes=mailbox, since=since, history=count, profile=profile
                )
                missing = sorted(
                    {services.mailbox_name(m) for m in mailbox or []} - {s.mailbox for s in found}
                )
                return (
                    found,
                    missing,
                    render.offboarding_notes(
                        offboarding.leaving(deployment, profile),
                        {} if profile else offboarding.removed_profiles(deployment),
                    ),
                )

        found, missing, notes = asyncio.run(read())
        for name in missing:
            err_console.print(f"[yellow]{name}[/]: no run recorded (never synced, or a typo?)")
        for note in notes:
            err_console.print(f"[yellow]{note}[/]")
        if as_json:
            emit_json([render.status_json(s) for s in found])
            return
        render.print_status(found, history=bool(count))
        if people and not mailbox:
            render.print_connections(people)


CALENDAR_OUTCOME = {
    "removed": "Removed the profile's calendar.",
    "kept_not_empty": "Kept the profile's calendar: events calsync did not create are left in it.",
}


def purge(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option("--mailbox", "-m", help="The mailbox to clean.")],
    profile: ProfileOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove every event a profile created in a mailbox (after a confirmation); other events, other
    profiles' included, stay.

    Declining the confirmation changes nothing and is not an error (exit 0)."""
    import asyncio

    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)
        name = services.mailbox_name(mailbox)

        def confirm(found: int) -> bool:
            if yes:
                return True
            if as_json:
                raise typer.BadParameter("--json needs --yes (there is no one to answer the question)")
            return typer.confirm(f"Delete {found} calsync events from {name}?")

        async def go() -> services.PurgeResult:
            async with services.open_deployment(settings) as deployment:
                return await services.purge_mailbox(deployment, name, profile=profile, confirm=confirm)

        try:
            result = asyncio.run(go())
        except services.MailboxBusy:
            message = f"{name} is being synced; purge it when that run ends."
            if as_json:
                emit_json({"error": {"type": "MailboxBusy", "message": message, "exit_code": EXIT_PARTIAL}})
            else:
                err_console.print(f"[bold red]error:[/] {message}")
            raise typer.Exit(EXIT_PARTIAL) from None
        if as_json:
            emit_json({"mailbox": name, "found": result.found, "deleted": result.deleted,
                       "declined": result.declined, "calendar": result.calendar})  # fmt: skip
        elif result.declined:
            console.print(f"Nothing deleted from {name}.")
        else:
            console.print(f"Deleted {result.deleted} calsync events from {name}.")
            if result.calendar in CALENDAR_OUTCOME:
                console.print(CALENDAR_OUTCOME[result.calendar])


db_app = typer.Typer(help="The state database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Create or migrate the state database to the latest schema (safe to run again); on PostgreSQL also
    the job queue's schema used by `calsync worker`."""
    with reported(as_json=as_json):
        from calsync.runtime import database

        revision, queue = database.upgrade_database(settings_from(ctx.obj))
        if as_json:
            emit_json({"revision": revision, "job_queue": queue})
            return
        console.print(f"Database at revision {revision}.")
        if queue:
            console.print(f"Job queue schema: {queue}.")


def release(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option("--mailbox", "-m", help="The mailbox whose items to release.")],
    keys: Annotated[
        list[str] | None, typer.Argument(help="Source keys to release (see `calsync status`).")
    ] = None,
    all_items: Annotated[
        bool, typer.Option("--all", help="Release every quarantined item of the mailbox.")
    ] = False,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Let quarantined items be tried again on the next sync (after fixing what made them fail)."""
    import asyncio

    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)

        async def go() -> list[str]:
            async with services.open_deployment(settings) as deployment:
                return services.release(
                    deployment, mailbox, keys or [], everything=all_items, profile=profile
                )

        try:
            released = asyncio.run(go())
        except services.NothingToRelease as exc:
            held = ", ".join(exc.held[:10]) or "none"
            more = f" and {len(exc.held) - 10} more" if len(exc.held) > 10 else ""
            message = f"name quarantined keys of {exc.mailbox} or use --all (quarantined: {held}{more})"
            if as_json:
                emit_json(
                    {"error": {"type": "NothingToRelease", "message": message, "exit_code": EXIT_USAGE}}
                )
            else:
                err_console.print(f"[bold red]error:[/] {message}")
            raise typer.Exit(EXIT_USAGE) from None
        name = services.mailbox_name(mailbox)
        if as_json:
            emit_json({"mailbox": name, "released": released})
        else:
            console.print(f"Released {len(released)} item(s) of {name}; the next sync tries them again.")
