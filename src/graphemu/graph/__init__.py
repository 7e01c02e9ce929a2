"""Graph v1.0 routes. Each module owns one resource family and exposes a `router`."""

from __future__ import annotations

from graphemu.graph import calendars, calendarview, directory, events, meetingtimes, schedule, subscriptions
from graphemu.graph.router import Router


def build_router() -> Router:
    """All Graph routes. calendarView routes come before events' `{id}` routes where patterns overlap."""
    router = Router()
    for module in (calendarview, calendars, events, directory, subscriptions, schedule, meetingtimes):
        router.include(module.router)
    return router
