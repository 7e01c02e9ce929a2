"""Typed settings, read once at the edge (CLI, web) from calsync.toml and CALSYNC_* variables.

Precedence: explicit overrides > CALSYNC_* environment variables > calsync.toml > defaults. Secrets are
never required inline: a client secret comes from CALSYNC_CLIENT_SECRET or `client_secret_file`, a
PKCS#12 password from CALSYNC_PKCS12_PASSWORD or `pkcs12_password_file`. Every problem in the file is
reported at once with its key (pydantic collects them; `SettingsError.problems` lists them).
"""

from __future__ import annotations

from calsync.settings.base import (
    DEFAULT_CONFIG,
    FILE_FORBIDDEN,
    OTHER_VARIABLES,
    PROFILE_NAME,
    SOURCE_KEYS,
    ProfileSettings,
    SettingsError,
)
from calsync.settings.load import load_settings, unknown_variables
from calsync.settings.model import Settings

__all__ = [
    "DEFAULT_CONFIG",
    "FILE_FORBIDDEN",
    "OTHER_VARIABLES",
    "PROFILE_NAME",
    "SOURCE_KEYS",
    "ProfileSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "unknown_variables",
]
