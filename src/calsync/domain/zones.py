"""Time zones as Graph accepts them: IANA names from sources, Windows names on the wire.

Graph accepts any Windows zone name but only some of the IANA names its docs list, and some listed ones
have been rejected in practice (graph-facts §12), so calsync always sends the Windows name. The mapping
is CLDR's windowsZones.xml, as shipped by the tzlocal package.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal import windows_tz


class UnknownTimeZone(ValueError):
    """A zone name neither zoneinfo nor CLDR knows; `name` is the name as given."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name!r}")
        self.name = name


@lru_cache(maxsize=512)
def windows_zone(name: str) -> str:
    """The Windows zone name for an IANA name (or a Windows name, returned canonically).

    Links and legacy names resolve through zoneinfo's key first (e.g. "Europe/Kyiv"), then CLDR.
    "UTC" and "Etc/UTC" map to "UTC".
    """
    if name in windows_tz.win_tz:
        return name
    lowered = {w.lower(): w for w in windows_tz.win_tz}
    if name.lower() in lowered:
        return lowered[name.lower()]
    if name in windows_tz.tz_win and name:
        return windows_tz.tz_win[name]
    try:
        key = ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(name) from None
    if key in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"):
        return "UTC"
    if key in windows_tz.tz_win:
        return windows_tz.tz_win[key]
    raise UnknownTimeZone(name)


def iana_zone(name: str) -> ZoneInfo:
    """A ZoneInfo for an IANA or Windows name (Windows names map to CLDR's main zone)."""
    if name in windows_tz.win_tz:
        return ZoneInfo(windows_tz.win_tz[name])
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(name) from None
