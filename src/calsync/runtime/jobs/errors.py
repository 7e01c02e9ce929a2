"""The job runtime's exceptions: one tree, rooted at `JobsError`.

`TransientRunError` is the one the services raise on purpose: the runtime retries it with backoff
(see `Backoff`). Any other exception from a run fails its job at once, because retrying a bug or a
refused consent only spends Graph's budget and hides the cause.
"""

from __future__ import annotations


class JobsError(Exception):
    """Something about the job runtime itself went wrong (configuration, database, misuse)."""


class TransientRunError(JobsError):
    """Raised by a `sync_mailbox` handler for a failure worth retrying later (throttling, a 5xx, a
    dropped connection): the job is retried with exponential backoff, a bounded number of times."""


class ScheduleError(JobsError, ValueError):
    """A sync interval or a time of day that cannot be expressed as the cron schedule Procrastinate needs."""
