"""OData ``$filter`` compiler for graphemu: tokenizer + recursive-descent parser producing closures.

Why this exists: the emulator has to answer the ``$filter`` queries a calendar sync client sends
(extended-property lookups, date windows, ``startswith``), and query text comes from the network, so it
is parsed by a small grammar, never ``eval``-ed, and both its size and nesting depth are bounded.
Semantics follow Exchange Online rather than strict OData where the two differ (see ``parse_filter``).
Public names are re-exported from :mod:`graphemu.odata`; import them from there.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
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


class _PropId(str):
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
_KEYWORDS = frozenset({"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in"})
_CMP_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}  # fmt: skip
_STRING_FUNCS: dict[str, Callable[[str, str], bool]] = {
    "startswith": str.startswith, "endswith": str.endswith, "contains": str.__contains__,
}  # fmt: skip


def _syntax(detail: str) -> ODataError:
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
            raise _syntax(f"{what} at position {pos}.")
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup or "", m.group(), pos))
        pos = m.end()
    tokens.append(("end", "", len(text)))
    return tokens


def unquote(token_text: str) -> str:
    """Value of a quoted OData string token (``'it''s'`` -> ``it's``)."""
    return token_text[1:-1].replace("''", "'")


def _as_datetime(value: Any) -> datetime | None:
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
        da, db = _as_datetime(a), _as_datetime(b)
        if da is not None and db is not None:
            return da, db
    if isinstance(a, str) and isinstance(b, str):
        if isinstance(a, _PropId) or isinstance(b, _PropId):
            return extended_property_key(a), extended_property_key(b)
        return a.casefold(), b.casefold()
    return None


def _compare(op: str, a: Any, b: Any) -> bool:
    """OData comparison: null equals only null, ordering with null or mismatched types is false."""
    if a is None or b is None:
        return (a is None and b is None) if op == "eq" else (op == "ne" and (a is not None or b is not None))
    pair = _comparable(a, b)
    if pair is None:
        return op == "ne"
    try:
        return bool(_CMP_OPS[op](pair[0], pair[1]))
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


_CASTS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(("edm.byte", "edm.sbyte", "edm.int16", "edm.int32", "edm.int64"), _to_int),
    **dict.fromkeys(("edm.double", "edm.single", "edm.decimal"), _to_float),
    "edm.string": _to_str, "edm.boolean": _to_bool, "edm.datetimeoffset": _as_datetime,
}  # fmt: skip


class _Ctx:
    """Evaluation state: the entity, its extended properties and the lambda variables in scope."""

    __slots__ = ("ext", "item", "scope")

    def __init__(self, item: Mapping[str, Any], ext: Mapping[str, str], scope: dict[str, Any]) -> None:
        self.item, self.ext, self.scope = item, ext, scope

    def bind(self, var: str, value: Any) -> _Ctx:
        return _Ctx(self.item, self.ext, {**self.scope, var: value})


_Node = Callable[[_Ctx], Any]


def _const(value: Any) -> _Node:
    return lambda ctx: value


