"""The engine: read both sides, plan, check the rails, then run the plan through the ports.

Ordering guarantees (architecture.md invariants 2, 3, 6):
- A create's intent (mapping state `creating` with its transaction id) is committed before the write;
  the result is committed after it. A crash in between leaves an intent that the next run resolves:
  the event is either observed by its tag (adopted) or created again with the *same* transaction id.
- A delete of a key's event (not of a duplicate copy) commits the key's tombstone (state `detached`,
  next generation: calsync.sync.tombstones) before the write, so a key that comes back is created
  with a new transaction id, even after a crash between the delete and its result.
- An indeterminate outcome is resolved by looking the event up by its tag, never by a second blind create;
  so is a create answered 409 ErrorDuplicateTransactionId: no event with the tag means its transaction
  id is spent (created once, deleted since), and the key gets a tombstone, so the next run uses a new one.
- One action's failure stays local: it is counted on its mapping, and after `max_failures` runs the item
  is quarantined with its reason; the other actions go on.
- A source that is unavailable, a calendar that cannot be listed, or a tripped rail writes nothing.
- A run may be interrupted between chunks by its `guard` (calsync.sync.guard): a lease lost to another
  process (fencing) or a shutdown. The chunk in flight finishes and its results are committed; nothing after
  it is sent.

The state store is synchronous (short SQL transactions); the engine calls it through `asyncio.to_thread`
so the event loop, which carries every other mailbox's Graph traffic, never waits on the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, ParamSpec, TypeVar

from calsync.domain import DesiredEvent, SourceKey, Window, event_span
from calsync.sync import crashpoints
from calsync.sync.guard import Guard, RunInterrupted
from calsync.sync.intents import Outcome, intent
from calsync.sync.occurrences import mark_edited, suspects
from calsync.sync.planner import PlanInput, Policy, plan, transaction_id
from calsync.sync.ports import (
    Action,
    ActionResult,
    Adopt,
    CalendarTarget,
    Create,
    Delete,
    Mapping,
    ObservedEvent,
    Quarantined,
    RunReport,
    Skip,
    StateStore,
    TargetError,
    Update,
)
from calsync.sync.safety import Limits, SafetyStop, check
from calsync.sync.unchanged import SKIPPED_MESSAGE, DigestStore, in_step, run_digest

DUPLICATE_TRANSACTION = "ErrorDuplicateTransactionId"  # a create's transaction id was used before

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a state-store call in a worker thread: the store is synchronous SQL, and a transaction that
    waits on a lock (SQLite's writer, a PostgreSQL row) must not stall every other mailbox's requests."""
    return await asyncio.to_thread(func, *args, **kwargs)


@dataclass(frozen=True, slots=True)
class SourceSnapshot:
    """What the source said for one mailbox this run.

    `not_modified`: the feed answered 304 to a conditional request: it is unchanged since a run that
    succeeded, so the mailbox is not read or written this time (`calsync sync --full` reconciles anyway).
    `on_success` is called after a run that ended ok, e.g. to store the feed's validators; storing them
    earlier would let a failed run hide behind the next 304. `on_start` is called when a real (not dry)
    run begins on this content, before it plans or writes, e.g. to forget the validators stored by an
    earlier run: a run that then does not end ok (items failed, a rail stopped it, the process died)
    leaves none behind, so the next run downloads the feed again instead of skipping on a 304.
    """

    status: Literal["ok", "unavailable", "not_modified"]
    events: tuple[DesiredEvent, ...] = ()
    protected_prefixes: frozenset[str] = frozenset()  # items with problems: never delete their copies
    problems: tuple[str, ...] = ()
    error_code: str | None = None
    on_success: Callable[[], None] | None = field(default=None, compare=False)
    on_start: Callable[[], None] | None = field(default=None, compare=False)
    # calsync.sync.unchanged: the digest of the mailbox's source content (None: the source gives none);
    # `deferred` set: the events are not parsed yet, the run may skip them (never on full or dry runs)
    digest: str | None = None
    deferred: Callable[[], SourceSnapshot] | None = field(default=None, compare=False)


