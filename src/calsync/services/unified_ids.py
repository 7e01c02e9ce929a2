"""The REST API's identifiers: profiles and calendars, stable and opaque.

A profile id names a mailbox (`pro_` + base64url of the mailbox, lower-cased); a calendar id names a
mailbox and one of its Graph calendars (`cal_` + base64url of both). They are computed, not stored: the
same calendar has the same id in every process and after a lost database, and a caller cannot name a
mailbox the deployment does not serve (every id is checked against the deployment's connections).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

API_PROFILE_PREFIX = "api."


class UnknownId(ValueError):
    """Not an id this API made."""


def _enc(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _dec(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise UnknownId(text) from exc


def profile_id(mailbox: str) -> str:
    return f"pro_{_enc(mailbox.lower())}"


def mailbox_of_profile(pid: str) -> str:
    if not pid.startswith("pro_"):
        raise UnknownId(pid)
    mailbox = _dec(pid[4:])
    if not mailbox or "\n" in mailbox:
        raise UnknownId(pid)
    return mailbox


def calendar_id(mailbox: str, graph_id: str) -> str:
    return "cal_" + _enc(mailbox.lower() + "\n" + graph_id)


def split_calendar_id(cid: str) -> tuple[str, str]:
    """(mailbox, Graph calendar id) of an API calendar id."""
    if not cid.startswith("cal_"):
        raise UnknownId(cid)
    mailbox, sep, graph_id = _dec(cid[4:]).partition("\n")
    if not sep or not mailbox or not graph_id:
        raise UnknownId(cid)
    return mailbox, graph_id


def scope_profile(key_id: str, cid: str) -> str:
    """The engine profile of one key's events in one calendar: `api.<key id>.<8 hex of the calendar>`.

    Each (key, calendar) pair is a profile of its own: its own ownership tag, transaction-id namespace,
    mappings and lease, so the engine (which writes one calendar per profile) serves any number of
    calendars, and two keys never touch each other's events. The dots keep these names apart from the
    configured profiles' (whose names are `[a-z][a-z0-9-]*`), so neither can take the other's tag."""
    digest = hashlib.sha256(cid.encode()).hexdigest()[:8]
    return f"{API_PROFILE_PREFIX}{key_id}.{digest}"


def is_api_profile(name: str | None) -> bool:
    return bool(name) and str(name).startswith(API_PROFILE_PREFIX)
