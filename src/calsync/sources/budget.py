"""A work and time budget that can stop pure-Python library code which never yields control back.

Why: dateutil's rrule iterator checks UNTIL and COUNT only when it produces an instance. A rule whose
filters never match (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31) or an EXRULE that excludes everything makes it
loop to the year 9999 without yielding: about 5 s on our CI machine, per event (dateutil #1094, #1441,
Radicale #2188). Counting instances cannot stop that, and a thread cannot be killed. So while a budget
runs, a profile hook (`sys.setprofile`, per thread) counts the calls made by the code underneath and
raises `BudgetExceeded` inside it once the step count or the wall-clock deadline is passed.

The step count is the primary limit because it is deterministic: the same feed gives the same verdict on
every run and machine, so an event never flaps between "expanded" and "skipped" with CPU load. The
wall-clock deadline is a backstop. `BudgetExceeded` derives from BaseException so that library code with
`except Exception` cannot swallow it, and the hook keeps raising until the budget is left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal, TypeVar

T = TypeVar("T")

_CLOCK_EVERY = 1024  # read the clock once per this many steps; the hook itself must stay cheap


class BudgetExceeded(BaseException):
    """Raised inside budgeted code when its step or time budget is used up; `reason` says which."""

    def __init__(self, reason: Literal["steps", "time"]) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
    """`steps` profile events and `seconds` of wall time, optionally drawing on a parent budget too.

    A child budget (one per recurring event) charges its parent (one per document) for every step, so
    many events that each stay under their own limit still cannot add up to an unbounded document.
    """

    def __init__(
        self,
        steps: int,
        seconds: float,
        *,
        parent: Budget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.steps_left = steps
        self.seconds = seconds
        self.parent = parent
        self._clock = clock
        self._deadline: float | None = None
        self.exhausted: Literal["steps", "time"] | None = None

    def _deadline_passed(self, now: float) -> bool:
        if self._deadline is not None and now > self._deadline:
            return True
        return self.parent is not None and self.parent._deadline_passed(now)

    def _charge(self, steps: int) -> None:
        self.steps_left -= steps
        if self.parent is not None:
            self.parent._charge(steps)

    def _exhausted_reason(self) -> Literal["steps", "time"] | None:
        if self.exhausted is not None:
            return self.exhausted
        if self.steps_left <= 0:
            return "steps"
        return None if self.parent is None else self.parent._exhausted_reason()

    def run(self, fn: Callable[[], T]) -> T:
        """Call `fn` under this budget and return its result; raises `BudgetExceeded` when it runs out.

        Not a context manager on purpose: the hook must be disarmed by a plain assignment before any call
        is made on the way out (a call would fire the hook, which could raise before the old profile
        function is restored). Nested use on one thread is not supported.
        """
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + self.seconds
        if self.parent is not None and self.parent._deadline is None:
            self.parent._deadline = now + self.parent.seconds
        pending = 0
        armed = [True]

        def hook(frame: FrameType, event: str, arg: Any) -> None:
            nonlocal pending
            if not armed[0]:
                return
            pending += 1
            if pending < _CLOCK_EVERY and self.exhausted is None:
                return
            self._charge(pending)
            pending = 0
            reason = self._exhausted_reason()
            if reason is None and self._deadline_passed(self._clock()):
                reason = "time"
            if reason is not None:
                self.exhausted = reason
                raise BudgetExceeded(reason)

        previous = sys.getprofile()
        try:
            reason = self._exhausted_reason()
            if reason is not None:
                self.exhausted = reason
                raise BudgetExceeded(reason)
            sys.setprofile(hook)
            return fn()
        finally:
            armed[0] = False
            sys.setprofile(previous)
            self._charge(pending)
