"""Calendars of the unified API: Graph's calendar resource in Cronofy's words (service-facts §1.1).

- `calendar_readonly` is `not canEdit` (a holiday calendar, a calendar shared read-only);
- `calendar_primary` is `isDefaultCalendar`;
- `calendar_integrated_conferencing_available` is whether `allowedOnlineMeetingProviders` holds
  "teamsForBusiness" (the only provider calsync asks for);
- `calendar_deleted` is always false: Graph does not list deleted calendars;
- `permission_level` is "sandbox" for every calendar: through this API, calsync changes only the events
  it created itself (Cronofy's "unrestricted" would mean it may change anyone's events, which it never does).

A mailbox's calendars are kept `ttl` seconds (`CalendarBook`), so a burst of upserts into one calendar costs
one Graph read, not one per request, for the read-only and Teams checks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from calsync.graph import GraphClient
from calsync.graph.odata import user_path
from calsync.services.unified_ids import calendar_id, profile_id

TEAMS = "teamsForBusiness"
_SELECT = "id,name,canEdit,isDefaultCalendar,allowedOnlineMeetingProviders,defaultOnlineMeetingProvider,owner"


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    mailbox: str
    graph_id: str
    name: str
    can_edit: bool
    primary: bool
    teams: bool

    @property
    def calendar_id(self) -> str:
        return calendar_id(self.mailbox, self.graph_id)

    def as_api(self, provider_name: str, profile_name: str) -> dict[str, object]:
        return {
            "provider_name": provider_name,
            "profile_id": profile_id(self.mailbox),
            "profile_name": profile_name,
            "calendar_id": self.calendar_id,
            "calendar_name": self.name,
            "calendar_readonly": not self.can_edit,
            "calendar_deleted": False,
            "calendar_primary": self.primary,
            "calendar_integrated_conferencing_available": self.teams,
            "calendar_attachments_available": False,
            "permission_level": "sandbox",
        }


def _info(mailbox: str, item: dict[str, Any]) -> CalendarInfo:
    providers = item.get("allowedOnlineMeetingProviders") or []
    return CalendarInfo(
        mailbox=mailbox,
        graph_id=str(item["id"]),
        name=str(item.get("name") or ""),
        can_edit=bool(item.get("canEdit", True)),
        primary=bool(item.get("isDefaultCalendar", False)),
        teams=TEAMS in providers,
    )


@dataclass
class CalendarBook:
    """Each mailbox's calendars as Graph listed them, for `ttl` seconds."""

    ttl: float = 60.0
    _seen: dict[str, tuple[float, list[CalendarInfo]]] = field(default_factory=dict, repr=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)

    async def calendars(
        self, client: GraphClient, mailbox: str, *, fresh: bool = False
    ) -> list[CalendarInfo]:
        key = mailbox.lower()
        async with self._locks.setdefault(key, asyncio.Lock()):
            seen = self._seen.get(key)
            if fresh or seen is None or time.monotonic() - seen[0] > self.ttl:
                items = [
                    _info(mailbox, item)
                    async for item in client.paginate(
                        f"{user_path(mailbox)}/calendars", params={"$select": _SELECT}
                    )
                ]
                seen = (time.monotonic(), items)
                self._seen[key] = seen
            return list(seen[1])

    async def find(self, client: GraphClient, mailbox: str, graph_id: str) -> CalendarInfo | None:
        """The calendar, re-reading the mailbox once when it is not (or no longer) in the cached list."""
        for fresh in (False, True):
            for info in await self.calendars(client, mailbox, fresh=fresh):
                if info.graph_id == graph_id:
                    return info
        return None
