"""iCalendar feeds into DesiredEvents: keys, fields, recurrence, zones, dates (SC-10, SC-11, BI-05, BI-06)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.domain import Window, content_hash
from calsync.domain.zones import windows_zone
from calsync.sources import PROBLEM_CODES, IcsOptions, SourceUnavailable, load_ics, parse_ics
from tests.calsync.sources.support import MAILBOX, WINDOW, calendar, vevent
from tests.work import calls_made

BERLIN = ZoneInfo("Europe/Berlin")
CAFE = calendar(vevent("e", "DTSTART:20260302T090000Z", "SUMMARY:Café"))


def parse(data: bytes, window: Window = WINDOW, **options: object):  # type: ignore[no-untyped-def]
    return parse_ics(data, mailbox=MAILBOX, window=window, options=IcsOptions(**options))  # type: ignore[arg-type]


def codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in result.problems]


def test_single_event_fields_map_to_desired_event() -> None:
    """SUMMARY, DESCRIPTION, LOCATION, CATEGORIES, CLASS, TRANSP, VALARM, X-CALSYNC-TEAMS map as told."""
    data = calendar(
        vevent(
            "lec-1@uni",
            "DTSTART;TZID=Europe/Berlin:20260302T090000",
            "DTEND;TZID=Europe/Berlin:20260302T103000",
            "SUMMARY:Algebra I",
            "DESCRIPTION:Bring the exercise sheet\\nRoom changed",
            "LOCATION:H 1.01",
            "CATEGORIES:Lecture,Maths",
            "CLASS:CONFIDENTIAL",
            "TRANSP:TRANSPARENT",
            "X-CALSYNC-TEAMS:TRUE",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "TRIGGER:-PT30M",
            "END:VALARM",
        )
    )
    result = parse(data)
    assert result.status == "ok"
    assert result.problems == []
    (event,) = result.events
    assert event.source_key == "ics:lec-1@uni"
    assert event.mailbox == MAILBOX
    assert event.subject == "Algebra I"
    assert event.body == "Bring the exercise sheet\nRoom changed"
    assert event.location == "H 1.01"
    assert event.categories == ("Lecture", "Maths")
    assert event.sensitivity == "confidential"
    assert event.show_as == "free"
    assert event.teams_meeting is True
    assert event.reminder_minutes == 30
    assert event.time_zone == "Europe/Berlin"
    assert event.start == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert event.end == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert event.all_day is False


def test_busy_status_and_defaults() -> None:
    """X-MICROSOFT-CDO-BUSYSTATUS wins over TRANSP; no VALARM means the configured default reminder."""
    data = calendar(
        vevent(
            "a",
            "DTSTART:20260302T090000Z",
            "DURATION:PT1H",
            "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
            "TRANSP:TRANSPARENT",
        ),
        vevent("b", "DTSTART:20260302T090000Z", "DURATION:PT1H", "CLASS:PRIVATE", "STATUS:TENTATIVE"),
    )
    events = {e.source_key: e for e in parse(data, default_reminder=15).events}
    assert events["ics:a"].show_as == "oof"
    assert events["ics:a"].reminder_minutes == 15
    assert events["ics:b"].show_as == "tentative"
    assert events["ics:b"].sensitivity == "private"
    assert parse(data).events[0].reminder_minutes is None


def test_weekly_series_in_berlin_keeps_nine_oclock_across_dst() -> None:
    """BI-06/SC-10: a weekly 09:00 Europe/Berlin series stays at 09:00 local across both DST changes."""
    data = calendar(
        vevent(
            "series@uni",
            "DTSTART;TZID=Europe/Berlin:20260302T090000",
            "DTEND;TZID=Europe/Berlin:20260302T100000",
            "RRULE:FREQ=WEEKLY;UNTIL=20261130T230000Z",
            "SUMMARY:Weekly",
        )
    )
    events = parse(data).events
    assert len(events) == 40
    for event in events:
        local = event.start.astimezone(BERLIN)
        assert (local.hour, local.minute) == (9, 0)
        assert event.end - event.start == timedelta(hours=1)
        assert event.time_zone == "Europe/Berlin"
    offsets = {e.start.astimezone(BERLIN).utcoffset() for e in events}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}
    assert events[0].source_key == "ics:series@uni/20260302T080000Z"
    assert "ics:series@uni/20260406T070000Z" in {e.source_key for e in events}


def test_overrides_exdate_and_cancelled_instance() -> None:
    """SC-10: RECURRENCE-ID replaces its instance (same key); EXDATE and a cancelled override remove one."""
    data = calendar(
        vevent(
            "s",
            "DTSTART;TZID=Europe/Berlin:20261005T090000",
            "DTEND;TZID=Europe/Berlin:20261005T100000",
            "RRULE:FREQ=WEEKLY;COUNT=6",
            "EXDATE;TZID=Europe/Berlin:20261012T090000",
            "SUMMARY:Seminar",
        ),
        vevent(
            "s",
            "RECURRENCE-ID;TZID=Europe/Berlin:20261019T090000",
            "DTSTART;TZID=Europe/Berlin:20261020T140000",
            "DTEND;TZID=Europe/Berlin:20261020T150000",
            "SUMMARY:Seminar (moved)",
            "LOCATION:Room B",
        ),
        vevent(
            "s",
            "RECURRENCE-ID;TZID=Europe/Berlin:20261102T090000",
            "DTSTART;TZID=Europe/Berlin:20261102T090000",
            "STATUS:CANCELLED",
        ),
    )
    result = parse(data)
    assert result.problems == []
    by_key = {e.source_key: e for e in result.events}
    assert sorted(by_key) == [
        "ics:s/20261005T070000Z",
        "ics:s/20261019T070000Z",
        "ics:s/20261026T080000Z",
        "ics:s/20261109T080000Z",
    ]
    moved = by_key["ics:s/20261019T070000Z"]
    assert moved.subject == "Seminar (moved)"
    assert moved.location == "Room B"
    assert moved.start == datetime(2026, 10, 20, 12, tzinfo=UTC)
    assert by_key["ics:s/20261026T080000Z"].start.astimezone(BERLIN).hour == 9


def test_removing_an_override_reverts_the_instance() -> None:
    """SC-10: without the override, the same key comes back with the master's content."""
    master = vevent("s", "DTSTART:20261005T090000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=3", "SUMMARY:M")
    override = vevent(
        "s", "RECURRENCE-ID:20261006T090000Z", "DTSTART:20261006T120000Z", "DURATION:PT1H", "SUMMARY:O"
    )
    with_override = {e.source_key: e for e in parse(calendar(master, override)).events}
    without = {e.source_key: e for e in parse(calendar(master)).events}
    assert with_override.keys() == without.keys()
    assert with_override["ics:s/20261006T090000Z"].subject == "O"
    assert without["ics:s/20261006T090000Z"].subject == "M"


