"""A person's preferences applied to their snapshot: opted-out categories gone, reminders per category,
the footer appended, everything else as the source said (property-based)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.domain import DesiredEvent, SourceKey
from calsync.services.connsync import personal_snapshot
from calsync.sync.engine import SourceSnapshot

KINDS = ["Lecture", "Lab", "Tutorial", "Exam", "lecture"]
START = datetime(2030, 1, 1, 9, tzinfo=UTC)

events = st.lists(
    st.tuples(st.lists(st.sampled_from(KINDS), max_size=3, unique=True), st.sampled_from(["", "Room 1"])),
    max_size=12,
).map(
    lambda specs: tuple(
        DesiredEvent(
            "ada@x",
            SourceKey(f"k{n}"),
            f"E{n}",
            START + timedelta(hours=n),
            START + timedelta(hours=n, minutes=50),
            categories=tuple(kinds),
            body=body,
        )
        for n, (kinds, body) in enumerate(specs)
    )
)
prefs = st.fixed_dictionaries(
    {
        "opt_out": st.lists(st.sampled_from(KINDS), max_size=2, unique=True),
        "reminders": st.dictionaries(st.sampled_from(KINDS), st.integers(0, 40_320), max_size=3),
    }
)


@given(events=events, preferences=prefs, footer=st.sampled_from([None, "Kept in step. https://x/me"]))
def test_preferences_shape_the_snapshot(
    events: tuple[DesiredEvent, ...], preferences: dict[str, object], footer: str | None
) -> None:
    result = personal_snapshot(SourceSnapshot("ok", events), preferences, footer)
    out = {c.casefold() for c in preferences["opt_out"]}  # type: ignore[attr-defined]
    kept = [e for e in events if not out.intersection(c.casefold() for c in e.categories)]
    assert [e.source_key for e in result.events] == [e.source_key for e in kept]
    reminders = {k.casefold(): v for k, v in preferences["reminders"].items()}  # type: ignore[attr-defined]
    for before, after in zip(kept, result.events, strict=True):
        wanted = next((reminders[c.casefold()] for c in before.categories if c.casefold() in reminders), None)
        assert after.reminder_minutes == (before.reminder_minutes if wanted is None else wanted)
        assert (after.subject, after.start, after.end, after.categories) == (
            before.subject, before.start, before.end, before.categories)  # fmt: skip
        if footer is None:
            assert after.body == before.body
        else:
            assert after.body.endswith(footer)
            assert after.body.startswith(before.body)


def test_an_unavailable_source_is_left_alone() -> None:
    snapshot = SourceSnapshot("unavailable", error_code="SourceUnavailable")
    assert personal_snapshot(snapshot, {"opt_out": ["Lab"]}, "footer") is snapshot
