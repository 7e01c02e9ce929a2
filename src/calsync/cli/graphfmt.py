"""Input parsing and display for `calsync graph ...` (kept apart from the commands themselves).

Parsing runs before anything is sent, so bad arguments are usage errors (exit 2); display turns Graph's
JSON into Rich tables with times in the requested zone.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from tzlocal import get_localzone

from calsync.domain.zones import UnknownTimeZone, iana_zone, windows_zone

_FRACTION = re.compile(r"(\.\d{6})\d+")

# -- argument parsing (before anything is sent; errors are usage errors, exit 2) ------------------------


def zone_name(tz: str | None, param: str = "--tz") -> str | None:
    """The Windows name of a Windows or IANA zone, or None."""
    if tz is None:
        return None
    try:
        return windows_zone(tz)
    except UnknownTimeZone:
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint=param) from None


def parse_instant(value: str, param: str) -> datetime:
    """An ISO 8601 date-time ("Z" and offsets allowed)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date-time: {value!r}", param_hint=param) from None


def date_time_zone(value: str, tz: str | None, param: str) -> dict[str, str]:
    """Graph's dateTimeTimeZone for `value`: local wall time in `tz` (Windows name), or UTC."""
    when = parse_instant(value, param)
    windows = zone_name(tz)
    if windows is None:
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        return {"dateTime": when.isoformat(timespec="seconds"), "timeZone": "UTC"}
    if when.tzinfo is not None:
        when = when.astimezone(iana_zone(windows)).replace(tzinfo=None)
    return {"dateTime": when.isoformat(timespec="seconds"), "timeZone": windows}


def window_bound(value: str, tz: str | None, param: str) -> datetime:
    """An aware instant for a calendarView bound (a value without offset is read in `tz`, else UTC)."""
    when = parse_instant(value, param)
    if when.tzinfo is None:
        windows = zone_name(tz)
        when = when.replace(tzinfo=iana_zone(windows) if windows else UTC)
    return when


def read_json_file(path: Path, param: str) -> dict[str, Any]:
    """A JSON object from a file (an event body)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=param) from None
    except ValueError as exc:
        raise typer.BadParameter(f"{path} is not valid JSON: {exc}", param_hint=param) from None
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} must hold a JSON object", param_hint=param)
    return data


def event_fields(
    *,
    subject: str | None,
    start: str | None,
    end: str | None,
    tz: str | None,
    location: str | None,
    body: str | None,
    teams: bool | None,
) -> dict[str, Any]:
    """The event properties given as options (only those given)."""
    fields: dict[str, Any] = {}
    if subject is not None:
        fields["subject"] = subject
    if start is not None:
        fields["start"] = date_time_zone(start, tz, "--start")
    if end is not None:
        fields["end"] = date_time_zone(end, tz, "--end")
    if location is not None:
        fields["location"] = {"displayName": location}
    if body is not None:
        fields["body"] = {"contentType": "text", "content": body}
    if teams is not None:
        fields["isOnlineMeeting"] = teams
        if teams:
            fields["onlineMeetingProvider"] = "teamsForBusiness"
    return fields


def parse_headers(values: Sequence[str]) -> dict[str, str]:
    """`Name: value` pairs from repeated --header options."""
    headers: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected 'Name: value', got {item!r}", param_hint="--header")
        headers[name.strip()] = value.strip()
    return headers


def parse_data(data: str | None) -> Any:
    """The JSON body of a raw request: inline JSON, or @file."""
    if data is None:
        return None
    text = data
    if data.startswith("@"):
        try:
            text = Path(data[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {data[1:]}: {exc.strerror}", param_hint="--data") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from None


def prefer_zone(tz: str | None) -> dict[str, str] | None:
    """`Prefer: outlook.timezone` for a zone (its Windows name), or None."""
    windows = zone_name(tz)
    return {"Prefer": f'outlook.timezone="{windows}"'} if windows else None


# -- display -------------------------------------------------------------------------------------------


def display_zone(tz: str | None) -> tzinfo:
    """The zone tables show times in: `--tz`, else this machine's (UTC when it cannot be told)."""
    windows = zone_name(tz)
    if windows:
        return iana_zone(windows)
    try:
        with warnings.catch_warnings():  # tzlocal warns when the system zone is configured oddly
            warnings.simplefilter("ignore")
            return get_localzone()
    except (LookupError, ValueError, OSError):
        return UTC