def test_cancelled_master_removes_the_series() -> None:
    """STATUS:CANCELLED on a master produces no event and no problem."""
    data = calendar(vevent("s", "DTSTART:20261005T090000Z", "RRULE:FREQ=DAILY;COUNT=3", "STATUS:CANCELLED"))
    result = parse(data)
    assert result.events == []
    assert result.problems == []


def test_keys_and_hashes_are_stable_across_parses() -> None:
    """Parsing the same feed twice gives the same keys and content hashes (no flapping)."""
    data = calendar(
        vevent(
            "a",
            "DTSTART;TZID=Europe/Berlin:20260302T090000",
            "DURATION:PT90M",
            "RRULE:FREQ=WEEKLY;COUNT=10",
            "DTSTAMP:20260101T000000Z",
        ),
        vevent("b", "DTSTART;VALUE=DATE:20260310", "SUMMARY:Holiday"),
    )
    first = parse(data)
    second = parse(data.replace(b"DTSTAMP:20260101T000000Z", b"DTSTAMP:20270101T000000Z"))
    assert [e.source_key for e in first.events] == [e.source_key for e in second.events]
    assert [content_hash(e) for e in first.events] == [content_hash(e) for e in second.events]


def test_all_day_events_use_the_feed_zone() -> None:
    """All-day events run midnight to midnight in X-WR-TIMEZONE (or the default zone)."""
    event = vevent("d", "DTSTART;VALUE=DATE:20260310", "DTEND;VALUE=DATE:20260312")
    (with_xwr,) = parse(calendar(event, header=("X-WR-TIMEZONE:Europe/Berlin",))).events
    assert with_xwr.all_day
    assert with_xwr.time_zone == "Europe/Berlin"
    assert with_xwr.start == datetime(2026, 3, 9, 23, tzinfo=UTC)
    assert with_xwr.end == datetime(2026, 3, 11, 23, tzinfo=UTC)
    (default,) = parse(calendar(event)).events
    assert default.time_zone == "UTC"
    assert default.start == datetime(2026, 3, 10, tzinfo=UTC)
    (configured,) = parse(calendar(event), default_zone="America/New_York").events
    assert configured.start == datetime(2026, 3, 10, 4, tzinfo=UTC)  # EDT since March 8


