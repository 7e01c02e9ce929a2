"""The guard a run passes to the engine: may this run still write?

A run holds its mailbox's lease while it writes (architecture invariant 5). A process that stalls (a
long GC pause, a suspended VM, SIGSTOP) past its lease may find that another process took the mailbox
over; if it then went on writing, two runs would interleave their intents and writes. So before every
chunk the engine awaits the guard, which renews the lease *only if this run still holds it* and raises
`RunInterrupted` otherwise (a fencing check, done in the database, not in this process's memory). The
same hook stops a run cleanly at a chunk boundary when the service shuts down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

LEASE_LOST = "LeaseLost"
SHUTTING_DOWN = "ShuttingDown"


class RunInterrupted(Exception):
    """The run must stop before its next write; `code` is stable (LeaseLost, ShuttingDown)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Guard = Callable[[str], Awaitable[None]]
"""Awaited with the mailbox before each chunk of writes; raises RunInterrupted to stop the run."""
