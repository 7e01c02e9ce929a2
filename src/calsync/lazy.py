"""Names a package exports but imports only on first use (PEP 562), so a command loads only what it uses.

Why: `calsync sync` from a CSV export needs neither the iCalendar readers (icalendar, dateutil), nor the
push channels (standardwebhooks, cryptography), nor most of the services; importing them anyway cost
start-up CPU and memory on every run (bench/startup_bench.py). A package lists such names with the
module that defines each and sets `__getattr__ = lazy.exports(__name__, homes)`; its `TYPE_CHECKING`
imports keep the names typed. This module imports no calsync package, so any layer can use it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def exports(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package`: a name in `homes` is imported from `package.<home>` on first
    use and kept in the package's namespace, so the next lookup is an ordinary attribute."""

    def getattr_(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return getattr_