def test_all_day_weekly_series_keys_are_dates() -> None:
    """Instances of an all-day series are keyed by their date."""
    data = calendar(
        vevent("w", "DTSTART;VALUE=DATE:20260302", "RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;VALUE=DATE:20260309")
    )
    assert [e.source_key for e in parse(data).events] == ["ics:w/20260302", "ics:w/20260316"]


def test_floating_times_use_x_wr_timezone_or_default() -> None:
    """Floating times are in X-WR-TIMEZONE when present, else in the configured default zone."""
    event = vevent("f", "DTSTART:20260302T090000", "DTEND:20260302T100000")
    (xwr,) = parse(calendar(event, header=("X-WR-TIMEZONE:Europe/Berlin",))).events
    assert xwr.start == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert xwr.time_zone == "Europe/Berlin"
    (default,) = parse(calendar(event)).events
    assert default.start == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert default.time_zone == "UTC"


def test_utc_series_with_x_wr_timezone_repeats_in_local_time() -> None:
    """Google's convention: a UTC DTSTART with X-WR-TIMEZONE repeats at the same local time across DST."""
    data = calendar(
        vevent("g", "DTSTART:20260316T080000Z", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4"),
        header=("X-WR-TIMEZONE:Europe/Berlin",),
    )
    events = parse(data).events
    assert {e.start.astimezone(BERLIN).hour for e in events} == {9}
    assert {e.time_zone for e in events} == {"Europe/Berlin"}


@pytest.mark.parametrize(
    ("tzid", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ('"(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"', "Europe/Amsterdam"),
        ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Amsterdam"),
        ('"(UTC-05:00) Eastern Time (US & Canada)"', "America/New_York"),
        ("/freeassociation.sourceforge.net/Tzfile/Europe/Berlin", "Europe/Berlin"),
    ],
)
def test_tzid_forms_map_to_zones_graph_accepts(tzid: str, expected: str) -> None:
    """BI-06: IANA, Windows, Outlook display names and vendor-prefixed TZIDs resolve without warnings."""
    data = calendar(vevent("t", f"DTSTART;TZID={tzid}:20260302T090000", "DURATION:PT1H"))
    result = parse(data)
    assert result.problems == [] or {p.code for p in result.problems} == {"ICS_PARSER_WARNING"}
    (event,) = result.events
    assert event.time_zone == expected
    windows_zone(event.time_zone)
    local = event.start.astimezone(ZoneInfo(expected))
    assert (local.hour, local.minute) == (9, 0)


def test_custom_vtimezone_is_matched_to_an_iana_zone() -> None:
    """BI-06: a custom TZID defined only by its VTIMEZONE is matched by its rules ("Customized Time Zone")."""
    vtimezone = "\r\n".join(
        [
            "BEGIN:VTIMEZONE",
            "TZID:Customized Time Zone",
            "BEGIN:STANDARD",
            "DTSTART:16010101T030000",
            "TZOFFSETFROM:+0200",
            "TZOFFSETTO:+0100",
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:16010101T020000",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0200",
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
        ]
    )
    data = calendar(
        vtimezone,
        vevent(
            "c",
            "DTSTART;TZID=Customized Time Zone:20260302T090000",
            "DURATION:PT1H",
            "RRULE:FREQ=WEEKLY;COUNT=6",
        ),
    )
    result = parse(data)
    assert result.problems == []
    assert {e.time_zone for e in result.events} == {"Europe/Berlin"}
    assert {e.start.astimezone(BERLIN).hour for e in result.events} == {9}


def test_custom_vtimezone_without_match_keeps_its_rules_and_labels_utc() -> None:
    """BI-06: a VTIMEZONE no real zone matches gives correct instants, labelled UTC, with a warning."""
    vtimezone = "\r\n".join(
        [
            "BEGIN:VTIMEZONE",
            "TZID:Odd",
            "BEGIN:STANDARD",
            "DTSTART:19700101T000000",
            "TZOFFSETFROM:+0517",
            "TZOFFSETTO:+0517",
            "END:STANDARD",
            "END:VTIMEZONE",
        ]
    )
    data = calendar(vtimezone, vevent("o", "DTSTART;TZID=Odd:20260302T090000", "DURATION:PT1H"))
    result = parse(data)
    (event,) = result.events
    assert event.time_zone == "UTC"
    assert event.start == datetime(2026, 3, 2, 3, 43, tzinfo=UTC)
    assert codes(result) == ["ICS_UNKNOWN_TZID"]


@pytest.mark.parametrize(
    "tzid", ["Mars/Olympus_Mons", "Zeitzone Müllheim", "../../etc/passwd", "(UTC+99:00) Nowhere"]
)
def test_unknown_tzid_falls_back_to_utc_with_warning(tzid: str) -> None:
    """BI-06: an unknown TZID without VTIMEZONE (issue_722) is taken as UTC with one warning."""
    data = calendar(
        vevent("u1", f'DTSTART;TZID="{tzid}":20260302T090000', "DURATION:PT1H"),
        vevent("u2", f'DTSTART;TZID="{tzid}":20260303T090000', "DURATION:PT1H"),
    )
    result = parse(data)
    assert [e.start for e in result.events] == [
        datetime(2026, 3, 2, 9, tzinfo=UTC),
        datetime(2026, 3, 3, 9, tzinfo=UTC),
    ]
    assert {e.time_zone for e in result.events} == {"UTC"}
    assert codes(result) == ["ICS_UNKNOWN_TZID"]
    assert all(p.severity == "warning" for p in result.problems)


def test_nonexistent_and_ambiguous_local_times() -> None:
    """BI-06: a wall time in the spring gap moves forward; one in the autumn fold takes the first offset."""
    data = calendar(
        vevent("gap", "DTSTART;TZID=Europe/Berlin:20260329T023000", "DURATION:PT30M"),
        vevent("fold", "DTSTART;TZID=Europe/Berlin:20261025T023000", "DURATION:PT30M"),
    )
    events = {e.source_key: e for e in parse(data).events}
    assert events["ics:gap"].start == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert events["ics:fold"].start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_bad_x_wr_timezone_is_ignored_with_warning() -> None:
    """An unknown X-WR-TIMEZONE is reported and the default zone is used (so its floating times are, too)."""
    data = calendar(
        vevent("x", "DTSTART:20260302T090000", "DURATION:PT1H"), header=("X-WR-TIMEZONE:Nowhere/Land",)
    )
    result = parse(data)
    assert codes(result) == ["ICS_BAD_XWR_TIMEZONE", "ICS_FLOATING_TIME"]
    assert result.events[0].start == datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_duplicate_uid_keeps_the_first_and_reports_the_second() -> None:
    """SC-11: two masters with one UID: the first is kept, the second is a reported conflict."""
    data = calendar(
        vevent("dup", "DTSTART:20260302T090000Z", "DURATION:PT1H", "SUMMARY:first"),
        vevent("dup", "DTSTART:20260303T090000Z", "DURATION:PT1H", "SUMMARY:second"),
        vevent("dup", "RECURRENCE-ID:20260310T090000Z", "DTSTART:20260310T090000Z", "SUMMARY:o1"),
        vevent("dup", "RECURRENCE-ID:20260310T090000Z", "DTSTART:20260310T100000Z", "SUMMARY:o2"),
    )
    result = parse(data)
    subjects = sorted(e.subject for e in result.events)
    assert subjects == ["first", "o1"]
    assert codes(result) == ["ICS_DUPLICATE_UID", "ICS_DUPLICATE_UID"]
    assert result.problems[0].location.startswith("line ")
    assert result.skipped("ics:dup")


def test_missing_uid_gets_a_derived_key_with_warning() -> None:
    """A VEVENT without UID is kept under a key derived from DTSTART and SUMMARY."""
    data = calendar(vevent(None, "DTSTART:20260302T090000Z", "SUMMARY:no uid"))
    first, second = parse(data), parse(data)
    assert codes(first) == ["ICS_MISSING_UID"]
    assert first.events[0].source_key.startswith("ics:nouid-")
    assert first.events[0].source_key == second.events[0].source_key


def test_long_uid_is_hashed_into_the_key() -> None:
    """A UID longer than 200 characters becomes a fixed-length hashed key."""
    data = calendar(vevent("x" * 500, "DTSTART:20260302T090000Z"))
    (event,) = parse(data).events
    assert event.source_key.startswith("ics:uid-sha256:")
    assert len(event.source_key) == 15 + 64


@pytest.mark.parametrize(
    ("lines", "code", "kept"),
    [
        (("DTSTART:00010101T090000Z",), "ICS_DATE_OUT_OF_RANGE", False),
        (("DTSTART:99991231T090000Z",), "ICS_DATE_OUT_OF_RANGE", False),
        (("DTSTART:20261301T090000Z",), "ICS_BAD_DTSTART", False),
        (("DTSTART:20260230T090000Z",), "ICS_BAD_DTSTART", False),
        (("DTSTART:20260302T235960Z",), "ICS_BAD_DTSTART", False),
        (("DTSTART:",), "ICS_BAD_DTSTART", False),
        (("SUMMARY:no start",), "ICS_BAD_DTSTART", False),
        (("DTSTART:20260302T090000Z", "DTEND:20260302T080000Z"), "ICS_BAD_DTEND", True),
        (("DTSTART:20260302T090000Z", "DURATION:-PT1H"), "ICS_BAD_DTEND", True),
        (("DTSTART:20260302T090000Z", "DTEND:21260302T090000Z"), "ICS_BAD_DURATION", False),
        (("DTSTART;VALUE=DATE:20260302", "DTEND:20260303T090000Z"), "ICS_DATE_MIX", True),
        (("DTSTART:20260302T090000Z", "DTEND;VALUE=DATE:20260303"), "ICS_DATE_MIX", True),
        (("DTSTART:20260302T090000Z", "DTEND:garbage"), "ICS_BAD_DTEND", True),
        (("DTSTART;VALUE=DATE:20260302", "DTEND;VALUE=DATE:20260301"), "ICS_BAD_DTEND", True),
    ],
)
def test_absurd_dates_are_normalised_or_rejected_with_a_code(
    lines: tuple[str, ...], code: str, kept: bool
) -> None:
    """BI-05: each absurd date is fixed by a documented rule (warning) or the event is skipped (error)."""
    data = calendar(vevent("bad", *lines), vevent("good", "DTSTART:20260302T090000Z", "DURATION:PT1H"))
    result = parse(data)
    assert code in codes(result)
    assert set(codes(result)) <= set(PROBLEM_CODES)
    keys = {e.source_key for e in result.events}
    assert "ics:good" in keys
    assert ("ics:bad" in keys) is kept
    if not kept:
        assert result.skipped("ics:bad")
    for event in result.events:
        assert event.end >= event.start
        if event.all_day:
            assert event.end - event.start >= timedelta(days=1)


def test_zero_length_event_at_window_start_is_inside() -> None:
    """The window rule is Window.contains: a zero-length event at the window start counts."""
    window = Window(datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    data = calendar(
        vevent("zero", "DTSTART:20260302T090000Z"),
        vevent("ends-at-start", "DTSTART:20260302T080000Z", "DTEND:20260302T090000Z"),
        vevent("at-end", "DTSTART:20260303T000000Z", "DURATION:PT1H"),
    )
    assert [e.source_key for e in parse(data, window=window).events] == ["ics:zero"]


def test_rdate_and_period_rdate() -> None:
    """RDATE adds instances, a PERIOD RDATE with its own length."""
    data = calendar(
        vevent(
            "r",
            "DTSTART:20260302T090000Z",
            "DURATION:PT1H",
            "RDATE:20260305T090000Z,20260306T090000Z",
            "RDATE;VALUE=PERIOD:20260310T120000Z/PT3H",
        )
    )
    events = parse(data).events
    assert [e.source_key for e in events] == [
        "ics:r/20260302T090000Z",
        "ics:r/20260305T090000Z",
        "ics:r/20260306T090000Z",
        "ics:r/20260310T120000Z",
    ]
    assert events[-1].end - events[-1].start == timedelta(hours=3)


def test_invalid_rrule_skips_only_that_event() -> None:
    """A broken RRULE is an error for its event; other events stay (BI-05, invariant 6)."""
    data = calendar(
        vevent("bad", "DTSTART:20260302T090000Z", "RRULE:FREQ=FORTNIGHTLY"),
        vevent("bad2", "DTSTART:20260302T090000Z", "RRULE:FREQ=DAILY;BYHOUR=99"),
        vevent("rscale", "DTSTART:20260302T090000Z", "RRULE:RSCALE=HEBREW;FREQ=YEARLY"),
        vevent("good", "DTSTART:20260302T090000Z"),
    )
    result = parse(data)
    assert [e.source_key for e in result.events] == ["ics:good"]
    assert {p.code for p in result.problems} <= {
        "ICS_RRULE_INVALID",
        "ICS_RRULE_UNSUPPORTED",
        "ICS_BAD_EVENT",
    }
    assert all(result.skipped(k) for k in ("ics:bad", "ics:bad2", "ics:rscale"))


def test_thisandfuture_is_applied_to_one_instance_with_warning() -> None:
    """RANGE=THISANDFUTURE is reported and applied to the named instance only."""
    data = calendar(
        vevent("s", "DTSTART:20260302T090000Z", "RRULE:FREQ=DAILY;COUNT=3", "SUMMARY:m"),
        vevent(
            "s", "RECURRENCE-ID;RANGE=THISANDFUTURE:20260303T090000Z", "DTSTART:20260303T100000Z", "SUMMARY:o"
        ),
    )
    result = parse(data)
    assert [e.subject for e in result.events] == ["m", "o", "m"]
    assert codes(result) == ["ICS_RANGE_IGNORED"]


def test_override_without_master_is_an_event_of_its_own() -> None:
    """A feed that only carries a changed instance still yields that instance under its key."""
    data = calendar(
        vevent("lonely", "RECURRENCE-ID:20260303T090000Z", "DTSTART:20260303T100000Z", "SUMMARY:x")
    )
    assert [e.source_key for e in parse(data).events] == ["ics:lonely/20260303T090000Z"]


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + CAFE,
        ("\ufeff" + CAFE.decode()).encode("utf-16-le"),
        CAFE.decode().encode("utf-16"),
        CAFE.replace(b"\r\n", b"\n"),
        CAFE.replace(b"\r\n", b"\r"),
        CAFE.replace("Café".encode(), b"Caf\xc3\r\n \xa9"),
    ],
    ids=["utf8-bom", "utf16le-bom", "utf16", "lf", "lone-cr", "fold-inside-utf8"],
)
def test_encodings_and_line_ends(data: bytes) -> None:
    """BI-08: BOM, UTF-16, LF, lone CR and a fold inside a UTF-8 sequence all decode to the same event."""
    result = parse(data)
    assert [e.subject for e in result.events] == ["Café"], result.problems
    assert result.problems == []


