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

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from calsync.cli.graphfmt import (
    display_zone,
    event_details,
    event_fields,
    events_table,
    parse_data,
    parse_headers,
    prefer_zone,
    read_json_file,
    take,
    window_bound,
)
from calsync.cli.output import console, emit_json, reported
from calsync.cli.state import settings_from

if TYPE_CHECKING:  # calsync.graph (httpx, msal) is imported when a command runs, not for --help
    from calsync.graph import GraphClient

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

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


T = TypeVar("T")


def with_graph(ctx: typer.Context, call: Callable[[GraphClient], Awaitable[T]]) -> T:
    """Run one call with a Graph client built from this invocation's settings, closing it afterwards;
    the only `asyncio.run` of these commands."""
    import asyncio  # here, with wiring: `calsync graph --help` needs neither

    from calsync import wiring

    settings = settings_from(ctx.obj)

    async def run() -> T:
        async with wiring.graph_client(settings) as graph:
            return await call(graph)

    return asyncio.run(run())


@calendars_app.command("list")
def calendars_list(ctx: typer.Context, mailbox: MailboxOpt, as_json: JsonOpt = False) -> None:
    """Every calendar of a mailbox."""
    with reported(as_json=as_json):
        calendars = with_graph(ctx, lambda graph: take(graph.list_calendars(mailbox), 0))
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
    with reported(as_json=as_json):
        page = min(top, 100) if top else 100
        events = with_graph(
            ctx,
            lambda graph: take(
                graph.list_events(mailbox, calendar, filter=filter, page_size=page, headers=headers), top
            ),
        )
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
    with reported(as_json=as_json):
        event = with_graph(ctx, lambda graph: graph.get_event(mailbox, event_id, headers=headers))
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
    with reported(as_json=as_json):
        event = with_graph(ctx, lambda graph: graph.create_event(mailbox, payload, calendar))
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
    with reported(as_json=as_json):
        event = with_graph(ctx, lambda graph: graph.update_event(mailbox, event_id, patch, if_match=if_match))
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
    with reported(as_json=as_json):
        deleted = with_graph(ctx, lambda graph: graph.delete_event(mailbox, event_id, if_match=if_match))
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
    with reported(as_json=as_json):
        events = with_graph(
            ctx,
            lambda graph: take(
                graph.calendar_view(mailbox, first, last, calendar, page_size=100, headers=headers), top
            ),
        )
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
    with reported(as_json=as_json):

        async def send(graph: GraphClient) -> tuple[int, Any]:
            if all_pages:
                return 200, {"value": await take(graph.paginate(path, headers=headers), 0)}
            response = await graph.request(verb, path, json=body, headers=headers or None)
            if not response.content:
                return response.status_code, None
            try:
                return response.status_code, response.json()
            except ValueError:
                return response.status_code, response.text

        status, answer = with_graph(ctx, send)
        if as_json:
            emit_json(answer)
        elif answer is None:
            console.print(f"HTTP {status} (no content)")
        elif isinstance(answer, str):
            console.print(answer, markup=False)
        else:
            console.print_json(data=answer)
