"""What counts as a person's edit of one occurrence (calsync.adapters.occurrence_edits.edited), and which
masters are worth a read at all (calsync.sync.occurrences.suspects): pure functions, real inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from calsync.adapters.eventmap import occurrence_body
from calsync.adapters.occurrence_edits import edited
from calsync.domain import DesiredEvent, SourceKey, content_hash
from calsync.domain.series import SeriesSpec, canonical_pattern
from calsync.sync.occurrences import mark_edited, suspects
from calsync.sync.ports import Mapping, ObservedEvent

FIRST = datetime(2026, 10, 6, 8, 15, tzinfo=UTC)
WEEK = timedelta(days=7)
PATTERN = canonical_pattern(
    {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
        "range": {"type": "numbered", "startDate": "2026-10-06", "numberOfOccurrences": 10},
    }
)


def seminar(overrides: tuple[tuple[datetime, DesiredEvent], ...] = ()) -> DesiredEvent:
    spec = SeriesSpec(PATTERN, overrides=overrides)
    return DesiredEvent(
        "adele@x", SourceKey("ics:seminar/series"), "Seminar", FIRST, FIRST + timedelta(hours=1, minutes=30),
        time_zone="Europe/Berlin", location="HS 1", series=spec,
    )  # fmt: skip


def occurrence(master: DesiredEvent, original: datetime, **changes: Any) -> DesiredEvent:
    moved = replace(master, start=original, end=original + (master.end - master.start), series=None)
    return replace(moved, **changes)


def exception(event: DesiredEvent, original: datetime) -> dict[str, Any]:
    """An exception as Graph lists it among the instances: the visible fields as calsync writes them."""
    return {**occurrence_body(event), "type": "exception", "originalStart": original.isoformat()}


def test_an_exception_that_looks_like_its_occurrence_is_not_an_edit() -> None:
    master = seminar()
    original = FIRST + 3 * WEEK
    same = exception(occurrence(master, original), original)
    plain = {**same, "type": "occurrence"}
    assert not edited(master, [same, plain])


@given(
    index=st.integers(0, 9),
    change=st.sampled_from(
        [{"subject": "Moved online"}, {"location": "Zoom"}, {"show_as": "free"}, {"reminder_minutes": None}]
    ),
    shift=st.sampled_from([0, 30, -60]),
)
def test_a_visible_change_of_one_occurrence_is_an_edit(
    index: int, change: dict[str, Any], shift: int
) -> None:
    master = seminar()
    original = FIRST + index * WEEK
    changed = occurrence(master, original, **change)
    changed = replace(changed, start=changed.start + timedelta(minutes=shift))
    assert edited(master, [exception(changed, original)])


def test_the_sources_own_override_is_compared_with_what_calsync_wrote() -> None:
    original = FIRST + 4 * WEEK
    talk = occurrence(seminar(), original, subject="Guest talk", location="Aula")
    master = seminar(overrides=((original, talk),))
    assert not edited(master, [exception(talk, original)])
    assert edited(master, [exception(replace(talk, subject="Guest talk (cancelled?)"), original)])
    assert edited(seminar(), [exception(talk, original)])  # the source dropped it: a stray exception


def observed(master: DesiredEvent, change_key: str, **changes: Any) -> ObservedEvent:
    base = ObservedEvent("m1", master.source_key, change_key, content_hash(master), master.start, master.end)
    return replace(base, **changes)


def test_only_masters_whose_change_key_moved_are_read() -> None:
    master = seminar()
    mapped = {master.source_key: Mapping("adele@x", master.source_key, "synced", "tx", 0, "m1", "k1", "h")}
    assert suspects([master], [observed(master, "k1")], mapped) == []  # steady state: no read
    moved = observed(master, "k2")
    assert suspects([master], [moved], mapped) == [(moved, master)]
    assert suspects([master], [moved], {}) == [(moved, master)]  # adopted after a lost database
    assert suspects([master], [observed(master, "k2", user_modified=True)], mapped) == []  # seen anyway
    assert suspects([master], [observed(master, "k2", content_hash="other")], mapped) == []  # rewritten
    single = replace(master, series=None)
    assert suspects([single], [observed(single, "k2")], mapped) == []
    assert mark_edited([moved], {"m1"}) == [replace(moved, user_modified=True)]
