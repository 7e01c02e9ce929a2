"""The time zone names Microsoft Graph accepts in ``dateTimeTimeZone``, and Graph's date-time wire format.

Why: Graph accepts any Windows time zone name plus the IANA names listed on the dateTimeTimeZone page
and rejects everything else with 400 ``TimeZoneNotSupportedException`` (graph-facts §12); a client that
sends "Greenwich Mean Time" must fail here as it would against Exchange. Both name sets come from CLDR
``windowsZones.xml`` as shipped by ``tzlocal.windows_tz``: the Windows names are the keys of ``win_tz``,
the IANA names the keys of ``tz_win`` (the list the Graph page reproduces), and ``UTC`` is always valid.

Choices (Graph's own behaviour is not documented for these):
- Names match case-insensitively (unconfirmed for Graph; .NET ``FindSystemTimeZoneById`` ignores case and
  being lenient costs nothing); :func:`canonical_name` and :func:`to_output` echo the canonical spelling.
  Surrounding whitespace is not stripped, so ``" UTC"`` is rejected.
- A Windows name resolves to the zone CLDR gives for territory 001 ("W. Europe Standard Time" ->
  Europe/Berlin), so its rules, including history, are that city's.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from tzlocal.windows_tz import tz_win, win_tz

__all__ = [
    "TimeZoneNotSupported",
    "canonical_name",
    "parse_graph_datetime",
    "resolve",
    "supported_time_zones",
    "to_output",
    "windows_names",
]

_OFFSET_SAMPLE_YEAR = 2025  # fixed so supportedTimeZones does not change with the calendar
_DATETIME_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,7}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?",
    re.ASCII,
)


class TimeZoneNotSupported(ValueError):
    """Graph's ``TimeZoneNotSupportedException``; the message is the one Exchange returns."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            "A valid TimeZone value must be specified. "
            f"The following TimeZone value is not supported: '{name}'."
        )


@functools.cache
def _table() -> dict[str, tuple[str, str]]:
    """Lower-cased accepted name -> (canonical spelling, IANA key to load)."""
    table = {iana.lower(): (iana, iana) for iana in tz_win if iana}  # tzlocal's table has a stray "" key
    table.update((win.lower(), (win, iana)) for win, iana in win_tz.items())
    table["utc"] = ("UTC", "UTC")
    return table


def canonical_name(name: str) -> str:
    """The accepted spelling of ``name`` (``"utc"`` -> ``"UTC"``); raises :class:`TimeZoneNotSupported`."""
    entry = _table().get(name.lower()) if isinstance(name, str) else None
    if entry is None:
        raise TimeZoneNotSupported(str(name))
    return entry[0]


@functools.lru_cache(maxsize=1024)  # bounded: case variants of names are unbounded input
def resolve(name: str) -> ZoneInfo:
    """The zone for a Windows name, ``UTC`` or a CLDR-listed IANA name, matched case-insensitively.

    Anything else (``"Greenwich Mean Time"``, ``"Mars/Olympus"``, ``""``) raises
    :class:`TimeZoneNotSupported`, including IANA names zoneinfo knows but CLDR does not list.
    """
    entry = _table().get(name.lower()) if isinstance(name, str) else None
    if entry is None:
        raise TimeZoneNotSupported(str(name))
    return ZoneInfo(entry[1])


def windows_names() -> list[str]:
    """All accepted Windows time zone names (including ``UTC``), sorted."""
    return sorted(win_tz)


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None  # aware by construction
    return offset


def _standard_offset(zone: ZoneInfo) -> timedelta:
    """Offset without DST, from mid-January and mid-July of a fixed year.

    Picks the sample whose ``dst()`` is zero, which is right in both hemispheres; if neither is (never seen)
    it falls back to the smaller offset.
    """
    samples = [datetime(_OFFSET_SAMPLE_YEAR, month, 15, 12, tzinfo=zone) for month in (1, 7)]
    standard = [_offset(s) for s in samples if s.dst() == timedelta(0)]
    return min(standard or [_offset(s) for s in samples])


