"""Row validation shared by the CSV and JSON readers: one row or item into a DesiredEvent.

`_Collector` gathers a file's events and problems. Split from `calsync.sources.tabular` because both
formats share the columns, the value rules and the duplicate and window rules; only the reading of the
file differs (`tabular_csv`, `tabular_json`). The format is in the `calsync.sources.tabular` module doc.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from calsync.domain import SENSITIVITIES, SHOW_AS, DesiredEvent, SourceKey, Window, normalise
from calsync.domain.events import Sensitivity, ShowAs
from calsync.sources.model import SourceProblem, SourceResult, unavailable
from calsync.sources.textdecode import DecodedText, UndecodableText, decode
from calsync.sources.tzids import zone_for_name

COLUMNS: dict[str, str] = {
    "mailbox": "required: the mailbox's UPN, mail address or object id",
    "source_id": "required: the stable id of the row in the exporting system",
    "subject": "text",
    "start": "required: ISO 8601 date-time (with or without offset) or date",
    "end": "required: as start; all-day end dates are exclusive",
    "time_zone": "IANA or Windows zone; required when start or end has no offset",
    "all_day": "true/false",
    "location": "text",
    "description": "text, the plain-text body",
    "categories": "';'-separated in CSV, a list in JSON",
    "show_as": "free, tentative, busy, oof, workingElsewhere, unknown",
    "sensitivity": "normal, personal, private, confidential",
    "reminder": "minutes before the start, or empty for none",
    "teams": "true/false",
}
REQUIRED = ("mailbox", "source_id", "start", "end")
MAX_DURATION = timedelta(days=5 * 366)
MIN_YEAR, MAX_YEAR = 1601, 4500
MAX_ID = 200
MAX_MAILBOX = 320
MAX_EXTRA = 1024  # characters kept of an extra field's value: templates cut to Graph's limits anyway
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # one scan in C, not a generator per character
_SPACE = re.compile(r"\s")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}

Kind = Literal["csv", "json"]


@dataclass(frozen=True, slots=True)
class TabularOptions:
    """Limits for CSV/JSON files; `source` names the source in problems (default "csv" or "json")."""

    source: str | None = None
    max_bytes: int = 10 * 1024 * 1024  # a file held in memory: any JSON, a CSV parsed whole or not UTF-8
    max_rows: int = 200_000
    # A UTF-8 CSV read from disk by `CsvIndex.from_file` (memory does not grow with it; time does).
    max_file_bytes: int = 4 * 1024**3
    max_file_rows: int = 20_000_000
    # Columns beyond COLUMNS that are carried into `DesiredEvent.extras` for a profile's templates
    # (canonical header names, e.g. "module"); only these, so events cost nothing more without templates.
    extra_fields: frozenset[str] = frozenset()


class _Bad(ValueError):
    """A bad value: the column and a message without the value itself."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _string(fields: Mapping[str, Any], column: str) -> str:
    value = fields.get(column)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad(column, "must be text")
    return str(value).strip() if not isinstance(value, str) else value.strip()


def _flag(fields: Mapping[str, Any], column: str) -> bool | None:
    value = fields.get(column)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = _string(fields, column).lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Bad(column, "must be true or false")


def _moment(fields: Mapping[str, Any], column: str) -> date | datetime:
    text = _string(fields, column)
    if not text:
        raise _Bad(column, "is required")
    try:
        value: date | datetime = (
            date.fromisoformat(text) if _DATE.match(text) else datetime.fromisoformat(text)
        )
    except ValueError:
        raise _Bad(column, "is not an ISO 8601 date or date-time") from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _Bad(column, f"lies outside the years {MIN_YEAR}-{MAX_YEAR}")
    return value


def _choice(fields: Mapping[str, Any], column: str, allowed: tuple[str, ...], default: str) -> str:
    text = _string(fields, column)
    if not text:
        return default
    for option in allowed:
        if option.lower() == text.lower():
            return option
    raise _Bad(column, "must be one of " + ", ".join(allowed))


def _categories(fields: Mapping[str, Any]) -> tuple[str, ...]:
    value = fields.get("categories")
    if value is None:
        return ()
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise _Bad("categories", "must be a list of strings")
        return tuple(v.strip() for v in value if v.strip())
    return tuple(c.strip() for c in _string(fields, "categories").split(";") if c.strip())


def _reminder(fields: Mapping[str, Any]) -> int | None:
    value = fields.get("reminder")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _Bad("reminder", "must be a whole number of minutes")
    text = str(value).strip()
    if not re.fullmatch(r"\d{1,5}", text):
        raise _Bad("reminder", "must be a whole number of minutes")
    minutes = int(text)
    if minutes > 40_320:
        raise _Bad("reminder", "must be at most 40320 minutes (4 weeks)")
    return minutes


