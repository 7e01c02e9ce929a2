"""Shared pieces of graphemu's OData support: the error type, value paths, date/time and
extended-property-id parsing, the tokenizer and the comparison rules.

Why a separate module: ``graphemu.odata_filter`` (the ``$filter`` parser) and ``graphemu.odata``
(``$orderby``/``$select``/``$expand``) both need them, and keeping them apart keeps each file small.
Public names are re-exported from :mod:`graphemu.odata`; import them from there.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32


class ODataError(ValueError):
    """Invalid query option; ``.message`` reads like Graph's ("Invalid filter clause: ...").

    Graph answers 400 (BadRequest, or ErrorInvalidUrlQueryFilter for ``$filter``); ``.option`` names the
    offending query option so the caller can choose the code.
    """

    def __init__(self, message: str, option: str = "$filter") -> None:
        super().__init__(message)
        self.message = message
        self.option = option


Filter = Callable[[Mapping[str, Any], Mapping[str, str]], bool]


def path_get(item: Mapping[str, Any], path: str) -> Any:
    """Follow a '/'-separated property path through nested dicts; None when any step is missing.

    An exact key wins; otherwise the key is matched case-insensitively, because Graph accepts
    ``Subject`` or ``ep/Id`` for ``subject`` / ``id``.
    """
    current: Any = item
    for segment in path.split("/"):
        if not segment or not isinstance(current, Mapping):
            return None
        if segment in current:
            current = current[segment]
            continue
        low = segment.lower()
        current = next((v for k, v in current.items() if isinstance(k, str) and k.lower() == low), None)
    return current


_DT_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|z|[+-]\d{2}:?\d{2})?"
)


def parse_datetime(text: str) -> datetime | None:
    """Parse an ISO 8601 / Graph ``dateTime`` string to an aware datetime; None if it is not one.

    Graph writes 7 fractional digits and no offset (``2017-04-15T11:00:00.0000000``), meaning UTC unless
    ``Prefer: outlook.timezone`` says otherwise, so a missing offset is taken as UTC and digits beyond
    microseconds are dropped.
    """
    m = _DT_RE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    try:
        tz: timezone = UTC
        if offset is not None and offset not in ("Z", "z"):
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tz = timezone(-delta if offset[0] == "-" else delta)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tz
        )
    except ValueError:
        return None


_GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_EP_NAMED_RE = re.compile(r"(\w+)\s+\{?(" + _GUID + r")\}?\s+(Name|Id)\s+(.+)", re.IGNORECASE | re.DOTALL)
_EP_TAG_RE = re.compile(r"(\w+)\s+0x([0-9A-Fa-f]+)", re.IGNORECASE)


def extended_property_key(prop_id: str) -> tuple[str, ...]:
    """Canonical, hashable key of an extended-property id for matching stored ids against queries.

    Graph documents the Name part as case-sensitive; the type prefix, the GUID, the ``Name``/``Id``
    keyword and hex numbers are compared case-insensitively. Unrecognised ids compare verbatim.
    """
    text = prop_id.strip()
    m = _EP_NAMED_RE.fullmatch(text)
    if m is not None:
        ptype, guid, kind, rest = m.groups()
        if kind.lower() == "name":
            return ("name", ptype.lower(), guid.lower(), rest)
        try:
            return ("id", ptype.lower(), guid.lower(), str(int(rest.strip(), 0)))
        except ValueError:
            return ("id", ptype.lower(), guid.lower(), rest.lower())
    m = _EP_TAG_RE.fullmatch(text)
    if m is not None:
        return ("tag", m.group(1).lower(), str(int(m.group(2), 16)))
    return ("raw", text)


class PropId(str):
    """Marks ``ep/id`` values so comparisons use :func:`extended_property_key` instead of casefolding."""

    __slots__ = ()


_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'(?:[^']|'')*+')
    |(?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}:\d{2})?)?)(?![\w.:-])
    |(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])
    |(?P<name>[A-Za-z_$@][\w.$@]*(?:/[A-Za-z_$@][\w.$@]*)*)
    |(?P<punct>[(),:])""",
    re.VERBOSE,
)
Token = tuple[str, str, int]  # (kind, text, position)
KEYWORDS = frozenset({"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in"})
CMP_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}  # fmt: skip
STRING_FUNCS: dict[str, Callable[[str, str], bool]] = {
    "startswith": str.startswith, "endswith": str.endswith, "contains": str.__contains__,
}  # fmt: skip


def syntax_error(detail: str) -> ODataError:
    return ODataError(f"Invalid filter clause: {detail}")


def tokenize(text: str) -> list[Token]:
    """Split query text into tokens ending with an ``end`` token; raise ODataError on stray characters."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            what = (
                "unterminated string literal" if text[pos] == "'" else f"unexpected character {text[pos]!r}"
            )
            raise syntax_error(f"{what} at position {pos}.")
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup or "", m.group(), pos))
        pos = m.end()
    tokens.append(("end", "", len(text)))
    return tokens


def unquote(token_text: str) -> str:
    """Value of a quoted OData string token (``'it''s'`` -> ``it's``)."""
    return token_text[1:-1].replace("''", "'")


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return parse_datetime(value) if isinstance(value, str) else None


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Coerce two non-null operands to values Python can compare, or None when the types differ."""
    if isinstance(a, bool) or isinstance(b, bool):
        return (a, b) if isinstance(a, bool) and isinstance(b, bool) else None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a, b
    if isinstance(a, datetime) or isinstance(b, datetime) or (isinstance(a, str) and isinstance(b, str)):
        da, db = as_datetime(a), as_datetime(b)
        if da is not None and db is not None:
            return da, db
    if isinstance(a, str) and isinstance(b, str):
        if isinstance(a, PropId) or isinstance(b, PropId):
            return extended_property_key(a), extended_property_key(b)
        return a.casefold(), b.casefold()
    return None


def compare(op: str, a: Any, b: Any) -> bool:
    """OData comparison: null equals only null, ordering with null or mismatched types is false."""
    if a is None or b is None:
        return (a is None and b is None) if op == "eq" else (op == "ne" and (a is not None or b is not None))
    pair = _comparable(a, b)
    if pair is None:
        return op == "ne"
    try:
        return bool(CMP_OPS[op](pair[0], pair[1]))
    except (TypeError, ValueError, OverflowError):
        return op == "ne"


def _to_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else None
    try:
        return int(v.strip()) if isinstance(v, str) else None
    except ValueError:
        return None


def _to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(v) if isinstance(v, str) else None
    except (ValueError, OverflowError):
        return None


def _to_str(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, str | int | float) else None


def _to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    low = v.strip().lower() if isinstance(v, str) else None
    return True if low == "true" else False if low == "false" else None


CASTS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(("edm.byte", "edm.sbyte", "edm.int16", "edm.int32", "edm.int64"), _to_int),
    **dict.fromkeys(("edm.double", "edm.single", "edm.decimal"), _to_float),
    "edm.string": _to_str, "edm.boolean": _to_bool, "edm.datetimeoffset": as_datetime,
}  # fmt: skip
