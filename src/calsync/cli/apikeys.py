"""`calsync api-keys create|list|revoke`: the REST API's keys (docs/api.md).

A key is printed once, when it is made, and never again (only its hash is stored): the command says so,
and with --json the key is a field of the one object printed, for scripts that store it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from calsync.cli.output import console, emit_json, reported
from calsync.cli.state import settings_from
from calsync.cli.syncing import JsonOpt

if TYPE_CHECKING:
    from calsync.services.api_keys import ApiKeys
    from calsync.store.apikeys import ApiKeyRecord

app = typer.Typer(help="API keys of the REST API (/v1): create, list, revoke.", no_args_is_help=True)


_registered: list[bool] = []


def _register_errors() -> None:
    """A key that cannot be made or revoked as asked is a usage error, said plainly (exit 2)."""
    if _registered:
        return
    from rich.markup import escape

    from calsync.cli.output import EXIT_USAGE, renders
    from calsync.services.api_keys import ApiKeyError

    renders(ApiKeyError)(lambda exc: (escape(str(exc)), EXIT_USAGE))
    _registered.append(True)


def _with_keys(ctx: typer.Context, use: typer.models.CommandFunctionType) -> object:
    """Open the deployment's store (migrated) and call `use(keys)` with its key service."""
    _register_errors()
    from calsync import wiring
    from calsync.services.api_keys import ApiKeys
    from calsync.store.apikeys import ApiKeyStore

    settings = settings_from(ctx.obj)
    with wiring.open_store(settings) as store:
        keys: ApiKeys = ApiKeys(ApiKeyStore(store.engine))
        return use(keys)


def _json(record: ApiKeyRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "scopes": list(record.scopes),
        "created": record.created.isoformat(),
        "last_used": record.last_used.isoformat() if record.last_used else None,
        "revoked": record.revoked.isoformat() if record.revoked else None,
    }


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. the application using it.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help="read, write or admin; repeat it for several (default: read and write).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an API key and print it (once: it cannot be shown again)."""

    with reported(as_json=as_json):
        made = _with_keys(ctx, lambda keys: keys.create(name, scope or ("read", "write")))
        from calsync.services.api_keys import NewKey

        assert isinstance(made, NewKey)
        if as_json:
            emit_json({**_json(made.record), "key": made.key})
            return
        console.print(f"API key {made.record.id} ({', '.join(made.record.scopes)}) for {made.record.name}:")
        console.print(made.key, markup=False, highlight=False, soft_wrap=True)
        console.print("Store it now: it is not shown again (only its hash is kept).")


@app.command("list")
def list_keys(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The keys: id, name, scopes, when made, last used and revoked (never the key)."""
    with reported(as_json=as_json):
        records = _with_keys(ctx, lambda keys: keys.list())
        assert isinstance(records, list)
        if as_json:
            emit_json([_json(r) for r in records])
            return
        if not records:
            console.print("No API keys (make one: calsync api-keys create NAME).")
        for r in records:
            state = f"revoked {r.revoked:%Y-%m-%d %H:%M}" if r.revoked else "active"
            used = f"last used {r.last_used:%Y-%m-%d %H:%M}" if r.last_used else "never used"
            console.print(f"{r.id}  {r.name}  [{', '.join(r.scopes)}]  {state}, {used}", markup=False)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (or its prefix csk_<id>), from `list`.")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: it is refused from the next request on."""

    with reported(as_json=as_json):
        record = _with_keys(ctx, lambda keys: keys.revoke(key_id))
        if as_json:
            emit_json(_json(record))  # type: ignore[arg-type]
            return
        console.print(f"API key {key_id} revoked.")
