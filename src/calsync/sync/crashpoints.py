"""Test-only crash points (reliability target CF-02, FoundationDB's BUGGIFY in its simplest form).

`hit(name)` marks a point in the engine where a crash is interesting. With the environment variable
`CALSYNC_CRASH_AT="<name>:<n>"` set when the process starts, the n-th hit of that point (1-based, counted
over the whole process) kills the process with SIGKILL: no cleanup, no flush, no `finally`, what `kill -9`
or the OOM killer does (a power cut can also lose writes the OS had not flushed; this cannot). Unset
(always, in production) a hit is one comparison.

Points (calsync.sync.engine; the engine commits a chunk's intents together, and its results together):
- `intent`: hit once per intent, just after the chunk's intents (a create's: mapping state `creating`;
  a removed key's tombstone: state `detached`, calsync.sync.intents) are committed and before any of
  its writes is sent;
- `apply`: just before a chunk of writes is sent;
- `applied`: just after a chunk's answers arrived, before any of them is committed;
- `record`: hit once per answer, just after the chunk's results are committed (before the next chunk).
"""

from __future__ import annotations

import itertools
import os
import signal

ENV = "CALSYNC_CRASH_AT"
POINTS = ("intent", "apply", "applied", "record")


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in POINTS or not count.isdigit() or int(count) < 1:
        raise ValueError(f'{ENV} must be "<point>:<n>" with a point of {", ".join(POINTS)} and n >= 1')
    return name, int(count)


_target = _parse(os.environ.get(ENV))
_hits = itertools.count(1)


def hit(name: str) -> None:
    """A crash point: SIGKILL on the n-th hit of the point named in CALSYNC_CRASH_AT, else nothing."""
    if _target is None or name != _target[0]:
        return
    if next(_hits) == _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
