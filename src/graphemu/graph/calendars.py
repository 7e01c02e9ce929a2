"""Graph routes (placeholder until implemented)."""

from __future__ import annotations

from graphemu.graph.router import Router

router = Router()
