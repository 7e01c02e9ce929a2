"""`calsync graph ...` connector commands beside graphcmd's: calendars create/update/delete, a series'
instances, free/busy (`schedule`) and `meeting-times`. Registered on graphcmd's groups by `register`.

Each runs one use case of calsync.services.connector through the same Graph client as every `graph`
command (graphcmd.with_graph), so inputs are checked once, there, and a bad one is a usage error (exit 2).
`--json` prints Graph's JSON unchanged (docs/cli-json.md); without it, Rich tables in `--tz` or local time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from calsync.cli.graphcmd import JsonOpt, MailboxOpt, TzOpt, with_graph
from calsync.cli.graphfmt import display_zone, events_table, show_time, window_bound, zone_label, zone_name
from calsync.cli.output import EXIT_AUTH, console, emit_json, renders, reported

if TYPE_CHECKING:
    from calsync.graph import GraphClient

T = TypeVar("T")
CalendarId = Annotated[str, typer.Argument(help="The calendar id (case-sensitive).")]
ColorOpt = Annotated[
    str | None,
    typer.Option("--color", help="auto, lightBlue, lightGreen, lightOrange, lightGray, ... lightRed."),
]
FromOpt = Annotated[str, typer.Option("--from", help="ISO 8601 start (read in --tz when it has no offset).")]
ToOpt = Annotated[str, typer.Option("--to", help="ISO 8601 end (read in --tz when it has no offset).")]
FREE_BUSY = {"0": "·", "1": "░", "2": "█", "3": "▓"}  # free, tentative, busy, away
_registered = False


def _register_renderings() -> None:
    """The connector's errors in words; registered when a connector command first runs (the services
    package is not imported for `calsync --help`)."""
    global _registered  # noqa: PLW0603 - once per process
    if _registered:
        return
    from calsync.services.connector import DelegatedOnly

    @renders(DelegatedOnly)
    def _delegated(exc: Exception) -> tuple[str, int]:
        return escape(str(exc)), EXIT_AUTH

    _registered = True


@contextmanager
def _checked() -> Iterator[None]:
    """InvalidInput from the use case becomes a usage error (exit 2), as a bad option would."""
    from calsync.services.connector import InvalidInput

    _register_renderings()
    try:
        yield
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc)) from None


def run(ctx: typer.Context, call: Callable[[GraphClient], Awaitable[T]]) -> T:
    with _checked():
        return with_graph(ctx, call)


def _window(start: str, end: str, tz: str | None) -> tuple[datetime, datetime]:
    return window_bound(start, tz, "--from"), window_bound(end, tz, "--to")


# -- calendars ---------------------------------------------------------------------------------------------


def _calendar_table(calendar: dict[str, Any]) -> Table:
    table = Table(show_header=False, title=escape(str(calendar.get("name") or "")))
    table.add_column("property", style="bold")
    table.add_column("value", overflow="fold")
    owner = (calendar.get("owner") or {}).get("address") or ""
    rows = [
        ("id", calendar.get("id")),
        ("color", f"{calendar.get('color')} ({calendar.get('hexColor') or 'no colour set'})"),
        ("default", "yes" if calendar.get("isDefaultCalendar") else "no"),
        ("can edit", "yes" if calendar.get("canEdit") else "no"),
        ("removable", "yes" if calendar.get("isRemovable") else "no"),
        ("online meetings", ", ".join(calendar.get("allowedOnlineMeetingProviders") or []) or "none"),
        ("owner", owner),
    ]
    for name, value in rows:
        table.add_row(name, escape(str(value or "")))
    return table


def calendars_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The new calendar's name (unique in the mailbox).")],
    mailbox: MailboxOpt,
    color: ColorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a calendar in a mailbox."""
    from calsync.services import connector

    with reported(as_json=as_json):
        made = run(ctx, lambda graph: connector.create_calendar(graph, mailbox, name, color))
        if as_json:
            emit_json(made)
            return
        console.print(_calendar_table(made))


