"""Identifiers shaped like the real service's.

Exchange item ids are long, case-sensitive, URL-safe base64 strings that may end in '=' (the docs'
examples: "AAMkAGI2TGuLAAA="). Producing ids with '=' and '-' and '_' catches clients that do not
URL-encode path segments or that lower-case ids.
"""

from __future__ import annotations

import base64
import secrets
import uuid


def exchange_id(prefix: bytes = b"\x00\x03\x24\x00") -> str:
    """A new Exchange-style item id: base64 of the "AAMk" prefix and 46 random bytes, "=" padded."""
    return base64.urlsafe_b64encode(prefix + secrets.token_bytes(46)).decode()


def guid() -> str:
    """A new lower-case GUID string, as Graph returns for directory objects and subscriptions."""
    return str(uuid.uuid4())


def change_key() -> str:
    """A new changeKey: opaque base64, 40 characters like Exchange's."""
    return base64.b64encode(secrets.token_bytes(30)).decode()


def request_id() -> str:
    """A new request-id (a GUID, as Graph sends)."""
    return str(uuid.uuid4())
