"""Small pure helpers that build Graph paths and OData expressions safely.

Why: mailbox ids/UPNs and event ids go into URL paths, and values go into `$filter` strings. Event ids
are case-sensitive base64 that may contain '=', '-', '_' (and '/' or '+' in older formats), so every path
segment is percent-encoded; string literals in OData double their single quotes. Query *parameters* are
left to httpx, which percent-encodes them (including '+', which Graph would otherwise read as a space).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote

__all__ = [
    "expand_extended_properties",
    "extended_property_filter",
    "graph_datetime",
    "if_match",
    "literal",
    "segment",
    "user_path",
]


def segment(value: str) -> str:
    """One path segment, percent-encoded ('/', '=', '+', '#', '?' and spaces included)."""
    if not value:
        raise ValueError("an empty id cannot be a path segment")
    return quote(value, safe="")


def user_path(mailbox: str) -> str:
    """`/me` or `/users/{id-or-upn}` (the '@' of a UPN kept readable; it is legal in a path)."""
    if mailbox.lower() == "me":
        return "/me"
    if not mailbox:
        raise ValueError("mailbox must not be empty")
    return f"/users/{quote(mailbox, safe='@')}"


def literal(value: str) -> str:
    """An OData string literal: quoted, with single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def extended_property_filter(prop_id: str, value: str) -> str:
    """`$filter` matching events whose single-value extended property `prop_id` equals `value`
    (graph-facts §3; the Name part of the id is case-sensitive, the value match is not)."""
    return (
        f"singleValueExtendedProperties/Any(ep: ep/id eq {literal(prop_id)} and ep/value eq {literal(value)})"
    )


def expand_extended_properties(prop_ids: Iterable[str]) -> str:
    """`$expand` returning the given single-value extended properties (the only way to read them)."""
    ids = list(prop_ids)
    if not ids:
        raise ValueError("give at least one extended property id")
    return f"singleValueExtendedProperties($filter={' or '.join(f'id eq {literal(i)}' for i in ids)})"


def if_match(change_key_or_etag: str | None) -> dict[str, str]:
    """An If-Match header from a changeKey or an `@odata.etag` (a bare changeKey is wrapped as W/"..."),
    or no header for None."""
    if not change_key_or_etag:
        return {}
    value = change_key_or_etag
    return {"If-Match": value if value.startswith(('W/"', '"')) else f'W/"{value}"'}


def graph_datetime(value: datetime | str) -> str:
    """An instant for calendarView/delta windows, in UTC with a 'Z' (strings pass through unchanged).

    Naive datetimes are refused: Graph would read them as UTC, which is rarely what the caller meant.
    """
    if isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("use an aware datetime (with a time zone) for Graph time windows")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
