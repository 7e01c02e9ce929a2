"""Event templates end to end (issue 10, item 4): the CLI against graphemu, as an administrator runs it.

A timetable CSV with module, activity type and staff columns (the top-level profile) and an exams feed
whose activity type is an X- property (profile "exams") on the same mailbox, each with its own
templates: subjects, bodies, categories, reminders, show-as and sensitivity come out as configured; a
changed template updates the events on the next `sync --full`, and an unchanged one writes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from calsync.adapters.eventmap import TAG_ID
from tests.calsync import test_profiles
from tests.calsync.test_profiles import ADA, EXAMS_TAG, cli, config

world = test_profiles.world  # the same fixture: graphemu over TLS, with ADA's mailbox

TIMETABLE = (
    "mailbox,source_id,subject,start,end,time_zone,module,activity_type,staff,categories\n"
    f"{ADA},1,Algebra,2030-01-07T09:00,2030-01-07T10:00,UTC,MA101,Lecture,Noether,Term 1\n"
    f"{ADA},2,Algebra,2030-01-08T09:00,2030-01-08T10:00,UTC,MA101,Lab,Artin,\n"
    f"{ADA},3,Ethics,2030-01-09T09:00,2030-01-09T10:00,UTC,,Seminar,,\n"
)
EXAMS = """BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r
BEGIN:VEVENT\r\nUID:e1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300201T090000Z\r\nDTEND:20300201T110000Z\r
SUMMARY:Algebra\r\nLOCATION:Hall A\r\nX-EXAM-KIND:Written\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"""
TEMPLATES = """
extra_fields = ["module", "activity_type", "staff"]
subject_template = '{{module|subject}} {{activity_type}}'
body_template = "Teacher: {{staff|\\"to be announced\\"}}"
activity_type_field = "activity_type"
categories_by_module = {{ MA101 = ["Maths"] }}
[activity_types.Lecture]
categories = ["Lecture"]
[activity_types.Lab]
categories = ["Lab"]
reminder = 30
show_as = "tentative"
"""
EXAMS_PROFILE = """
[[profiles]]
name = "exams"
ics_file = "{folder}/exams.ics"
extra_fields = ["x_exam_kind"]
subject_template = "Exam ({{x_exam_kind}}): {{subject}} in {{location}}"
body_template = "{{body}}"                # its own: the top level's reads fields this feed lacks
activity_type_field = "x_exam_kind"
activity_types = {{ Written = {{ reminder = 1440, categories = ["Exam"] }} }}
categories_by_module = {{ }}
sensitivity = "private"
"""


def setup(folder: Path, world: tuple[Any, Any, Any], subject: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "timetable.csv").write_text(TIMETABLE)
    (folder / "exams.ics").write_text(EXAMS)
    body = f'mailboxes = ["{ADA}"]\ncsv_file = "{{folder}}/timetable.csv"\n' + TEMPLATES.replace(
        "{{module|subject}} {{activity_type}}", subject
    )
    return config(folder, world, (body + EXAMS_PROFILE).format(folder=folder))


def outlook(world: tuple[Any, Any, Any], tag: str) -> list[tuple[Any, ...]]:
    w = world[0]
    found = []
    for event in w.events[w.find_user(ADA).id].values():
        if event.extended.get(tag):
            p = event.props
            found.append(
                (
                    p["subject"],
                    re.sub(r"<[^>]*>", "", p.get("body", {}).get("content", "")).strip(),  # Outlook's HTML
                    tuple(p.get("categories", ())),
                    p.get("reminderMinutesBeforeStart") if p.get("isReminderOn") else None,
                    p.get("showAs"),
                    p.get("sensitivity"),
                )
            )
    return sorted(found)


def test_templates_shape_each_profiles_events(tmp_path: Path, world: tuple[Any, Any, Any]) -> None:
    path = setup(tmp_path / "a", world, "{{module|subject}} {{activity_type}}")
    reports = cli(path, "sync", "--json")
    assert [(r["profile"], r["created"]) for r in reports] == [("default", 3), ("exams", 1)]
    assert outlook(world, TAG_ID) == [
        ("Ethics Seminar", "Teacher: to be announced", (), None, "busy", "normal"),
        ("MA101 Lab", "Teacher: Artin", ("Lab", "Maths"), 30, "tentative", "normal"),
        ("MA101 Lecture", "Teacher: Noether", ("Lecture", "Maths", "Term 1"), None, "busy", "normal"),
    ]
    assert outlook(world, EXAMS_TAG) == [
        ("Exam (Written): Algebra in Hall A", "", ("Exam",), 1440, "busy", "private"),
    ]
    unchanged = cli(path, "sync", "--json", "--full")
    assert sum(r["created"] + r["updated"] + r["deleted"] for r in unchanged) == 0

    # A changed template: the top level's events are updated in place; the exams profile is untouched.
    changed = setup(tmp_path / "a", world, "{{activity_type}}: {{module|subject}}")
    reports = cli(changed, "sync", "--json", "--full")
    assert [(r["profile"], r["created"], r["updated"], r["deleted"]) for r in reports] == [
        ("default", 0, 3, 0),
        ("exams", 0, 0, 0),
    ]
    assert [e[0] for e in outlook(world, TAG_ID)] == ["Lab: MA101", "Lecture: MA101", "Seminar: Ethics"]
    again = cli(changed, "sync", "--json", "--full")
    assert sum(r["created"] + r["updated"] + r["deleted"] for r in again) == 0


def test_a_template_naming_an_unknown_field_stops_the_cli(
    tmp_path: Path, world: tuple[Any, Any, Any]
) -> None:
    from typer.testing import CliRunner

    from calsync.cli.main import app

    path = setup(tmp_path / "b", world, "{{modle}}")
    result = CliRunner().invoke(app, ["--config", str(path), "sync"])
    assert result.exit_code != 0
    assert "subject_template: unknown field 'modle'" in result.output
    assert (
        " ".join(result.output.split()).count("known: activity_type, body, categories, location, module,")
        == 1
    )
