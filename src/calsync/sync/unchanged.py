"""Skipping a mailbox whose source and calendar are both unchanged since its last good run (pure).

Why: most incremental runs change nothing, and re-parsing a mailbox's source and re-planning it cost
more CPU than everything else of such a run (issue 12: 0.4 ms per event). A run may skip both when:

1. the source's content for the mailbox is the same as at the last good run: the loader gives a
   digest of it (`SourceSnapshot.digest`, e.g. the bytes of the mailbox's CSV rows, with the settings
   that shape its events) and leaves the parse for later (`SourceSnapshot.deferred`);
2. the state store holds what that run left: the *run digest* stored after it (`run_digest`: the source
   digest, the window, the tenant's namespace and the user policies, and every mapping as it was when
   the run ended) equals the one computed now. Anything that changed the mappings since (a purge, a
   released quarantine, an offboarding, a run that crashed half-way) or the window moving to the next
   day makes them differ;
3. the calendar holds exactly the mapped events (`in_step`): every managed event listed is its key's
   only copy, mapped as synced with the same remote id and the same change key. Graph moves an event's
   changeKey on every edit, so a person's edit or move in Outlook is seen here and planned as before;
   a deleted event is a synced mapping that is not listed.

The calendar is still listed on every incremental run (one read per mailbox, `CalendarTarget.
list_versions`: the tag and the changeKey only): that is how a person's edits are detected without a
delta link. When the mailbox is not in step, the full listing follows (a second read). Full runs and
dry runs never skip. The stored digest is forgotten when a run begins to plan, and stored again only
after a run that ended ok with nothing failed or quarantined and no problem in the source (a source's
problems are reported by every run), so an interrupted run can never be taken for a good one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from collections.abc import Mapping as MappingOf
from typing import Protocol

from calsync.domain import SourceKey, Window
from calsync.sync.ports import Mapping

SKIPPED_MESSAGE = "the source and the calendar are unchanged since the last good run; not planned"


class DigestStore(Protocol):
    """Where the run digest of each mailbox's last good run is kept (calsync.services implements it over
    the state store)."""

    def run_digest(self, mailbox: str) -> str | None: ...

    def put_run_digest(self, mailbox: str, digest: str | None) -> None:
        """Store the digest, or with None forget it."""
        ...


def run_digest(
    source_digest: str,
    window: Window,
    context: Iterable[str],
    mappings: MappingOf[SourceKey, Mapping],
) -> str:
    """The digest that says "this mailbox is as that run left it" (see the module docstring)."""
    h = hashlib.sha256()
    h.update(f"{source_digest}\x1f{window.start.isoformat()}\x1f{window.end.isoformat()}".encode())
    for part in context:
        h.update(b"\x1e" + part.encode())
    for key in sorted(mappings):
        m = mappings[key]
        h.update(
            f"\x1d{key}\x1f{m.state}\x1f{m.generation}\x1f{m.remote_id}\x1f{m.change_key}"
            f"\x1f{m.content_hash}\x1f{m.failures}".encode()
        )
    return h.hexdigest()


def in_step(versions: Iterable[tuple[SourceKey, str, str]], mappings: MappingOf[SourceKey, Mapping]) -> bool:
    """True when the calendar's managed events, as (source key, remote id, change key), are exactly the
    mapped ones: none edited since calsync wrote or adopted it (same change key), none missing, no
    second copy."""
    seen: set[SourceKey] = set()
    for key, remote_id, change_key in versions:
        m = mappings.get(key)
        if (
            m is None
            or m.state != "synced"
            or key in seen
            or m.remote_id != remote_id
            or m.change_key != change_key
        ):
            return False
        seen.add(key)
    # a synced mapping whose event is not listed: deleted by a person (or lost); creating: an intent
    return all(key in seen for key, m in mappings.items() if m.state in ("synced", "creating", "deleting"))
