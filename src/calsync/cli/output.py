"""Rendering for people and machines: Rich tables and messages, or JSON with --json.

Errors become human text only here (and in the web layer): each known exception type has one
rendering that says what happened and what to do next, and one exit code (documented in the README).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from calsync.settings import SettingsError

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


def renders(kind: type[Exception]) -> Callable[[Renderer], Renderer]:
    """Register the human rendering of an exception type (most specific registered first wins)."""

    def decorate(func: Renderer) -> Renderer:
        _renderers.append((kind, func))
        return func

    return decorate


@renders(SettingsError)
def _settings(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, SettingsError)
    lines = "\n".join(f"  - {p}" for p in exc.problems)
    return f"Configuration problems in {exc.source}:\n{lines}", EXIT_CONFIG


@renders(FileExistsError)
def _exists(exc: Exception) -> tuple[str, int]:
    return f"Refusing to overwrite existing files: {exc}. Use --overwrite to replace them.", EXIT_USAGE


def fail(exc: Exception) -> NoReturn:
    """Print the human text for `exc` and exit with its code; unknown errors keep their type name only."""
    for kind, func in reversed(_renderers):
        if isinstance(exc, kind):
            text, code = func(exc)
            err_console.print(f"[bold red]error:[/] {text}")
            raise typer.Exit(code)
    err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
    raise typer.Exit(EXIT_FAILURE)


@contextmanager
def reported() -> Iterator[None]:
    """Turn exceptions raised by a command into human text and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        fail(exc)


def emit_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
