"""Signed deliveries: Standard Webhooks headers, and optionally Cronofy's.

Standard Webhooks (service-facts §2): `webhook-id` (the notification's id, the same on every retry, the
receiver's dedupe key), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
(`v1,` + base64 HMAC-SHA256 over "id.timestamp.body" with the channel's `whsec_` secret), made with the
`standardwebhooks` package, which receivers can use to verify in nine languages.

The timestamp is the wall clock's, whatever clock schedules the retries: receivers reject timestamps
more than five minutes from their own clock (the Python library's fixed tolerance).

Cronofy-compatible receivers can ask for `Cronofy-HMAC-SHA256` as well: base64 HMAC-SHA256 of the body
alone, keyed with the whole `whsec_...` secret string as Cronofy keys it with its client secret. It has
no timestamp, so it gives no replay protection; it is an extra, never instead of the standard headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

CONTENT_TYPE = "application/json; charset=utf-8"
USER_AGENT = "calsync-push (+https://github.com/calsync/calsync/blob/main/docs/push.md)"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not one


def new_secret() -> str:
    """A fresh channel secret: whsec_ + base64 of 32 random bytes (the spec asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def cronofy_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def headers(secret: str, webhook_id: str, body: bytes, at: datetime, *, cronofy: bool) -> dict[str, str]:
    """The headers of one attempt of a delivery made at `at` (aware, the wall clock)."""
    signed = {
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }
    if cronofy:
        signed["cronofy-hmac-sha256"] = cronofy_signature(secret, body)
    return signed