def _identifier(fields: Mapping[str, Any], column: str, limit: int) -> str:
    text = _string(fields, column)
    if not text:
        raise _Bad(column, "is required")
    if len(text) > limit or _CONTROL.search(text):
        raise _Bad(column, f"must be at most {limit} characters without control characters")
    return text


def _mailbox(fields: Mapping[str, Any]) -> str:
    """The row's mailbox, stripped; raises `_Bad` when no mailbox can claim the row."""
    mailbox = _identifier(fields, "mailbox", MAX_MAILBOX)
    if _SPACE.search(mailbox):  # re's \s on str is str.isspace(), Unicode spaces included
        raise _Bad("mailbox", "must not contain spaces")
    return mailbox


def _extras(fields: Mapping[str, Any], names: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The non-empty values of the extra columns `names`, sorted by name; raises `_Bad` for a JSON value
    that is not text or a number."""
    pairs = ((name, _string(fields, name)[:MAX_EXTRA]) for name in sorted(names))
    return tuple((name, value) for name, value in pairs if value)


def _event(
    fields: Mapping[str, Any], kind: Kind, source: str, mailbox: str, extras: frozenset[str] = frozenset()
) -> DesiredEvent:
    """One row or item of `mailbox` (checked by `_mailbox`) as a normalised DesiredEvent; raises `_Bad`.
    `extras`: the extra columns to carry for templates."""
    source_id = _identifier(fields, "source_id", MAX_ID)
    start, end = _moment(fields, "start"), _moment(fields, "end")
    zone_text = _string(fields, "time_zone")
    zone_name = zone_for_name(zone_text) if zone_text else None
    if zone_text and zone_name is None:
        raise _Bad("time_zone", "is not a zone Graph accepts")
    dated = [isinstance(v, date) and not isinstance(v, datetime) for v in (start, end)]
    all_day = _flag(fields, "all_day")
    if all_day is None:
        all_day = all(dated)
    if dated[0] != dated[1] and not all_day:
        raise _Bad("end", "start and end must both be dates or both be date-times")
    if all_day:
        days: list[date] = []
        for column, given in (("start", start), ("end", end)):
            if isinstance(given, datetime):
                if given.tzinfo is not None or given.time() != time():
                    raise _Bad(column, "must be a date (or a local midnight) for an all-day event")
                given = given.date()  # noqa: PLW2901 - the date of a local midnight
            days.append(given)
        if zone_name is None:
            raise _Bad("time_zone", "is required for an all-day event")
        tz = ZoneInfo(zone_name)
        if days[1] < days[0]:
            raise _Bad("end", "is before start")
        end_day = days[1] if days[1] > days[0] else days[0] + timedelta(days=1)
        start_dt = datetime.combine(days[0], time(), tzinfo=tz)
        end_dt = datetime.combine(end_day, time(), tzinfo=tz)
    else:
        instants: list[datetime] = []
        for column, given in (("start", start), ("end", end)):
            assert isinstance(given, datetime)
            if given.tzinfo is None and zone_name is None:
                raise _Bad("time_zone", f"is required when {column} has no offset")
            aware = given if given.tzinfo is not None else given.replace(tzinfo=ZoneInfo(str(zone_name)))
            instants.append(aware.astimezone(UTC))
        start_dt, end_dt = instants
        if end_dt < start_dt:
            raise _Bad("end", "is before start")
    if end_dt - start_dt > MAX_DURATION:
        raise _Bad("end", "the event lasts longer than 5 years")
    show_as = cast("ShowAs", _choice(fields, "show_as", SHOW_AS, "busy"))
    sensitivity = cast("Sensitivity", _choice(fields, "sensitivity", SENSITIVITIES, "normal"))
    event = DesiredEvent(
        mailbox=mailbox,
        source_key=SourceKey(f"{kind}:{source_id}"),
        subject=_string(fields, "subject"),
        start=start_dt,
        end=end_dt,
        time_zone=zone_name or "UTC",
        all_day=all_day,
        location=_string(fields, "location"),
        body=_string(fields, "description"),
        categories=_categories(fields),
        show_as=show_as,
        sensitivity=sensitivity,
        reminder_minutes=_reminder(fields),
        teams_meeting=bool(_flag(fields, "teams")),
        source=source,
        extras=_extras(fields, extras) if extras else (),
    )
    return normalise(event)


def _key(kind: Kind, fields: Mapping[str, Any]) -> str | None:
    """The source key of a row that is refused, when its source_id is readable (its copy is then kept)."""
    raw_id = fields.get("source_id")
    return f"{kind}:{raw_id.strip()}" if isinstance(raw_id, str) and raw_id.strip() else None


def _bad_row(
    kind: Kind, source: str, fields: Mapping[str, Any], where: str, bad: _Bad, *, mailbox: str | None
) -> SourceProblem:
    key = _key(kind, fields)
    code = "CSV_BAD_ROW" if kind == "csv" else "JSON_BAD_ITEM"
    return SourceProblem(
        source, f"{where}, column '{bad.column}'", code, f"{bad.column} {bad.message}", "error", key, mailbox
    )


def _owner(kind: Kind, source: str, fields: Mapping[str, Any], where: str) -> str | SourceProblem:
    """The row's mailbox (stripped), or the problem of a row whose mailbox is missing or unusable.

    Nobody can claim such a row, so its problem names no mailbox: it is every mailbox's problem (its key,
    if readable, is kept in every mailbox), with or without a mailbox filter.
    """
    try:
        return _mailbox(fields)
    except _Bad as bad:
        return _bad_row(kind, source, fields, where, bad, mailbox=None)


class _Collector:
    """Events and problems of one file, with the duplicate and window rules."""

    def __init__(
        self,
        kind: Kind,
        source: str,
        window: Window,
        mailbox: str | None,
        extras: frozenset[str] = frozenset(),
    ) -> None:
        self.kind = kind
        self.extras = extras
        self.source = source
        self.window = window
        self.mailbox = mailbox.lower() if mailbox else None
        self.events: dict[tuple[str, str], DesiredEvent] = {}
        self.problems: list[SourceProblem] = []
        self.code_bad = "CSV_BAD_ROW" if kind == "csv" else "JSON_BAD_ITEM"
        self.code_dup = "CSV_DUPLICATE_ID" if kind == "csv" else "JSON_DUPLICATE_ID"

    def warn(self, location: str, code: str, message: str) -> None:
        self.problems.append(SourceProblem(self.source, location, code, message, "warning"))

    def add(self, fields: Mapping[str, Any], where: str, *, too_wide: bool = False) -> None:
        """Validate one row or item; `too_wide`: a CSV row with more cells than the header has columns
        (often a delimiter inside an unquoted value), refused but with its key, so its copy is kept."""
        mailbox = _owner(self.kind, self.source, fields, where)
        if isinstance(mailbox, SourceProblem):
            self.problems.append(mailbox)
            return
        if self.mailbox is not None and mailbox.lower() != self.mailbox:
            return
        if too_wide:
            message = "the row has more cells than the header has columns (a delimiter in an unquoted value?)"
            self.problems.append(
                SourceProblem(
                    self.source, where, self.code_bad, message, "error", _key(self.kind, fields), mailbox
                )
            )
            return
        try:
            event = _event(fields, self.kind, self.source, mailbox, self.extras)
        except _Bad as bad:
            self.problems.append(_bad_row(self.kind, self.source, fields, where, bad, mailbox=mailbox))
            return
        except ValueError:
            message = "the row cannot be represented"
            key = _key(self.kind, fields)
            self.problems.append(
                SourceProblem(self.source, where, self.code_bad, message, "error", key, mailbox)
            )
            return
        ident = (event.mailbox.lower(), event.source_key)
        if ident in self.events:
            message = "another row has the same mailbox and source_id; the first is kept"
            key, owner = event.source_key, event.mailbox
            self.problems.append(
                SourceProblem(self.source, where, self.code_dup, message, "error", key, owner)
            )
            return
        self.events[ident] = event

    def result(self) -> SourceResult:
        kept = [e for e in self.events.values() if self.window.contains(e.start, e.end)]
        kept.sort(key=lambda e: (e.mailbox.lower(), e.source_key))
        return SourceResult(events=kept, problems=self.problems)


def _text(data: bytes, kind: Kind, source: str, options: TabularOptions) -> DecodedText:
    upper = kind.upper()
    if len(data) > options.max_bytes:
        # A JSON document is parsed whole, so it is capped; a UTF-8 CSV export is read from disk instead.
        hint = "; export CSV (UTF-8) for larger files: it is read in bounded memory" if kind == "json" else ""
        raise unavailable(source, f"{upper}_TOO_LARGE", f"the file is larger than the size cap{hint}")
    try:
        decoded = decode(data, unfold=False)
    except UndecodableText:
        code = "CSV_PARSE_ERROR" if kind == "csv" else "JSON_PARSE_ERROR"
        raise unavailable(source, code, "the file's text encoding is invalid") from None
    if decoded.fallback and kind == "json":
        raise unavailable(source, "JSON_PARSE_ERROR", "JSON must be UTF-8 (RFC 8259)")
    return decoded
