"""When a failed delivery is tried again: the schedule, its jitter, and Retry-After.

The schedule is Standard Webhooks' example (service-facts §2): after the first attempt (at once, when
the notification is published) the waits are 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h,
ten attempts over about 75.5 hours, a little over three days: a subscriber down for a weekend still gets
everything. Each wait is stretched by a random 0-20 % (jitter), so that the notifications a receiver
failed together do not all come back in the same second. After the tenth failure the notification is
given up (dead) and the channel disabled, as the specification advises.

An answer's Retry-After (429 Too Many Requests, 503) is honoured: the next attempt comes no earlier than
it asks, and never earlier than the schedule's own wait; a Retry-After beyond a day is read as a day, so
a broken header cannot silence a channel for years. 410 Gone is final: the channel is disabled.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.2  # each wait is stretched by up to this share
MAX_RETRY_AFTER = timedelta(days=1)

Verdict = Literal["delivered", "retry", "gone", "dead"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a notification after an attempt: `at` is set for "retry" only."""

    verdict: Verdict
    at: datetime | None = None


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) as a wait from `now`;
    None for a missing or malformed value. A date in the past is no wait (zero); waits are capped at
    `MAX_RETRY_AFTER`."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = int(text[:12])  # more digits than that is a wait beyond the cap anyway
        return min(timedelta(seconds=min(seconds, 10**9)), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # an HTTP-date is GMT
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


def decide(
    status: int | None,
    attempts: int,
    now: datetime,
    *,
    retry_after: str | None = None,
    rng: Callable[[], float] = random.random,
) -> Decision:
    """The outcome of attempt number `attempts` (1 = the first) that got `status` (None: no answer, a
    timeout or a refused connection). 2xx is delivered; 410 is gone; anything else is retried on the
    schedule, until the last attempt, after which the notification is dead. `rng` gives [0, 1)."""
    if attempts < 1:
        raise ValueError("attempts counts the attempt just made, from 1")
    if status is not None and 200 <= status <= 299:
        return Decision("delivered")
    if status == 410:
        return Decision("gone")
    if attempts >= MAX_ATTEMPTS:
        return Decision("dead")
    wait = SCHEDULE[attempts - 1] * (1 + JITTER * rng())
    asked = parse_retry_after(retry_after, now) if status in (429, 503) else None
    if asked is not None and asked > wait:
        wait = asked
    return Decision("retry", now + wait)
