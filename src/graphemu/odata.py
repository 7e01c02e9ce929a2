"""OData query options graphemu understands: ``$filter``, ``$orderby``, ``$select`` and ``$expand``.

Why: Graph list endpoints accept these options and a sync client relies on a handful of them
(extended-property filters and expands, date windows, ordering, trimming payloads with ``$select``).
Everything here is pure and stdlib-only so the HTTP layer decides status codes; parse failures raise
:class:`ODataError`. The ``$filter`` compiler lives in :mod:`graphemu.odata_filter`, shared pieces in
:mod:`graphemu.odata_core`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphemu.odata_core import (
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    Filter,
    ODataError,
    Token,
    extended_property_key,
    parse_datetime,
    path_get,
    tokenize,
    unquote,
)
from graphemu.odata_filter import parse_filter

__all__ = [
    "ExpandExtendedProps",
    "Filter",
    "ODataError",
    "apply_select",
    "extended_property_key",
    "parse_datetime",
    "parse_expand",
    "parse_filter",
    "parse_orderby",
    "parse_select",
    "path_get",
    "sort_items",
]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH_RE = re.compile(rf"{_IDENT}(?:/{_IDENT})*")
_IDENT_RE = re.compile(_IDENT)


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """Parse ``"start/dateTime desc, subject"`` into ``[("start/dateTime", True), ("subject", False)]``."""
    if len(text) > MAX_FILTER_LENGTH:
        raise ODataError("Invalid orderby clause: the expression is too long.", option="$orderby")
    result: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        direction = words[1].lower() if len(words) == 2 else "asc"
        if not 1 <= len(words) <= 2 or not _PATH_RE.fullmatch(words[0]) or direction not in ("asc", "desc"):
            raise ODataError(f"Invalid orderby clause: '{part.strip()}'.", option="$orderby")
        result.append((words[0], direction == "desc"))
    return result


def _sort_key(value: Any) -> tuple[Any, ...]:
    """Total order across JSON values: null < booleans < numbers < date/times < other strings < rest."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        when = parse_datetime(value)
        return (3, when) if when is not None else (4, value.casefold())
    return (5, repr(value))


def _key_for(path: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    return lambda item: _sort_key(path_get(item, path))


def sort_items(items: list[dict[str, Any]], orderby: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Return a new list sorted by ``orderby``; stable, so ties keep their input order.

    Nulls sort first ascending (last descending); strings compare case-insensitively and date/time
    strings chronologically, whatever their fractional digits or offset.
    """
    result = list(items)
    for path, descending in reversed(orderby):
        result.sort(key=_key_for(path), reverse=descending)
    return result


def _select_error(term: str, option: str) -> ODataError:
    return ODataError(
        f"Parsing OData Select and Expand failed: Term '{term}' is not valid in a $select or $expand "
        "expression.",
        option=option,
    )


def parse_select(text: str) -> list[str]:
    """Parse ``"subject,start"`` into ``["subject", "start"]``; ``*`` is allowed, duplicates dropped."""
    fields: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name != "*" and not _IDENT_RE.fullmatch(name):
            raise _select_error(name, "$select")
        if name not in fields:
            fields.append(name)
    return fields


def apply_select(
    item: Mapping[str, Any], fields: Sequence[str], always: Sequence[str] = ("id",)
) -> dict[str, Any]:
    """Keep the selected top-level properties, ``always`` and annotations, in the item's own key order.

    Graph keeps ``id`` and ``@odata.etag`` whatever ``$select`` says; any ``@...`` instance annotation
    and ``prop@odata.*`` annotations of kept properties stay too. Names match case-insensitively as in
    Graph. Properties the item lacks are not invented (the emulator stores nulls explicitly).
    """
    if "*" in fields:
        return dict(item)
    wanted = {name.lower() for name in (*fields, *always)}
    return {
        key: value
        for key, value in item.items()
        if key.startswith("@") or key.partition("@")[0].lower() in wanted
    }


@dataclass(frozen=True)
class ExpandExtendedProps:
    """``$expand=singleValueExtendedProperties(...)``; ``property_ids`` is None when no ``$filter`` was given
    (Graph cannot list all extended properties, so the caller decides whether that is an error)."""

    property_ids: tuple[str, ...] | None


_EXPAND_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\((.*)\))?\s*", re.DOTALL)
_EXPAND_FILTER_RE = re.compile(r"\s*\$filter\s*=(.*)", re.DOTALL | re.IGNORECASE)


def _expand_ids(tokens: list[Token], i: int, depth: int) -> tuple[list[str], int]:
    """Parse ``id eq '...' (or id eq '...')*`` with optional parentheses starting at ``tokens[i]``."""

    def tok(j: int) -> Token:
        return tokens[min(j, len(tokens) - 1)]

    ids: list[str] = []
    while True:
        kind, text, _ = tok(i)
        if kind == "punct" and text == "(" and depth < MAX_DEPTH:
            sub, i = _expand_ids(tokens, i + 1, depth + 1)
            if tok(i)[1] != ")":
                raise _select_error(tok(i)[1], "$expand")
            ids += sub
            i += 1
        elif (
            kind == "name"
            and text.lower() == "id"
            and tok(i + 1)[1].lower() == "eq"
            and tok(i + 2)[0] == "str"
        ):
            ids.append(unquote(tok(i + 2)[1]))
            i += 3
        else:
            raise _select_error(text, "$expand")
        if tok(i)[0] != "name" or tok(i)[1].lower() != "or":
            return ids, i
        i += 1


def parse_expand(text: str) -> ExpandExtendedProps | None:
    """Parse ``singleValueExtendedProperties($filter=id eq '{id}' or id eq '{id2}')``.

    Returns None for an empty option. Only ``singleValueExtendedProperties`` is supported; any other
    navigation (multiValueExtendedProperties, attachments, instances, ...), several expands, or nested
    options other than that ``$filter`` raise ODataError. Ids are returned as written; match them with
    :func:`extended_property_key`.
    """
    if not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise ODataError("Invalid expand clause: the expression is too long.", option="$expand")
    m = _EXPAND_RE.fullmatch(text)
    if m is None or m.group(1).lower() != "singlevalueextendedproperties":
        raise _select_error(text.strip(), "$expand")
    if m.group(2) is None:
        return ExpandExtendedProps(None)
    fm = _EXPAND_FILTER_RE.fullmatch(m.group(2))
    if fm is None:
        raise _select_error(m.group(2).strip(), "$expand")
    try:
        tokens = tokenize(fm.group(1))
    except ODataError as exc:
        raise ODataError(exc.message, option="$expand") from None
    ids, end = _expand_ids(tokens, 0, 0)
    if tokens[end][0] != "end":
        raise _select_error(tokens[end][1], "$expand")
    return ExpandExtendedProps(tuple(dict.fromkeys(ids)))