class _Parser:
    """Recursive descent over the token list; each rule returns a closure over ``_Ctx``."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.vars: frozenset[str] = frozenset()

    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def word(self) -> str:
        kind, text, _ = self.peek()
        return text.lower() if kind == "name" else ""

    def fail(self, tok: Token, expected: str) -> ODataError:
        found = f"'{tok[1]}'" if tok[0] != "end" else "end of expression"
        return _syntax(f"syntax error at position {tok[2]}: expected {expected}, found {found}.")

    def expect(self, punct: str) -> None:
        tok = self.take()
        if tok[1] != punct or tok[0] != "punct":
            raise self.fail(tok, f"'{punct}'")

    def nest(self, delta: int) -> None:
        self.depth += delta
        if self.depth > MAX_DEPTH:
            raise _syntax(f"the expression is nested more than {MAX_DEPTH} levels deep.")

    def parse(self) -> _Node:
        node = self.or_expr()
        if self.peek()[0] != "end":
            raise self.fail(self.peek(), "'and', 'or' or end of expression")
        return node

    def or_expr(self) -> _Node:
        parts = [self.and_expr()]
        while self.word() == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda ctx: any(p(ctx) for p in parts))

    def and_expr(self) -> _Node:
        parts = [self.unary()]
        while self.word() == "and":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda ctx: all(p(ctx) for p in parts))

    def unary(self) -> _Node:
        if self.word() == "not":
            self.take()
            self.nest(1)
            inner = self.unary()
            self.nest(-1)
            return lambda ctx: not inner(ctx)
        if self.peek()[1] == "(" and self.peek()[0] == "punct":
            self.take()
            self.nest(1)
            inner = self.or_expr()
            self.nest(-1)
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> _Node:
        start = self.peek()
        left, boolean = self.operand()
        op = self.word()
        if op in _CMP_OPS:
            self.take()
            right, _ = self.operand()
            return lambda ctx: _compare(op, left(ctx), right(ctx))
        if op == "in":
            self.take()
            self.expect("(")
            options = [self.operand()[0]]
            while self.peek()[1] == ",":
                self.take()
                options.append(self.operand()[0])
            self.expect(")")
            return lambda ctx: any(_compare("eq", left(ctx), o(ctx)) for o in options)
        if not boolean:
            raise self.fail(start, "a boolean expression")
        return lambda ctx: left(ctx) is True

    def operand(self) -> tuple[_Node, bool]:
        """Parse a value; the flag says whether it may stand alone as a boolean expression."""
        tok = self.take()
        kind, text, _ = tok
        if kind == "str":
            return _const(unquote(text)), False
        if kind == "num":
            try:
                value: Any = float(text) if any(c in text for c in ".eE") else int(text)
            except ValueError:
                raise self.fail(tok, "a number") from None
            return _const(value), False
        if kind == "dt":
            when = parse_datetime(text)
            if when is None:
                raise _syntax(f"invalid date/time literal '{text}' at position {tok[2]}.")
            return _const(when), False
        if kind != "name" or text.lower() in _KEYWORDS:
            raise self.fail(tok, "a property, literal or function")
        low = text.lower()
        if low in ("true", "false", "null"):
            return _const(None if low == "null" else low == "true"), low != "null"
        if self.peek()[1] == "(":
            head, _, last = text.rpartition("/")
            if head and last.lower() in ("any", "all"):
                return self.lambda_expr(head, last.lower()), True
            if not head:
                return self.call(low)
            raise _syntax(f"'{text}' is not a function or lambda operator.")
        return self.path(text), True

    def path(self, text: str) -> _Node:
        head, _, rest = text.partition("/")
        if head in self.vars:
            return lambda ctx: path_get(ctx.scope[head], rest) if rest else ctx.scope[head]
        if head == "$it":
            text = rest
        return lambda ctx: path_get(ctx.item, text)

    def lambda_expr(self, collection: str, kind: str) -> _Node:
        """``path/any(v: expr)``, ``path/all(v: expr)`` and ``path/any()``; extended properties are a collection."""
        self.expect("(")
        if collection.lower() == "singlevalueextendedproperties" and collection not in self.vars:

            def elements(ctx: _Ctx) -> Iterable[Any]:
                return ({"id": _PropId(k), "value": v} for k, v in ctx.ext.items())

        else:
            source = self.path(collection)

            def elements(ctx: _Ctx) -> Iterable[Any]:
                value = source(ctx)
                return value if isinstance(value, list) else ()

        if kind == "any" and self.peek()[1] == ")":
            self.take()
            return lambda ctx: any(True for _ in elements(ctx))
        var_tok = self.take()
        var = var_tok[1]
        if var_tok[0] != "name" or "/" in var or var.lower() in _KEYWORDS:
            raise self.fail(var_tok, "a lambda variable name")
        self.expect(":")
        outer = self.vars
        self.vars = outer | {var}
        self.nest(1)
        body = self.or_expr()
        self.nest(-1)
        self.vars = outer
        self.expect(")")
        test = any if kind == "any" else all
        return lambda ctx: test(body(ctx.bind(var, e)) for e in elements(ctx))

    def call(self, name: str) -> tuple[_Node, bool]:
        """``startswith``/``endswith``/``contains`` (case-insensitive) and ``cast(value, Edm.Type)``."""
        if name not in _STRING_FUNCS and name != "cast":
            raise _syntax(f"An unknown function with name '{name}' was found.")
        self.expect("(")
        self.nest(1)
        first, _ = self.operand()
        self.expect(",")
        if name == "cast":
            type_tok = self.take()
            convert = _CASTS.get(type_tok[1].lower()) if type_tok[0] == "name" else None
            if convert is None:
                raise self.fail(type_tok, "a supported Edm type such as Edm.Int32")
            self.expect(")")
            self.nest(-1)
            return lambda ctx: convert(first(ctx)), False
        second, _ = self.operand()
        self.expect(")")
        self.nest(-1)
        func = _STRING_FUNCS[name]

        def string_test(ctx: _Ctx) -> bool:
            a, b = first(ctx), second(ctx)
            return isinstance(a, str) and isinstance(b, str) and func(a.casefold(), b.casefold())

        return string_test, True


def parse_filter(text: str) -> Filter:
    """Compile a ``$filter`` expression to ``predicate(item, extended_props) -> bool``.

    ``item`` is the entity's Graph JSON; ``extended_props`` maps stored extended-property id -> value.
    Grammar: comparisons (eq ne gt ge lt le, ``in (...)``), ``not`` > ``and`` > ``or``, parentheses,
    ``startswith``/``endswith``/``contains``, ``cast(x, Edm.Int32)``, ``coll/any(v: ...)``/``all``, and
    ``singleValueExtendedProperties/any(ep: ep/id eq '...' and ep/value eq '...')``.
    Exchange behaviour is mirrored: string comparisons are case-insensitive (except the Name part of an
    extended-property id); strings that both parse as date/times compare chronologically; a bare
    property is true only if its value is ``true``. Evaluation never raises; mismatched types are unequal.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise _syntax(f"the expression is longer than {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        raise _syntax("the expression is empty.")
    node = _Parser(text).parse()

    def predicate(item: Mapping[str, Any], extended_props: Mapping[str, str]) -> bool:
        return bool(node(_Ctx(item, extended_props, {})))

    return predicate
