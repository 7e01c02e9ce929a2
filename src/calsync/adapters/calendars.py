"""A profile's own calendar in each mailbox (`calendar_name`, docs/profiles.md): found, created, removed.

calsync creates the calendar with a tag, a named extended property in its own namespace that is the
profile's (`Ownership.calendar_tag_id`, holding the profile's name), and recognises it by that tag only:

- the calendar is looked up by listing the mailbox's calendars with the tag expanded, once per run
  (`find`, from the target's listing). No state-store row keeps its id: a lost database, a calendar
  deleted or renamed in Outlook, or a second process need nothing but that one GET, which is small next
  to the event listing each run makes anyway; an id cached across runs would still need this lookup as
  its fallback, plus a schema migration. The id is kept in memory only between a run's read and its
  writes (a bounded map, so a long-running service does not grow with the number of mailboxes).
- a calendar of the configured name without the tag is a person's (or another tool's): calsync never
  writes to it and the mailbox's run fails with `calendar_name_taken`, before anything is written. The
  same holds when the create is answered 409 ErrorFolderExists: the calendar is adopted only when, read
  again, it carries the tag (another process of the same profile made it a moment earlier).
- the calendar is created on the first write, not on a read, so `calsync plan` changes nothing. Name and
  colour are set then; afterwards they are the person's (a renamed or recoloured calendar is still the
  profile's, found by its tag).
- `remove` (purge with `purge_removes_calendar`) deletes only a tagged calendar, and only when no event
  is left in it: an event a person put there is never deleted with it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from calsync.adapters.eventmap import Ownership
from calsync.graph import Conflict, GraphClient, GraphClientError
from calsync.graph.odata import segment, user_path
from calsync.sync.ports import TargetError

KEPT_IDS = 4096  # mailboxes whose calendar id is kept between a run's read and its writes
NAME_TAKEN = "calendar_name_taken"
Removal = Literal["removed", "absent", "kept_not_empty"]


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """The calendar a profile writes to: its name, and the colour it is created with (None: Outlook's)."""

    name: str
    color: str | None = None


class NameTaken(TargetError):
    """The mailbox has a calendar of the configured name that calsync did not create."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the mailbox already has a calendar named {name!r} that this profile did not create (a "
            "person's, or another profile's); calsync does not write to it (rename that calendar, or set "
            "another calendar_name)",
            code=NAME_TAKEN,
            permanent=True,
        )


class NamedCalendar:
    """The profile's calendar named `spec.name` in each mailbox, recognised by the profile's tag."""

    def __init__(self, client: GraphClient, spec: CalendarSpec, owner: Ownership) -> None:
        self.client = client
        self.spec = spec
        self.owner = owner
        self._ids: OrderedDict[str, str | None] = OrderedDict()  # mailbox -> id; None: it has none

    async def find(self, mailbox: str) -> str | None:
        """The id of the profile's calendar in the mailbox, or None when it has none yet (one GET).

        Raises:
            NameTaken: no calendar carries the tag, and one of the configured name does not have it.
            TargetError: the calendars could not be read.
        """
        try:
            calendars = [
                c
                async for c in self.client.list_calendars(
                    mailbox, expand_extended=[self.owner.calendar_tag_id]
                )
            ]
        except GraphClientError as exc:
            raise TargetError(
                f"the mailbox's calendars could not be read: {exc}", code="unavailable"
            ) from exc
        own = [c for c in calendars if self._tagged(c)]
        if own:  # the one of the configured name first, should a person have copied the tag somehow
            own.sort(key=lambda c: (str(c.get("name", "")).casefold() != self.spec.name.casefold(), c["id"]))
            self._keep(mailbox, str(own[0]["id"]))
            return str(own[0]["id"])
        self._ids.pop(mailbox, None)
        if any(str(c.get("name", "")).casefold() == self.spec.name.casefold() for c in calendars):
            raise NameTaken(self.spec.name)
        self._keep(mailbox, None)
        return None

    def known(self, mailbox: str) -> str | None:
        """The id `find` or `ensure` last saw for the mailbox (no request)."""
        return self._ids.get(mailbox)

    async def ensure(self, mailbox: str) -> str:
        """The id of the profile's calendar, created (tagged, with its colour) when the mailbox has none.

        Raises:
            NameTaken: the name belongs to a calendar calsync did not create (also after a 409).
            TargetError: the calendar could not be read or created.
        """
        # the run's read has just looked: a mailbox it saw without the calendar goes straight to the create
        found = self._ids[mailbox] if mailbox in self._ids else await self.find(mailbox)
        if found is not None:
            return found
        body: dict[str, Any] = {
            "singleValueExtendedProperties": [{"id": self.owner.calendar_tag_id, "value": self.owner.profile}]
        }
        if self.spec.color is not None:
            body["color"] = self.spec.color
        try:
            created = await self.client.create_calendar(mailbox, self.spec.name, **body)
        except Conflict:  # ErrorFolderExists: made since `find`, by another run of ours or by a person
            again = await self.find(mailbox)
            if again is None:
                raise NameTaken(self.spec.name) from None
            return again
        except GraphClientError as exc:
            raise TargetError(f"the calendar could not be created: {exc}", code="unavailable") from exc
        self._keep(mailbox, str(created["id"]))
        return str(created["id"])

    async def remove(self, mailbox: str) -> Removal:
        """Delete the profile's calendar if it holds no event any more (after a purge of its events)."""
        found = await self.find(mailbox)
        if found is None:
            return "absent"
        path = f"{user_path(mailbox)}/calendars/{segment(found)}/events"
        page = await self.client.request_json("GET", path, params={"$top": "1", "$select": "id"})
        if page.get("value"):
            return "kept_not_empty"
        await self.client.delete_calendar(mailbox, found)
        self._ids.pop(mailbox, None)
        return "removed"

    def _tagged(self, calendar: dict[str, Any]) -> bool:
        props = calendar.get("singleValueExtendedProperties") or []
        return any(p.get("id") == self.owner.calendar_tag_id and p.get("value") for p in props)

    def _keep(self, mailbox: str, calendar_id: str | None) -> None:
        self._ids[mailbox] = calendar_id
        self._ids.move_to_end(mailbox)
        while len(self._ids) > KEPT_IDS:
            self._ids.popitem(last=False)
