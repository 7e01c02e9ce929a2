"""A profile's event templates from its settings, and their application to what its source said.

The configuration (calsync.settings) checked the templates when it was loaded; this module turns the
checked settings into the domain's `EventTemplates` and applies them to each mailbox's snapshot, so the
engine plans (and hashes) the templated events. Both live in the services layer because the settings
and the domain may not import each other.
"""

from __future__ import annotations

from dataclasses import replace

from calsync.domain.templates import EventTemplates, TypeRule, apply_templates
from calsync.settings import Settings
from calsync.sync.engine import SourceSnapshot
from calsync.templating import BUILTIN_FIELDS, Template, field_name, parse_template


def extra_fields(settings: Settings) -> frozenset[str]:
    """The source fields the profile's templates read beyond DesiredEvent's (canonical names)."""
    return frozenset(field_name(f) for f in settings.extra_fields)


def event_templates(settings: Settings) -> EventTemplates:
    """The profile's templates and rules (`settings` is one profile's view, `Settings.for_profile`).

    Raises:
        calsync.templating.TemplateError: a template the settings did not check (settings built without
        validation); loaded settings never raise here.
    """
    known = {*BUILTIN_FIELDS, *extra_fields(settings)}

    def parsed(text: str | None) -> Template | None:
        return None if text is None else parse_template(text, known)

    def name(value: str | None) -> str | None:
        return None if value is None else field_name(value)

    return EventTemplates(
        subject=parsed(settings.subject_template),
        body=parsed(settings.body_template),
        location=parsed(settings.location_template),
        activity_type_field=name(settings.activity_type_field),
        module_field=name(settings.module_field),
        types={
            kind.strip().casefold(): TypeRule(
                tuple(rule.categories), rule.reminder, rule.show_as, rule.sensitivity
            )
            for kind, rule in settings.activity_types.items()
        },
        categories_by_module={
            module.strip().casefold(): tuple(categories)
            for module, categories in settings.categories_by_module.items()
        },
        show_as=settings.show_as,
        sensitivity=settings.sensitivity,
    )


def templated(snapshot: SourceSnapshot, templates: EventTemplates) -> SourceSnapshot:
    """`snapshot` with each event as the profile's templates make it (extras dropped)."""
    if not snapshot.events or (templates.inert and not any(e.extras for e in snapshot.events)):
        return snapshot
    return replace(snapshot, events=tuple(apply_templates(e, templates) for e in snapshot.events))