def test_latin1_feed_is_decoded_with_warning() -> None:
    """BI-08: a Windows-1252 feed is read with an ICS_ENCODING warning."""
    data = calendar(vevent("e", "DTSTART:20260302T090000Z", "SUMMARY:Café")).decode().encode("cp1252")
    result = parse(data)
    assert result.events[0].subject == "Café"
    assert codes(result) == ["ICS_ENCODING"]


def test_size_and_shape_limits_make_the_source_unavailable() -> None:
    """BI-03: too large, too many events, a too long line, too deep nesting: unavailable with a code."""
    cases = [
        (
            calendar(vevent("a", "DTSTART:20260302T090000Z", "DESCRIPTION:" + "x" * 2_000)),
            {"max_bytes": 1_000},
            "ICS_TOO_LARGE",
        ),
        (
            calendar(*[vevent(str(i), "DTSTART:20260302T090000Z") for i in range(11)]),
            {"max_events": 10},
            "ICS_TOO_MANY_EVENTS",
        ),
        (
            calendar(vevent("a", "DTSTART:20260302T090000Z", "DESCRIPTION:" + "x" * 1_100_000)),
            {},
            "ICS_LINE_TOO_LONG",
        ),
        (calendar("BEGIN:X-A\r\n" * 10_000 + "END:X-A\r\n" * 10_000), {}, "ICS_TOO_DEEP"),
        (b"\x00\x01 not a calendar", {}, "ICS_PARSE_ERROR"),
        (b"BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n", {}, "ICS_NOT_A_CALENDAR"),
        (b"", {}, "ICS_NOT_A_CALENDAR"),
    ]
    for data, options, code in cases:
        with pytest.raises(SourceUnavailable) as info:
            parse(data, **options)
        assert info.value.problem.code == code
        result = load_ics(data, mailbox=MAILBOX, window=WINDOW, options=IcsOptions(**options))  # type: ignore[arg-type]
        assert result.status == "unavailable"
        assert result.events == []


