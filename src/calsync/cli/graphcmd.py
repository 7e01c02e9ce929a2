"""`calsync graph ...`: the Graph calendar operations as commands (a connector), and a raw request.

Every command goes through one `GraphClient` (wiring.graph_client), so tokens, retries, Retry-After and the
per-mailbox limits apply exactly as in a sync. Each has `--json` (Graph's JSON, unchanged, on stdout) and a
Rich table for people. Arguments are checked before anything is sent (usage errors exit 2); Graph's and the
identity platform's errors are rendered by calsync.cli.output (exit 4 for auth, 5 for Graph).

Times: `--start/--end/--from/--to` take ISO 8601. A value with an offset (or "Z") is an instant; a value
without one is read in `--tz` (a Windows or IANA zone name), or in UTC when no `--tz` is given. calsync
sends Windows zone names (the ones Graph accepts everywhere). Tables show times in `--tz`, else in this
machine's zone.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from tzlocal import get_localzone

from calsync import wiring
from calsync.cli.output import console, emit_json, reported
from calsync.cli.state import settings_from
from calsync.domain.zones import UnknownTimeZone, iana_zone, windows_zone

app = typer.Typer(
    help="Calendar operations through Microsoft Graph, and a raw request for anything else.",
    no_args_is_help=True,
)
calendars_app = typer.Typer(help="A mailbox's calendars.", no_args_is_help=True)
events_app = typer.Typer(help="Events: list, get, create, update, delete.", no_args_is_help=True)
app.add_typer(calendars_app, name="calendars")
app.add_typer(events_app, name="events")

MailboxOpt = Annotated[str, typer.Option("--mailbox", "-m", help="User id, UPN, or 'me' (delegated).")]
CalendarOpt = Annotated[
    str | None, typer.Option("--calendar", help="Calendar id (default: the mailbox's default calendar).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (Graph's JSON).")]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--tz", help="Time zone (Windows or IANA name) for times without an offset and for display."
    ),
]
EventId = Annotated[str, typer.Argument(help="The event id (case-sensitive).")]

_FRACTION = re.compile(r"(\.\d{6})\d+")
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


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


async def _take(items: AsyncIterator[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """The first `top` items (all when top is 0)."""
    result: list[dict[str, Any]] = []
    async for item in items:
        result.append(item)
        if top and len(result) >= top:
            break
    return result


# -- calendars -----------------------------------------------------------------------------------------


@calendars_app.command("list")
def calendars_list(ctx: typer.Context, mailbox: MailboxOpt, as_json: JsonOpt = False) -> None:
    """Every calendar of a mailbox."""
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> list[dict[str, Any]]:
            async with wiring.graph_client(settings) as graph:
                return [c async for c in graph.list_calendars(mailbox)]

        calendars = asyncio.run(go())
        if as_json:
            emit_json(calendars)
            return
        table = Table(title=f"Calendars of {escape(mailbox)}")
        for name in ("name", "default", "can edit", "owner", "id"):
            table.add_column(name, overflow="fold" if name == "id" else "ellipsis")
        for c in calendars:
            owner = (c.get("owner") or {}).get("address") or ""
            table.add_row(
                escape(str(c.get("name") or "")),
                "yes" if c.get("isDefaultCalendar") else "",
                "yes" if c.get("canEdit") else "no",
                escape(str(owner)),
                str(c.get("id") or ""),
            )
        console.print(table)


# -- events --------------------------------------------------------------------------------------------


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    mailbox: MailboxOpt,
    calendar: CalendarOpt = None,
    top: Annotated[int, typer.Option("--top", min=0, help="At most this many events (0: all).")] = 50,
    filter: Annotated[
        str | None, typer.Option("--filter", help="An OData $filter, e.g. \"subject eq 'Algebra'\".")
    ] = None,
    tz: TzOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Single events and series masters (use `graph view` for occurrences in a time range)."""
    headers = prefer_zone(tz)
    zone = display_zone(tz)
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> list[dict[str, Any]]:
            async with wiring.graph_client(settings) as graph:
                page = min(top, 100) if top else 100
                items = graph.list_events(mailbox, calendar, filter=filter, page_size=page, headers=headers)
                return await _take(items, top)

        events = asyncio.run(go())
        if as_json:
            emit_json(events)
            return
        console.print(events_table(f"{len(events)} events of {escape(mailbox)}", events, zone))


