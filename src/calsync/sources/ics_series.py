"""One iCalendar calendar's VEVENTs into DesiredEvents: series, recurrence expansion, overrides.

Split from `calsync.sources.ics` because series handling is the largest part of reading a feed: `_Builder`
groups VEVENTs by UID into a master and its overrides (RECURRENCE-ID), expands the master's RRULE, RDATE,
EXDATE and EXRULE within the window under the per-event budget (`calsync.sources.recurrence`), lets each
override replace the instance it names, and emits one window-checked, normalised DesiredEvent per instance.
The rules are in the `calsync.sources.ics` module doc ("Keys", "Duplicates", "Cancellations", "Recurrence").
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from icalendar import Component, vRecur

from calsync.domain import DesiredEvent, SourceKey, normalise
from calsync.sources.budget import Budget, BudgetExceeded
from calsync.sources.ics_document import _Doc, _listify, _prop_dt, _Skip, _upper
from calsync.sources.ics_fields import MAX_DURATION, _fields, _length
from calsync.sources.ics_items import _Item, _items
from calsync.sources.ics_series_master import series_master
from calsync.sources.ics_zones import _as_date, _instant, _Moment, _moment, _prop_moment, _suffix, _Zones
from calsync.sources.recurrence import RuleError, Series, TooManyInstances, build_rule, expand, midnight
from calsync.sources.series_graph import Untranslatable
from calsync.sources.tzids import Zone

_MARK_TOO_MANY_DATES = "X-CALSYNC-TOO-MANY-DATES"


class _Builder:
    """Turns one calendar's VEVENTs into DesiredEvents."""

    def __init__(self, calendar: Component, doc: _Doc, lines: Iterator[int | None], default: Zone) -> None:
        self.doc = doc
        self.zones = _Zones(calendar, doc, default)
        self.items = _items(calendar, lines, doc)
        self.events: list[DesiredEvent] = []

    def run(self) -> list[DesiredEvent]:
        masters: dict[str, _Item] = {}
        overrides: dict[str, list[_Item]] = {}
        order: list[str] = []
        for item in self.items:
            if item.prefix not in masters and item.prefix not in overrides:
                order.append(item.prefix)
            if item.event.get("RECURRENCE-ID") is not None:
                overrides.setdefault(item.prefix, []).append(item)
            elif item.prefix in masters:
                self.doc.problem(
                    item.where,
                    "ICS_DUPLICATE_UID",
                    "another VEVENT has the same UID; the first one is kept",
                    "error",
                    item.prefix,
                )
            else:
                masters[item.prefix] = item
        for prefix in order:
            first = masters.get(prefix) or overrides[prefix][0]
            try:
                self._series(masters.get(prefix), overrides.get(prefix, []))
            except Exception:  # one odd event must not cost the mailbox its other events (invariant 6)
                self.doc.problem(first.where, "ICS_BAD_EVENT", "the event cannot be read", "error", prefix)
        return self.events

    def _series(self, master: _Item | None, overrides: list[_Item]) -> None:
        instances: dict[str, tuple[str, date | datetime, timedelta, Zone]] = {}
        master_start: _Moment | None = None
        if master is not None:
            if _upper(master.event.get("STATUS")) == "CANCELLED":
                return
            if self.doc.options.recurrence == "series" and self._as_series(master, overrides):
                return
            try:
                master_start, instances = self._master(master)
            except _Skip as skip:
                self.doc.problem(master.where, skip.code, skip.message, "error", master.prefix)
                instances = {}
        seen: set[str] = set()
        for item in overrides:
            try:
                suffix = self._recurrence_suffix(item, master_start)
            except _Skip as skip:
                self.doc.problem(item.where, skip.code, skip.message, "error", item.prefix)
                continue
            key = f"{item.prefix}/{suffix}"
            if suffix in seen:
                self.doc.problem(
                    item.where,
                    "ICS_DUPLICATE_UID",
                    "another VEVENT has the same UID and RECURRENCE-ID; the first one is kept",
                    "error",
                    key,
                )
                continue
            seen.add(suffix)
            instances.pop(suffix, None)
            if _upper(item.event.get("STATUS")) == "CANCELLED":
                continue
            try:
                start = _prop_moment(item.event.get("DTSTART"), self.zones, "ICS_BAD_DTSTART", "DTSTART")
                length = _length(item.event, start, self.zones, self.doc, where=item.where, key=key)
            except _Skip as skip:
                self.doc.problem(item.where, skip.code, skip.message, "error", key)
                continue
            self._emit(item, key, start.value, length, start.zone)
        if master is not None:
            for key, start_value, length, zone in instances.values():
                self._emit(master, key, start_value, length, zone)

    def _as_series(self, master: _Item, overrides: list[_Item]) -> bool:
        """Emit the series as one master event when Graph can hold it exactly (True); else report why
        and let the caller emit its occurrences (False)."""
        if not master.event.get("RRULE"):
            return False
        try:
            event = series_master(self, master, overrides)
        except Untranslatable as exc:
            self.doc.problem(
                master.where,
                "ICS_SERIES_AS_OCCURRENCES",
                f"synced as single occurrences: {exc.reason}",
                "warning",
                master.prefix,
            )
            return False
        except (_Skip, RuleError, ValueError, TypeError, OverflowError):
            return False  # the occurrence path reports what is wrong with it
        if event is not None:
            self.events.append(event)
        return True

    def _recurrence_suffix(self, item: _Item, master_start: _Moment | None) -> str:
        prop = item.event.get("RECURRENCE-ID")
        params = getattr(prop, "params", {}) or {}
        if str(params.get("RANGE", "")).upper() == "THISANDFUTURE":
            self.doc.problem(
                item.where,
                "ICS_RANGE_IGNORED",
                "RANGE=THISANDFUTURE is applied to this instance only",
                "warning",
                item.prefix,
            )
        recurrence = _prop_moment(prop, self.zones, "ICS_BAD_DTSTART", "RECURRENCE-ID")
        value = recurrence.value
        if master_start is not None:
            if master_start.all_day and isinstance(value, datetime):
                # Exchange and Outlook name an all-day instance by local midnight in the organiser's zone
                # (RECURRENCE-ID;TZID=W. Europe Standard Time:20261210T000000): the date as written is the
                # instance's date, east of UTC too. Only a UTC value ("Z") is an instant, whose date is
                # read in the series' own zone.
                raw = _prop_dt(prop)
                instant = not params.get("TZID") and isinstance(raw, datetime) and raw.tzinfo is not None
                value = value.astimezone(master_start.zone.tz).date() if instant else value.date()
            elif not master_start.all_day and not isinstance(value, datetime):
                assert isinstance(master_start.value, datetime)
                value = datetime.combine(value, master_start.value.timetz())
        return _suffix(value)

    def _master(self, item: _Item) -> tuple[_Moment, dict[str, tuple[str, date | datetime, timedelta, Zone]]]:
        """The master's instances near the window, by key suffix: (key, start, length, zone)."""
        event = item.event
        start = _prop_moment(event.get("DTSTART"), self.zones, "ICS_BAD_DTSTART", "DTSTART")
        length = _length(event, start, self.zones, self.doc, where=item.where, key=item.prefix)
        rules = _listify(event.get("RRULE"))
        exrules = _listify(event.get("EXRULE"))
        rdates = _listify(event.get("RDATE"))
        if event.get(_MARK_TOO_MANY_DATES) is not None:
            raise _Skip("ICS_RRULE_UNBOUNDED", "the event has more than 5,000 RDATE/EXDATE values")
        if not rules and not rdates:
            return start, {_suffix(start.value): (item.prefix, start.value, length, start.zone)}
        series = self._build_series(item, start, length, rules=rules, exrules=exrules, rdates=rdates)
        budget = Budget(
            self.doc.options.steps_per_event, self.doc.options.seconds_per_event, parent=self.doc.budget
        )
        zone = start.zone
        try:
            found = expand(
                series,
                window_start=self.doc.window.start,
                window_end=self.doc.window.end,
                budget=budget,
                max_instances=self.doc.options.max_instances,
            )
        except TooManyInstances:
            raise _Skip("ICS_RRULE_UNBOUNDED", "the series has too many instances in the window") from None
        except BudgetExceeded:
            raise _Skip("ICS_RRULE_UNBOUNDED", "expanding the series took too long") from None
        except RuleError as exc:
            raise _Skip(exc.code, exc.message) from None
        instances: dict[str, tuple[str, date | datetime, timedelta, Zone]] = {}
        for value, duration in found:
            original: date | datetime = value.date() if start.all_day else value
            suffix = _suffix(original)
            instances[suffix] = (f"{item.prefix}/{suffix}", original, duration, zone)
        return start, instances

    def _build_series(
        self,
        item: _Item,
        start: _Moment,
        length: timedelta,
        *,
        rules: list[Any],
        exrules: list[Any],
        rdates: list[Any],
    ) -> Series:
        zone = start.zone
        all_day = start.all_day
        space_start = midnight(_as_date(start.value)) if all_day else start.value
        assert isinstance(space_start, datetime)

        def into_space(value: date | datetime) -> datetime:
            """A date/datetime from UNTIL, RDATE or EXDATE in this series' expansion space."""
            if all_day:
                if isinstance(value, datetime):
                    local = value.astimezone(zone.tz) if value.tzinfo else value
                    return midnight(local.date())
                return midnight(value)
            if isinstance(value, datetime):
                aware = value if value.tzinfo else value.replace(tzinfo=zone.tz)
                return aware.astimezone(zone.tz)
            return datetime.combine(value, space_start.timetz())

        def until(value: date | datetime) -> datetime:
            if not all_day and not isinstance(value, datetime):
                return datetime.combine(value, time(23, 59, 59), tzinfo=zone.tz)
            return into_space(value)

        series = Series(start=space_start, duration=length)
        for recur, target in [(r, series.rules) for r in rules] + [(r, series.exrules) for r in exrules]:
            if not isinstance(recur, vRecur):
                raise _Skip("ICS_RRULE_INVALID", "a recurrence rule is unreadable")
            try:
                target.append(build_rule(recur, space_start, until))
            except RuleError as exc:
                raise _Skip(exc.code, exc.message) from None
        for prop in rdates:
            for value, duration in self._date_values(prop, item):
                moment = into_space(value)
                series.rdates.append(moment)
                if duration is not None:
                    series.period_durations[moment] = duration
        for prop in _listify(item.event.get("EXDATE")):
            for value, _ in self._date_values(prop, item):
                if all_day or not isinstance(value, datetime):
                    series.exdays.add(into_space(value).date() if all_day else value)
                else:
                    series.exdates.append(into_space(value))
        return series

    def _date_values(self, prop: Any, item: _Item) -> list[tuple[date | datetime, timedelta | None]]:
        """The values of one RDATE/EXDATE property, resolved with its TZID; bad ones are reported."""
        dts = getattr(prop, "dts", None)
        if not isinstance(dts, list):
            self.doc.problem(
                item.where,
                "ICS_BAD_RDATE",
                "an RDATE or EXDATE is unreadable and is ignored",
                "warning",
                item.prefix,
            )
            return []
        tzid = (getattr(prop, "params", {}) or {}).get("TZID")
        out: list[tuple[date | datetime, timedelta | None]] = []
        for entry in dts:
            value = getattr(entry, "dt", None)
            duration: timedelta | None = None
            if isinstance(value, tuple) and len(value) == 2:
                value, other = value
                if isinstance(other, timedelta):
                    duration = other
                elif isinstance(other, datetime) and isinstance(value, datetime):
                    try:
                        period_end = _moment(other, tzid, self.zones)
                        period_start = _moment(value, tzid, self.zones)
                        duration = _instant(period_end.value, period_end.zone) - _instant(
                            period_start.value, period_start.zone
                        )
                    except _Skip:
                        duration = None
            try:
                moment = _moment(value, tzid, self.zones)
            except _Skip:
                self.doc.problem(
                    item.where,
                    "ICS_BAD_RDATE",
                    "an RDATE or EXDATE value is unusable and is ignored",
                    "warning",
                    item.prefix,
                )
                continue
            if duration is not None and not timedelta(0) <= duration <= MAX_DURATION:
                duration = None
            out.append((moment.value, duration))
        return out

    def _emit(
        self, item: _Item, key: str, start_value: date | datetime, length: timedelta, zone: Zone
    ) -> None:
        """Build, window-check and normalise one DesiredEvent."""
        where = item.where
        try:
            if isinstance(start_value, datetime):
                start = start_value.astimezone(UTC)
                end = start + length
                all_day = False
            else:
                start = datetime.combine(start_value, time(), tzinfo=zone.tz)
                end = datetime.combine(
                    start_value + timedelta(days=max(length.days, 1)), time(), tzinfo=zone.tz
                )
                all_day = True
            if not self.doc.window.contains(start, end):
                return
            fields = _fields(item.event, length, self.doc, where, key)
            event = DesiredEvent(
                mailbox=self.doc.mailbox,
                source_key=SourceKey(key),
                subject=fields.subject,
                start=start,
                end=end,
                time_zone=zone.name,
                all_day=all_day,
                location=fields.location,
                body=fields.body,
                categories=fields.categories,
                show_as=fields.show_as,
                sensitivity=fields.sensitivity,
                reminder_minutes=fields.reminder,
                teams_meeting=fields.teams,
                source=self.doc.options.source,
                extras=fields.extras,
            )
            self.events.append(normalise(event))
        except (ValueError, TypeError, OverflowError):
            self.doc.problem(where, "ICS_BAD_EVENT", "the event cannot be represented", "error", key)
