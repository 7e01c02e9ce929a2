"""`calsync offboard`: list the mailboxes a profile would offboard now, and offboard them.

The automatic rounds offboard a mailbox once its grace period has passed, unless too many go at once
(the `OffboardBreaker` stop) or the profile is no longer configured (never automatic: a typo in a
profile's name must not delete a deployment's events). This command is the administrator's decision in
both cases, with the list in front of them. A dedicated command rather than `sync --force`: `--force`
overrides one mailbox's rails after its plan was read; offboarding removes every event of a profile
from many mailboxes at once, which deserves the list and a question of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from calsync import services
from calsync.cli.output import EXIT_PARTIAL, console, emit_json, err_console, reported
from calsync.cli.render import report_json
from calsync.cli.state import settings_from
from calsync.cli.syncing import JsonOpt

if TYPE_CHECKING:  # `calsync --help` must not import the services' modules (tests/calsync/cli)
    from calsync.services.offboarding import Departure


def offboard(
    ctx: typer.Context,
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="The profile (configured, or removed but with state).")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove a profile's events from the mailboxes that left its selection and whose grace period is
    over (the breaker does not apply), or from every mailbox of a profile that is no longer configured.
    Lists them and asks first; declining changes nothing (exit 0)."""
    import asyncio

    from calsync.services import offboarding

    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)
        listed: list[Departure] = []

        def confirm(going: list[Departure]) -> bool:
            listed.extend(going)
            if yes:
                return True
            if as_json:
                raise typer.BadParameter("--json needs --yes (there is no one to answer the question)")
            for d in going:
                console.print(f"  {d.mailbox}  (left the selection {d.since:%Y-%m-%d %H:%M} UTC)")
            return typer.confirm(f"Remove profile {profile}'s events from these {len(going)} mailboxes?")

        async def go() -> list[services.MailboxOutcome]:
            async with services.open_deployment(settings) as deployment:
                reports = await offboarding.offboard(deployment, profile, confirm=confirm)
            return [services.MailboxOutcome(r.mailbox, r, profile=profile, offboarding=True) for r in reports]

        outcomes = asyncio.run(go())
        if as_json:
            emit_json([{**report_json(o.report), "profile": profile, "offboarding": True} for o in outcomes])
        elif not listed:
            console.print(f"Nobody to offboard from profile {profile}.")
        elif not outcomes:
            console.print("Nothing removed.")
        for o in outcomes if not as_json else []:
            line = f"{o.mailbox}: {o.report.status}, {o.report.deleted} events removed"
            (console if o.report.status == "ok" else err_console).print(line)
        if any(o.report.status != "ok" for o in outcomes):
            raise typer.Exit(EXIT_PARTIAL)