def _format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _readable(windows: str, iana: str) -> str:
    """City of the CLDR primary zone ("Europe/Berlin" -> "Berlin"); Etc/ zones get Windows' wording
    for the ``UTC±n`` names ("UTC-11" -> "Coordinated Universal Time-11") or else the Windows name."""
    if iana.startswith("Etc/") or "/" not in iana:
        return "Coordinated Universal Time" + windows[3:] if windows.startswith("UTC") else windows
    return iana.rsplit("/", 1)[1].replace("_", " ")


@functools.cache
def _windows_items() -> tuple[tuple[str, str], ...]:
    rows = []
    for windows, iana in win_tz.items():
        offset = _standard_offset(ZoneInfo(iana))
        display = f"(UTC{_format_offset(offset)}) {_readable(windows, iana)}"
        rows.append((offset, display, windows))
    return tuple((alias, display) for _, display, alias in sorted(rows))


def supported_time_zones(standard: Literal["windows", "iana"] = "windows") -> list[dict[str, str]]:
    """Body items of ``GET /me/outlook/supportedTimeZones`` (``TimeZoneStandard`` windows or iana).

    Windows items are ordered by standard offset, then display name, like Windows' own list. The
    display name is ``(UTC±hh:mm) `` plus the primary zone's city; real Exchange wording differs (e.g.
    "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"), so clients must not parse it.
    IANA items use the name for both fields, sorted by name. Fresh dicts are returned on every call.
    """
    if standard == "windows":
        return [{"alias": alias, "displayName": display} for alias, display in _windows_items()]
    if standard == "iana":
        return [{"alias": name, "displayName": name} for name in sorted(n for n in tz_win if n)]
    raise ValueError(f"standard must be 'windows' or 'iana', not {standard!r}")


def to_output(dt_utc: datetime, zone_name: str | None) -> tuple[str, str]:
    """``(dateTime, timeZone)`` for a Graph response: local wall time in ``zone_name`` (None -> UTC).

    ``dateTime`` has seven fractional digits (.NET ticks; the last is always 0) and no offset, e.g.
    ``2017-04-15T11:00:00.0000000``; ``timeZone`` is the canonical spelling of the name.
    """
    if dt_utc.tzinfo is None or dt_utc.utcoffset() is None:
        raise ValueError(f"to_output needs an aware datetime, got naive {dt_utc!r}")
    name = "UTC" if zone_name is None else canonical_name(zone_name)
    local = dt_utc.astimezone(resolve(name))
    text = (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T"
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}.{local.microsecond:06d}0"
    )
    return text, name


def parse_graph_datetime(value: str, zone_name: str) -> datetime:
    """Parse a client's ``dateTimeTimeZone`` into an aware UTC datetime.

    ``value`` is ``YYYY-MM-DDTHH:MM:SS`` with 0-7 fractional digits (digits beyond microseconds are
    truncated) and an optional ``Z`` or ``±hh:mm``. An explicit offset wins over ``zone_name`` (the wall
    time is then already pinned), but ``zone_name`` must still be a supported name, as Graph validates it.
    Without an offset the wall time is read in ``zone_name``: a time in a DST gap is shifted forward by the
    gap (02:30 on a spring-forward night in Berlin becomes 03:30 CEST) and an ambiguous time takes its
    first occurrence (fold=0, i.e. the DST reading); both follow PEP 495 for fold=0.
    """
    zone = resolve(zone_name)
    if not isinstance(value, str):
        raise ValueError(f"dateTime must be a string, got {type(value).__name__}")
    match = _DATETIME_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid dateTime {value!r}: expected YYYY-MM-DDTHH:MM:SS[.fffffff][Z|±hh:mm]")
    frac = (match["frac"] or "").ljust(6, "0")[:6]
    try:
        naive = datetime.fromisoformat(f"{match['date']}T{match['time']}").replace(microsecond=int(frac))
    except ValueError as exc:
        raise ValueError(f"invalid dateTime {value!r}: {exc}") from None
    offset = match["offset"]
    try:
        if offset:
            suffix = "+00:00" if offset.upper() == "Z" else offset
            return datetime.fromisoformat(naive.isoformat() + suffix).astimezone(UTC)
        return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # offset >= 24h, or the UTC instant leaves years 1-9999
        raise ValueError(f"invalid dateTime {value!r}: {exc}") from None
