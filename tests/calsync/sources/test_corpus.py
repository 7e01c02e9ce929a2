"""icalendar's own test files and fuzzed input end in a documented outcome (BI-01, BI-02, BI-09)."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import random
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calsync.domain import Window
from calsync.domain.zones import windows_zone
from calsync.sources import PROBLEM_CODES, IcsOptions, SourceResult, load_ics
from tests.calsync.sources.support import MAILBOX, calendar, peak_rss_growth, vevent
from tests.work import calls_made

SMALL_BUDGET = IcsOptions(steps_per_event=100_000)  # bombs are covered elsewhere; keep examples fast
WIDE = Window(datetime(1990, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
CORPUS_CALLS = 4_000_000  # about 3x the whole corpus (test_corpus_files_end_in_a_documented_outcome)


def corpus() -> list[Path]:
    root = importlib.resources.files("icalendar")
    return sorted(Path(str(p)) for p in Path(str(root)).rglob("*.ics"))


def outcome(result: SourceResult) -> str:
    """imported / imported_with_warnings / rejected:<code>, the only outcomes BI-01 allows."""
    if result.status == "unavailable":
        return "rejected:" + result.problems[-1].code
    return "imported_with_warnings" if result.problems else "imported"


def check(result: SourceResult, window: Window = WIDE) -> None:
    """What every result must satisfy, whatever the input."""
    assert result.status in ("ok", "unavailable")
    assert {p.code for p in result.problems} <= set(PROBLEM_CODES)
    if result.status == "unavailable":
        assert result.events == []
        assert result.problems[-1].severity == "error"
    keys = [e.source_key for e in result.events]
    assert len(keys) == len(set(keys))
    for event in result.events:
        assert event.start.tzinfo is not None
        assert event.end >= event.start
        assert window.contains(event.start, event.end)
        windows_zone(event.time_zone)
        assert event.source_key.startswith("ics:")


def test_icalendar_floor() -> None:
    """BI-09: icalendar is at least 7.1.3 (GHSA-cv84-9p8j-fj68)."""
    version = tuple(int(x) for x in importlib.metadata.version("icalendar").split(".")[:3])
    assert version >= (7, 1, 3)


def test_corpus_files_end_in_a_documented_outcome() -> None:
    """BI-01: every .ics file shipped with icalendar is imported (with or without warnings) or rejected,
    at a bounded cost: 1.4 M calls for the whole corpus (icalendar 7, Python 3.11; the largest file, with
    40 years of a recurrence, 0.5 M). CORPUS_CALLS leaves room for library upgrades, not for a file that
    expands to its work budget (1.5 M steps an event) or a parse that grows faster than its input. BI-01's
    30 s is timed by bench/parse_bench.py."""
    files = corpus()
    assert len(files) >= 150
    outcomes: dict[str, str] = {}
    work = 0
    for path in files:
        data = path.read_bytes()
        result, calls = calls_made(partial(load_ics, data, mailbox=MAILBOX, window=WIDE))
        check(result)
        outcomes[path.name] = outcome(result)
        work += calls
    assert work < CORPUS_CALLS, f"{work} calls"
    kinds = {o.split(":")[0] for o in outcomes.values()}
    assert kinds == {"imported", "imported_with_warnings", "rejected"}
    assert outcomes["broken_dtstart.ics"] == "imported_with_warnings"
    assert outcomes["bom_calendar.ics"].startswith("imported")
    assert outcomes["issue_1081_invalid_rrule_freq.ics"] == "imported_with_warnings"


def test_corpus_timezones_all_map_to_graph_zones() -> None:
    """BI-06: across the corpus every event's zone is one Graph accepts (no TimeZoneNotSupportedException)."""
    zones: set[str] = set()
    for path in corpus():
        zones |= {e.time_zone for e in load_ics(path.read_bytes(), mailbox=MAILBOX, window=WIDE).events}
    assert zones
    for zone in zones:
        windows_zone(zone)


