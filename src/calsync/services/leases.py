"""Mailbox leases: one run per mailbox at a time, across processes, renewed while it lasts and fenced.

A lease lives in the state store, so it holds across every process sharing the database (architecture
invariant 5). Each run takes it under an owner name of its own (`host:pid:nonce`): two runs in one process
are two owners, and a dead process on this host is recognised by its pid. While the run lasts a heartbeat
renews the lease every third of its time; before each chunk of writes the engine awaits the run's guard,
which renews it *only if this run still holds it* (calsync.sync.guard). So a process that stalled past its
lease, and whose mailbox another process took over, stops before its next write instead of interleaving
with the new owner. The same guard ends a run at a chunk boundary when the service shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from calsync.store import RuntimeStateStore
from calsync.sync.engine import off_loop
from calsync.sync.guard import LEASE_LOST, SHUTTING_DOWN, Guard, RunInterrupted

DEFAULT_LEASE_SECONDS = 120.0


def run_owner() -> str:
    """A lease owner name for one run: this host and pid (to recognise a dead local owner) and a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str) -> bool:
    """True when `owner` names a process on this host that no longer exists: a run that was killed
    (SIGKILL, OOM, a container's power cut) never released its leases, and its mailboxes would otherwise
    wait out the lease. Owners on other hosts wait for their lease to expire."""
    parts = owner.split(":")
    if len(parts) not in (2, 3):  # "host:pid" (before per-run owners) or "host:pid:nonce"
        return False
    host, pid = parts[0], parts[1]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def acquire(leases: RuntimeStateStore, mailbox: str, owner: str, seconds: float) -> bool:
    """Take the mailbox's lease; a lease held by a process of this host that no longer runs is taken over
    at once instead of waiting for it to expire."""
    if leases.acquire_lease(mailbox, owner, seconds):
        return True
    holder = leases.lease_owner(mailbox)
    if holder is not None and _dead_here(holder):
        leases.release_lease(mailbox, holder)
        return leases.acquire_lease(mailbox, owner, seconds)
    return False


class MailboxBusy(Exception):
    """Another run holds the mailbox's lease."""


@dataclass
class Lease:
    """A held lease: `guard` is what the engine awaits before each chunk."""

    store: RuntimeStateStore
    mailbox: str
    owner: str
    seconds: float
    stopping: asyncio.Event | None = None
    lost: bool = field(default=False, init=False)

    async def renew(self) -> bool:
        if not self.lost and not await off_loop(
            self.store.renew_lease, self.mailbox, self.owner, self.seconds
        ):
            self.lost = True
        return not self.lost

    async def guard(self, mailbox: str) -> None:
        if self.stopping is not None and self.stopping.is_set():
            raise RunInterrupted(
                SHUTTING_DOWN, "the service is shutting down; the next run goes on from here"
            )
        if not await self.renew():
            raise RunInterrupted(
                LEASE_LOST,
                "this run lost the mailbox's lease to another process (it stalled past the lease time); "
                "it stopped before writing again",
            )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            if not await self.renew():
                return


@asynccontextmanager
async def hold(
    store: RuntimeStateStore,
    mailbox: str,
    *,
    seconds: float = DEFAULT_LEASE_SECONDS,
    stopping: asyncio.Event | None = None,
    owner: str | None = None,
) -> AsyncIterator[Lease]:
    """Hold the mailbox's lease for the block (heartbeat included), or raise MailboxBusy."""
    lease = Lease(store, mailbox, owner or run_owner(), seconds, stopping)
    if not await off_loop(acquire, store, mailbox, lease.owner, seconds):
        raise MailboxBusy(mailbox)
    beat = asyncio.create_task(lease._heartbeat(), name=f"lease-heartbeat:{mailbox}")
    try:
        yield lease
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await off_loop(store.release_lease, mailbox, lease.owner)


__all__ = ["DEFAULT_LEASE_SECONDS", "Guard", "Lease", "MailboxBusy", "acquire", "hold", "run_owner"]