@dataclass
class Engine:
    """Runs one mailbox at a time (the runtime guarantees one run per mailbox)."""

    target: CalendarTarget
    store: StateStore
    tenant_id: str
    policy: Policy = field(default_factory=Policy)
    limits: Limits = field(default_factory=Limits)
    max_failures: int = 5
    chunk_size: int = 100
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    on_progress: Callable[[str, int, int], None] | None = None  # (mailbox, writes done, writes planned)
    digests: DigestStore | None = None  # run digests of last good runs (calsync.sync.unchanged)

    async def plan(
        self,
        mailbox: str,
        source: SourceSnapshot,
        window: Window,
        mappings: dict[SourceKey, Mapping] | None = None,
        observed: list[ObservedEvent] | None = None,
    ) -> list[Action]:
        """The plan for a mailbox without running it (`calsync plan`, `sync --dry-run`); `mappings` and
        `observed` when the caller already read them."""
        if observed is None:
            observed = await self.target.list_managed(mailbox, window)
        if mappings is None:
            mappings = await off_loop(self.store.mappings, mailbox)
        asked = suspects(source.events, observed, mappings)  # a person's edit of one occurrence
        if asked:
            observed = mark_edited(observed, await self.target.edited_occurrences(mailbox, asked, window))
        quarantined = await off_loop(self.store.quarantined, mailbox)
        return plan(
            PlanInput(
                tenant_id=self.tenant_id,
                mailbox=mailbox,
                window=window,
                desired=source.events,
                observed=tuple(observed),
                mappings=mappings,
                quarantined=frozenset(quarantined),
                protected_prefixes=source.protected_prefixes,
                policy=self.policy,
            )
        )

    async def run(
        self,
        mailbox: str,
        source: SourceSnapshot,
        window: Window,
        *,
        dry_run: bool = False,
        force: bool = False,
        guard: Guard | None = None,
    ) -> tuple[RunReport, list[Action]]:
        """Sync one mailbox; returns the report (also recorded unless dry_run) and the plan.

        `guard` is awaited before each chunk of writes; when it raises RunInterrupted the run stops there
        (status `stopped`, the guard's code), its finished chunks recorded."""
        report = RunReport(mailbox=mailbox, started=self.clock(), problems=list(source.problems))
        actions: list[Action] = []
        final: dict[SourceKey, Mapping] | None = None  # the mappings as the run leaves them
        if source.status == "not_modified":
            report.finished, report.message = self.clock(), "the source is unchanged since the last good run"
            if not dry_run:
                await off_loop(self.store.record_run, report)
            return report, actions
        try:
            _require(source)
            # read once: for the plan, the rails and the writes
            mappings = await off_loop(self.store.mappings, mailbox)
            observed: list[ObservedEvent] | None = None
            stored: str | None = ""  # "" = not read
            if source.deferred is not None:
                stored, observed = await self._unchanged(mailbox, source, window, mappings)
                if observed is None:  # in step: nothing to parse, plan or write
                    return await self._skipped(report, mappings, dry_run), actions
                source = replace(source.deferred(), digest=source.digest, deferred=None)
                report.problems = list(source.problems)
                _require(source)
            if not dry_run:
                if source.on_start is not None:
                    await off_loop(source.on_start)
                if self.digests is not None and source.digest is not None and stored is not None:
                    await off_loop(self.digests.put_run_digest, mailbox, None)  # this run may change it
            actions = await self.plan(mailbox, source, window, mappings, observed)
            previous = sum(1 for m in mappings.values() if m.state == "synced")  # not intents, tombstones
            in_window = sum(1 for e in source.events if window.contains(*event_span(e)))
            check(actions, desired_count=in_window, previous_count=previous, force=force, limits=self.limits)
            if not dry_run:
                final = await self._execute(mailbox, actions, mappings, report, guard)
            else:
                _count_plan(actions, report)
        except SafetyStop as stop:
            report.status = "skipped" if source.status != "ok" else "stopped"
            report.error_code, report.message = stop.code, stop.message
        except RunInterrupted as stop:
            report.status = "stopped"
            report.error_code, report.message = stop.code, stop.message
        except TargetError as exc:
            report.status = "failed"
            report.error_code, report.message = exc.code, str(exc)
        report.finished = self.clock()
        if report.status == "ok" and report.failed:
            report.status = "partial"
        if not dry_run:
            await self._finish(report, source, window, final)
        return report, actions

    async def _finish(
        self,
        report: RunReport,
        source: SourceSnapshot,
        window: Window,
        final: dict[SourceKey, Mapping] | None,
    ) -> None:
        await off_loop(self.store.record_run, report)
        if report.status == "ok" and source.on_success is not None:
            await off_loop(source.on_success)
        clean = not (report.failed or report.quarantined or source.problems)  # problems: reported every run
        if report.status == "ok" and clean and final is not None:
            await self._remember(report.mailbox, source, window, final)

    async def _skipped(
        self, report: RunReport, mappings: dict[SourceKey, Mapping], dry_run: bool
    ) -> RunReport:
        report.message = SKIPPED_MESSAGE
        report.unchanged = sum(1 for m in mappings.values() if m.state == "synced")
        report.finished = self.clock()
        if not dry_run:
            await off_loop(self.store.record_run, report)
        return report

    def _context(self) -> tuple[str, ...]:
        """What besides the source and the mappings decides a plan (part of the run digest)."""
        return (self.tenant_id, self.policy.user_changes, self.policy.user_deletes)

    async def _unchanged(
        self, mailbox: str, source: SourceSnapshot, window: Window, mappings: dict[SourceKey, Mapping]
    ) -> tuple[str | None, list[ObservedEvent] | None]:
        """(the stored run digest, the calendar's managed events), the events None when the mailbox is in
        step with its last good run (calsync.sync.unchanged) and the run may skip it."""
        if self.digests is None or source.digest is None:
            return None, await self.target.list_managed(mailbox, window)
        stored = await off_loop(self.digests.run_digest, mailbox)
        same = stored is not None and stored == run_digest(source.digest, window, self._context(), mappings)
        if same and in_step(await self.target.list_versions(mailbox), mappings):
            return stored, None
        return stored, await self.target.list_managed(mailbox, window)

    async def _remember(
        self, mailbox: str, source: SourceSnapshot, window: Window, final: dict[SourceKey, Mapping]
    ) -> None:
        """After a good run: the run digest of the mappings it left (`_execute` keeps its copy of them
        current with every write it commits, so they need not be read back)."""
        if self.digests is not None and source.digest is not None:
            digest = run_digest(source.digest, window, self._context(), final)
            await off_loop(self.digests.put_run_digest, mailbox, digest)

    async def _execute(
        self,
        mailbox: str,
        actions: Sequence[Action],
        mappings: dict[SourceKey, Mapping],
        report: RunReport,
        guard: Guard | None,
    ) -> dict[SourceKey, Mapping]:
        """Run the plan; returns the mailbox's mappings as the store now holds them."""
        state = dict(mappings)  # what the store holds for this mailbox, kept current as we write
        writes: list[Create | Update | Delete] = []
        for action in actions:
            if isinstance(action, Adopt):
                key = action.observed.source_key
                state[key] = await self._adopt(mailbox, action, state.get(key))
                report.adopted += 1
            elif isinstance(action, Skip):
                kept = await self._skip(mailbox, action, state.get(action.source_key), report)
                if kept is not None:
                    state[action.source_key] = kept
            else:
                writes.append(action)
        if self.on_progress is not None:
            self.on_progress(mailbox, 0, len(writes))
        for start in range(0, len(writes), self.chunk_size):
            chunk = writes[start : start + self.chunk_size]
            if guard is not None:  # fencing: a run whose lease was taken over, or a shutdown, stops here
                await guard(mailbox)
            intents = [m for a in chunk if (m := intent(a, state, mailbox, self.tenant_id)) is not None]
            if intents:  # intent before effect: committed, in one transaction, before the chunk is sent
                await off_loop(self.store.put_mappings, intents)
                state.update((m.source_key, m) for m in intents)
                for _ in intents:
                    crashpoints.hit("intent")
            crashpoints.hit("apply")
            results = await self.target.apply(mailbox, chunk)
            crashpoints.hit("applied")
            outcome = Outcome()
            for result in results:
                await self._record(mailbox, result, report, state, outcome)
            await off_loop(outcome.commit, self.store)  # the chunk's results, in one transaction
            for _ in results:
                crashpoints.hit("record")
            if self.on_progress is not None:
                self.on_progress(mailbox, start + len(chunk), len(writes))
        return state

    async def _adopt(self, mailbox: str, action: Adopt, old: Mapping | None) -> Mapping:
        obs = action.observed
        adopted = Mapping(
            mailbox=mailbox,
            source_key=obs.source_key,
            state="synced",
            transaction_id=old.transaction_id
            if old
            else transaction_id(self.tenant_id, mailbox, obs.source_key, 0),
            generation=old.generation if old else 0,
            remote_id=obs.remote_id,
            change_key=obs.change_key,
            content_hash=action.content_hash or None,
            failures=old.failures if old else 0,
        )
        await off_loop(self.store.put_mapping, adopted)
        return adopted

    async def _skip(
        self, mailbox: str, action: Skip, old: Mapping | None, report: RunReport
    ) -> Mapping | None:
        if action.reason == "quarantined":
            report.quarantined += 1
        else:
            report.unchanged += 1
        if action.reason == "user_deleted_respected" and old is not None and old.state != "user_deleted":
            kept = replace(old, state="user_deleted")
            await off_loop(self.store.put_mapping, kept)
            return kept
        return None

    async def _record(
        self,
        mailbox: str,
        result: ActionResult,
        report: RunReport,
        state: dict[SourceKey, Mapping],
        outcome: Outcome,
    ) -> None:
        action = result.action
        key = action.desired.source_key if isinstance(action, Create | Update) else action.source_key
        current = state.get(key)
        spent = result.error_code == DUPLICATE_TRANSACTION
        if isinstance(action, Create) and (result.status == "indeterminate" or spent):
            found = await self.target.find_by_key(mailbox, key)
            if found:  # the create did happen: adopt it
                result = ActionResult(action, "ok", found[0].remote_id, found[0].change_key)
            elif spent and current is not None:  # created once and deleted since: a new generation
                current = current.detached()
        if result.status in ("ok", "gone") and isinstance(action, Delete):
            if action.removes_key and current is not None and current.failures:
                outcome.put(replace(current, failures=0), state)  # the tombstone, committed as intent
            report.deleted += 1
        elif result.status == "ok" and isinstance(action, Create | Update) and current is not None:
            done = replace(
                current,
                state="synced",
                remote_id=result.remote_id or current.remote_id,
                change_key=result.change_key,
                content_hash=action.content_hash,
                failures=0,
            )
            outcome.put(done, state)
            if isinstance(action, Create):
                report.created += 1
            else:
                report.updated += 1
        elif result.status == "gone" and isinstance(action, Update):
            report.failed += 1  # deleted under us; the next run re-creates it per policy
        else:
            report.failed += 1
            failures = (current.failures if current else 0) + 1
            if current is not None:
                outcome.put(replace(current, failures=failures), state)
            report.problems.append(
                f"{key}: {result.error_code or result.status}: {result.message or ''}".strip()
            )
            if failures >= self.max_failures and not result.retryable:
                code = result.error_code or result.status
                outcome.quarantined.append(Quarantined(mailbox, key, code, result.message or "", failures))
                report.quarantined += 1


def _require(source: SourceSnapshot) -> None:
    if source.status != "ok":
        raise SafetyStop(
            source.error_code or "SourceUnavailable", "the source could not be loaded; nothing was changed"
        )


def _count_plan(actions: Sequence[Action], report: RunReport) -> None:
    for action in actions:
        if isinstance(action, Create):
            report.created += 1
        elif isinstance(action, Update):
            report.updated += 1
        elif isinstance(action, Delete):
            report.deleted += 1
        elif isinstance(action, Adopt):
            report.adopted += 1
        elif action.reason == "quarantined":
            report.quarantined += 1
        else:
            report.unchanged += 1