def test_messages_never_quote_feed_content() -> None:
    """Problem messages carry no raw feed text; locations are single short lines."""
    evil = "\u202eEVIL\r\nINJECTED"
    data = calendar(vevent(f"u{evil[:5]}", "DTSTART:EVIL-VALUE-<script>", f"SUMMARY:{evil[:5]}"))
    result = parse(data)
    for problem in result.problems:
        assert "EVIL-VALUE" not in problem.message
        assert "<script>" not in problem.message
        assert "\n" not in problem.location
        assert "\u202e" not in problem.location
        assert len(problem.location) <= 120


def test_a_feed_body_naming_a_local_file_is_not_read_from_disk(tmp_path: Path) -> None:
    """icalendar reads a path given as a one-line str; a feed body that is a path must stay text."""
    local = tmp_path / "secret.ics"
    local.write_bytes(calendar(vevent("secret", "DTSTART:20260302T090000Z", "SUMMARY:local file")))
    result = load_ics(str(local).encode(), mailbox=MAILBOX, window=WINDOW)
    assert result.status == "unavailable"
    assert result.events == []


def test_huge_and_many_tzids_stay_cheap() -> None:
    """Hostile TZIDs (very long, many distinct ones) are resolved cheaply, each warned about once: a
    200,000-character TZID costs what a short unknown one does, and twice the TZIDs cost twice the work
    (no TZID costs more for the ones seen before it). Timed by bench/parse_bench.py."""
    long_tzid = "/".join(["a"] * 100_000)

    def feed(long: str, distinct: int) -> bytes:
        events = [vevent(f"e{i}", f"DTSTART;TZID=Zone{i}:20260302T090000") for i in range(distinct)]
        return calendar(vevent("long", f"DTSTART;TZID={long}:20260302T090000"), *events)

    result, work = calls_made(lambda: parse(feed(long_tzid, 2_000)))
    assert len(result.events) == 2_001
    assert [p.code for p in result.problems] == ["ICS_UNKNOWN_TZID"] * 2_001
    _, half = calls_made(lambda: parse(feed(long_tzid, 1_000)))
    assert work <= 2.1 * half, f"{work} calls for 2,000 TZIDs, {half} for 1,000"
    _, long = calls_made(lambda: parse(feed(long_tzid, 10)))
    _, short = calls_made(lambda: parse(feed("Zone-long", 10)))
    assert long <= short + 1_000, f"the long TZID cost {long - short} calls more than a short one"


