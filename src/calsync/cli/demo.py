"""`calsync demo`: the main job end to end against an embedded emulator (see calsync.cli.demo_run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from calsync.cli.output import console, reported


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo keeps its files.")] = Path(
        ".calsync-demo"
    ),
    students: Annotated[int, typer.Option(min=10, max=2000, help="How many students the tenant has.")] = 200,
    staff: Annotated[int, typer.Option(min=1, max=200, help="How many lecturers.")] = 12,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then leave `calsync serve` running against the demo tenant.")
    ] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port for --serve (0: any).")] = 8400,
) -> None:
    """Sync a demo university's timetable into emulated Outlook calendars, change it, and sync again.

    With --serve, the service then keeps running against the demo tenant (a round every minute) and
    prints its URLs; Ctrl-C stops it."""
    from calsync.cli.demo_run import main  # graphemu is imported only for the demo

    with reported():
        main(directory, console, students=students, staff=staff, serve=port if serve else None)
