"""Purge a mailbox and release quarantined items: the two repairs an administrator makes by hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from calsync.domain import SourceKey, Window
from calsync.services.deployment import Deployment, ProfileView
from calsync.services.leases import MailboxBusy, hold
from calsync.services.naming import mailbox_name
from calsync.sync import tombstones
from calsync.sync.engine import off_loop
from calsync.sync.ports import ObservedEvent, TargetError

CALENDAR_NAME_TAKEN = "calendar_name_taken"  # calsync.adapters.calendars: the name is a person's calendar
EVERYTHING = Window(datetime(1601, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


class NothingToRelease(ValueError):
    """None of the named keys is quarantined in the mailbox."""

    def __init__(self, mailbox: str, held: Iterable[str]) -> None:
        self.mailbox = mailbox
        self.held = sorted(held)
        super().__init__(f"no such quarantined item in {mailbox}")


@dataclass(frozen=True)
class PurgeResult:
    mailbox: str
    found: int  # calsync's events in the mailbox when the purge began
    deleted: int  # of those, gone now
    declined: bool = False  # the confirmation was declined: nothing was changed
    # with `purge_removes_calendar`, what became of the profile's own calendar: "removed", "absent" (it
    # has none) or "kept_not_empty" (events are left in it, e.g. a person's); None when not configured
    calendar: str | None = None


async def purge_mailbox(
    deployment: Deployment,
    mailbox: str,
    *,
    profile: str | None = None,
    confirm: Callable[[int], bool] | None = None,
) -> PurgeResult:
    """Remove every event one profile (None: the top level's) created in the mailbox and forget its
    state there (tombstones kept), its feed's validators included; other profiles' events and state
    stay. With `calendar_name` and `purge_removes_calendar` the profile's own calendar is deleted too,
    if nothing else is left in it.

    Holds the profile's lease on the mailbox, so it never runs beside a sync of it (MailboxBusy
    otherwise). `confirm` is asked with the number of events found, before anything is deleted."""
    return await purge_profile_mailbox(deployment.profile(profile), mailbox_name(mailbox), confirm=confirm)


async def purge_profile_mailbox(
    view: ProfileView, mailbox: str, *, confirm: Callable[[int], bool] | None = None
) -> PurgeResult:
    """`purge_mailbox` for a profile's view, also one no longer configured (offboarding it by hand)."""
    engine, store = await view.engine(), view.store
    async with hold(store, mailbox, seconds=view.settings.lease_seconds):
        managed = await _managed(engine.target.list_managed, mailbox)
        # with no events left (e.g. a purge killed after its deletes) the state is still cleaned
        if managed and confirm is not None and not confirm(len(managed)):
            return PurgeResult(mailbox, len(managed), 0, declined=True)
        # tombstones first (a later sync re-creates with new transaction ids), then the deletes
        deleted = await tombstones.purge(engine.target, store, engine.tenant_id, mailbox, managed)
        await off_loop(store.purge_mailbox, mailbox)
        # the feed is unchanged, but the mailbox no longer holds it: the next sync must not skip on a 304
        from calsync.services.sourcing import forget_feed  # the sources' packages: only when purging

        await off_loop(forget_feed, view.settings, store, mailbox)
        named = await view.named_calendar() if view.settings.purge_removes_calendar else None
        removal = await named.remove(mailbox) if named is not None else None
    return PurgeResult(mailbox, len(managed), deleted, calendar=removal)


async def _managed(
    list_managed: Callable[[str, Window], Awaitable[list[ObservedEvent]]], mailbox: str
) -> list[ObservedEvent]:
    """The profile's events; none when its calendar's name belongs to a calendar calsync did not create
    (then it has no calendar, and so no events, in the mailbox)."""
    try:
        return await list_managed(mailbox, EVERYTHING)
    except TargetError as exc:
        if exc.code != CALENDAR_NAME_TAKEN:
            raise
        return []


def release(
    deployment: Deployment,
    mailbox: str,
    keys: Iterable[str] = (),
    *,
    everything: bool = False,
    profile: str | None = None,
) -> list[str]:
    """Let a profile's quarantined items be tried again on its next sync; the keys released
    (NothingToRelease when none of `keys` is quarantined)."""
    mailbox = mailbox_name(mailbox)
    store = deployment.profile(profile).store
    held = store.quarantined(mailbox)
    wanted = set(keys)
    chosen: list[str] = sorted(held) if everything else sorted(k for k in held if k in wanted)
    if not chosen:
        raise NothingToRelease(mailbox, held)
    for key in chosen:
        store.release_quarantine(mailbox, SourceKey(key))
    return chosen


__all__ = ["MailboxBusy", "NothingToRelease", "PurgeResult", "purge_mailbox", "release"]
