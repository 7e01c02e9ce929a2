"""graphemu: an offline emulator of Microsoft Graph calendars and the Microsoft identity platform.

Public entry points:

- `graphemu.World`: the emulated state (tenants, apps, users, groups, calendars, events).
- `graphemu.create_app(world, config)`: one ASGI app serving both the identity platform and Graph.
- `graphemu.load_seed(path)`: build a World from a documented seed file (see docs/graphemu.md).

graphemu is built from Microsoft's documentation (the shared graph-facts.md fact sheet), never from
calsync's client code, and it never imports calsync: it is the ground truth calsync is tested against.
"""

from __future__ import annotations

from graphemu.app import create_app
from graphemu.config import EmulatorConfig
from graphemu.seed import load_seed, world_from_seed
from graphemu.world import World

__all__ = ["EmulatorConfig", "World", "create_app", "load_seed", "world_from_seed"]
