"""Helpers shared by the source tests: a window, a mailbox, and a tiny iCalendar builder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from calsync.domain import Window

MAILBOX = "adele@contoso.onmicrosoft.com"
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))


def vevent(uid: str | None, *lines: str) -> str:
    """One VEVENT with the given content lines (UID first unless None)."""
    head = [f"UID:{uid}"] if uid is not None else []
    return "\r\n".join(["BEGIN:VEVENT", *head, *lines, "END:VEVENT"])


def calendar(*parts: str, header: tuple[str, ...] = ()) -> bytes:
    """A VCALENDAR around the given components, CRLF line ends, UTF-8."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calsync tests//EN",
        *header,
        *parts,
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines).encode()


def peak_rss_growth(fn: Callable[[], object]) -> int:
    """Bytes by which the process's peak RSS grew while `fn` ran (Linux: resets VmHWM first)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _status_kib("VmHWM")
    fn()
    return (_status_kib("VmHWM") - before) * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)