def calendars_update(
    ctx: typer.Context,
    calendar_id: CalendarId,
    mailbox: MailboxOpt,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    color: ColorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename or recolour a calendar."""
    from calsync.services import connector

    with reported(as_json=as_json):
        changed = run(
            ctx, lambda graph: connector.update_calendar(graph, mailbox, calendar_id, name=name, color=color)
        )
        if as_json:
            emit_json(changed)
            return
        console.print(_calendar_table(changed))


def calendars_delete(
    ctx: typer.Context,
    calendar_id: CalendarId,
    mailbox: MailboxOpt,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a calendar with all its events (asks first unless --yes).

    The default calendar cannot be deleted; one that is already gone is not an error."""
    from calsync.services import connector

    if not yes and not typer.confirm(f"Delete calendar {calendar_id} of {mailbox} and all its events?"):
        raise typer.Abort()
    with reported(as_json=as_json):
        deleted = run(ctx, lambda graph: connector.delete_calendar(graph, mailbox, calendar_id))
        if as_json:
            emit_json({"id": calendar_id, "deleted": deleted, "alreadyGone": not deleted})
            return
        console.print("Deleted." if deleted else "The calendar was already gone.")


# -- instances ---------------------------------------------------------------------------------------------


def instances(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The series master's id.")],
    mailbox: MailboxOpt,
    start: FromOpt,
    end: ToOpt,
    tz: TzOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many occurrences.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The occurrences and exceptions of a recurring event within a time range."""
    from calsync.services import connector

    first, last = _window(start, end, tz)
    with reported(as_json=as_json):
        found = run(
            ctx, lambda graph: connector.occurrences(graph, mailbox, event_id, first, last, limit=limit)
        )
        if as_json:
            emit_json(found)
            return
        title = f"{len(found)} occurrences, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
        console.print(events_table(title, found, display_zone(tz)))


# -- free/busy ---------------------------------------------------------------------------------------------


def schedule(
    ctx: typer.Context,
    addresses: Annotated[list[str], typer.Argument(help="Email addresses of people, rooms or equipment.")],
    mailbox: MailboxOpt,
    start: FromOpt,
    end: ToOpt,
    interval: Annotated[int, typer.Option("--interval", help="Minutes per free/busy slot (5-1440).")] = 30,
    tz: TzOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Free/busy of people or rooms (Graph's getSchedule), asked through a mailbox's calendar."""
    from calsync.services import connector

    first, last = _window(start, end, tz)
    zone = zone_name(tz)
    with reported(as_json=as_json):
        found = run(
            ctx,
            lambda graph: connector.free_busy(
                graph, mailbox, addresses, first, last, interval_minutes=interval, time_zone=zone
            ),
        )
        if as_json:
            emit_json(found)
            return
        console.print(_schedule_table(found, display_zone(tz), interval))


def _schedule_table(found: list[dict[str, Any]], zone: Any, interval: int) -> Table:
    legend = "· free  ░ tentative  █ busy  ▓ away"
    table = Table(title=f"Free/busy, {interval}-minute slots (times in {zone_label(zone)})", caption=legend)
    for column in ("who", "slots", "start", "end", "status", "subject"):
        table.add_column(column, no_wrap=column in ("start", "end", "status"))
    for info in found:
        who = escape(str(info.get("scheduleId") or ""))
        error = info.get("error")
        if error:
            table.add_row(
                who, "", "", "", "unknown", escape(f"{error.get('responseCode')}: {error.get('message')}")
            )
            continue
        view = "".join(FREE_BUSY.get(d, "?") for d in str(info.get("availabilityView") or ""))
        items = info.get("scheduleItems") or []
        if not items:
            table.add_row(who, view, "", "", "free", "")
        for n, item in enumerate(items):
            subject = "(private)" if item.get("isPrivate") else str(item.get("subject") or "")
            table.add_row(
                who if n == 0 else "",
                view if n == 0 else "",
                show_time(item.get("start"), zone),
                show_time(item.get("end"), zone),
                str(item.get("status") or ""),
                escape(subject),
            )
    return table


# -- meeting times -----------------------------------------------------------------------------------------

_REASONS = {
    "attendeesUnavailable": "the attendees are not available enough at any time in the range",
    "attendeesUnavailableOrUnknown": "some attendees' availability is unknown (outside the organisation?)",
    "organizerUnavailable": "the organizer is busy throughout (try --organizer-optional)",
    "locationsUnavailable": "no location is available",
    "unknown": "Graph gave no reason",
}


def meeting_times(
    ctx: typer.Context,
    attendees: Annotated[list[str], typer.Argument(help="Attendees' email addresses (required attendees).")],
    mailbox: MailboxOpt,
    start: FromOpt,
    end: ToOpt,
    duration: Annotated[int, typer.Option("--duration", min=1, help="Meeting length in minutes.")] = 30,
    domain: Annotated[
        str, typer.Option("--hours", help="work (Mon-Fri 8-17), personal (every day 8-17) or unrestricted.")
    ] = "work",
    max_candidates: Annotated[
        int | None, typer.Option("--max", help="At most this many suggestions.")
    ] = None,
    minimum: Annotated[
        float | None, typer.Option("--min-attendance", help="Minimum confidence in percent (Graph: 50).")
    ] = None,
    organizer_optional: Annotated[
        bool, typer.Option("--organizer-optional", help="Suggest times the organizer is busy too.")
    ] = False,
    tz: TzOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Meeting time suggestions (Graph's findMeetingTimes) with the mailbox as organizer.

    Graph offers this only to a delegated (signed-in) connection, not with application permissions."""
    from calsync.services import connector

    first, last = _window(start, end, tz)
    query = connector.MeetingQuery(
        attendees=attendees,
        start=first,
        end=last,
        duration=timedelta(minutes=duration),
        activity_domain=domain,  # type: ignore[arg-type]  # checked by the use case
        max_candidates=max_candidates,
        minimum_attendee_percentage=minimum,
        organizer_optional=organizer_optional,
        return_reasons=True,
    )
    zone = zone_name(tz)
    with reported(as_json=as_json):
        result = run(ctx, lambda graph: connector.meeting_times(graph, mailbox, query, time_zone=zone))
        if as_json:
            emit_json(result)
            return
        suggestions = result.get("meetingTimeSuggestions") or []
        if not suggestions:
            reason = str(result.get("emptySuggestionsReason") or "unknown")
            console.print(f"No suggestion: {escape(_REASONS.get(reason, reason))}.")
            return
        shown = display_zone(tz)
        table = Table(title=f"Meeting times (times in {zone_label(shown)})")
        for column in ("#", "start", "end", "confidence", "organizer", "attendees"):
            table.add_column(column, no_wrap=column != "attendees")
        for s in suggestions:
            slot = s.get("meetingTimeSlot") or {}
            people = ", ".join(
                f"{(a.get('attendee') or {}).get('emailAddress', {}).get('address')}: {a.get('availability')}"
                for a in s.get("attendeeAvailability") or []
            )
            table.add_row(
                str(s.get("order") or ""),
                show_time(slot.get("start"), shown),
                show_time(slot.get("end"), shown),
                f"{s.get('confidence')}%",
                str(s.get("organizerAvailability") or ""),
                escape(people),
            )
        console.print(table)


def register(graph_app: typer.Typer, calendars_app: typer.Typer) -> None:
    """Add these commands to `calsync graph` and `calsync graph calendars`."""
    calendars_app.command("create")(calendars_create)
    calendars_app.command("update")(calendars_update)
    calendars_app.command("delete")(calendars_delete)
    graph_app.command("instances")(instances)
    graph_app.command("schedule")(schedule)
    graph_app.command("meeting-times")(meeting_times)


__all__ = ["register"]
