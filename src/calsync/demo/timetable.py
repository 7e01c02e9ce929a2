"""A realistic semester timetable for the demo, published as one iCalendar feed per student.

Deterministic for a seed: courses meet weekly (a lecture and sometimes a tutorial) from early September
to mid-December in Europe/Berlin, across the end of daylight-saving time, so the same 09:15 lecture is
07:15 UTC in September and 08:15 UTC in November. Timetabling systems publish exactly this: a recurring
VEVENT per course with EXDATEs for holidays, RECURRENCE-ID overrides for moved sessions and cancelled
instances (STATUS:CANCELLED). `change_term()` applies the mid-term edits the demo's second run shows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/Berlin")
SUBJECTS = [
    "Linear Algebra", "Analysis I", "Programming 1", "Databases", "Operating Systems", "Statistics",
    "Microeconomics", "Organic Chemistry", "Cell Biology", "Modern History", "Academic Writing",
    "Discrete Mathematics", "Computer Networks", "Thermodynamics", "Philosophy of Science", "Data Ethics",
]  # fmt: skip
ROOMS = ["HS 1", "HS 2", "A 1.04", "B 2.17", "C 0.11", "Audimax", "Lab 3", "Seminar room 5"]
SLOTS = [time(8, 15), time(10, 15), time(12, 15), time(14, 15), time(16, 15)]


@dataclass
class Course:
    """A course: a weekly session (lecture or tutorial) with its exceptions."""

    uid: str
    subject: str
    kind: str
    weekday: int  # 0 = Monday
    slot: time
    room: str
    lecturer: str
    exdates: set[date] = field(default_factory=set)  # holidays: no session
    cancelled: set[date] = field(default_factory=set)  # sessions called off (STATUS:CANCELLED override)
    moved: dict[date, tuple[time, str]] = field(default_factory=dict)  # date -> new slot and room
    room_from: tuple[date, str] | None = None  # a room change from that date on


@dataclass
class Timetable:
    """Courses, who attends what, and the term's bounds."""

    term_start: date
    term_end: date
    courses: dict[str, Course]
    enrolments: dict[str, list[str]]  # upn -> course uids
    version: int = 1

    def first_session(self, course: Course) -> date:
        offset = (course.weekday - self.term_start.weekday()) % 7
        return self.term_start + timedelta(days=offset)


def term_start_for(today: date) -> date:
    """A Monday six weeks before the next change of daylight-saving time in Europe/Berlin, so that the
    15-week term is under way today and crosses a DST change whenever the demo is run."""
    day = today - timedelta(days=42)
    offset = datetime.combine(day, time(12), TZ).utcoffset()
    while datetime.combine(day, time(12), TZ).utcoffset() == offset:
        day += timedelta(days=1)
    start = day - timedelta(weeks=6)
    return start - timedelta(days=start.weekday())


