"""A profile's event templates (TimeEdit-style), applied to the desired events its source yields.

Why here, as a pure function over `DesiredEvent`: the planner compares content hashes of desired events,
so the templated event must be the desired event. A changed template then changes the hash of every
event it touches (each is updated on the next run that reads the source, e.g. `sync --full`), and an
unchanged template gives the same events and writes nothing.

What a profile can say (docs/profiles.md, "Templates"):
- subject, body and location templates (`calsync.templating`) over the source's fields;
- where each event's activity type and module come from (a field, or the event's categories);
- per activity type: categories to add, a reminder, show-as and sensitivity; per module: categories;
- a show-as and a sensitivity for every event.
A per-type choice wins over the profile's, which wins over the source's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from calsync.domain.events import (
    MAX_BODY,
    MAX_LOCATION,
    MAX_SUBJECT,
    DesiredEvent,
    Sensitivity,
    ShowAs,
    normalise,
)
from calsync.templating import Template

CATEGORIES = "categories"


@dataclass(frozen=True, slots=True)
class TypeRule:
    """What one activity type (e.g. "Lecture") sets on its events; None leaves the value as it is."""

    categories: tuple[str, ...] = ()
    reminder_minutes: int | None = None
    show_as: ShowAs | None = None
    sensitivity: Sensitivity | None = None


@dataclass(frozen=True, slots=True, eq=False)
class EventTemplates:
    """A profile's templates and rules. Type and module names are matched case-insensitively (the
    mapping keys are stored `casefold()`ed); `activity_type_field` "categories" takes the first of the
    event's categories that is a configured type, else its first category."""

    subject: Template | None = None
    body: Template | None = None
    location: Template | None = None
    activity_type_field: str | None = None
    module_field: str | None = None
    types: Mapping[str, TypeRule] = field(default_factory=dict)
    categories_by_module: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    show_as: ShowAs | None = None
    sensitivity: Sensitivity | None = None

    @property
    def inert(self) -> bool:
        """True when applying these templates changes no event (the profile configured none)."""
        return (
            self.subject is None
            and self.body is None
            and self.location is None
            and not self.types
            and not self.categories_by_module
            and self.show_as is None
            and self.sensitivity is None
        )


def _field(event: DesiredEvent, name: str) -> str:
    if name == "subject":
        return event.subject
    if name == "body":
        return event.body
    if name == "location":
        return event.location
    if name == CATEGORIES:
        return ", ".join(event.categories)
    return event.extra_value(name)


def _activity_type(event: DesiredEvent, templates: EventTemplates) -> str:
    name = templates.activity_type_field
    if name is None:
        return event.extra_value("activity_type").strip()
    if name == CATEGORIES:
        known = [c for c in event.categories if c.casefold() in templates.types]
        return (known or [*event.categories, ""])[0]
    return _field(event, name).strip()


def field_values(event: DesiredEvent, templates: EventTemplates) -> dict[str, str]:
    """Every field a template may read for `event`: the built-in ones and the event's extras."""
    values = dict(event.extras)
    values.update({name: _field(event, name) for name in ("subject", "body", "location", CATEGORIES)})
    values["activity_type"] = _activity_type(event, templates)
    module = templates.module_field
    values["module"] = _field(event, module).strip() if module else event.extra_value("module").strip()
    return values


def apply_templates(event: DesiredEvent, templates: EventTemplates) -> DesiredEvent:
    """`event` as the profile wants it: templated text, the type's and module's categories, the type's
    reminder, show-as and sensitivity over the profile's over the source's; normalised, extras dropped."""
    if templates.inert:
        return replace(event, extras=()) if event.extras else event
    values = field_values(event, templates)
    rule = templates.types.get(values["activity_type"].casefold(), TypeRule())
    module_categories = templates.categories_by_module.get(values["module"].casefold(), ())
    subject, body, location = templates.subject, templates.body, templates.location
    templated = replace(
        event,
        subject=subject.render(values, limit=MAX_SUBJECT, single_line=True) if subject else event.subject,
        body=body.render(values, limit=MAX_BODY) if body else event.body,
        location=(
            location.render(values, limit=MAX_LOCATION, single_line=True) if location else event.location
        ),
        categories=(*event.categories, *rule.categories, *module_categories),
        reminder_minutes=(
            rule.reminder_minutes if rule.reminder_minutes is not None else event.reminder_minutes
        ),
        show_as=rule.show_as or templates.show_as or event.show_as,
        sensitivity=rule.sensitivity or templates.sensitivity or event.sensitivity,
        extras=(),
    )
    return normalise(templated)
