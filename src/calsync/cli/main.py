"""The `calsync` command. Sub-commands live in their own modules; this file only assembles them."""

from __future__ import annotations

from typing import Annotated

import typer

from calsync.cli import authcmd, cert, demo, graphcmd, syncing

app = typer.Typer(
    name="calsync",
    help="Keep Microsoft 365 calendars in step with a system of record, through Microsoft Graph.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cert.app, name="cert")
app.add_typer(graphcmd.app, name="graph")
app.add_typer(authcmd.app, name="auth")
app.command("consent-url")(authcmd.consent_url)
app.add_typer(syncing.db_app, name="db")
app.command("sync")(syncing.sync)
app.command("plan")(syncing.plan)
app.command("status")(syncing.status)
app.command("purge")(syncing.purge)
app.command("release")(syncing.release)
app.command("demo")(demo.demo)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        str | None, typer.Option("--config", "-c", envvar="CALSYNC_CONFIG", help="calsync.toml to read.")
    ] = None,
) -> None:
    """calsync: timetables and feeds into Outlook calendars."""
    ctx.obj = config
