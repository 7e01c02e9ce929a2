"""Client credentials of the app registration: a secret, or a certificate with its private key.

Why a module of its own: loading keys is cryptography's job and has nothing to do with msal, so `auth.py`
stays the only module that imports msal while this one stays pure and easy to test. Secrets live in a
`Secret` wrapper whose repr and str are masked, so a credential printed in a traceback or a log record
shows nothing (architecture invariant 7).

Certificates are given to msal as `{"private_key", "public_certificate"}` by default, which makes msal sign
the client assertion with PS256 and send `x5t#S256` (what Entra documents today, graph-facts §1.1); with
`use_thumbprint=True` msal sends RS256 + SHA-1 `x5t` instead (older tenants' tooling).

cryptography (about 50 modules) is imported by the functions that read a certificate, not with this module:
a deployment that signs in with a client secret never needs it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

_GUID = re.compile(r"[0-9a-fA-F]{8}(-?)[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{12}")

__all__ = ["CertificateCredential", "ClientSecretCredential", "Credential", "Secret"]


class Secret:
    """A string that does not show itself: repr and str are masked; `get_secret_value()` reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself; pass it on, never log it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class ClientSecretCredential:
    """A client secret: the *Value* column of Certificates & secrets, not the Secret ID."""

    value: Secret

    @classmethod
    def from_value(cls, value: str) -> ClientSecretCredential:
        """Wrap a secret value."""
        return cls(Secret(value.strip()))

    @classmethod
    def from_file(cls, path: str | Path) -> ClientSecretCredential:
        """Read the secret from a file (surrounding whitespace ignored)."""
        return cls.from_value(Path(path).read_text(encoding="utf-8"))

    def msal_credential(self) -> str:
        """The value msal's `client_credential` expects."""
        return self.value.get_secret_value()

    def looks_like_secret_id(self) -> bool:
        """Whether the value is shaped like a secret's ID (a GUID) rather than a secret value (about 40
        characters with `~`, `.`, `_`): the classic mistake of copying the wrong column, told apart so that
        a refused secret is explained by it only when it is the likely cause."""
        return _GUID.fullmatch(self.value.get_secret_value().strip().strip("{}")) is not None


@dataclass(frozen=True, slots=True)
class CertificateCredential:
    """A certificate registered on the app and its private key (decrypted once, kept masked in memory).

    Attributes:
        certificate_pem: the leaf certificate, PEM.
        private_key: the private key as unencrypted PKCS#8 PEM, masked.
        sha1_thumbprint: hex SHA-1 of the DER certificate (what the Azure portal shows).
        sha256_thumbprint: hex SHA-256 of the DER certificate (`x5t#S256`).
        not_valid_after: the certificate's expiry (UTC).
        use_thumbprint: sign with RS256 + SHA-1 `x5t` instead of PS256 + `x5t#S256`.
    """

    certificate_pem: str
    private_key: Secret = field(repr=False)
    sha1_thumbprint: str
    sha256_thumbprint: str
    not_valid_after: datetime
    use_thumbprint: bool = False

    @classmethod
    def from_pem(
        cls,
        cert_path: str | Path,
        key_path: str | Path | None = None,
        passphrase: str | bytes | None = None,
        *,
        use_thumbprint: bool = False,
    ) -> CertificateCredential:
        """Load a PEM certificate and its PEM private key (the key may sit in the certificate file)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert_data = Path(cert_path).read_bytes()
        key_data = Path(key_path).read_bytes() if key_path is not None else cert_data
        certificate = x509.load_pem_x509_certificates(cert_data)[0]
        password = passphrase.encode() if isinstance(passphrase, str) else passphrase
        try:
            key = serialization.load_pem_private_key(key_data, password=password)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot read the private key in {key_path or cert_path}: {exc}") from None
        return cls._build(certificate, key, use_thumbprint)

    @classmethod
    def from_pkcs12(
        cls, path: str | Path, password: str | bytes | None, *, use_thumbprint: bool = False
    ) -> CertificateCredential:
        """Load a PKCS#12 (.pfx/.p12) file as `openssl pkcs12 -export` or a Java keystore writes it."""
        from cryptography.hazmat.primitives.serialization import pkcs12

        secret = password.encode() if isinstance(password, str) else password
        try:
            key, certificate, _chain = pkcs12.load_key_and_certificates(Path(path).read_bytes(), secret)
        except ValueError as exc:
            raise ValueError(f"cannot open {path} (wrong password or not PKCS#12): {exc}") from None
        if key is None or certificate is None:
            raise ValueError(f"{path} must hold both a certificate and its private key")
        return cls._build(certificate, key, use_thumbprint)

    @classmethod
    def _build(
        cls, certificate: x509.Certificate, key: object, use_thumbprint: bool
    ) -> CertificateCredential:
        from cryptography.hazmat.primitives import serialization

        public_key = getattr(key, "public_key", None)
        if public_key is None:
            raise ValueError("unsupported private key type")
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        pem = serialization.Encoding.PEM
        if public_key().public_bytes(pem, spki) != certificate.public_key().public_bytes(pem, spki):
            raise ValueError("the private key does not belong to the certificate")
        key_pem = key.private_bytes(  # type: ignore[attr-defined]  # every private key type has it
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(
            certificate_pem=certificate.public_bytes(pem).decode("ascii"),
            private_key=Secret(key_pem),
            sha1_thumbprint=hashlib.sha1(der).hexdigest().upper(),  # noqa: S324 - a thumbprint, not security
            sha256_thumbprint=hashlib.sha256(der).hexdigest().upper(),
            not_valid_after=certificate.not_valid_after_utc,
            use_thumbprint=use_thumbprint,
        )

    def msal_credential(self) -> dict[str, str]:
        """The dict msal's `client_credential` expects (see the module docstring for the two modes)."""
        if self.use_thumbprint:
            return {"private_key": self.private_key.get_secret_value(), "thumbprint": self.sha1_thumbprint}
        return {
            "private_key": self.private_key.get_secret_value(),
            "public_certificate": self.certificate_pem,
        }


Credential = ClientSecretCredential | CertificateCredential