def show_time(value: Any, zone: tzinfo, *, all_day: bool = False) -> str:
    """A Graph dateTimeTimeZone as local time in `zone` ("" when absent, the raw text when unreadable)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return ""
    text = _FRACTION.sub(r"\1", str(value["dateTime"]))
    try:
        when = datetime.fromisoformat(text)
        if all_day:
            return when.strftime("%Y-%m-%d")
        if when.tzinfo is None:
            when = when.replace(tzinfo=iana_zone(str(value.get("timeZone") or "UTC")))
        return when.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except (ValueError, UnknownTimeZone):
        return f"{value['dateTime']} {value.get('timeZone', '')}".strip()


def zone_label(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)


_TYPES = {
    "singleInstance": "single",
    "seriesMaster": "series",
    "occurrence": "occurrence",
    "exception": "exception",
}


def events_table(title: str, events: Sequence[dict[str, Any]], zone: tzinfo) -> Table:
    """Events as a table: times in `zone`, subject (location below it), type, and the whole id (it is what
    get, update and delete take, so it is folded onto several lines rather than cut)."""
    table = Table(title=f"{title} (times in {zone_label(zone)})")
    table.add_column("start", no_wrap=True)
    table.add_column("end", no_wrap=True)
    table.add_column("subject / location")
    table.add_column("type", no_wrap=True)
    table.add_column("id", overflow="fold")
    for event in events:
        all_day = bool(event.get("isAllDay"))
        location = event.get("location") if isinstance(event.get("location"), dict) else {}
        where = str((location or {}).get("displayName") or "")
        kind = str(event.get("type") or "")
        start = show_time(event.get("start"), zone, all_day=all_day)
        end = show_time(event.get("end"), zone, all_day=all_day)
        if not all_day and len(start) == len(end) == 16 and start[:10] == end[:10]:
            end = end[11:]  # same day: the time is enough
        subject = escape(str(event.get("subject") or ""))
        table.add_row(
            start,
            end,
            f"{subject}\n[dim]{escape(where)}[/]" if where else subject,
            _TYPES.get(kind, kind),
            str(event.get("id") or ""),
        )
    return table


def event_details(event: dict[str, Any], zone: tzinfo) -> Table:
    """One event as a two-column table."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    all_day = bool(event.get("isAllDay"))
    location = event.get("location") if isinstance(event.get("location"), dict) else {}
    organizer = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address")
    meeting = event.get("onlineMeeting") if isinstance(event.get("onlineMeeting"), dict) else {}
    rows = [
        ("subject", event.get("subject")),
        (f"start ({zone_label(zone)})", show_time(event.get("start"), zone, all_day=all_day)),
        ("end", show_time(event.get("end"), zone, all_day=all_day)),
        ("all day", "yes" if all_day else None),
        ("location", (location or {}).get("displayName")),
        ("organizer", organizer),
        ("show as", event.get("showAs")),
        ("type", event.get("type")),
        (
            "online meeting",
            (meeting or {}).get("joinUrl") or ("yes" if event.get("isOnlineMeeting") else None),
        ),
        ("preview", event.get("bodyPreview")),
        ("id", event.get("id")),
        ("changeKey", event.get("changeKey")),
    ]
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, escape(str(value)))
    return table


async def take(items: AsyncIterator[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """The first `top` items (all when top is 0)."""
    result: list[dict[str, Any]] = []
    async for item in items:
        result.append(item)
        if top and len(result) >= top:
            break
    return result


# -- calendars -----------------------------------------------------------------------------------------