@pytest.mark.parametrize(
    "recurrence_id",
    [
        "RECURRENCE-ID;TZID=W. Europe Standard Time:20261210T000000",
        "RECURRENCE-ID;TZID=Tokyo Standard Time:20261210T000000",
        "RECURRENCE-ID;TZID=Pacific Standard Time:20261210T000000",
        "RECURRENCE-ID;VALUE=DATE:20261210",
    ],
)
def test_all_day_override_with_a_date_time_recurrence_id_replaces_its_day(recurrence_id: str) -> None:
    """Exchange/Outlook name an all-day instance by local midnight in the organiser's zone.

    East of UTC that midnight is the previous day in UTC; the override must still replace the 10 December
    instance (not create a second event beside the original).
    """
    data = calendar(
        vevent("w", "DTSTART;VALUE=DATE:20261203", "RRULE:FREQ=WEEKLY;COUNT=3", "SUMMARY:Lab"),
        vevent("w", recurrence_id, "DTSTART;VALUE=DATE:20261211", "SUMMARY:Lab (moved)"),
    )
    result = parse(data)
    by_key = {e.source_key: e for e in result.events}
    assert sorted(by_key) == ["ics:w/20261203", "ics:w/20261210", "ics:w/20261217"]
    moved = by_key["ics:w/20261210"]
    assert moved.subject == "Lab (moved)"
    assert moved.start == datetime(2026, 12, 11, tzinfo=UTC)
    assert result.problems == []