@events_app.command("get")
def events_get(
    ctx: typer.Context, event_id: EventId, mailbox: MailboxOpt, tz: TzOpt = None, as_json: JsonOpt = False
) -> None:
    """One event."""
    headers = prefer_zone(tz)
    zone = display_zone(tz)
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> dict[str, Any]:
            async with wiring.graph_client(settings) as graph:
                return await graph.get_event(mailbox, event_id, headers=headers)

        event = asyncio.run(go())
        if as_json:
            emit_json(event)
            return
        console.print(event_details(event, zone))


@events_app.command("create")
def events_create(
    ctx: typer.Context,
    mailbox: MailboxOpt,
    subject: Annotated[str | None, typer.Option("--subject", help="The title.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="ISO 8601 start.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="ISO 8601 end.")] = None,
    tz: TzOpt = None,
    location: Annotated[str | None, typer.Option("--location", help="Where (a display name).")] = None,
    body: Annotated[str | None, typer.Option("--body", help="Plain-text description.")] = None,
    teams: Annotated[bool, typer.Option("--teams", help="Make it a Teams meeting.")] = False,
    json_body: Annotated[
        Path | None,
        typer.Option("--json-body", help="A JSON file with the event (Graph's schema); options override it."),
    ] = None,
    calendar: CalendarOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an event (sent with a fresh transactionId, so a retry after a timeout never duplicates it)."""
    payload = read_json_file(json_body, "--json-body") if json_body else {}
    payload.update(
        event_fields(
            subject=subject, start=start, end=end, tz=tz, location=location, body=body, teams=teams or None
        )
    )
    for key, option in (("start", "--start"), ("end", "--end")):
        if key not in payload:
            raise typer.BadParameter("required (or give it in --json-body)", param_hint=option)
    payload.setdefault("transactionId", str(uuid.uuid4()))
    zone = display_zone(tz)
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> dict[str, Any]:
            async with wiring.graph_client(settings) as graph:
                return await graph.create_event(mailbox, payload, calendar)

        event = asyncio.run(go())
        if as_json:
            emit_json(event)
            return
        console.print(f"[green]Created[/] event in {escape(mailbox)}:")
        console.print(event_details(event, zone))


@events_app.command("update")
def events_update(
    ctx: typer.Context,
    event_id: EventId,
    mailbox: MailboxOpt,
    subject: Annotated[str | None, typer.Option("--subject", help="New title.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="New ISO 8601 start.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="New ISO 8601 end.")] = None,
    tz: TzOpt = None,
    location: Annotated[str | None, typer.Option("--location", help="New location.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="New plain-text description.")] = None,
    teams: Annotated[
        bool | None, typer.Option("--teams/--no-teams", help="Turn the Teams meeting on (or try off).")
    ] = None,
    json_body: Annotated[
        Path | None, typer.Option("--json-body", help="A JSON file with the properties to change.")
    ] = None,
    if_match: Annotated[
        str | None,
        typer.Option("--if-match", help="Only if the event still has this changeKey (else exit 5, 412)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an event's properties (PATCH); only the given ones change."""
    patch = read_json_file(json_body, "--json-body") if json_body else {}
    patch.update(
        event_fields(subject=subject, start=start, end=end, tz=tz, location=location, body=body, teams=teams)
    )
    if not patch:
        raise typer.BadParameter("nothing to change: give --subject, --start, ... or --json-body")
    zone = display_zone(tz)
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> dict[str, Any]:
            async with wiring.graph_client(settings) as graph:
                return await graph.update_event(mailbox, event_id, patch, if_match=if_match)

        event = asyncio.run(go())
        if as_json:
            emit_json(event)
            return
        console.print(f"[green]Updated[/] event in {escape(mailbox)}:")
        console.print(event_details(event, zone))


@events_app.command("delete")
def events_delete(
    ctx: typer.Context,
    event_id: EventId,
    mailbox: MailboxOpt,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    if_match: Annotated[
        str | None, typer.Option("--if-match", help="Only if the event still has this changeKey.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete an event (asks first unless --yes). An event that is already gone is not an error."""
    if not yes and not typer.confirm(f"Delete event {event_id} from {mailbox}?"):
        raise typer.Abort()
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> bool:
            async with wiring.graph_client(settings) as graph:
                return await graph.delete_event(mailbox, event_id, if_match=if_match)

        deleted = asyncio.run(go())
        if as_json:
            emit_json({"id": event_id, "deleted": deleted, "alreadyGone": not deleted})
            return
        console.print("Deleted." if deleted else "The event was already gone.")


# -- calendarView --------------------------------------------------------------------------------------


@app.command("view")
def view(
    ctx: typer.Context,
    mailbox: MailboxOpt,
    start: Annotated[str, typer.Option("--from", help="ISO 8601 start of the range.")],
    end: Annotated[str, typer.Option("--to", help="ISO 8601 end of the range.")],
    calendar: CalendarOpt = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="Ask Graph for times in this zone (Prefer: outlook.timezone) and read --from/--to in it.",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="At most this many events (0: all).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Occurrences, exceptions and single events overlapping a time range, in local time."""
    first = window_bound(start, tz, "--from")
    last = window_bound(end, tz, "--to")
    if last <= first:
        raise typer.BadParameter("must be after --from", param_hint="--to")
    headers = prefer_zone(tz)
    zone = display_zone(tz)
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> list[dict[str, Any]]:
            async with wiring.graph_client(settings) as graph:
                items = graph.calendar_view(mailbox, first, last, calendar, page_size=100, headers=headers)
                return await _take(items, top)

        events = asyncio.run(go())
        if as_json:
            emit_json(events)
            return
        title = f"{len(events)} events of {escape(mailbox)}, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
        console.print(events_table(title, events, zone))


# -- raw request ---------------------------------------------------------------------------------------


@app.command("request")
def request(
    ctx: typer.Context,
    method: Annotated[str, typer.Argument(help="GET, POST, PATCH, PUT or DELETE.")],
    path: Annotated[
        str,
        typer.Argument(help="Relative to graph_url, e.g. /users/ada@contoso.com/calendars (query allowed)."),
    ],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="JSON body, or @file to read it from a file.")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="Extra header 'Name: value' (repeatable).")
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="GET only: follow @odata.nextLink and print every item.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send any Graph request (auth, retries and limits apply) and print the JSON answer."""
    verb = method.upper()
    if verb not in METHODS:
        raise typer.BadParameter(f"one of {', '.join(METHODS)}", param_hint="METHOD")
    if all_pages and verb != "GET":
        raise typer.BadParameter("only with GET", param_hint="--all")
    body = parse_data(data)
    headers = parse_headers(header or [])
    with reported():
        settings = settings_from(ctx.obj)

        async def go() -> tuple[int, Any]:
            async with wiring.graph_client(settings) as graph:
                if all_pages:
                    return 200, {"value": [item async for item in graph.paginate(path, headers=headers)]}
                response = await graph.request(verb, path, json=body, headers=headers or None)
                if not response.content:
                    return response.status_code, None
                try:
                    return response.status_code, response.json()
                except ValueError:
                    return response.status_code, response.text

        status, answer = asyncio.run(go())
        if as_json:
            emit_json(answer)
        elif answer is None:
            console.print(f"HTTP {status} (no content)")
        elif isinstance(answer, str):
            console.print(answer, markup=False)
        else:
            console.print_json(data=answer)