def build(
    students: list[str],
    *,
    staff: list[str] | None = None,
    seed: int = 2026,
    term_start: date = date(2026, 9, 7),
) -> Timetable:
    """A timetable: 24 courses, each student in 3-4 of them (about 5 sessions a week); each course taught
    by one of `staff`, whose feed holds the courses they teach."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    courses: dict[str, Course] = {}
    for i in range(24):
        subject = SUBJECTS[i % len(SUBJECTS)] + ("" if i < len(SUBJECTS) else " (group B)")
        for kind in ("Lecture", "Tutorial") if i % 3 else ("Lecture",):
            uid = f"course-{i:02d}-{kind.lower()}@timetable.example.edu"
            courses[uid] = Course(
                uid=uid,
                subject=subject,
                kind=kind,
                weekday=rng.randrange(5),
                slot=rng.choice(SLOTS),
                room=rng.choice(ROOMS),
                lecturer=f"Prof. {rng.choice(['Adler', 'Becker', 'Chen', 'Dubois', 'Eriksen', 'Fischer'])}",
            )
    holiday = date(2026, 11, 2)  # a teaching-free week
    for course in courses.values():
        course.exdates = {
            holiday + timedelta(days=d)
            for d in range(5)
            if (holiday + timedelta(days=d)).weekday() == course.weekday
        }
    uids = sorted(courses)
    enrolments: dict[str, list[str]] = {}
    for upn in students:
        chosen = rng.sample(sorted({u.split("-")[1] for u in uids}), rng.randint(3, 4))
        enrolments[upn] = [u for u in uids if u.split("-")[1] in chosen]
    for uid in uids:
        if staff:
            teacher = staff[int(uid.split("-")[1]) % len(staff)]
            courses[uid].lecturer = teacher.split("@")[0].replace(".", " ").title()
            enrolments.setdefault(teacher, []).append(uid)
    return Timetable(term_start, term_start + timedelta(weeks=15), courses, enrolments)


def change_term(tt: Timetable, *, seed: int = 7) -> list[str]:
    """Mid-term edits a registry office makes; returns what changed, in words, for the demo to show."""
    rng = random.Random(seed)  # noqa: S311
    uids = sorted(tt.courses)
    notes: list[str] = []
    moved = tt.courses[uids[0]]
    new_room = "Audimax" if moved.room != "Audimax" else "HS 1"
    since = tt.first_session(moved) + timedelta(weeks=7)
    moved.room_from = (since, new_room)
    notes.append(f"{moved.subject} {moved.kind}: room {moved.room} -> {new_room} from {since:%d %b}")
    cancel = tt.courses[uids[1]]
    day = tt.first_session(cancel) + timedelta(weeks=6)
    cancel.cancelled.add(day)
    notes.append(f"{cancel.subject} {cancel.kind} on {day:%a %d %b} cancelled")
    shift = tt.courses[uids[2]]
    day = tt.first_session(shift) + timedelta(weeks=8)
    shift.moved[day] = (SLOTS[(SLOTS.index(shift.slot) + 1) % len(SLOTS)], rng.choice(ROOMS))
    notes.append(f"{shift.subject} {shift.kind} on {day:%a %d %b} moved to {shift.moved[day][0]:%H:%M}")
    tt.version += 1
    return notes


def _fmt(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def feed(tt: Timetable, upn: str) -> bytes:
    """The iCalendar feed of one student (what a timetabling system serves at /ical/{upn}.ics)."""
    stamp = _fmt(datetime(2026, 8, 1, 12, 0))  # DTSTAMP varies in real feeds; calsync ignores it
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Example University//Timetable//EN",
        "X-WR-CALNAME:Timetable", "X-WR-TIMEZONE:Europe/Berlin",
        "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
        "BEGIN:DAYLIGHT", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST",
        "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT",
        "BEGIN:STANDARD", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET",
        "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
        "END:VTIMEZONE",
    ]  # fmt: skip
    for uid in tt.enrolments.get(upn, []):
        course = tt.courses[uid]
        first = tt.first_session(course)
        start = datetime.combine(first, course.slot)
        end = start + timedelta(minutes=90)
        until = datetime.combine(tt.term_end, time(23, 59, 59), TZ).astimezone(ZoneInfo("UTC"))
        summary = f"{course.subject} ({course.kind})"
        lines += [
            "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp}Z",
            f"DTSTART;TZID=Europe/Berlin:{_fmt(start)}", f"DTEND;TZID=Europe/Berlin:{_fmt(end)}",
            f"RRULE:FREQ=WEEKLY;UNTIL={until:%Y%m%dT%H%M%SZ}", f"SUMMARY:{summary}",
            f"LOCATION:{course.room}", f"DESCRIPTION:{course.lecturer}", "CATEGORIES:Timetable",
        ]  # fmt: skip
        lines += [
            f"EXDATE;TZID=Europe/Berlin:{_fmt(datetime.combine(d, course.slot))}"
            for d in sorted(course.exdates)
        ]
        lines.append("END:VEVENT")
        overridden = set(course.cancelled) | set(course.moved)
        if course.room_from is not None:
            day = course.room_from[0]
            while day <= tt.term_end:
                overridden.add(day)
                day += timedelta(weeks=1)
        for day in sorted(overridden - course.exdates):
            rid = datetime.combine(day, course.slot)
            room = course.room_from[1] if course.room_from and day >= course.room_from[0] else course.room
            slot, room = course.moved.get(day, (course.slot, room))
            begin = datetime.combine(day, slot)
            lines += [
                "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp}Z",
                f"RECURRENCE-ID;TZID=Europe/Berlin:{_fmt(rid)}",
                f"DTSTART;TZID=Europe/Berlin:{_fmt(begin)}",
                f"DTEND;TZID=Europe/Berlin:{_fmt(begin + timedelta(minutes=90))}",
                f"SUMMARY:{summary}", f"LOCATION:{room}", f"DESCRIPTION:{course.lecturer}",
                "CATEGORIES:Timetable",
            ]  # fmt: skip
            if day in course.cancelled:
                lines.append("STATUS:CANCELLED")
            lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
