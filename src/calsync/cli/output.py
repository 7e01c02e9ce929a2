"""Rendering for people and machines: Rich tables and messages, or JSON with --json.

Errors become human text only here (and in the web layer): each known exception type has one
rendering that says what happened and what to do next, and one exit code (documented in the README).
The renderings of calsync.settings' and calsync.graph's errors are in calsync.cli.errortext, imported
when one of those errors is rendered.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.exceptions import TyperException

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Exit codes (README "Exit codes").
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AUTH = 4
EXIT_GRAPH = 5
EXIT_PARTIAL = 6

Renderer = Callable[[Exception], tuple[str, int]]
_renderers: list[tuple[type[Exception], Renderer]] = []

# The packages whose exceptions calsync.cli.errortext renders.
_ERRORTEXT_FOR = ("calsync.settings", "calsync.graph", "calsync.services")


def renders(kind: type[Exception]) -> Callable[[Renderer], Renderer]:
    """Register the human rendering of an exception type (most specific registered first wins)."""

    def decorate(func: Renderer) -> Renderer:
        _renderers.append((kind, func))
        return func

    return decorate


@renders(TyperException)
def _usage(exc: Exception) -> tuple[str, int]:
    """A bad command line (unknown option, bad value, --json without --yes): Click's own text and code
    (2 for a usage error)."""
    assert isinstance(exc, TyperException)
    return escape(exc.format_message()), exc.exit_code


@renders(FileExistsError)
def _exists(exc: Exception) -> tuple[str, int]:
    return f"Refusing to overwrite existing files: {exc}. Use --overwrite to replace them.", EXIT_USAGE


def rendered(exc: Exception) -> tuple[str, int]:
    """The human text (Rich markup) and exit code of `exc`; unknown errors keep their type name only."""
    if any(".".join(k.__module__.split(".")[:2]) in _ERRORTEXT_FOR for k in type(exc).__mro__):
        # Registers the renderings of those packages' errors. Imported only for an error of theirs (the
        # package is loaded then): they come with pydantic, httpx and msal, which `calsync --help`, and a
        # usage error, should not load.
        import calsync.cli.errortext  # noqa: F401

    for kind, func in reversed(_renderers):
        if isinstance(exc, kind):
            return func(exc)
    return f"{type(exc).__name__}: {exc}", EXIT_FAILURE


def warn(text: str) -> None:
    """A warning for the operator, on stderr whatever the output mode (--json keeps stdout one document)."""
    err_console.print(f"[bold yellow]warning:[/] {escape(text)}")


def fail(exc: Exception, *, as_json: bool = False) -> NoReturn:
    """Print the human text for `exc` (or, under --json, a JSON error document on stdout) and exit with
    its code."""
    text, code = rendered(exc)
    if as_json:
        plain = Text.from_markup(text).plain
        emit_json({"error": {"type": type(exc).__name__, "message": plain, "exit_code": code}})
    else:
        err_console.print(f"[bold red]error:[/] {text}")
    raise typer.Exit(code)


@contextmanager
def reported(*, as_json: bool = False) -> Iterator[None]:
    """Turn exceptions raised by a command into human text (or a JSON error) and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        fail(exc, as_json=as_json)


def emit_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
