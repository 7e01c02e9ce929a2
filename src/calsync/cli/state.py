"""What every command shares: the global options, and the settings read once from them.

Reading the settings is also when logging is set up (the level may come from calsync.toml) and when
the configured secrets are registered with the redactor, so that no log line, third-party ones included,
can print them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic: imported when a command reads its settings, not for --help
    from calsync.settings import Settings


@dataclass(frozen=True)
class CliState:
    """The global options: --config, --log-level, --log-format (None: from settings or the default)."""

    config: str | None = None
    log_level: str | None = None
    log_format: str | None = None


def settings_from(state: CliState | str | None, *, log_default: str = "warning") -> Settings:
    """The settings of this invocation (`state.config`: the --config option; None: calsync.toml if
    present); configures logging: --log-level, else CALSYNC_LOG_LEVEL / log_level, else `log_default`."""
    if not isinstance(state, CliState):
        state = CliState(state)
    from calsync.cli.output import warn
    from calsync.settings import load_settings

    settings = load_settings(Path(state.config) if state.config else None, warn=warn)
    from calsync import logs, redact

    for secret in _secrets(settings):
        redact.register_secret(secret)
    for template in (settings.ics_url_template, *(p.ics_url_template for p in settings.profiles)):
        if template is not None:  # every profile's feed URLs may carry a token
            redact.register_url_secrets(template.get_secret_value())
    for url_map in (settings.ics_url_map_file, *(p.ics_url_map_file for p in settings.profiles)):
        if url_map is not None:
            _register_url_map(url_map)
    if settings.feed_auth != "none":
        _register_feed_auth(settings)
    level = state.log_level or settings.log_level or log_default
    logs.configure_logging(level, "json" if (state.log_format or settings.log_format) == "json" else "text")
    return settings


def _secrets(settings: Settings) -> Iterator[str]:
    """The configured secret values, also those kept in files (client_secret_file, pkcs12_password_file):
    a secret is as secret whichever way it was given. A file that cannot be read is skipped here; building
    the credential reports it, with its key."""
    for secret in (settings.client_secret, settings.private_key_password, settings.pkcs12_password):
        if secret is not None:
            yield secret.get_secret_value()
    with suppress(OSError, UnicodeDecodeError):
        if settings.client_secret_file is not None and (value := settings.secret_value()) is not None:
            yield value
    with suppress(OSError):
        if settings.pkcs12_password_file is not None and (password := settings.pkcs12_password_value()):
            yield password.decode(errors="replace")


def _register_url_map(path: Path) -> None:
    """Every URL of the mailbox -> URL map is a secret: their per-person parts are registered (as tokens,
    so thousands cost the log pipeline nothing; query strings are redacted by pattern anyway). A map that
    cannot be read is skipped here; the run reports it, with its key."""
    from calsync import redact
    from calsync.sources import SourceUnavailable, load_url_map

    with suppress(SourceUnavailable):
        redact.register_feed_urls(load_url_map(path).urls())


def _register_feed_auth(settings: Settings) -> None:
    """The feed credential (from its variable or file) and its encoded form as sent. A file that cannot
    be read is skipped here; building the fetcher reports it, with its key."""
    from calsync import redact, wiring
    from calsync.settings import SettingsError

    with suppress(SettingsError):
        auth = wiring.feed_auth(settings)
        for secret in auth.secrets() if auth else ():
            redact.register_secret(secret)
