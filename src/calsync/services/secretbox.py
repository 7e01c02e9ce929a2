"""Push channels' signing secrets at rest, sealed with the deployment's one key ring.

The keys are those that seal people's token caches (`token_keys` / CALSYNC_TOKEN_KEYS or
`token_key_file`; on the embedded default a key file made beside the database): one ring per deployment,
so `calsync keys rotate` re-seals channel secrets and token caches together, and an operator has one
secret to keep, never in calsync.toml or the database. Sealing is calsync.store.vault's: Fernet under a
MultiFernet, each secret bound to its record (the channel id) inside the ciphertext, so a value copied
into another row does not open there.

This module only gives the push services their own error (`SecretBoxError`) and argument order.
"""

from __future__ import annotations

from calsync.settings import Settings, SettingsError
from calsync.store.vault import TokenVault, VaultError

__all__ = ["SecretBox", "SecretBoxError", "secret_box"]


class SecretBoxError(Exception):
    """A secret cannot be sealed or opened: no key configured, a malformed key, or a ciphertext that
    none of the keys (or not for this record) can open. The message never quotes a key or a secret."""


class SecretBox:
    """Seals and opens channel secrets, each bound to its context (the channel id)."""

    def __init__(self, vault: TokenVault) -> None:
        self._vault = vault

    def seal(self, secret: str, context: str) -> str:
        try:
            return self._vault.seal(context, secret)
        except UnicodeEncodeError:
            raise SecretBoxError("a secret and its context must be text (no lone surrogates)") from None

    def open(self, sealed: str, context: str) -> str:
        try:
            return self._vault.open(context, sealed)
        except VaultError as exc:
            raise SecretBoxError(f"a stored secret cannot be opened: {exc}") from None

    def rotate(self, sealed: str) -> str:
        """The same secret sealed under the first key (after a new key was put first)."""
        try:
            return self._vault.rotate(sealed)
        except VaultError as exc:
            raise SecretBoxError(f"a stored secret cannot be opened: {exc}") from None


def secret_box(settings: Settings) -> SecretBox:
    """The deployment's box (calsync.wiring.token_vault). Raises SecretBoxError naming the settings."""
    from calsync import wiring

    try:
        return SecretBox(wiring.token_vault(settings))
    except SettingsError as exc:
        raise SecretBoxError(f"no usable key for secrets at rest: {'; '.join(exc.problems)}") from None
