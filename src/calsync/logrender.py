"""The processors behind calsync.logs: fields from stdlib records, timestamp, redaction, text and JSON lines.

Kept apart from calsync.logs (which owns the process-wide configuration) because these are pure
functions of an event dict, each testable and replaceable on its own. They run inside
`structlog.stdlib.ProcessorFormatter`, so an event dict may still carry the stdlib record as `_record`.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from structlog.typing import EventDict, Processor, WrappedLogger

from calsync.redact import MARK, Redactor, is_secret_key

__all__ = ["add_extra_fields", "add_timestamp", "redacting", "render_json", "render_text"]

# Attributes every LogRecord has; anything else on a record came from `extra={...}`.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
# Written first, in this order, in both formats; never overwritten by a field of the same name.
_HEAD = ("timestamp", "level", "logger", "event")
# Written after the line, as they are multi-line by nature.
_TRAILERS = ("exception", "stack_info")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_BARE = re.compile(r"[^\s\"'=]+")


def add_extra_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Copy a stdlib record's `extra={...}` fields into the event (the level, logger and message win)."""
    record = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def add_timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """ISO-8601 UTC, to the millisecond, of when the record was *made* (not formatted)."""
    record: logging.LogRecord = event_dict["_record"]
    moment = datetime.fromtimestamp(record.created, UTC)
    event_dict["timestamp"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event_dict


def redacting(redactor: Redactor) -> Processor:
    """A processor replacing, in every key and value of the event, what `redactor` considers secret;
    a field whose *name* says secret (`client_secret`, `authorization`, ...) loses its value whole."""

    def redact_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        clean: EventDict = {}
        for key, value in event_dict.items():
            if key in ("timestamp", "level"):  # made here, from numbers and names
                clean[key] = value
            elif key not in _HEAD and is_secret_key(key):
                clean[redactor.redact(key)] = MARK
            else:
                clean[redactor.redact(key)] = redactor.redact_value(value)
        return clean

    return redact_event


def render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    """One JSON object: timestamp, level, logger, event, then the fields (exception text included).
    ASCII-only, so a line splitter that honours U+2028 cannot cut an event in two."""
    return json.dumps(_ordered(event_dict), default=str)


def render_text(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    """`<time> <LEVEL> <logger>: <event> key=value ...`, then an exception or stack on the following lines.
    Control characters in the line are escaped, so a message cannot forge a second line or move a
    terminal's cursor."""
    fields = _ordered(event_dict)
    head = [fields.pop(key, "") for key in _HEAD]
    trailers = [str(fields.pop(key)).rstrip("\n") for key in _TRAILERS if key in fields]
    timestamp, level, logger, event = (str(part) for part in head)
    parts = [f"{timestamp} {level.upper():<7} {_escape(logger)}: {_escape(event)}"]
    parts.extend(f"{_escape(str(key))}={_text_value(value)}" for key, value in fields.items())
    return "\n".join([" ".join(parts), *trailers])


def _ordered(event_dict: EventDict) -> dict[str, Any]:
    ordered = {key: event_dict[key] for key in _HEAD if key in event_dict}
    ordered.update((key, value) for key, value in event_dict.items() if key not in ordered)
    return ordered


def _escape(text: str) -> str:
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _text_value(value: object) -> str:
    if isinstance(value, str):
        return (
            value
            if _BARE.fullmatch(value) and _CONTROL.search(value) is None
            else _escape(json.dumps(value, ensure_ascii=False))
        )
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return _escape(json.dumps(value, ensure_ascii=False, default=str))
