"""Per-event field readers for iCalendar feeds: an event's length and the properties mapped to Graph.

Split from `calsync.sources.ics` so that the mapping of one VEVENT's properties (SUMMARY, DESCRIPTION,
LOCATION, CATEGORIES, CLASS, busy status, VALARM, DTEND/DURATION) can be read apart from the document flow
and the series expansion. The rules are in the `calsync.sources.ics` module doc ("Lengths", "Fields").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Component

from calsync.domain.events import Sensitivity, ShowAs
from calsync.sources.ics_document import _Doc, _listify, _prop_dt, _Skip, _text, _upper
from calsync.sources.ics_zones import _as_date, _instant, _Moment, _prop_moment, _Zones

MAX_DURATION = timedelta(days=5 * 366)
_SHOW_AS: dict[str, ShowAs] = {
    "FREE": "free",
    "TENTATIVE": "tentative",
    "BUSY": "busy",
    "OOF": "oof",
    "WORKINGELSEWHERE": "workingElsewhere",
}
_SENSITIVITY: dict[str, Sensitivity] = {
    "PUBLIC": "normal",
    "PRIVATE": "private",
    "CONFIDENTIAL": "confidential",
}


def _length(event: Component, start: _Moment, zones: _Zones, doc: _Doc, *, where: str, key: str) -> timedelta:
    """The event's length from DTEND, DURATION or the defaults (see the module doc for the rules)."""
    end_prop = event.get("DTEND")
    duration_prop = event.get("DURATION")
    if end_prop is not None:
        try:
            end = _prop_moment(end_prop, zones, "ICS_BAD_DTEND", "DTEND")
        except _Skip as skip:
            if skip.code == "ICS_DATE_OUT_OF_RANGE":
                raise
            doc.problem(
                where, "ICS_BAD_DTEND", "DTEND is unreadable; the default length is used", "warning", key
            )
            return timedelta(days=1) if start.all_day else timedelta(0)
        if start.all_day != end.all_day:
            doc.problem(where, "ICS_DATE_MIX", "DTSTART and DTEND mix DATE and DATE-TIME", "warning", key)
            if start.all_day:
                end_day = (
                    end.value.astimezone(start.zone.tz).date()
                    if isinstance(end.value, datetime)
                    else end.value
                )
                length = timedelta(days=(end_day - _as_date(start.value)).days)
            else:
                length = _instant(end.value, start.zone) - _instant(start.value, start.zone)
        else:
            length = _instant(end.value, end.zone) - _instant(start.value, start.zone)
            if start.all_day:
                length = timedelta(days=(_as_date(end.value) - _as_date(start.value)).days)
    elif duration_prop is not None:
        value = _prop_dt(duration_prop)
        if not isinstance(value, timedelta):
            doc.problem(
                where, "ICS_BAD_DTEND", "DURATION is unreadable; the default length is used", "warning", key
            )
            return timedelta(days=1) if start.all_day else timedelta(0)
        length = timedelta(days=max(value.days, 0)) if start.all_day else value
    else:
        return timedelta(days=1) if start.all_day else timedelta(0)
    if start.all_day and length <= timedelta(0):
        if length < timedelta(0):
            doc.problem(
                where, "ICS_BAD_DTEND", "the event ends before it starts; made one day", "warning", key
            )
        return timedelta(days=1)
    if length < timedelta(0):
        doc.problem(
            where, "ICS_BAD_DTEND", "the event ends before it starts; made zero-length", "warning", key
        )
        return timedelta(0)
    if length > MAX_DURATION:
        raise _Skip("ICS_BAD_DURATION", "the event lasts longer than 5 years")
    return length


@dataclass(frozen=True, slots=True)
class _Fields:
    subject: str
    body: str
    location: str
    categories: tuple[str, ...]
    show_as: ShowAs
    sensitivity: Sensitivity
    reminder: int | None
    teams: bool
    extras: tuple[tuple[str, str], ...] = ()


def _categories(event: Component) -> tuple[str, ...]:
    out: list[str] = []
    for prop in _listify(event.get("CATEGORIES")):
        cats = getattr(prop, "cats", None)
        if isinstance(cats, list):
            out += [str(c) for c in cats]
        else:
            out += str(prop).split(",")
        if len(out) > 1000:
            break
    return tuple(c.strip() for c in out if c.strip())


def _reminder(event: Component, length: timedelta, doc: _Doc, where: str, key: str) -> int | None:
    leads: list[float] = []
    for alarm in event.subcomponents:
        if alarm.name != "VALARM":
            continue
        trigger = alarm.get("TRIGGER")
        value = _prop_dt(trigger)
        if not isinstance(value, timedelta):
            continue
        params = getattr(trigger, "params", {}) or {}
        if str(params.get("RELATED", "START")).upper() == "END":
            value = value + length
        leads.append(-value.total_seconds() / 60)
    if not leads:
        return doc.options.default_reminder
    minutes = round(max(leads))
    if minutes < 0 or minutes > 40_320:
        doc.problem(
            where,
            "ICS_BAD_PROPERTY",
            "the alarm lies outside 0-40320 minutes before the start; clamped",
            "warning",
            key,
        )
    return min(max(minutes, 0), 40_320)


MAX_EXTRA = 1024  # characters kept of an extra field's value: templates cut to Graph's limits anyway


def _extras(event: Component, names: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The non-empty values of the X- properties that `names` ("x_activity_type") name, sorted."""
    pairs = ((name, _text(event.get(name.upper().replace("_", "-"))).strip()) for name in sorted(names))
    return tuple((name, value[:MAX_EXTRA]) for name, value in pairs if value)


def _fields(event: Component, length: timedelta, doc: _Doc, where: str, key: str) -> _Fields:
    busy = _upper(event.get("X-MICROSOFT-CDO-BUSYSTATUS"))
    show_as: ShowAs
    if busy in _SHOW_AS:
        show_as = _SHOW_AS[busy]
    elif _upper(event.get("TRANSP")) == "TRANSPARENT":
        show_as = "free"
    elif _upper(event.get("STATUS")) == "TENTATIVE":
        show_as = "tentative"
    else:
        show_as = "busy"
    return _Fields(
        subject=_text(event.get("SUMMARY")),
        body=_text(event.get("DESCRIPTION")),
        location=_text(event.get("LOCATION")),
        categories=_categories(event),
        show_as=show_as,
        sensitivity=_SENSITIVITY.get(_upper(event.get("CLASS")), "normal"),
        reminder=_reminder(event, length, doc, where, key),
        teams=_upper(event.get("X-CALSYNC-TEAMS")) in ("TRUE", "YES", "1"),
        extras=_extras(event, doc.options.extra_fields) if doc.options.extra_fields else (),
    )
