"""Offboarding: a mailbox that left a profile's selection loses that profile's events after a grace period.

Each round that reads a profile's selection successfully (the list, the group's members, the mailboxes
an export names) compares it with the mailboxes the profile has state for. One the selection no longer
names is marked as leaving (the store keeps the first time: `departures`); one that comes back is
unmarked; once `offboard_after_days` have passed, the profile's events in it are removed through the
purge use case (the profile's lease held, tombstones first) and its state forgotten.

The rails, because a mistaken selection (a group emptied by accident, an export cut short) looks exactly
like a mass departure:
- only a *successful* read counts: the callers run a round only after the selection was read, so a
  failed group read or an unreadable export (which raise) marks nobody;
- the breaker: when more than `offboard_max_mailboxes`, or two or more and more than
  `offboard_max_share` of the profile's mailboxes, are due in one round, none is offboarded; each due
  mailbox gets a `stopped` run with the code `OffboardBreaker` (shown by `sync` and `status`, exit 6),
  until an administrator runs `calsync offboard --profile P`, which lists them and offboards them;
- a profile that is no longer configured is never offboarded automatically (a typo in a profile name
  must not delete a deployment's events): `calsync status` names it and `calsync offboard` removes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from calsync import metrics
from calsync.services.deployment import Deployment, ProfileView
from calsync.services.leases import MailboxBusy
from calsync.services.maintenance import purge_profile_mailbox
from calsync.sync.engine import off_loop
from calsync.sync.ports import INVALID_USER, MAILBOX_NOT_ENABLED, RunReport, TargetError

log = logging.getLogger(__name__)

OFFBOARD_BREAKER = "OffboardBreaker"
OFFBOARDED = "Offboarded"
GONE_CODES = frozenset({MAILBOX_NOT_ENABLED, INVALID_USER})  # the mailbox itself is gone or closed


@dataclass(frozen=True)
class Departure:
    """A mailbox of a profile that left its selection at `since`; it is offboarded from `due` on."""

    profile: str
    mailbox: str
    since: datetime
    due: datetime


@dataclass
class OffboardRound:
    """What one round did for one profile. `reports`: one per due mailbox: `ok` with the events
    deleted (error_code Offboarded), `stopped` (OffboardBreaker), `skipped` (Busy) or `failed`."""

    profile: str
    leaving: list[Departure] = field(default_factory=list)  # marked, grace not over
    returned: list[str] = field(default_factory=list)  # back in the selection: mark cleared
    reports: list[RunReport] = field(default_factory=list)

    @property
    def offboarded(self) -> int:
        return sum(1 for r in self.reports if r.error_code == OFFBOARDED)


def breaker_trips(settings_max: int, share: float, due: int, known: int) -> bool:
    """More than `settings_max` mailboxes, or two or more and more than `share` of the profile's
    `known` mailboxes (one mailbox leaving a small deployment is a departure, not an accident)."""
    return due > settings_max or (due >= 2 and due > share * known)


async def offboard_round(view: ProfileView, selection: Sequence[str], *, now: datetime) -> OffboardRound:
    """Compare the profile's mailboxes with a selection *that was read successfully*, mark, unmark, and
    offboard the mailboxes whose grace period is over, unless the breaker trips."""
    store, settings = view.store, view.settings
    chosen = set(selection)
    known = await off_loop(store.mailboxes)
    marks = await off_loop(store.departures)
    # back in the selection, or nothing left to offboard (purged by hand meanwhile)
    await off_loop(store.clear_departed, [m for m in marks if m in chosen or m not in known])
    await off_loop(store.mark_departed, [m for m in known if m not in chosen])
    marks = await off_loop(store.departures)
    grace = timedelta(days=settings.offboard_after_days)
    result = OffboardRound(view.name, returned=sorted(m for m in marks if m in chosen))
    departures = [Departure(view.name, m, since, since + grace) for m, since in marks.items()]
    due = [d for d in departures if d.due <= now]
    result.leaving = [d for d in departures if d.due > now]
    if not due:
        return result
    if breaker_trips(settings.offboard_max_mailboxes, settings.offboard_max_share, len(due), len(known)):
        message = (
            f"{len(due)} of {len(known)} mailboxes left the selection of profile {view.name!r} at once "
            f"(at most {settings.offboard_max_mailboxes}, or {settings.offboard_max_share:.0%}): none "
            f"was offboarded; check the selection, then run `calsync offboard --profile {view.name}`"
        )
        log.warning("offboarding stopped: %s", message)
        for d in due:
            report = RunReport(d.mailbox, now, now, status="stopped", error_code=OFFBOARD_BREAKER,
                               message=message)  # fmt: skip
            await off_loop(store.record_run, report)
            result.reports.append(report)
        metrics.record_failure(OFFBOARD_BREAKER)
        return result
    result.reports = [await offboard_one(view, d, now=now) for d in due]
    return result


async def offboard_one(view: ProfileView, departure: Departure, *, now: datetime) -> RunReport:
    """Remove the profile's events from one mailbox and forget its state (the mark included). A mailbox
    that no longer exists or has no Exchange mailbox has no events to remove: its state is forgotten."""
    mailbox = departure.mailbox
    left = f"left the selection on {departure.since:%Y-%m-%d %H:%M} UTC"
    try:
        purged = await purge_profile_mailbox(view, mailbox)
    except MailboxBusy:
        busy = "another run of this mailbox is in progress; it is offboarded on a later round"
        return RunReport(mailbox, now, now, status="skipped", error_code="Busy", message=busy)
    except TargetError as exc:
        if exc.code not in GONE_CODES:
            return RunReport(mailbox, now, now, status="failed", error_code=exc.code, message=str(exc))
        await off_loop(view.store.purge_mailbox, mailbox)
        deleted, note = 0, f" (the mailbox is gone: {exc.code})"
    else:
        deleted, note = purged.deleted, ""
    log.info("offboarded %s from profile %s: %d events deleted", mailbox, view.name, deleted)
    metrics.record_offboarded(deleted)
    return RunReport(mailbox, now, now, status="ok", deleted=deleted, error_code=OFFBOARDED,
                     message=f"offboarded: {left}{note}")  # fmt: skip


# -- by hand: `calsync offboard` --------------------------------------------------------------------


def removed_profiles(deployment: Deployment) -> dict[str, list[str]]:
    """Profiles no longer configured that still have state in the database, with their mailboxes."""
    from calsync.store import split_scope

    configured = set(deployment.settings.profile_names())
    found: dict[str, list[str]] = {}
    for key in deployment.store.mailboxes():
        profile, mailbox = split_scope(key)
        if profile not in configured:
            found.setdefault(profile, []).append(mailbox)
    return found


def due(deployment: Deployment, profile: str) -> list[Departure]:
    """Who `calsync offboard --profile` would offboard: a configured profile's mailboxes whose grace
    period is over (the breaker does not apply: this is the administrator's decision), or every mailbox
    of a profile that is no longer configured."""
    now = deployment.clock()
    if profile in deployment.settings.profile_names():
        view = deployment.profile(profile)
        grace = timedelta(days=view.settings.offboard_after_days)
        marks = view.store.departures()
        return [Departure(profile, m, t, t + grace) for m, t in marks.items() if t + grace <= now]
    return [Departure(profile, m, now, now) for m in removed_profiles(deployment).get(profile, [])]


async def offboard(
    deployment: Deployment, profile: str, *, confirm: Callable[[list[Departure]], bool] | None = None
) -> list[RunReport]:
    """Offboard `due(deployment, profile)` now, after `confirm` (asked with the list; nothing happens
    when it declines or the list is empty). For a profile that is no longer configured, its events are
    found by its ownership tag in each mailbox's default calendar (or the top level's `calendar_id`)."""
    going = await off_loop(due, deployment, profile)
    if not going or (confirm is not None and not confirm(going)):
        return []
    view = deployment.profile(profile) if profile in deployment.settings.profile_names() else (
        deployment.former_profile(profile)
    )  # fmt: skip
    now = deployment.clock()
    return [await offboard_one(view, d, now=now) for d in going]


def leaving(deployment: Deployment, profile: str | None = None) -> list[Departure]:
    """Every configured profile's (or one's) mailboxes that left the selection, not yet offboarded,
    for `calsync status`. Empty on a database not migrated to departures yet (status migrates nothing)."""
    from sqlalchemy.exc import SQLAlchemyError

    found: list[Departure] = []
    for view in deployment.profiles(profile):
        grace = timedelta(days=view.settings.offboard_after_days)
        try:
            marks = view.store.departures()
        except SQLAlchemyError:
            return []
        found += [Departure(view.name, m, t, t + grace) for m, t in marks.items()]
    return found