def test_all_day_override_with_a_utc_recurrence_id_uses_the_feed_zone() -> None:
    """A UTC RECURRENCE-ID on an all-day series names the date it falls on in X-WR-TIMEZONE."""
    data = calendar(
        vevent("w", "DTSTART;VALUE=DATE:20261203", "RRULE:FREQ=WEEKLY;COUNT=3", "SUMMARY:Lab"),
        vevent("w", "RECURRENCE-ID:20261209T230000Z", "DTSTART;VALUE=DATE:20261211", "SUMMARY:moved"),
        header=("X-WR-TIMEZONE:Europe/Berlin",),
    )
    keys = [(e.source_key, e.subject) for e in parse(data).events]
    assert keys == [("ics:w/20261203", "Lab"), ("ics:w/20261210", "moved"), ("ics:w/20261217", "Lab")]


@pytest.mark.parametrize("interval", ["0", "00", "-1", "x", "10001"])
def test_interval_below_one_or_unreadable_is_an_invalid_rule(interval: str) -> None:
    """docs/sources.md: INTERVAL < 1 is ICS_RRULE_INVALID (a rule that cannot be read), not a cap that hit."""
    data = calendar(vevent("i", "DTSTART:20260302T090000Z", f"RRULE:FREQ=DAILY;INTERVAL={interval}"))
    result = parse(data)
    assert result.events == []
    assert codes(result) == ["ICS_RRULE_INVALID"]


