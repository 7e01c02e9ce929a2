"""Domain values: normalisation, content hash, the window rule and Windows zone names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.domain import (
    DesiredEvent,
    SourceKey,
    UnknownTimeZone,
    Window,
    content_hash,
    normalise,
    windows_zone,
)

BERLIN = ZoneInfo("Europe/Berlin")


def event(**changes: object) -> DesiredEvent:
    base: dict[str, object] = {
        "mailbox": "adele@contoso.onmicrosoft.com",
        "source_key": SourceKey("ics:lecture-1"),
        "subject": "Algebra I",
        "start": datetime(2026, 10, 5, 9, tzinfo=BERLIN),
        "end": datetime(2026, 10, 5, 11, tzinfo=BERLIN),
        "time_zone": "Europe/Berlin",
    }
    base.update(changes)
    return DesiredEvent(**base)  # type: ignore[arg-type]


texts = st.text(max_size=300)


@given(subject=texts, location=texts, body=texts, categories=st.lists(texts, max_size=5))
def test_normalise_is_idempotent_and_keeps_the_hash(
    subject: str, location: str, body: str, categories: list[str]
) -> None:
    """normalise(normalise(e)) == normalise(e), and hashing a normalised copy gives the same hash."""
    e = event(subject=subject, location=location, body=body, categories=tuple(categories))
    once = normalise(e)
    assert normalise(once) == once
    assert content_hash(once) == content_hash(e)


def test_hash_ignores_line_endings_order_of_categories_and_offsets() -> None:
    """CRLF vs LF, category order and the same instant in another offset do not change the hash."""
    a = event(body="line 1\r\nline 2", categories=("b", "a"))
    b = event(body="line 1\nline 2", categories=("a", "b"), start=datetime(2026, 10, 5, 7, tzinfo=UTC),
              end=datetime(2026, 10, 5, 9, tzinfo=UTC))  # fmt: skip
    assert content_hash(a) == content_hash(b)


@pytest.mark.parametrize(
    "change",
    [{"subject": "Algebra II"}, {"location": "Room 2"}, {"end": datetime(2026, 10, 5, 12, tzinfo=BERLIN)},
     {"show_as": "free"}, {"reminder_minutes": None}, {"teams_meeting": True}, {"categories": ("x",)}],
)  # fmt: skip
def test_hash_changes_when_synced_content_changes(change: dict[str, object]) -> None:
    """Every synced field counts."""
    assert content_hash(event(**change)) != content_hash(event())


def test_invalid_values_are_refused() -> None:
    """Naive times, end before start and unknown enums raise ValueError naming the key."""
    with pytest.raises(ValueError, match="timezone-aware"):
        event(start=datetime(2026, 1, 1, 9))
    with pytest.raises(ValueError, match="end is before start"):
        event(end=datetime(2026, 10, 5, 8, tzinfo=BERLIN))
    with pytest.raises(ValueError, match="show_as"):
        event(show_as="maybe")


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@given(start=instants, minutes=st.integers(0, 3000))
def test_window_rule_is_overlap_with_half_open_bounds(start: datetime, minutes: int) -> None:
    """An event is inside when it overlaps [start, end); zero-length events when their instant is inside."""
    window = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC))
    end = start + timedelta(minutes=minutes)
    expected = (
        (window.start <= start < window.end) if minutes == 0 else (start < window.end and end > window.start)
    )
    assert window.contains(start, end) is expected


def test_window_edges() -> None:
    """Ending exactly at the window start is out; starting exactly at the window end is out."""
    window = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert not window.contains(datetime(2026, 2, 28, 23, tzinfo=UTC), window.start)
    assert not window.contains(window.end, window.end + timedelta(hours=1))
    assert window.contains(window.start, window.start + timedelta(hours=1))


def test_window_around_moves_by_whole_days() -> None:
    """Two runs on the same day get the same window."""
    a = Window.around(datetime(2026, 5, 1, 1, tzinfo=UTC))
    b = Window.around(datetime(2026, 5, 1, 23, 59, tzinfo=UTC))
    assert a == b


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Europe/Berlin", "W. Europe Standard Time"), ("Europe/London", "GMT Standard Time"),
     ("America/New_York", "Eastern Standard Time"), ("UTC", "UTC"), ("Etc/UTC", "UTC"),
     ("Europe/Kyiv", "FLE Standard Time"), ("W. Europe Standard Time", "W. Europe Standard Time")],
)  # fmt: skip
def test_windows_zone(name: str, expected: str) -> None:
    """IANA names map to the Windows names Graph accepts (CLDR)."""
    assert windows_zone(name) == expected


def test_unknown_zone() -> None:
    """A name nobody knows raises UnknownTimeZone with the name."""
    with pytest.raises(UnknownTimeZone) as info:
        windows_zone("Mars/Olympus_Mons")
    assert info.value.name == "Mars/Olympus_Mons"
