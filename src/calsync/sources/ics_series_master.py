"""One iCalendar series as ONE DesiredEvent (a series master) for profiles with `recurrence = "series"`.

`series_master` turns a master VEVENT and its RECURRENCE-ID overrides into a DesiredEvent carrying a
`SeriesSpec` (calsync.domain.series): the Graph pattern (calsync.sources.series_graph), the occurrences
the source cancelled (EXDATEs and STATUS:CANCELLED overrides that name a real occurrence; EXDATEs that name
none change nothing, as in RFC 5545) and the overrides with their own content. It raises `Untranslatable`
with the reason when Graph cannot hold the series exactly; the caller then emits the occurrences as with
`recurrence = "occurrences"`, with the same keys, and reports the reason (ICS_SERIES_AS_OCCURRENCES).

The master's key is `ics:<UID>/series`; an override's event keeps its occurrence key
(`ics:<UID>/<original start>`) for messages, but only the master is a mapping.
The series is emitted when its span overlaps the window (calsync.domain.series), not per occurrence.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.domain import DesiredEvent, SeriesSpec, SourceKey, canonical_pattern, event_span, normalise
from calsync.domain.series import SERIES_SUFFIX
from calsync.sources.ics_document import _listify, _upper
from calsync.sources.ics_fields import _fields, _length
from calsync.sources.ics_items import _Item
from calsync.sources.ics_zones import _Moment, _prop_moment, _suffix
from calsync.sources.recurrence import Series
from calsync.sources.series_graph import Untranslatable, to_patterned

if TYPE_CHECKING:
    from calsync.sources.ics_series import _Builder

_MARK_TOO_MANY_DATES = "X-CALSYNC-TOO-MANY-DATES"


def _is_occurrence(rule: object, moment: datetime) -> bool:
    found = rule.after(moment - timedelta(microseconds=1), inc=False)  # type: ignore[attr-defined]
    return bool(found == moment)


def _desired(
    b: _Builder, item: _Item, key: str, start: datetime, length: timedelta, *, zone: str
) -> DesiredEvent:
    fields = _fields(item.event, length, b.doc, item.where, key)
    return DesiredEvent(
        mailbox=b.doc.mailbox,
        source_key=SourceKey(key),
        subject=fields.subject,
        start=start.astimezone(UTC),
        end=start.astimezone(UTC) + length,
        time_zone=zone,
        location=fields.location,
        body=fields.body,
        categories=fields.categories,
        show_as=fields.show_as,
        sensitivity=fields.sensitivity,
        reminder_minutes=fields.reminder,
        teams_meeting=fields.teams,
        source=b.doc.options.source,
        extras=fields.extras,
    )


def _check_zone(start: _Moment) -> None:
    tz_key = getattr(start.zone.tz, "key", None)
    if tz_key != start.zone.name:
        raise Untranslatable("a custom VTIMEZONE no IANA zone matches")


def series_master(b: _Builder, master: _Item, overrides: list[_Item]) -> DesiredEvent | None:
    """The series master event, None when its span is outside the window; raises Untranslatable (or
    `_Skip` for what the occurrence path reports as well)."""
    event = master.event
    rules = _listify(event.get("RRULE"))
    if len(rules) != 1:
        raise Untranslatable("several RRULEs")
    if _listify(event.get("RDATE")):
        raise Untranslatable("RDATE")
    if _listify(event.get("EXRULE")):
        raise Untranslatable("EXRULE")
    if event.get(_MARK_TOO_MANY_DATES) is not None:
        raise Untranslatable("too many EXDATEs")
    start = _prop_moment(event.get("DTSTART"), b.zones, "ICS_BAD_DTSTART", "DTSTART")
    if start.all_day:
        raise Untranslatable("an all-day series")
    assert isinstance(start.value, datetime)
    _check_zone(start)
    length = _length(event, start, b.zones, b.doc, where=master.where, key=master.prefix)
    series = b._build_series(master, start, length, rules=rules, exrules=[], rdates=[])
    rule = series.rules[0]
    parts = {str(k).upper(): v for k, v in rules[0].items()}
    first = start.value.astimezone(start.zone.tz)
    recurrence = to_patterned(parts, rule, first, start.zone.name)

    cancelled, changed = _exceptions(b, rule, first, series, overrides)
    spec = SeriesSpec(
        pattern=canonical_pattern(recurrence),
        cancelled=tuple(sorted(c.astimezone(UTC) for c in cancelled)),
        overrides=tuple(sorted(((o.astimezone(UTC), e) for o, e in changed.items()), key=lambda p: p[0])),
    )
    if len(spec.cancelled) + len(spec.overrides) > b.doc.options.max_instances:
        raise Untranslatable("too many exceptions")
    desired = _desired(b, master, f"{master.prefix}/{SERIES_SUFFIX}", first, length, zone=start.zone.name)
    desired = normalise(replace(desired, series=spec))
    if not b.doc.window.contains(*event_span(desired)):
        return None
    return desired


def _check_neighbours(rule: object, original: datetime, moved: datetime) -> None:
    """Graph refuses an exception that moves onto or past a neighbouring occurrence's day
    (ErrorOccurrenceCrossingBoundary, event-update.md); such a series is synced as occurrences."""
    before = rule.before(original, inc=False)  # type: ignore[attr-defined]
    after = rule.after(original, inc=False)  # type: ignore[attr-defined]
    day = moved.date()
    if (before is not None and day <= before.date()) or (after is not None and day >= after.date()):
        raise Untranslatable("an override moves onto or past a neighbouring occurrence's day")


def _exceptions(
    b: _Builder, rule: Any, first: datetime, series: Series, overrides: list[_Item]
) -> tuple[set[datetime], dict[datetime, DesiredEvent]]:
    """The occurrences the source cancelled, and those it changed with their own content (local)."""
    zone = first.tzinfo
    assert zone is not None
    zone_name = getattr(zone, "key", "UTC")
    cancelled: set[datetime] = set()
    for moment in series.exdates:
        if _is_occurrence(rule, moment):
            cancelled.add(moment)
    for day in series.exdays:
        moment = datetime.combine(day, first.timetz())
        if _is_occurrence(rule, moment):
            cancelled.add(moment)
    changed: dict[datetime, DesiredEvent] = {}
    seen: set[datetime] = set()
    for item in overrides:
        value = _prop_moment(
            item.event.get("RECURRENCE-ID"), b.zones, "ICS_BAD_DTSTART", "RECURRENCE-ID"
        ).value
        original = (
            value.astimezone(zone) if isinstance(value, datetime) else datetime.combine(value, first.timetz())
        )
        if original in seen:
            continue  # a second override of one occurrence: the first is kept (ICS_DUPLICATE_UID)
        seen.add(original)
        if not _is_occurrence(rule, original):
            raise Untranslatable("a RECURRENCE-ID that is not an occurrence of the rule")
        if _upper(item.event.get("STATUS")) == "CANCELLED":
            cancelled.add(original)
            continue
        key = f"{item.prefix}/{_suffix(original)}"
        own = _prop_moment(item.event.get("DTSTART"), b.zones, "ICS_BAD_DTSTART", "DTSTART")
        if not isinstance(own.value, datetime):
            raise Untranslatable("an all-day override of a timed series")
        own_length = _length(item.event, own, b.zones, b.doc, where=item.where, key=key)
        _check_neighbours(rule, original, own.value.astimezone(zone))
        changed[original] = normalise(_desired(b, item, key, own.value, own_length, zone=zone_name))
        cancelled.discard(original)
    return cancelled, changed
