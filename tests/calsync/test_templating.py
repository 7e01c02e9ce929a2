"""The event template language and the templates a profile applies to its events (issue 10, item 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.domain import DesiredEvent, SourceKey, content_hash
from calsync.domain.events import MAX_SUBJECT
from calsync.domain.templates import EventTemplates, TypeRule, apply_templates
from calsync.settings import Settings
from calsync.templating import BUILTIN_FIELDS, TemplateError, parse_template

KNOWN = {*BUILTIN_FIELDS, "staff", "x_kind"}
names = st.sampled_from(sorted(KNOWN))
texts = st.text(max_size=400)
values = st.dictionaries(names, texts)


def event(**changes: object) -> DesiredEvent:
    base: dict[str, object] = {
        "mailbox": "ada@uni.example",
        "source_key": SourceKey("csv:1"),
        "subject": "Algebra",
        "start": datetime(2030, 1, 5, 10, tzinfo=UTC),
        "end": datetime(2030, 1, 5, 11, tzinfo=UTC),
    }
    return DesiredEvent(**{**base, **changes})  # type: ignore[arg-type]


@st.composite
def templates(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(
                st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20),
                st.lists(st.one_of(names, st.just('"lit"')), min_size=1, max_size=3).map(
                    lambda alts: "{" + "|".join(alts) + "}"
                ),
                st.sampled_from(["{{", "}}"]),
            ),
            max_size=8,
        )
    )
    return "".join(parts)


@given(templates(), values, st.integers(min_value=0, max_value=300), st.booleans())
def test_rendering_never_raises_and_is_capped(
    text: str, fields: dict[str, str], limit: int, line: bool
) -> None:
    rendered = parse_template(text, KNOWN).render(fields, limit=limit, single_line=line)
    assert len(rendered) <= limit
    if line:
        assert "\n" not in rendered


@given(st.lists(st.sampled_from(["", "  ", "a", "b c"]), min_size=3, max_size=3))
def test_a_fallback_picks_the_first_non_empty(choices: list[str]) -> None:
    fields = dict(zip(["subject", "module", "staff"], choices, strict=True))
    rendered = parse_template('<{module|staff|subject|"none"}>', KNOWN).render(fields, limit=255)
    expected = next((v.strip() for v in (choices[1], choices[2], choices[0]) if v.strip()), "none")
    assert rendered == f"<{expected}>"


@given(values)
def test_values_are_data_never_template_text(fields: dict[str, str]) -> None:
    """A value that looks like a placeholder (or a format string) is inserted as written."""
    sneaky = {**fields, "subject": "{body} {0.__class__} {{x}}", "body": "SECRET"}
    assert parse_template("{subject}", KNOWN).render(sneaky, limit=255) == "{body} {0.__class__} {{x}}"


def test_literal_braces_and_quoted_alternatives() -> None:
    assert (
        parse_template('{{{module|"MOD"}}} - {Activity-Type}', KNOWN).render(
            {"activity_type": "Lab"}, limit=255
        )
        == "{MOD} - Lab"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{modul}", "unknown field 'modul' at character 1 (known: activity_type, body, categories"),
        ("Room {", "the '{' at character 6 is never closed"),
        ("a } b", "a '}' at character 3 closes nothing"),
        ("{module|}", "has an empty alternative"),
        ('{"a}', "is malformed"),
        ("x" * 2001, "is longer than 2000 characters"),
    ],
)
def test_bad_templates_are_refused(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace("{", r"\{")):
        parse_template(text, KNOWN)


def test_an_unknown_field_is_refused_when_the_configuration_is_loaded() -> None:
    with pytest.raises(ValueError, match="subject_template: unknown field 'moduel'") as caught:
        Settings(csv_file="t.csv", extra_fields=["module"], subject_template="{moduel|subject}")
    assert "known: activity_type, body, categories, location, module, subject" in str(caught.value)
    with pytest.raises(ValueError, match="an iCalendar feed offers X- properties only"):
        Settings(ics_file="t.ics", extra_fields=["module"])
    with pytest.raises(ValueError, match="profile 'exams': activity_type_field: unknown field 'kind'"):
        Settings(
            ics_file="t.ics", profiles=[{"name": "exams", "csv_file": "e.csv", "activity_type_field": "kind"}]
        )


def test_an_event_is_templated_by_its_type_and_module() -> None:
    rules = EventTemplates(
        subject=parse_template("{module|subject} ({activity_type})", KNOWN),
        body=parse_template("Teacher: {staff}\n{body}", KNOWN),
        types={"exam": TypeRule(("Exam",), 1440, "oof", "private")},
        categories_by_module={"ma101": ("Maths",)},
        show_as="free",
    )
    source = event(extras=(("activity_type", "Exam"), ("module", "MA101"), ("staff", "Noether")))
    out = apply_templates(source, rules)
    assert (out.subject, out.body) == ("MA101 (Exam)", "Teacher: Noether")
    assert (out.categories, out.reminder_minutes, out.show_as, out.sensitivity) == (
        ("Exam", "Maths"),
        1440,
        "oof",
        "private",
    )
    assert out.extras == ()
    other = apply_templates(event(extras=(("activity_type", "Lecture"),)), rules)
    assert (other.subject, other.show_as, other.reminder_minutes) == ("Algebra (Lecture)", "free", 15)


def test_the_activity_type_may_come_from_the_categories() -> None:
    rules = EventTemplates(
        subject=parse_template("{activity_type}: {subject}", KNOWN),
        activity_type_field="categories",
        types={"lab": TypeRule(reminder_minutes=5)},
    )
    out = apply_templates(event(categories=("Physics", "Lab")), rules)
    assert (out.subject, out.reminder_minutes) == ("Lab: Algebra", 5)
    assert apply_templates(event(categories=("Physics",)), rules).subject == "Physics: Algebra"


@given(st.text(max_size=600), st.text(max_size=600))
def test_a_templated_subject_fits_graph(module: str, subject: str) -> None:
    rules = EventTemplates(subject=parse_template("{module} {subject} {module}", KNOWN))
    out = apply_templates(event(subject=subject, extras=(("module", module),)), rules)
    assert len(out.subject) <= MAX_SUBJECT


def test_only_a_template_change_changes_the_hash() -> None:
    source = event(extras=(("module", "MA101"),))
    one = EventTemplates(subject=parse_template("{module}", KNOWN))
    again = EventTemplates(subject=parse_template("{module}", KNOWN))
    other = EventTemplates(subject=parse_template("{module}: {subject}", KNOWN))
    assert content_hash(apply_templates(source, one)) == content_hash(apply_templates(source, again))
    assert content_hash(apply_templates(source, one)) != content_hash(apply_templates(source, other))
    assert apply_templates(source, EventTemplates()) == source  # no templates: the source's event
