"""One logging pipeline for every calsync process: calsync's loggers and third-party ones, text or JSON.

calsync logs through the stdlib (`logging.getLogger("calsync.graph")`, fields in `extra={...}`), and so do
httpx, msal, procrastinate, uvicorn and sqlalchemy. `configure_logging` puts one handler on the root
logger whose `structlog.stdlib.ProcessorFormatter` runs every record, whoever made it, through the same
steps: level and logger name, `extra` fields, the bound context (`run_id`, `mailbox`, ...), a UTC
timestamp, the formatted exception, then **redaction** (calsync.redact) of the message, every field
(recursively) and the traceback, and finally one text line or one JSON object. structlog's own loggers
(`structlog.get_logger()`) are configured to end in the same handler.

Wiring (done in calsync.cli, not here):

    from calsync import logs, redact
    # --log-level / CALSYNC_LOG_LEVEL (Typer `envvar=`); default "warning" for one-shot commands such as
    # `calsync sync`, "info" for `calsync serve` and `calsync worker`. --log-format text|json.
    try:
        logs.configure_logging(level, fmt)            # before anything logs; safe to call again
    except logs.LoggingConfigError as exc:            # a ValueError: a usage error (exit code 2)
        ...
    redact.register_secret(settings.client_secret.get_secret_value())   # and key/PKCS#12 passwords
    redact.register_url_secrets(settings.ics_url_template.get_secret_value())
    with logs.context(run_id=run_id, mailbox=upn):   # per run / per job; asyncio tasks inherit it
        ...
    uvicorn.run(app, log_config=None)                 # else uvicorn installs its own handlers

Set CALSYNC_LOG_WIRE=1 with `--log-level debug` to see httpcore/hpack/h2 frame-level logs; they are kept
at WARNING otherwise because they log every byte exchanged. Records must be handled in the thread/task
that made them (no QueueHandler), since the context is read from contextvars when the line is formatted.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, merge_contextvars, unbind_contextvars
from structlog.stdlib import ProcessorFormatter, add_log_level, add_logger_name
from structlog.typing import Processor

from calsync.logrender import add_extra_fields, add_timestamp, redacting, render_json, render_text
from calsync.redact import Redactor, default_redactor

__all__ = [
    "FORMATS",
    "LEVELS",
    "WIRE_ENV",
    "LoggingConfigError",
    "bind",
    "configure_logging",
    "context",
    "parse_level",
    "reset_logging",
    "unbind",
]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
FORMATS = ("text", "json")
WIRE_ENV = "CALSYNC_LOG_WIRE"
WIRE_LOGGERS = ("httpcore", "hpack", "h2")
# Loggers that narrate routine steps at INFO (alembic: "Context impl SQLiteImpl." twice per process start):
# shown at debug only, so `serve` and `worker` at info log what an operator needs.
CHATTY_LOGGERS = ("alembic",)
# Loggers whose debug lines carry secrets, kept at INFO whatever the level: msal's token cache dumps each
# token request at debug, masking tokens but not the authorization code or the PKCE code_verifier.
SECRET_LOGGERS = ("msal.token_cache",)


class LoggingConfigError(ValueError):
    """An unknown log level or format (from --log-level, --log-format or CALSYNC_LOG_LEVEL)."""


def parse_level(level: str) -> int:
    """The stdlib level for a calsync level name (case-insensitive), or LoggingConfigError."""
    number = LEVELS.get(level.strip().lower())
    if number is None:
        raise LoggingConfigError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    return number


class _Handler(logging.Handler):
    """Writes each formatted record as one line to `stream`, or to the *current* sys.stderr, so that a
    test runner or CliRunner that swaps sys.stderr after configuration still receives the lines."""

    def __init__(self, stream: TextIO | None, redactor: Redactor) -> None:
        super().__init__()
        self._stream = stream
        self._redactor = redactor

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record))
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """The stdlib version prints the record's message and arguments, unredacted, to stderr; this one
        says which call could not be formatted and why, redacted."""
        if not logging.raiseExceptions:
            return
        error = sys.exc_info()[1]
        notice = (
            f"calsync.logs: could not log a record of {record.name!r} from {record.pathname}:{record.lineno}"
            f": {type(error).__name__}: {error}"
        )
        # Nowhere left to report a failure of this write to; logging must never raise into the caller.
        with suppress(Exception):
            self._write(self._redactor.redact(notice))

    def _write(self, line: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(line + "\n")
        stream.flush()


@dataclass(frozen=True)
class _Saved:
    """What configure_logging changed, as it was before the first call (restored by reset_logging)."""

    root_level: int
    wire_levels: dict[str, int]
    structlog_config: dict[str, Any]


_lock = threading.Lock()
_saved: _Saved | None = None


def configure_logging(
    level: str = "warning",
    fmt: Literal["text", "json"] = "text",
    *,
    stream: TextIO | None = None,
    redactor: Redactor | None = None,
) -> None:
    """Send every logger's records at `level` and above to `stream` (default: stderr) as `fmt`.

    Idempotent: a second call replaces the handler of the first (so a command can reconfigure after
    reading its options) and never adds a second one. Other handlers on the root logger (pytest's, an
    embedding application's) are left alone. `redactor` defaults to the process-wide one that
    `calsync.redact.register_secret` feeds; tests pass their own to stay independent of each other.

    Raises:
        LoggingConfigError: `level` is not debug/info/warning/error or `fmt` is not text/json
            (either in any case).
    """
    number = parse_level(level)
    if fmt.strip().lower() not in FORMATS:
        raise LoggingConfigError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    redactor = redactor if redactor is not None else default_redactor()
    wire = os.environ.get(WIRE_ENV, "").strip() == "1"

    formatter = ProcessorFormatter(
        foreign_pre_chain=[add_log_level, add_logger_name, add_extra_fields, merge_contextvars],
        processors=[
            add_timestamp,
            ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redacting(redactor),
            render_json if fmt.strip().lower() == "json" else render_text,
        ],
    )
    handler = _Handler(stream, redactor)
    handler.setFormatter(formatter)
    # On the handler too: a library that lowers its own logger's level (sqlalchemy's echo) stays filtered.
    handler.setLevel(number)

    global _saved  # noqa: PLW0603 (logging configuration is process-wide by nature)
    root = logging.getLogger()
    with _lock:
        if _saved is None:
            _saved = _Saved(
                root_level=root.level,
                wire_levels={
                    name: logging.getLogger(name).level
                    for name in (*WIRE_LOGGERS, *CHATTY_LOGGERS, *SECRET_LOGGERS)
                },
                structlog_config=structlog.get_config(),
            )
        _remove_handlers(root)
        root.addHandler(handler)
        root.setLevel(number)
        for name in WIRE_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET if wire else logging.WARNING)
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET if number <= logging.DEBUG else logging.WARNING)
        for name in SECRET_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        structlog.configure(
            processors=_structlog_chain(),
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            # Not cached: a logger made before a reconfiguration must follow it.
            cache_logger_on_first_use=False,
        )


def reset_logging() -> None:
    """Undo configure_logging: remove its handler and restore the levels and structlog configuration it
    changed. For tests, and for a process that embeds calsync and logs its own way afterwards."""
    global _saved  # noqa: PLW0603
    with _lock:
        _remove_handlers(logging.getLogger())
        if _saved is None:
            return
        logging.getLogger().setLevel(_saved.root_level)
        for name, number in _saved.wire_levels.items():
            logging.getLogger(name).setLevel(number)
        structlog.configure(**_saved.structlog_config)
        _saved = None


def _remove_handlers(root: logging.Logger) -> None:
    for old in [handler for handler in root.handlers if isinstance(handler, _Handler)]:
        root.removeHandler(old)
        old.close()


def _structlog_chain() -> list[Processor]:
    """For `structlog.get_logger()` callers: the same fields as a stdlib record gets, then handed to the
    root handler's formatter, which timestamps, redacts and renders."""
    return [
        structlog.stdlib.filter_by_level,
        merge_contextvars,
        add_log_level,
        add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        ProcessorFormatter.wrap_for_formatter,
    ]


# -- context -----------------------------------------------------------------------------------------


def bind(**fields: Any) -> None:
    """Add fields to every line logged from now on in this context (this asyncio task and the tasks it
    starts afterwards, or this thread). Prefer `context()`, which also removes them."""
    bind_contextvars(**fields)


def unbind(*names: str) -> None:
    """Stop adding the named fields."""
    unbind_contextvars(*names)


@contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Add fields to every line logged inside the block, restoring the previous values after it:
    `with logs.context(run_id=..., mailbox=...): await sync_mailbox(...)`."""
    with bound_contextvars(**fields):
        yield
