"""Identity platform routes (placeholder until implemented)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from graphemu.graph.router import Context


def build(ctx: Context) -> list[BaseRoute]:
    return []
