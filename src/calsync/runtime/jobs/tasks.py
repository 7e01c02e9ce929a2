"""Names shared by every process that defers or runs calsync's jobs, and how a sync job is built.

`calsync serve` (which only defers) and `calsync worker` (which runs) must agree on these strings,
so they live in one place and never change lightly: renaming a task strands the jobs already queued
under the old name.

Locks (both enforced by PostgreSQL, see docs/service-facts.md §3):

- `lock = "mbx:<mailbox>"` on every sync job, incremental or full: two jobs with the same lock never
  run at once, and run in priority then id order. This is invariant 5 (one run per mailbox at a time)
  across any number of workers on any number of hosts.
- `queueing_lock = "mbx:<mailbox>"` for incremental jobs and `"mbx-full:<mailbox>"` for full ones: at
  most one job of each kind waits per mailbox; deferring another raises `AlreadyEnqueued`, which is
  coalescing, not an error. Separate queueing locks mean a full sync asked for while an incremental one
  is pending is never lost (it waits behind the incremental one, and the shared `lock` keeps them from
  overlapping); the cost is at most one redundant incremental run before a full one.
"""

from __future__ import annotations

from procrastinate.jobs import DEFAULT_QUEUE, Job

from calsync.store.scoped import split_scope

SYNC_TASK = "calsync.sync_mailbox"
FAN_OUT_TASK = "calsync.fan_out"
PURGE_TASK = "calsync.purge_jobs"
RECOVER_TASK = "calsync.recover_stalled"
SUBSCRIPTIONS_TASK = "calsync.graph_subscriptions"
PUSH_TASK = "calsync.deliver_push"
# At most one delivery job waits at a time (deferred on publish, and every minute for due retries);
# running ones are not locked: the outbox's rows are claimed with SKIP LOCKED, so they share the work.
PUSH_QUEUEING_LOCK = "push"

SYNC_PRIORITY = 0
# Housekeeping outranks syncs: procrastinate fetches by priority first, and a fan-out or a purge must
# not wait behind the 10,000 sync jobs the previous fan-out queued.
HOUSEKEEPING_PRIORITY = 10


def mailbox_lock(mailbox: str) -> str:
    """The lock every sync job of `mailbox` holds while it runs. A job's mailbox may be scoped by a
    profile (`profile:mailbox`, calsync.store.scope_key): the lock is the mailbox's own, so two profiles
    of one mailbox never run at once on different workers (Outlook's 4 requests in flight are per
    mailbox), while each profile keeps its own queueing lock (one pending run per profile and mailbox)."""
    return f"mbx:{split_scope(mailbox)[1]}"


def mailbox_queueing_lock(mailbox: str, *, full: bool) -> str:
    """The queueing lock of a pending sync of `mailbox`: one per kind (incremental, full)."""
    return f"mbx-full:{mailbox}" if full else f"mbx:{mailbox}"


def sync_job(mailbox: str, *, full: bool) -> Job:
    """A not-yet-deferred sync job for `mailbox`, with its locks."""
    return Job(
        queue=DEFAULT_QUEUE,
        priority=SYNC_PRIORITY,
        lock=mailbox_lock(mailbox),
        queueing_lock=mailbox_queueing_lock(mailbox, full=full),
        task_name=SYNC_TASK,
        task_kwargs={"mailbox": mailbox, "full": full},
    )
