"""The `calsync` command group: a usage error on a command line that asked for --json is a JSON error.

Click reports a bad command line (an unknown option, a missing argument) itself, as text on stderr, before
any command runs, so the commands' own `reported(as_json=...)` never sees it. A script that runs
`calsync sync --json` parses stdout whatever happens; it gets the documented error document
(`{"error": {"type", "message", "exit_code"}}`, exit 2) here too. Without --json nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typer.core import TyperGroup
from typer.exceptions import TyperException

from calsync.cli.output import fail

if TYPE_CHECKING:  # Typer vendors Click; its Context is the type TyperGroup's methods are declared with
    from typer._click.core import Context

_WANTS_JSON = "calsync.wants_json"


def _wants_json(args: list[str]) -> bool:
    """--json among the arguments (before a `--`, after which everything is a value)."""
    head = args[: args.index("--")] if "--" in args else args
    return "--json" in head


class JsonUsageGroup(TyperGroup):
    """TyperGroup whose usage errors become JSON error documents when --json was given."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        wants_json = _wants_json(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except TyperException as exc:
            if wants_json:
                fail(exc, as_json=True)
            raise
        ctx.meta[_WANTS_JSON] = wants_json
        return ctx

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except TyperException as exc:
            if ctx.meta.get(_WANTS_JSON):
                fail(exc, as_json=True)
            raise
