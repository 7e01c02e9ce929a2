"""Secrets at rest: encrypted under the deployment's keys, so a dump of the database never holds them.

Keys come from `CALSYNC_TOKEN_KEYS` (comma-separated) or `token_key_file` (one per line; blank lines
and `#` comments ignored), like the deployment's other secrets: never from calsync.toml. Each is a
Fernet key (`Fernet.generate_key()`); the first encrypts, every one decrypts (MultiFernet), so a key is
rotated by putting a new one first and dropping the old one once everything was re-sealed.

Fernet has no associated data: a ciphertext copied into another row would decrypt there too
(reliability-targets.md, token storage). `seal` therefore binds each secret to its context (e.g. the
channel id) inside the ciphertext, and `open` refuses a ciphertext read in another context.

cryptography is imported when a box is built, not with this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from calsync.settings import Settings

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

_SEPARATOR = "\x00"
GENERATE_HINT = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class SecretBoxError(Exception):
    """A secret cannot be sealed or opened: no key configured, a malformed key, or a ciphertext that
    none of the keys (or not in this context) can open. The message never quotes a key or a secret."""


class SecretBox:
    """Seals and opens short secrets under a key ring (see the module docstring)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise SecretBoxError("no encryption key given")
        try:
            self._fernet: MultiFernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError):
            raise SecretBoxError(
                "an encryption key is not a Fernet key (32 url-safe base64-encoded bytes; make one with "
                f"{GENERATE_HINT})"
            ) from None

    def seal(self, secret: str, context: str) -> str:
        if _SEPARATOR in context:
            raise SecretBoxError("a context may not contain NUL")
        try:
            plain = f"{context}{_SEPARATOR}{secret}".encode()
        except UnicodeEncodeError:
            raise SecretBoxError("a secret and its context must be text (no lone surrogates)") from None
        return self._fernet.encrypt(plain).decode("ascii")

    def open(self, sealed: str, context: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            plain = self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretBoxError("a stored secret cannot be decrypted with the configured keys") from None
        found, sep, secret = plain.partition(_SEPARATOR)
        if not sep or found != context:
            raise SecretBoxError("a stored secret belongs to another record (copied between rows?)")
        return secret

    def rotate(self, sealed: str) -> str:
        """The same secret sealed under the first key (after a new key was put first)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            raise SecretBoxError("a stored secret cannot be decrypted with the configured keys") from None


def configured_keys(settings: Settings) -> list[bytes]:
    """The keys from CALSYNC_TOKEN_KEYS or token_key_file, in order; [] when neither is set."""
    if settings.token_keys is not None:
        text = settings.token_keys.get_secret_value().replace(",", "\n")
    elif settings.token_key_file is not None:
        try:
            text = settings.token_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretBoxError(f"cannot read token_key_file: {exc.strerror}") from None
    else:
        return []
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line.encode("ascii", "replace") for line in lines if line]


def secret_box(settings: Settings) -> SecretBox:
    """The deployment's box. Raises SecretBoxError (naming the settings to set) when no key is set."""
    keys = configured_keys(settings)
    if not keys:
        raise SecretBoxError(
            "no encryption key for secrets at rest: set CALSYNC_TOKEN_KEYS or token_key_file to a Fernet "
            f"key (make one with {GENERATE_HINT})"
        )
    return SecretBox(keys)
