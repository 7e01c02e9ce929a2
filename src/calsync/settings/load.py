"""Reading the settings: calsync.toml, then CALSYNC_* variables, then explicit overrides."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import (
    ValidationError,
)

from calsync.settings.base import DEFAULT_CONFIG, FILE_FORBIDDEN, OTHER_VARIABLES, SettingsError
from calsync.settings.model import Settings


def _is_list(annotation: Any) -> bool:
    """`list[...]` or `list[...] | None`."""
    return get_origin(annotation) is list or any(get_origin(a) is list for a in get_args(annotation))


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """One warning per CALSYNC_* variable that matches no setting, naming the closest key; never the
    variable's value, which may be a secret. A mistyped variable is otherwise ignored without a word and
    the default silently wins (CALSYNC_TENANTID, CALSYNC_MAILBOX)."""
    keys = list(Settings.model_fields)
    warnings = []
    for name in sorted(env):
        if not name.startswith("CALSYNC_") or name in OTHER_VARIABLES:
            continue
        key = name.removeprefix("CALSYNC_").lower()
        if key in Settings.model_fields:
            continue
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
        hint = (
            f"did you mean CALSYNC_{close[0].upper()} ({close[0]})?"
            if close
            else "docs/configuration.md lists the settings"
        )
        warnings.append(f"{name} matches no setting and is ignored; {hint}")
    return warnings


def load_settings(
    path: Path | None = None,
    env: dict[str, str] | None = None,
    *,
    warn: Callable[[str], None] | None = None,
    **overrides: Any,
) -> Settings:
    """Read calsync.toml (if present, or the given path, which must exist) and CALSYNC_* variables.

    `warn` is given each warning about the configuration that does not stop it (`unknown_variables`);
    the CLI prints them on stderr."""
    env = dict(os.environ if env is None else env)
    if warn is not None:
        for warning in unknown_variables(env):
            warn(warning)
    data: dict[str, Any] = {}
    source = str(path or DEFAULT_CONFIG)
    config_path = path or (Path(env["CALSYNC_CONFIG"]) if "CALSYNC_CONFIG" in env else DEFAULT_CONFIG)
    if path is not None or config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError([f"cannot read: {exc.strerror}"], str(config_path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"not valid TOML: {exc}"], str(config_path)) from None
        data = dict(data.get("calsync", data))
        source = str(config_path)
        inline = [
            f"{key}: not accepted in the file (it would keep a secret in plain text); use {instead}"
            for key, instead in FILE_FORBIDDEN.items()
            if key in data
        ]
        if inline:
            raise SettingsError(inline, source)
    for name, info in Settings.model_fields.items():
        value = env.get(f"CALSYNC_{name.upper()}")
        if value is not None:  # a list-typed key's variable is comma-separated
            data[name] = (
                [v.strip() for v in value.split(",") if v.strip()] if _is_list(info.annotation) else value
            )
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"]) or "(file)"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(
                f"{key}: {message}" if error["type"] != "extra_forbidden" else f"{key}: unknown key"
            )
        raise SettingsError(problems, source) from None
