"""The in-process runner: sync many mailboxes concurrently, each under a lease so no two runs overlap.

A lease (in the state store, so it holds across processes sharing a database) guarantees one run per
mailbox at a time (architecture invariant 5); a mailbox whose lease is held elsewhere is reported as
busy and left for the next run. Mailboxes run `parallelism` at a time: the Graph client still keeps each
mailbox within Outlook's limits, this only bounds memory and the number of open plans.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from calsync.domain import Window
from calsync.sync.engine import Engine, SourceSnapshot
from calsync.sync.ports import Action, RunReport

SourceLoader = Callable[[str, Window], Awaitable[SourceSnapshot]]


class Leases(Protocol):
    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool: ...

    def release_lease(self, mailbox: str, owner: str) -> bool: ...

    def lease_owner(self, mailbox: str) -> str | None: ...


def _dead_here(owner: str) -> bool:
    """True when `owner` ("host:pid") is a process on this host that no longer exists: a run that was
    killed (SIGKILL, OOM, power cut of a container) never released its leases, and its mailboxes would
    otherwise wait out the whole lease time. Owners on other hosts wait for their lease to expire."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Progress(Protocol):
    """What a runner reports while it works (the CLI draws Rich progress bars from it)."""

    def mailbox_started(self, mailbox: str) -> None: ...

    def writes_progress(self, mailbox: str, done: int, total: int) -> None: ...

    def mailbox_finished(self, mailbox: str, report: RunReport) -> None: ...


def this_process() -> str:
    """The lease owner name of this process: host and pid, so a dead local owner can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(leases: Leases, mailbox: str, owner: str, seconds: float) -> bool:
    """Take the mailbox's lease; a lease held by a process of this host that no longer runs is taken over
    at once instead of waiting for it to expire."""
    if leases.acquire_lease(mailbox, owner, seconds):
        return True
    holder = leases.lease_owner(mailbox)
    if holder is not None and _dead_here(holder):
        leases.release_lease(mailbox, holder)
        return leases.acquire_lease(mailbox, owner, seconds)
    return False


@dataclass
class MailboxOutcome:
    mailbox: str
    report: RunReport
    actions: list[Action] = field(default_factory=list)


@dataclass
class Runner:
    engine: Engine
    leases: Leases
    load: SourceLoader
    parallelism: int = 8
    lease_seconds: float = 3600.0
    owner: str = field(default_factory=this_process)
    progress: Progress | None = None

    async def run(
        self, mailboxes: Sequence[str], window: Window, *, dry_run: bool = False, force: bool = False
    ) -> list[MailboxOutcome]:
        """Sync every mailbox; the outcomes come back in the order of `mailboxes`."""
        if self.progress is not None:
            progress = self.progress
            self.engine.on_progress = progress.writes_progress
        gate = asyncio.Semaphore(self.parallelism)

        async def one(mailbox: str) -> MailboxOutcome:
            async with gate:
                return await self._one(mailbox, window, dry_run=dry_run, force=force)

        return list(await asyncio.gather(*(one(m) for m in mailboxes)))

    def _acquire(self, mailbox: str) -> bool:
        return acquire(self.leases, mailbox, self.owner, self.lease_seconds)

    async def _one(self, mailbox: str, window: Window, *, dry_run: bool, force: bool) -> MailboxOutcome:
        if self.progress is not None:
            self.progress.mailbox_started(mailbox)
        if not self._acquire(mailbox):
            now = datetime.now(UTC)
            report = RunReport(mailbox, now, now, status="skipped", error_code="Busy",
                               message="another run of this mailbox is in progress")  # fmt: skip
            outcome = MailboxOutcome(mailbox, report)
        else:
            try:
                source = await self.load(mailbox, window)
                report, actions = await self.engine.run(mailbox, source, window, dry_run=dry_run, force=force)
                # Plans are kept only for dry runs (`calsync plan`): a real run of thousands of mailboxes
                # would otherwise hold every plan until the end.
                outcome = MailboxOutcome(mailbox, report, actions if dry_run else [])
            finally:
                self.leases.release_lease(mailbox, self.owner)
        if self.progress is not None:
            self.progress.mailbox_finished(mailbox, outcome.report)
        return outcome
