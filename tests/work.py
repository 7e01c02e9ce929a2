"""Work measured in Python function calls, not seconds: the same input costs the same on every machine.

Why: a wall-clock bound in a test fails on a loaded CI machine (the project's rule: bound work in steps,
time it in bench/). `calls_made` counts the Python function calls (generator and coroutine resumptions
included) made while a function runs, with `sys.settrace`, so a test can say "this input costs no more
than that one", or "twice the input, twice the work", and get the same answer on every run.

Work budgets (`calsync.sources.budget`) hook `sys.setprofile`, which is separate from `sys.settrace`, so
budgeted code is counted as well. Every Python call also fires a profile "call" event, which is one step
of a budget: code that ran within a budget of N steps made at most N calls, so a bound in calls can be
checked against a budget in steps.

What a call count cannot see: work inside one C call (a huge `str.join`, a linear `in` on a list) or a
loop that calls nothing. Those are what the benchmarks under bench/ time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


def calls_made(fn: Callable[[], T]) -> tuple[T, int]:
    """`fn()`'s result and the number of Python calls made while it ran (this thread only).

    Any trace function already installed (a debugger, coverage) is suspended meanwhile and restored.
    """
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1
        # returning None: no per-line tracing inside the frame, which keeps the overhead to one call per call

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = fn()
    finally:
        sys.settrace(previous)
    return result, count


def calls_of(fn: Callable[[], T], targets: dict[str, Callable[..., Any]]) -> tuple[T, dict[str, int]]:
    """`fn()`'s result and how many times each named target (a plain function or method) was called
    while it ran, in this thread: what a piece of work did, observed without replacing any of it."""
    codes = {getattr(f, "__code__", None): name for name, f in targets.items()}
    counts = dict.fromkeys(targets, 0)

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and (name := codes.get(frame.f_code)) is not None:
            counts[name] += 1

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = fn()
    finally:
        sys.settrace(previous)
    return result, counts
