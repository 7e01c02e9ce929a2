"""The `calsync` command. Sub-commands live in their own modules; this file only assembles them."""

from __future__ import annotations

import typer

from calsync.cli import cert

app = typer.Typer(
    name="calsync",
    help="Keep Microsoft 365 calendars in step with a system of record, through Microsoft Graph.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cert.app, name="cert")


@app.callback()
def main() -> None:
    """calsync: timetables and feeds into Outlook calendars."""
