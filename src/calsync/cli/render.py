"""How sync, plan and status results look: Rich tables and progress bars for people, dicts for --json."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from calsync.cli.output import console
from calsync.sync.ports import Create, Delete, Quarantined, RunReport, Update

if TYPE_CHECKING:
    from calsync.services import MailboxOutcome, MailboxStatus
    from calsync.services.connstatus import ConnectionStatusView
    from calsync.services.offboarding import Departure

COUNTS = ("created", "updated", "deleted", "adopted", "unchanged", "failed")
PLAN_COLUMNS = ("mailbox", "action", "key", "subject", "start", "reason", "profile")
PROBLEMS_SHOWN = 3


class RichProgress:
    """Rich bars: one for all mailboxes, one per mailbox while it writes (calsync.services.Progress)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.overall = progress.add_task("mailboxes", total=None)
        self.tasks: dict[str, TaskID] = {}
        self.started = 0

    def mailbox_started(self, mailbox: str) -> None:
        self.tasks[mailbox] = self.progress.add_task(mailbox, total=None)

    def writes_progress(self, mailbox: str, done: int, total: int) -> None:
        task = self.tasks.get(mailbox)
        if task is not None:
            self.progress.update(task, completed=done, total=max(total, 1))

    def mailbox_finished(self, mailbox: str, report: RunReport) -> None:
        task = self.tasks.pop(mailbox, None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.advance(self.overall)


@contextmanager
def progress_bars() -> Iterator[RichProgress]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield RichProgress(progress)


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def label(profile: str, mailbox: str) -> str:
    """How a mailbox is named in tables: with its profile unless that is the default one."""
    return mailbox if profile == "default" else f"{profile}:{mailbox}"


def report_json(r: RunReport) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(r).items()}


def outcome_json(o: MailboxOutcome) -> dict[str, Any]:
    return {**report_json(o.report), "profile": o.profile, "offboarding": o.offboarding}


def quarantined_json(item: Quarantined) -> dict[str, object]:
    return {"key": item.source_key, "code": item.code, "message": item.message, "failures": item.failures}


def status_json(s: MailboxStatus) -> dict[str, Any]:
    """The last run's report, flattened as before, plus the mailbox's health and history."""
    return {
        **report_json(s.last_run),
        "profile": s.profile,
        "quarantinedItems": [quarantined_json(q) for q in s.quarantined],
        "lastSuccess": _when(s.last_success),
        "consecutiveFailures": s.consecutive_failures,
        "history": [report_json(r) for r in s.history],
    }


def offboarding_notes(leaving: Sequence[Departure], removed: dict[str, list[str]]) -> list[str]:
    """What `calsync status` says about offboarding: who is leaving a profile, and profiles that are no
    longer configured but still have events (never offboarded without `calsync offboard`)."""
    notes = [
        f"{label(d.profile, d.mailbox)}: left the selection {d.since:%Y-%m-%d %H:%M} UTC; its events are "
        f"removed from {d.due:%Y-%m-%d %H:%M} UTC unless it comes back"
        for d in leaving
    ]
    notes += [
        f"profile {name!r} is no longer configured but has state for {len(boxes)} mailbox(es); "
        f"`calsync offboard --profile {name}` removes its events"
        for name, boxes in sorted(removed.items())
    ]
    return notes


def _more(total: int, shown: int) -> str | None:
    return f"and {total - shown} more" if total > shown else None


