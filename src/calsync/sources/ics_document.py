"""What every stage of reading one iCalendar feed shares: the options, per-document state, the skip signal.

Split from `calsync.sources.ics` so that the zone, field, item and series modules can report problems and
skip an event without importing the document-level flow, which imports them. Also holds the small readers
that take a property's value without trusting icalendar's types (`_listify`, `_prop_dt`, `_text`, `_upper`).
`IcsOptions` is public as `calsync.sources.ics.IcsOptions` (and `calsync.sources.IcsOptions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from calsync.domain import Window
from calsync.sources.budget import Budget
from calsync.sources.model import SourceProblem
from calsync.sources.tzids import zone_for_name


@dataclass(frozen=True, slots=True)
class IcsOptions:
    """Limits and defaults for reading a feed; every limit is a knob (reliability-targets caveats)."""

    source: str = "ics"
    default_zone: str = "UTC"
    # Report ICS_FLOATING_TIME when a time with no zone is read in `default_zone`: until an administrator
    # chooses that zone it is a guess (UTC), and real timetable exports then land hours off.
    warn_floating: bool = True
    default_reminder: int | None = None
    max_bytes: int = 10 * 1024 * 1024
    max_events: int = 20_000
    max_line: int = 1024 * 1024
    max_depth: int = 8
    max_instances: int = 5_000
    max_dates_per_event: int = 5_000
    steps_per_event: int = 1_500_000
    seconds_per_event: float = 1.0
    steps_per_document: int = 40_000_000
    seconds_per_document: float = 20.0
    # X- properties carried into `DesiredEvent.extras` for a profile's templates, by field name:
    # "x_activity_type" reads X-ACTIVITY-TYPE. Only these, so events cost nothing more without templates.
    extra_fields: frozenset[str] = frozenset()
    # "series": a series Graph can hold exactly becomes one DesiredEvent with its SeriesSpec (a profile's
    # `recurrence` setting, calsync.sources.ics_series_master); "occurrences": one event per instance.
    # The parser's default stays the plain expansion that series mode falls back to; the deployment's
    # default ("series") is Settings.recurrence, which calsync.services.sourcing always passes here.
    recurrence: Literal["occurrences", "series"] = "occurrences"

    def __post_init__(self) -> None:
        name = zone_for_name(self.default_zone)
        if name is None:
            raise ValueError(f"default_zone {self.default_zone!r} is not a zone Graph accepts")
        object.__setattr__(self, "default_zone", name)  # Windows names become their IANA zone


class _Skip(Exception):
    """An event (or instance) cannot be used; carries the problem code and a safe message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class _Doc:
    """Per-document state: options, window, problems, zones and the shared budget."""

    mailbox: str
    window: Window
    options: IcsOptions
    budget: Budget
    problems: list[SourceProblem] = field(default_factory=list)
    floating_reported: bool = False

    def problem(
        self, location: str, code: str, message: str, severity: str = "error", key: str | None = None
    ) -> None:
        self.problems.append(
            SourceProblem(
                self.options.source,
                location,
                code,
                message,
                "warning" if severity == "warning" else "error",
                key,
            )
        )

    def floating_time(self) -> None:
        """A time with no zone was read in the default zone: warn once per feed, naming the setting."""
        if self.floating_reported or not self.options.warn_floating:
            return
        self.floating_reported = True
        self.problem(
            "source",
            "ICS_FLOATING_TIME",
            f"times with no time zone (no TZID, no X-WR-TIMEZONE) are read as {self.options.default_zone}; "
            "set default_time_zone to the feed's zone",
            "warning",
        )


# ---------------------------------------------------------------------------------------------------------
# Property values


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _prop_dt(prop: Any) -> Any:
    """The parsed value of a date-ish property, or None when it is missing or broken (vBroken)."""
    if prop is None:
        return None
    try:
        return prop.dt
    except Exception:
        return None


def _text(prop: Any) -> str:
    if prop is None:
        return ""
    if isinstance(prop, list):
        prop = prop[0] if prop else ""
    return str(prop)


def _upper(prop: Any) -> str:
    return _text(prop).strip().upper()
