"""Pure scheduling helpers: cron strings for Procrastinate's periodic tasks, and the retry backoff.

Procrastinate's periodic tasks are driven by cron expressions (a 6th field means seconds), evaluated
in UTC. An interval that does not divide a minute, an hour or a day evenly has no faithful cron
form ("*/7 * * * *" fires at :56 and again at :00), so it is refused instead of silently drifting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job

from calsync.runtime.jobs.errors import ScheduleError, TransientRunError

_MINUTE, _HOUR, _DAY = 60, 3_600, 86_400
_HHMM = re.compile(r"(\d{2}):(\d{2})")


def cron_every(seconds: int) -> str:
    """The cron expression that fires every `seconds`, aligned on the clock (900 -> "*/15 * * * *").

    Raises:
        ScheduleError: the interval is not positive, or does not divide a minute, an hour or a day.
    """
    if seconds <= 0:
        raise ScheduleError(f"a sync interval must be positive, got {seconds} s")
    if seconds < _MINUTE and _MINUTE % seconds == 0:
        return "* * * * * *" if seconds == 1 else f"* * * * * */{seconds}"
    if seconds % _MINUTE == 0 and seconds < _HOUR and _HOUR % seconds == 0:
        minutes = seconds // _MINUTE
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if seconds % _HOUR == 0 and seconds <= _DAY and _DAY % seconds == 0:
        hours = seconds // _HOUR
        return "0 0 * * *" if hours == 24 else ("0 * * * *" if hours == 1 else f"0 */{hours} * * *")
    raise ScheduleError(
        f"a sync interval must divide a minute, an hour or a day evenly (e.g. 30, 300, 900, 3600 s), "
        f"got {seconds} s"
    )


def daily_cron(hhmm: str) -> str:
    """The cron expression for once a day at `hhmm` ("03:00"), UTC as all Procrastinate schedules.

    Raises:
        ScheduleError: `hhmm` is not a valid 24-hour HH:MM time.
    """
    match = _HHMM.fullmatch(hhmm)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ScheduleError(f"a time of day must be HH:MM (00:00-23:59, UTC), got {hhmm!r}")
    return f"{int(match[2])} {int(match[1])} * * *"


@dataclass(frozen=True)
class Backoff(BaseRetryStrategy):
    """Retry `TransientRunError` only, with exponential backoff: `base_s`, `base_s * factor`, ... capped
    at `cap_s`, for at most `max_attempts` attempts in all (the first run included).

    Procrastinate's own `RetryStrategy` takes whole seconds and has no cap; syncs want a cap (a mailbox
    is resynced by the next periodic round anyway) and tests want sub-second waits.
    """

    max_attempts: int = 5
    base_s: float = 10.0
    factor: float = 3.0
    cap_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_s < 0 or self.factor < 1 or self.cap_s < 0:
            raise ScheduleError(f"invalid retry backoff {self}")

    def delay_s(self, attempts_so_far: int) -> float:
        """How long to wait before the attempt after `attempts_so_far` failed ones (1 = after the first)."""
        return min(self.cap_s, self.base_s * self.factor ** max(0, attempts_so_far - 1))

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        # `job.attempts` counts the attempts finished before this one, so this one is number attempts + 1.
        if not isinstance(exception, TransientRunError) or job.attempts + 1 >= self.max_attempts:
            return None
        delay = timedelta(seconds=self.delay_s(job.attempts + 1))
        return RetryDecision(retry_at=datetime.now(UTC) + delay)
