"""Sealing secrets kept in the database (each person's msal token cache, sign-ins under way).

Why it looks like this (reliability-targets.md OA-11/OA-12):
- Fernet under a MultiFernet: the first key encrypts, every key decrypts, and `rotate` re-encrypts under
  the first key, so a new key is added in front, `calsync keys rotate` runs, and the old key is removed
  once no row needs it. The keys come from a file or an environment variable, never from the database:
  a stolen database dump alone reveals nothing.
- Fernet has no associated data, so a sealed value copied from one row to another would still decrypt.
  The plaintext therefore carries the name of what it belongs to (`bound_to`, e.g. a connection id), and
  `open` refuses a value sealed for something else.
- A value no key opens is an error (`VaultError`), never "no token": the caller must not mistake a
  missing key for a person who disconnected, and must not delete what it cannot read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["TokenVault", "VaultError", "generate_key", "parse_keys"]


class VaultError(Exception):
    """A key is missing or wrong, or a sealed value belongs to something else."""


def generate_key() -> str:
    """A new random key (32 bytes, url-safe base64, as Fernet wants)."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str) -> list[str]:
    """Keys from a file's lines or a comma-separated variable: the first is the primary; blank lines
    and `#` comments are skipped. Raises VaultError naming the position of a malformed key (never it)."""
    keys = [k.strip() for line in text.splitlines() for k in line.split(",")]
    keys = [k for k in keys if k and not k.startswith("#")]
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise VaultError(f"key {n} is not a Fernet key (32 bytes, url-safe base64)") from None
    if not keys:
        raise VaultError("no key given")
    return keys


class TokenVault:
    """Seals and opens strings with the deployment's keys (the first one encrypts)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise VaultError("no key given")
        self._fernets = [Fernet(k) for k in keys]
        self._multi = MultiFernet(self._fernets)

    def __repr__(self) -> str:
        return f"TokenVault({len(self._fernets)} keys)"

    def seal(self, bound_to: str, plaintext: str) -> str:
        """`plaintext` encrypted under the primary key, bound to `bound_to`."""
        payload = json.dumps({"b": bound_to, "v": plaintext}, separators=(",", ":")).encode()
        return self._multi.encrypt(payload).decode("ascii")

    def open(self, bound_to: str, sealed: str) -> str:
        """The plaintext of a value sealed for `bound_to`.

        Raises:
            VaultError: no key opens it (a missing or wrong key), or it was sealed for something else.
        """
        try:
            payload = json.loads(self._multi.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeEncodeError):
            raise VaultError("no configured key opens this value (a key is missing or wrong)") from None
        if not isinstance(payload, dict) or payload.get("b") != bound_to:
            raise VaultError("this value was sealed for another record")
        return str(payload["v"])

    def rotate(self, sealed: str) -> str:
        """The same value re-encrypted under the primary key. Raises VaultError if no key opens it."""
        try:
            return self._multi.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise VaultError("no configured key opens this value (a key is missing or wrong)") from None

    def is_primary(self, sealed: str) -> bool:
        """Whether the primary key opens `sealed` (so rotating it is not needed)."""
        try:
            self._fernets[0].decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True