def _mutate(data: bytes, rng: random.Random, edits: int) -> bytes:
    buffer = bytearray(data)
    for _ in range(edits):
        op = rng.randrange(5)
        at = rng.randrange(len(buffer) + 1)
        if op == 0 and buffer:
            del buffer[at : at + rng.randrange(1, 20)]
        elif op == 1:
            buffer[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif op == 2 and buffer:
            chunk = bytes(buffer[rng.randrange(len(buffer)) :][: rng.randrange(1, 200)])
            buffer[at:at] = chunk
        elif op == 3:
            buffer[at:at] = rng.choice(
                [b"\r\n", b"\n ", b"BEGIN:VEVENT\r\n", b"END:VCALENDAR", b";TZID=", b":", b","]
            )
        else:
            buffer[at:at] = rng.choice(
                [
                    b"RRULE:FREQ=SECONDLY\r\n",
                    b"RRULE:FREQ=DAILY;INTERVAL=0\r\n",
                    b"RECURRENCE-ID:20260101T000000Z\r\n",
                    b"DTSTART:99991231T235959Z\r\n",
                ]
            )
    return bytes(buffer)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    """BI-02: random bytes give a result (status ok or unavailable), never an exception."""
    check(load_ics(data, mailbox=MAILBOX, window=WIDE))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=30))
def test_mutated_corpus_files_never_raise(seed: int, edits: int) -> None:
    """BI-02: mutations of corpus files give a result, never an exception."""
    files = corpus()
    rng = random.Random(seed)
    data = _mutate(files[seed % len(files)].read_bytes(), rng, edits)
    check(load_ics(data, mailbox=MAILBOX, window=WIDE))


LINES = st.sampled_from(
    [
        "DTSTART:20260302T090000Z",
        "DTSTART;VALUE=DATE:20260302",
        "DTSTART;TZID=Europe/Berlin:20260302T090000",
        "DTSTART;TZID=Nowhere:20260302T090000",
        "DTEND:20260302T080000Z",
        "DURATION:PT1H",
        "DURATION:-P1D",
        "RRULE:FREQ=WEEKLY;COUNT=5",
        "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
        "RRULE:FREQ=MONTHLY;BYDAY=-1FR",
        "EXDATE:20260309T090000Z",
        "RDATE;VALUE=PERIOD:20260310T120000Z/PT3H",
        "RECURRENCE-ID:20260309T090000Z",
        "STATUS:CANCELLED",
        "CLASS:PRIVATE",
        "TRANSP:TRANSPARENT",
        "SUMMARY:x",
        "CATEGORIES:a,b",
        "BEGIN:VALARM\r\nTRIGGER:-PT15M\r\nEND:VALARM",
        "BEGIN:VALARM\r\nTRIGGER;RELATED=END:P99W\r\nEND:VALARM",
        "X-CALSYNC-TEAMS:TRUE",
        "RRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO",
        "EXRULE:FREQ=DAILY",
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.lists(LINES, max_size=8)), max_size=6))
def test_grammar_based_feeds_never_raise(events: list[tuple[str, list[str]]]) -> None:
    """BI-02: feeds assembled from valid and hostile property lines give a consistent result."""
    data = calendar(*[vevent(uid, *lines) for uid, lines in events])
    check(load_ics(data, mailbox=MAILBOX, window=WIDE, options=SMALL_BUDGET))


def test_one_megabyte_parses_in_linear_work_and_bounded_memory() -> None:
    """BI-02: 1 MB of feed parses with peak RSS growth under 20x the input, and in work linear in its
    size: twice the events, twice the calls (nothing costs more for what came before it). BI-02's 2 s is
    timed by bench/parse_bench.py."""

    def feed(count: int) -> bytes:
        return calendar(
            *[
                vevent(
                    f"e{i}@uni",
                    f"DTSTART;TZID=Europe/Berlin:202603{i % 28 + 1:02d}T090000",
                    "DURATION:PT90M",
                    f"SUMMARY:Lecture {i}",
                    "LOCATION:H 1.01",
                    "DESCRIPTION:" + "d" * 200,
                )
                for i in range(count)
            ]
        )

    data = feed(2_700)
    assert 900_000 < len(data) < 1_200_000
    runs: list[tuple[SourceResult, int]] = []
    parse = partial(load_ics, data, mailbox=MAILBOX, window=WIDE)
    growth = peak_rss_growth(lambda: runs.append(calls_made(parse)))
    result, work = runs[0]
    assert result.status == "ok"
    assert len(result.events) == 2_700
    assert growth < 20 * len(data)
    half = feed(1_350)
    _, half_work = calls_made(partial(load_ics, half, mailbox=MAILBOX, window=WIDE))
    assert work <= 2.1 * half_work, f"{work} calls for 2,700 events, {half_work} for 1,350"
