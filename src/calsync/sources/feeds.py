"""A feed URL into a SourceResult: fetch safely, skip unchanged feeds, parse.

Why a separate step: the engine wants one call per mailbox that never raises for source trouble. A
failed download or an unusable document gives status "unavailable" (the engine deletes nothing); an
unchanged feed (HTTP 304) gives `not_modified=True` and no events (the previous result still holds).
Validators are returned only with a result that parsed: storing them after a failed parse would make the
next request a 304 and hide the broken feed behind "unchanged" forever.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from calsync.domain import Window
from calsync.sources.fetch import SafeFetcher
from calsync.sources.ics import IcsOptions, load_ics
from calsync.sources.model import SourceResult, SourceUnavailable, Validators


async def load_ics_url(
    fetcher: SafeFetcher,
    url: str,
    *,
    mailbox: str,
    window: Window,
    validators: Validators | None = None,
    options: IcsOptions | None = None,
) -> SourceResult:
    """Fetch and parse one mailbox's feed. Parsing (CPU-bound and bounded: about 0.5 s per MB) runs in a
    worker thread."""
    try:
        fetched = await fetcher.fetch(url, validators=validators)
    except SourceUnavailable as exc:
        return exc.as_result()
    if fetched.not_modified:
        return SourceResult(events=[], status="ok", not_modified=True, validators=fetched.validators)
    # In a worker thread: a large feed takes a while to parse, and the event loop must meanwhile keep
    # answering the Graph requests of the mailboxes synced at the same time.
    result = await asyncio.to_thread(
        load_ics, fetched.content, mailbox=mailbox, window=window, options=options
    )
    if result.status != "ok":
        return result
    return replace(result, validators=fetched.validators)
