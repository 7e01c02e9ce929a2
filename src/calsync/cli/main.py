"""The `calsync` command. Sub-commands live in their own modules; this file only assembles them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from calsync.cli import (
    admincmd,
    apikeys,
    authcmd,
    cert,
    channels,
    demo,
    graphcal,
    graphcmd,
    keys,
    offboard,
    service,
    syncing,
)
from calsync.cli.group import JsonUsageGroup
from calsync.cli.state import CliState


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


app = typer.Typer(
    name="calsync",
    help="Keep Microsoft 365 calendars in step with a system of record, through Microsoft Graph.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=JsonUsageGroup,
)
app.add_typer(cert.app, name="cert")
app.add_typer(graphcmd.app, name="graph")
graphcal.register(graphcmd.app, graphcmd.calendars_app)
app.add_typer(authcmd.app, name="auth")
app.command("consent-url")(authcmd.consent_url)
app.add_typer(syncing.db_app, name="db")
app.command("sync")(syncing.sync)
app.command("plan")(syncing.plan)
app.command("status")(syncing.status)
app.command("purge")(syncing.purge)
app.command("release")(syncing.release)
app.command("offboard")(offboard.offboard)
app.command("demo")(demo.demo)
app.command("serve")(service.serve)
app.command("worker")(service.worker)
app.add_typer(apikeys.app, name="api-keys")
app.add_typer(admincmd.app, name="admin")
app.add_typer(channels.app, name="channels")
app.add_typer(keys.app, name="keys")


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        str | None, typer.Option("--config", "-c", envvar="CALSYNC_CONFIG", help="calsync.toml to read.")
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            help="debug, info, warning or error (default: log_level in calsync.toml / CALSYNC_LOG_LEVEL, "
            "else warning; info for serve and worker). Logs go to stderr, secrets redacted.",
            case_sensitive=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None, typer.Option("--log-format", help="text (default) or json (one object a line).")
    ] = None,
) -> None:
    """calsync: timetables and feeds into Outlook calendars."""
    ctx.obj = CliState(
        config,
        log_level.value if log_level else None,
        log_format.value if log_format else None,
    )
