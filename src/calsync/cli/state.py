"""Settings for a command: read once, from --config (or calsync.toml) and CALSYNC_* variables."""

from __future__ import annotations

from pathlib import Path

from calsync.settings import Settings, load_settings


def settings_from(config: str | None) -> Settings:
    """The settings of this invocation; `config` is the --config option (None: calsync.toml if present)."""
    return load_settings(Path(config) if config else None)