def test_floating_times_read_in_the_unconfigured_default_zone_are_warned_about_once() -> None:
    """Times with no zone at all (no TZID, no X-WR-TIMEZONE) are a guess: one ICS_FLOATING_TIME warning
    per feed names the setting that fixes it; events are still read (in UTC by default)."""
    data = calendar(
        vevent("a", "DTSTART:20260302T090000", "DTEND:20260302T100000"),
        vevent("b", "DTSTART:20260303T090000", "RRULE:FREQ=DAILY;COUNT=2", "EXDATE:20260304T090000"),
    )
    result = parse(data)
    assert [e.source_key for e in result.events] == ["ics:a", "ics:b/20260303T090000Z"]
    (problem,) = result.problems
    assert (problem.code, problem.severity, problem.key) == ("ICS_FLOATING_TIME", "warning", None)
    assert "default_time_zone" in problem.message
    assert "ICS_FLOATING_TIME" in PROBLEM_CODES


@pytest.mark.parametrize(
    ("lines", "header", "options"),
    [
        (("DTSTART;TZID=Europe/Berlin:20260302T090000",), (), {}),
        (("DTSTART:20260302T090000Z",), (), {}),
        (("DTSTART;VALUE=DATE:20260302",), (), {}),
        (("DTSTART:20260302T090000",), ("X-WR-TIMEZONE:Europe/Berlin",), {}),
        (("DTSTART:20260302T090000",), (), {"warn_floating": False}),
    ],
)
def test_zoned_times_or_a_configured_zone_raise_no_floating_warning(
    lines: tuple[str, ...], header: tuple[str, ...], options: dict[str, object]
) -> None:
    """A TZID, UTC, an all-day date, X-WR-TIMEZONE, or a zone the administrator chose: nothing to warn."""
    result = parse(calendar(vevent("a", *lines), header=header), **options)
    assert len(result.events) == 1
    assert result.problems == []
