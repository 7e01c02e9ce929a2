"""Graph routes for subscriptions (placeholder until implemented)."""

from __future__ import annotations

from graphemu.graph.router import Context, Router

router = Router()


def install(ctx: Context) -> None:
    """Hook the notifier into the world's change listeners (placeholder)."""
