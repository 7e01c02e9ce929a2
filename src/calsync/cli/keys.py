"""`calsync keys`: the keys that seal people's token caches (docs/deploy.md, "Token keys").

`calsync keys generate` prints a new key (for CALSYNC_TOKEN_KEYS or a key file). `calsync keys rotate`
re-encrypts every sealed value under the first (primary) key; with `--new-key` it first puts a new key in
front of the key file (the old ones stay, so everything stays readable while it runs). Once it reports
nothing left under an old key, remove that key. A value no configured key opens is listed and left as it
is (exit 6): a key was removed too early, and deleting the value would lose a person's sign-in.
"""

from __future__ import annotations

from typing import Annotated

import typer

from calsync.cli.output import EXIT_PARTIAL, console, emit_json, err_console, reported
from calsync.cli.state import settings_from
from calsync.cli.syncing import JsonOpt

app = typer.Typer(help="The keys that seal people's token caches.", no_args_is_help=True)


@app.command("generate")
def generate() -> None:
    """Print a new random key (one line), e.g. for CALSYNC_TOKEN_KEYS or a key file."""
    from calsync.store.vault import generate_key

    typer.echo(generate_key())


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    new_key: Annotated[
        bool, typer.Option("--new-key", help="First add a new primary key in front of token_key_file.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-encrypt every stored token cache and push channel secret under the primary key; report counts."""
    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)
        from calsync import wiring
        from calsync.store.connections import ConnectionStore

        if new_key:
            _prepend_key(settings)
        vault = wiring.token_vault(settings)
        with wiring.open_store(settings) as store:
            rotated, current, failed = ConnectionStore(store.engine, vault).rotate()
        if as_json:
            emit_json({"rotated": rotated, "current": current, "unreadable": failed})
        else:
            console.print(
                f"Re-encrypted {rotated} sealed values under the primary key; {current} already were."
            )
            for key in failed:
                err_console.print(f"[red]{key[:12]}…[/]: no configured key opens it (left as it is)")
        if failed:
            raise typer.Exit(EXIT_PARTIAL)


def _prepend_key(settings: object) -> None:
    """Write token_key_file again with a new key first (atomically, mode 0600)."""
    import os
    from pathlib import Path

    from calsync import wiring
    from calsync.settings import Settings, SettingsError
    from calsync.store.vault import generate_key

    assert isinstance(settings, Settings)
    if settings.token_keys is not None:
        raise SettingsError(
            ["token_keys: --new-key writes token_key_file; with CALSYNC_TOKEN_KEYS, put a new key "
             "(calsync keys generate) first in the variable yourself, then run calsync keys rotate"],
            "settings",
        )  # fmt: skip
    path = settings.token_key_file or wiring.default_token_key_file(settings)
    if path is None:
        raise SettingsError(["token_key_file: required with PostgreSQL"], "settings")
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"{generate_key()}\n{old}")
    os.replace(temporary, path)