def _summary(outcomes: Sequence[MailboxOutcome], *, limit: int) -> Table:
    """Totals, and one row per mailbox (problem mailboxes first) up to `limit`."""
    table = Table(title="Sync summary")
    table.add_column("mailbox", no_wrap=True, min_width=12, max_width=24, overflow="ellipsis")
    table.add_column("status", no_wrap=True, min_width=7)
    for name in ("new", "upd", "del", "adopt", "same", "fail"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    totals = RunReport("total", datetime.now(UTC))
    shown = sorted(
        outcomes, key=lambda o: (o.report.status in ("ok", "not_applicable"), o.profile, o.mailbox)
    )
    for i, outcome in enumerate(shown):
        r = outcome.report
        for field in COUNTS:
            setattr(totals, field, getattr(totals, field) + getattr(r, field))
        if i < limit:
            table.add_row(label(outcome.profile, r.mailbox), r.status, *(str(getattr(r, f)) for f in COUNTS))
    if len(shown) > limit:
        table.add_row(f"... {len(shown) - limit} more", "", "", "", "", "", "", "")
    ok = sum(1 for o in outcomes if o.report.status == "ok")
    totals_row = (f"[bold]{getattr(totals, f)}[/]" for f in COUNTS)
    table.add_row(f"[bold]{len(outcomes)} mailboxes[/]", f"{ok} ok", *totals_row)
    return table


def print_summary(outcomes: Sequence[MailboxOutcome], *, limit: int = 25, details: int = 25) -> None:
    """The summary table, then why each mailbox that is not ok is not, and its first problems; every list
    that is cut says how many more there are."""
    console.print(_summary(outcomes, limit=limit))
    troubled = [
        o
        for o in sorted(outcomes, key=lambda o: (o.profile, o.mailbox))
        if o.report.error_code or o.report.problems
    ]
    for o in troubled[:details]:
        r = o.report
        if r.error_code:
            console.print(
                f"[yellow]{label(o.profile, o.mailbox)}[/]: {r.status}: {r.error_code}: {r.message}"
            )
        for problem in r.problems[:PROBLEMS_SHOWN]:
            console.print(f"[yellow]{label(o.profile, o.mailbox)}[/]: {problem}")
        if more := _more(len(r.problems), PROBLEMS_SHOWN):
            console.print(
                f"[yellow]{label(o.profile, o.mailbox)}[/]: ... {more} problems "
                f"(`calsync status -p {o.profile} -m {o.mailbox}`)"
            )
    if more := _more(len(troubled), details):
        console.print(f"... {more} mailboxes with problems (`calsync status` lists them all)")
    not_applicable = sum(1 for o in outcomes if o.report.status == "not_applicable")
    if not_applicable:
        console.print(
            f"{not_applicable} member(s) have no Exchange Online mailbox (unlicensed or on-premises): "
            "not applicable, not failures (setting mailbox_not_enabled)."
        )


def plan_rows(outcomes: Sequence[MailboxOutcome]) -> list[tuple[str, str, str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    for o in outcomes:
        for a in o.actions:
            if isinstance(a, Create | Update):
                rows.append((o.mailbox, type(a).__name__.lower(), a.desired.source_key, a.desired.subject,
                             a.desired.start.isoformat(timespec="minutes"), "", o.profile))  # fmt: skip
            elif isinstance(a, Delete):
                rows.append((o.mailbox, "delete", a.source_key, "", "", a.reason, o.profile))
        if o.report.error_code:
            rows.append(
                (o.mailbox, "stop", "", "", "", f"{o.report.error_code}: {o.report.message}", o.profile)
            )
        # recurrence = "series": why a series is written as single occurrences (docs/sync.md)
        notes = [p for p in o.report.problems if p.startswith(SERIES_AS_OCCURRENCES)]
        rows.extend((o.mailbox, "note", "", "", "", p, o.profile) for p in notes)
    return rows


SERIES_AS_OCCURRENCES = "ICS_SERIES_AS_OCCURRENCES"


def print_plan(rows: Sequence[tuple[str, ...]], *, limit: int = 500) -> None:
    """The plan as a table; a profile other than the default one is shown with its mailbox."""
    table = Table(title=f"Plan: {len(rows)} actions")
    for name in PLAN_COLUMNS[:-1]:
        table.add_column(name)
    for mailbox, *middle, profile in rows[:limit]:
        table.add_row(label(profile, mailbox), *middle)
    console.print(table)
    if more := _more(len(rows), limit):
        console.print(f"... {more} (use --json for all)")


def aware(value: datetime | None) -> datetime | None:
    """A --since value: UTC unless it says otherwise."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def print_status(found: Sequence[MailboxStatus], *, history: bool, details: int = 25) -> None:
    table = Table(title=f"Status of {len(found)} mailboxes (UTC)")
    table.add_column("mailbox", no_wrap=True, min_width=12, max_width=21, overflow="ellipsis")
    table.add_column("last run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("last ok", no_wrap=True)
    for name in ("fails", "new", "upd", "del", "quar"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for s in found:
        r = s.last_run
        when = (r.finished or r.started).strftime("%m-%d %H:%M")
        ok = s.last_success.strftime("%m-%d %H:%M") if s.last_success else "never"
        counts = (str(s.consecutive_failures), str(r.created), str(r.updated), str(r.deleted))
        table.add_row(label(s.profile, s.mailbox), when, r.status, ok, *counts, str(len(s.quarantined)))
    console.print(table)
    for s in found:
        if s.last_run.error_code:
            r = s.last_run
            console.print(
                f"[yellow]{label(s.profile, s.mailbox)}[/]: {r.status}: {r.error_code}: {r.message}"
            )
    quarantined = [(label(s.profile, s.mailbox), q) for s in found for q in s.quarantined]
    for mailbox, q in quarantined[:details]:
        console.print(f"[yellow]quarantined[/] {mailbox} {q.source_key}: {q.code} {q.message}")
    if more := _more(len(quarantined), details):
        console.print(f"... {more} quarantined items (--json lists them all)")
    if not history:
        return
    for s in found:
        table = Table(title=f"Runs of {label(s.profile, s.mailbox)}, newest first")
        for name in ("started", "status", "new", "upd", "del", "fail", "error"):
            table.add_column(name, no_wrap=name != "error")
        for r in s.history:
            table.add_row(r.started.strftime("%Y-%m-%d %H:%M:%S"), r.status, str(r.created), str(r.updated),
                          str(r.deleted), str(r.failed), r.error_code or "")  # fmt: skip
        console.print(table)


def print_connections(people: Sequence[ConnectionStatusView]) -> None:
    """People's own connections (delegated permissions): who, in what state, why, last success."""
    table = Table(title=f"{len(people)} connected people (UTC)")
    for name in ("mailbox", "connection", "status", "since", "last ok", "events", "why"):
        table.add_column(name, no_wrap=name != "why")
    for p in people:
        c = p.connection
        ok = p.last_success.strftime("%m-%d %H:%M") if p.last_success else "never"
        why = escape(p.reason or p.last_error)
        since = c.status_at.strftime("%m-%d %H:%M")
        table.add_row(label(c.profile, c.mailbox), c.id[:8] + "…", c.status, since, ok, str(p.events), why)
    console.print(table)
