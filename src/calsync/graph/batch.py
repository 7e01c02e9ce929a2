"""Running `$batch` calls: send each planned batch, keep the answers, retry only what failed (graph-facts §6).

How batches are formed is batch_plan.py's job. This module decides what happens after each call:
- **Correlated by id.** Responses come in any order; each answer is matched to its item by id.
- **Only failed items are retried**: inner 429s (any item: Graph did not run them), inner 500/502/503/504 and
  unanswered items when the item is safe to repeat (idempotent, or a create carrying a `transactionId`),
  and 424s whose dependency is being retried. The retry waits the *largest* inner Retry-After (the mailbox
  is paused for as long), else exponential backoff, within the client's RetryPolicy bounds.
- **Indeterminate envelopes.** When the `$batch` POST itself times out, is reset or answers 5xx, the
  items may or may not have run: safe items are sent again, the others come back as results whose error
  is `Indeterminate` (status 0), for the caller to resolve by reading. A 409/412 answered to an item
  repeated after such an unknown outcome is reported as Indeterminate too (it may be our own first try).

Results come back in the order of the items given, each a `BatchResult`. Per-item and per-envelope
failures become results; only a failure that stops everything (an AuthError: no token) is raised.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from calsync.graph.batch_plan import (
    MAX_BATCH_ITEMS,
    BatchItem,
    BatchResult,
    Chunk,
    item_ids,
    plan_batches,
    wire_requests,
)
from calsync.graph.errors import (
    Conflict,
    GraphClientError,
    HTTPStatusError,
    Indeterminate,
    PreconditionFailed,
    ServerError,
    Throttled,
    TransportError,
    graph_error,
    parse_retry_after,
)
from calsync.graph.limiter import MailboxLimiter
from calsync.graph.retry import TRANSIENT_STATUSES, Clock, RetryPolicy, exponential

__all__ = ["MAX_BATCH_ITEMS", "BatchItem", "BatchResult", "BatchSender", "plan_batches", "run_batch"]


class BatchSender(Protocol):
    """What the batch runner needs from GraphClient."""

    retry_policy: RetryPolicy
    clock: Clock
    rng: random.Random
    limiter: MailboxLimiter
    observer: Callable[[str, int | None, float | None], None] | None  # see GraphClient

    async def send_batch_once(
        self, mailbox: str | None, payload: dict[str, Any], items: int
    ) -> httpx.Response:
        """POST one `$batch` envelope: one attempt, holding all of `mailbox`'s slots."""
        ...


async def run_batch(client: BatchSender, items: Sequence[BatchItem]) -> list[BatchResult]:
    """Send `items` as batches (see the module docstring); results in the order of `items`."""
    ids = item_ids(items)
    chunks = plan_batches(items)
    results: list[BatchResult | None] = [None] * len(items)
    try:
        async with asyncio.TaskGroup() as group:
            for chunk in chunks:
                group.create_task(_ChunkRun(client, items, ids, chunk, results).run())
    except BaseExceptionGroup as failures:
        # Only errors that stop every chunk get here (no token: AuthError; a bug). Callers catch our
        # exception types, not groups, so the first one is raised as itself; the rest were cancelled.
        raise failures.exceptions[0] from None
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


