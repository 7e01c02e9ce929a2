"""The VEVENTs of one iCalendar calendar, each with its key prefix and where it came from.

Split from `calsync.sources.ics` because key derivation is a rule of its own (module doc, "Keys"): a UID
becomes "ics:<UID>", an over-long or odd one "ics:uid-sha256:<hex>", and a VEVENT without UID gets
"ics:nouid-<hash>" with a warning. `calsync.sources.ics_series` groups these items into series.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from icalendar import Component

from calsync.sources.ics_document import _Doc, _text

MAX_UID_IN_KEY = 200


def _uid_key(uid: str) -> str:
    if len(uid) > MAX_UID_IN_KEY or any(ord(ch) < 32 or ord(ch) == 127 for ch in uid):
        return "ics:uid-sha256:" + hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()
    return "ics:" + uid


def _raw(prop: Any) -> bytes:
    try:
        return bytes(prop.to_ical()) if prop is not None else b""
    except Exception:
        return b""


@dataclass(slots=True)
class _Item:
    """One VEVENT with where it came from."""

    event: Component
    line: int | None
    uid: str
    prefix: str

    @property
    def where(self) -> str:
        line = f"line {self.line}, " if self.line else ""
        return f"{line}UID {self.uid}" if self.uid else (f"line {self.line}" if self.line else "VEVENT")


def _items(calendar: Component, lines: Iterator[int | None], doc: _Doc) -> list[_Item]:
    items: list[_Item] = []
    for sub in calendar.subcomponents:
        if sub.name != "VEVENT":
            continue
        line = next(lines, None)
        uid = _text(sub.get("UID")).strip()
        if uid:
            items.append(_Item(sub, line, uid, _uid_key(uid)))
            continue
        digest = hashlib.sha256(
            _raw(sub.get("DTSTART")) + b"\0" + _text(sub.get("SUMMARY")).encode()
        ).hexdigest()
        item = _Item(sub, line, "", f"ics:nouid-{digest[:32]}")
        doc.problem(
            item.where,
            "ICS_MISSING_UID",
            "the event has no UID; its key is derived from its content",
            "warning",
            item.prefix,
        )
        items.append(item)
    return items
