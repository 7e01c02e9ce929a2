"""`calsync admin bootstrap`: a one-time token for the first administrator's sign-in to the pages.

Before anyone has the calsync administrator app role (or the group), nobody can sign in to the
administration pages with Entra. This prints a token once; opened at `/admin/signin` ("Use a one-time
token"), it starts an administrator session and is used up. Only its SHA-256 is stored; it expires after
24 hours, and making a new one voids any unused earlier one. Each use is in the audit log.
"""

from __future__ import annotations

from typing import Annotated

import typer

from calsync.cli.output import console, emit_json, reported
from calsync.cli.state import settings_from

app = typer.Typer(help="Administration of the web pages.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command("bootstrap")
def bootstrap(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print a one-time administrator sign-in token for the pages (valid 24 hours)."""
    import asyncio

    from calsync import services
    from calsync.services import admin

    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)

        async def make() -> str:
            async with services.open_deployment(settings) as deployment:
                return admin.new_bootstrap_token(deployment)

        token = asyncio.run(make())
        where = (
            settings.public_url or f"http://{settings.listen_host}:{settings.listen_port}"
        ) + "/admin/signin"
        if as_json:
            emit_json({"token": token, "signInUrl": where, "expiresInHours": admin.BOOTSTRAP_HOURS})
            return
        console.print(f"One-time administrator token (valid {admin.BOOTSTRAP_HOURS} hours, shown only now):")
        console.print(token, markup=False, highlight=False)
        console.print(f"Open {where}, choose 'Use a one-time token' and paste it.", markup=False)
