"""`calsync channels list|delete|deliveries`: push channels for operators (docs/push.md).

API clients manage their own channels through `/v1/channels`; operators see every channel here, whose
key made it, whether it is active or why it was disabled, and the latest deliveries. Callback URLs are
shown redacted (Cronofy suggests a token in the URL; it is a secret), secrets never.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer

from calsync.cli.output import console, emit_json, reported
from calsync.cli.state import settings_from
from calsync.cli.syncing import JsonOpt

if TYPE_CHECKING:
    from calsync.services import Deployment
    from calsync.store.sqlpush import ChannelRecord, OutboxRecord

app = typer.Typer(
    help="Push notification channels (/v1/channels): list, delete, deliveries.", no_args_is_help=True
)


def _run(ctx: typer.Context, use: Any) -> Any:
    """Open the deployment and run `await use(deployment)`."""
    from calsync import services

    settings = settings_from(ctx.obj)

    async def main() -> Any:
        async with services.open_deployment(settings) as deployment:
            return await use(deployment)

    return asyncio.run(main())


def _channel_json(c: ChannelRecord) -> dict[str, object]:
    from calsync.sources.urls import redact_url

    return {
        "channel_id": c.id,
        "owner": c.owner,
        "callback_url": redact_url(c.callback_url),
        "filters": c.filters,
        "cronofy_signature": c.cronofy_signature,
        "status": c.status,
        "disabled_reason": c.disabled_reason,
        "created": c.created.isoformat(),
    }


def _delivery_json(d: OutboxRecord) -> dict[str, object]:
    return {
        "id": d.id,
        "channel_id": d.channel_id,
        "type": d.event_type,
        "webhook_id": d.webhook_id,
        "state": d.state,
        "attempts": d.attempts,
        "created": d.created.isoformat(),
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
    }


@app.command("list")
def list_channels(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every channel: id, owning API key, redacted callback URL, status (never the secret)."""

    async def use(deployment: Deployment) -> list[ChannelRecord]:
        from calsync.services import push

        return list(await push.list_channels(deployment))

    with reported(as_json=as_json):
        records: list[ChannelRecord] = _run(ctx, use)
        shown = [_channel_json(c) for c in records]
        if as_json:
            emit_json(shown)
            return
        if not shown:
            console.print("No push channels (API clients make them with POST /v1/channels).")
        for c in shown:
            why = f" ({c['disabled_reason']})" if c["disabled_reason"] else ""
            console.print(
                f"{c['channel_id']}  key {c['owner']}  {c['callback_url']}  {c['status']}{why}", markup=False
            )


@app.command("delete")
def delete(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(help="The channel's id (chn_...), from `list`.")],
    as_json: JsonOpt = False,
) -> None:
    """Delete a channel and its pending notifications: nothing more is sent to it."""

    async def use(deployment: Deployment) -> None:
        from calsync.services import push

        await push.delete_channel(deployment, channel_id)

    with reported(as_json=as_json):
        _run(ctx, use)
        if as_json:
            emit_json({"channel_id": channel_id, "deleted": True})
            return
        console.print(f"Channel {channel_id} deleted.", markup=False)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    channel_id: Annotated[str | None, typer.Option("--channel", help="Only this channel's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The latest notifications and where their delivery stands (delivered, pending, dead)."""

    async def use(deployment: Deployment) -> list[OutboxRecord]:
        from calsync.services import push
        from calsync.sync.engine import off_loop

        return await off_loop(push.push_store(deployment).deliveries, channel_id, limit=limit)

    with reported(as_json=as_json):
        rows: list[OutboxRecord] = _run(ctx, use)
        if as_json:
            emit_json([_delivery_json(d) for d in rows])
            return
        if not rows:
            console.print("No notifications.")
        for d in rows:
            last = f", last {d.last_status or d.last_error}" if d.last_error or d.last_status else ""
            console.print(
                f"{d.created:%Y-%m-%d %H:%M:%S}  {d.channel_id}  {d.event_type}  {d.state} after "
                f"{d.attempts} attempt(s){last}",
                markup=False,
            )