class _ChunkRun:
    """The rounds of one chunk: send the pending items, keep the answers, retry what may be retried."""

    def __init__(
        self,
        client: BatchSender,
        items: Sequence[BatchItem],
        ids: list[str],
        chunk: Chunk,
        results: list[BatchResult | None],
    ) -> None:
        self.client, self.items, self.ids, self.chunk, self.results = client, items, ids, chunk, results
        self.unknown: set[int] = set()  # items whose earlier attempt may have been applied

    async def run(self) -> None:
        policy, clock = self.client.retry_policy, self.client.clock
        pending = list(self.chunk.indexes)
        started = clock.monotonic()
        attempt = 0
        while pending:
            attempt += 1
            retry, hinted, last = await self._round(pending)
            if not retry:
                return
            delay = max(hinted) if hinted else exponential(attempt, policy, self.client.rng)
            if (
                attempt >= policy.max_attempts
                or clock.monotonic() - started + delay > policy.max_total_seconds
            ):
                for n in retry:
                    self._final(n, self._settle(n, last[n]))
                return
            if hinted:
                self.client.limiter.pause(self.chunk.mailbox, delay)
            await clock.sleep(delay)
            pending = sorted(retry)

    async def _round(self, pending: list[int]) -> tuple[set[int], list[float], dict[int, BatchResult]]:
        """One `$batch` call: the items to retry, the Retry-After hints, each retried item's last result."""
        payload = {
            "requests": wire_requests([self.items[n] for n in pending], [self.ids[n] for n in pending])
        }
        try:
            response = await self.client.send_batch_once(self.chunk.mailbox, payload, len(pending))
        except Throttled as exc:  # the envelope was refused: nothing ran
            hinted = [exc.retry_after] if exc.retry_after is not None else []
            return set(pending), hinted, {n: self._failed(n, exc) for n in pending}
        except TransportError as exc:
            return set(pending), [], {n: self._failed(n, exc) for n in pending}
        except (Indeterminate, ServerError) as exc:
            return self._envelope_unknown(pending, exc)
        except HTTPStatusError as exc:
            for n in pending:
                self._final(n, self._failed(n, exc))
            return set(), [], {}
        answers = _answers(response)
        retry: set[int] = set()
        hints: list[float] = []
        last: dict[int, BatchResult] = {}
        for n in pending:
            result = answers.get(self.ids[n].lower())
            if result is None:
                result = self._failed(
                    n, Indeterminate("no answer for this batch item", method=self.items[n].method)
                )
            elif (keep := self.items[n].keep) is not None:
                result = _kept(result, keep)
            status = result.status
            hint = parse_retry_after(_header(result.headers, "retry-after")) if status == 429 else None
            if self.client.observer is not None:  # each item is a request of its own to Graph's limits
                self.client.observer(self.items[n].method.upper(), status or None, hint)
            if status == 429 or (self.items[n].retry_safe and (status in TRANSIENT_STATUSES or status == 0)):
                retry.add(n)
                hint = parse_retry_after(_header(result.headers, "retry-after"))
                if hint is not None:
                    hints.append(hint)
                if status != 429 and self.items[n].method.upper() != "GET":
                    self.unknown.add(n)
            last[n] = result
        grew = True
        while grew:  # a 424 is retried when what it waited for is retried (transitively)
            waiting = {
                n for n in pending if n not in retry and last[n].status == 424 and self._waits_on(n, retry)
            }
            retry |= waiting
            grew = bool(waiting)
        for n in pending:
            if n not in retry:
                self._final(n, self._settle(n, last[n]))
        return retry, hints, {n: last[n] for n in retry}

    def _envelope_unknown(
        self, pending: list[int], exc: GraphClientError
    ) -> tuple[set[int], list[float], dict[int, BatchResult]]:
        retry = {n for n in pending if self.items[n].retry_safe}
        for n in pending:
            if n in retry:
                self.unknown.add(n)
            else:
                self._final(n, self._failed(n, Indeterminate(f"$batch outcome unknown: {exc}")))
        hint = exc.retry_after if isinstance(exc, ServerError) else None
        return retry, [hint] if hint is not None else [], {n: self._failed(n, exc) for n in retry}

    def _waits_on(self, n: int, retry: set[int]) -> bool:
        retried = {self.ids[m].lower() for m in retry}
        return any(dep.lower() in retried for dep in self.items[n].depends_on)

    def _settle(self, n: int, result: BatchResult) -> BatchResult:
        """Final form of an answer: unsafe 5xx and post-unknown 409/412 become Indeterminate."""
        item = self.items[n]
        error = result.error
        unknown_write = isinstance(error, ServerError) and not item.retry_safe
        repeat_conflict = n in self.unknown and isinstance(error, Conflict | PreconditionFailed)
        if unknown_write or repeat_conflict:
            wrapped = Indeterminate(f"{item.method} in $batch answered {result.status}", method=item.method)
            wrapped.__cause__ = error
            return BatchResult(result.id, result.status, result.body, result.headers, wrapped)
        return result

    def _failed(self, n: int, exc: GraphClientError) -> BatchResult:
        status = exc.status if isinstance(exc, HTTPStatusError) else 0
        return BatchResult(self.ids[n], status, None, {}, exc)

    def _final(self, n: int, result: BatchResult) -> None:
        self.results[n] = result


def _kept(result: BatchResult, keep: tuple[str, ...]) -> BatchResult:
    """The answer with only the body fields the caller reads (BatchItem.keep); errors keep theirs."""
    body = result.body
    if result.error is not None or not isinstance(body, dict):
        return result
    return BatchResult(result.id, result.status, {k: body[k] for k in keep if k in body}, result.headers)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _answers(response: httpx.Response) -> dict[str, BatchResult]:
    """The envelope's responses by lower-cased id."""
    data = response.json()
    answers: dict[str, BatchResult] = {}
    for raw in data.get("responses") or () if isinstance(data, dict) else ():
        item_id, status = str(raw.get("id")), int(raw.get("status") or 0)
        headers = {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}
        body = raw.get("body")
        error = graph_error(status, headers, body) if status >= 400 else None
        answers[item_id.lower()] = BatchResult(item_id, status, body, headers, error)
    return answers
