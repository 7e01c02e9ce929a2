"""How calsync names a mailbox, in a module of its own: `calsync status` needs it without the sources."""

from __future__ import annotations


def mailbox_name(raw: str) -> str:
    """How calsync names a mailbox everywhere (state rows, leases, source lookups): trimmed and
    lower-cased, as Entra compares UPNs, so `Adele@Uni.edu` and `adele@uni.edu` share one state."""
    return raw.strip().lower()
