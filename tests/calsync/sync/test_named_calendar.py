"""NamedCalendar against graphemu in-process: the 409 ErrorFolderExists race, both ways.

Two runs look the mailbox up, find no calendar, and create it at about the same time: the one that
loses gets 409 and adopts the calendar only when it carries the profile's tag; a person's calendar made
in that moment is never adopted."""

from __future__ import annotations

import pytest

from calsync.adapters.calendars import NAME_TAKEN, CalendarSpec, NamedCalendar
from calsync.adapters.eventmap import Ownership
from calsync.graph import GraphClient
from calsync.sync.ports import TargetError
from graphemu import World
from tests.calsync.sync.conftest import ADELE

OWNER = Ownership("teaching")


async def test_a_409_for_a_calendar_of_ours_is_adopted(graph: GraphClient, world: World) -> None:
    ours, theirs = (NamedCalendar(graph, CalendarSpec("Timetable", "lightBlue"), OWNER) for _ in range(2))
    assert await ours.find(ADELE) is None
    assert await theirs.find(ADELE) is None
    made = await theirs.ensure(ADELE)  # the other process wins the race
    assert await ours.ensure(ADELE) == made  # 409, read again: tagged, so adopted
    owned = [c for c in world.calendars[world.find_user(ADELE).id].values() if c.name == "Timetable"]
    assert [(c.id, c.color, c.extended) for c in owned] == [
        (made, "lightBlue", {OWNER.calendar_tag_id: "teaching"})
    ]


async def test_a_409_for_a_persons_calendar_is_refused(graph: GraphClient, world: World) -> None:
    named = NamedCalendar(graph, CalendarSpec("Timetable"), OWNER)
    assert await named.find(ADELE) is None
    world.add_calendar(world.find_user(ADELE).id, "TIMETABLE")  # made by a person meanwhile
    with pytest.raises(TargetError) as caught:
        await named.ensure(ADELE)
    assert (caught.value.code, caught.value.permanent) == (NAME_TAKEN, True)


async def test_another_profiles_tag_does_not_make_a_calendar_ours(graph: GraphClient, world: World) -> None:
    """A calendar of the name tagged by another profile is not this profile's."""
    other = NamedCalendar(graph, CalendarSpec("Timetable"), Ownership("exams"))
    await other.ensure(ADELE)
    with pytest.raises(TargetError, match="that this profile did not create"):
        await NamedCalendar(graph, CalendarSpec("Timetable"), OWNER).find(ADELE)
