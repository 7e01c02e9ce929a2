"""OData ``$filter`` compiler for graphemu: tokenizer + recursive-descent parser producing closures.

Why this exists: the emulator has to answer the ``$filter`` queries a calendar sync client sends
(extended-property lookups, date windows, ``startswith``), and query text comes from the network, so it
is parsed by a small grammar, never ``eval``-ed, and both its size and nesting depth are bounded.
Semantics follow Exchange Online rather than strict OData where the two differ (see ``parse_filter``).
Public names are re-exported from :mod:`graphemu.odata`; import them from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from graphemu.odata_core import (
    CASTS,
    CMP_OPS,
    KEYWORDS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    STRING_FUNCS,
    Filter,
    ODataError,
    PropId,
    Token,
    compare,
    parse_datetime,
    path_get,
    syntax_error,
    tokenize,
    unquote,
)


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
        return syntax_error(f"syntax error at position {tok[2]}: expected {expected}, found {found}.")

    def expect(self, punct: str) -> None:
        tok = self.take()
        if tok[1] != punct or tok[0] != "punct":
            raise self.fail(tok, f"'{punct}'")

    def nest(self, delta: int) -> None:
        self.depth += delta
        if self.depth > MAX_DEPTH:
            raise syntax_error(f"the expression is nested more than {MAX_DEPTH} levels deep.")

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
        if op in CMP_OPS:
            self.take()
            right, _ = self.operand()
            return lambda ctx: compare(op, left(ctx), right(ctx))
        if op == "in":
            self.take()
            self.expect("(")
            options = [self.operand()[0]]
            while self.peek()[1] == ",":
                self.take()
                options.append(self.operand()[0])
            self.expect(")")
            return lambda ctx: any(compare("eq", left(ctx), o(ctx)) for o in options)
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
                raise syntax_error(f"invalid date/time literal '{text}' at position {tok[2]}.")
            return _const(when), False
        if kind != "name" or text.lower() in KEYWORDS:
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
            raise syntax_error(f"'{text}' is not a function or lambda operator.")
        return self.path(text), True

    def path(self, text: str) -> _Node:
        head, _, rest = text.partition("/")
        if head in self.vars:
            return lambda ctx: path_get(ctx.scope[head], rest) if rest else ctx.scope[head]
        if head == "$it":
            text = rest
        return lambda ctx: path_get(ctx.item, text)

    def lambda_expr(self, collection: str, kind: str) -> _Node:
        """``path/any(v: expr)``, ``path/all(v: expr)``, ``path/any()``; extended properties act as a list."""
        self.expect("(")
        if collection.lower() == "singlevalueextendedproperties" and collection not in self.vars:

            def elements(ctx: _Ctx) -> Iterable[Any]:
                return ({"id": PropId(k), "value": v} for k, v in ctx.ext.items())

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
        if var_tok[0] != "name" or "/" in var or var.lower() in KEYWORDS:
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
        if name not in STRING_FUNCS and name != "cast":
            raise syntax_error(f"An unknown function with name '{name}' was found.")
        self.expect("(")
        self.nest(1)
        first, _ = self.operand()
        self.expect(",")
        if name == "cast":
            type_tok = self.take()
            convert = CASTS.get(type_tok[1].lower()) if type_tok[0] == "name" else None
            if convert is None:
                raise self.fail(type_tok, "a supported Edm type such as Edm.Int32")
            self.expect(")")
            self.nest(-1)
            return lambda ctx: convert(first(ctx)), False
        second, _ = self.operand()
        self.expect(")")
        self.nest(-1)
        func = STRING_FUNCS[name]

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
        raise syntax_error(f"the expression is longer than {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        raise syntax_error("the expression is empty.")
    node = _Parser(text).parse()

    def predicate(item: Mapping[str, Any], extended_props: Mapping[str, str]) -> bool:
        return bool(node(_Ctx(item, extended_props, {})))

    return predicate
