"""Create the self-signed certificate an app registration authenticates with.

Microsoft recommends certificates over client secrets outside development (reliability-targets S18).
Entra takes the public certificate (.cer/.pem/.crt) in the portal; calsync keeps the private key, as a
PEM key file or inside a PKCS#12 bundle (what administrators export from a keystore). The SHA-1
thumbprint is what the portal's Thumbprint column shows; the SHA-256 one is what msal sends as x5t#S256.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertificateFiles:
    """What `create_certificate` wrote, and the thumbprints to compare with the portal."""

    certificate: Path
    private_key: Path
    pkcs12: Path | None
    sha1_hex: str
    sha256_hex: str
    x5t: str  # base64url SHA-1, as the portal and msal's thumbprint mode use
    x5t_s256: str
    not_after: datetime


def create_certificate(
    directory: Path,
    *,
    name: str = "calsync",
    common_name: str = "calsync",
    days: int = 730,
    pkcs12_password: bytes | None = None,
    overwrite: bool = False,
) -> CertificateFiles:
    """Write `{name}.pem` (certificate), `{name}.key` (private key, 0600) and, when a password is given,
    `{name}.pfx` (PKCS#12 with certificate and key). Refuses to overwrite existing files unless asked,
    because replacing a key that an app registration trusts breaks sign-in."""
    if days < 1 or days > 3650:
        raise ValueError("days must be between 1 and 3650")
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    pfx_path = directory / f"{name}.pfx" if pkcs12_password else None
    existing = [p for p in (cert_path, key_path, pfx_path) if p is not None and p.exists()]
    if existing and not overwrite:
        raise FileExistsError(", ".join(str(p) for p in existing))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        0o600,
    )
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    if pfx_path is not None and pkcs12_password:
        blob = pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, None, serialization.BestAvailableEncryption(pkcs12_password)
        )
        _write(pfx_path, blob, 0o600)
    der = cert.public_bytes(serialization.Encoding.DER)
    sha1 = hashlib.sha1(der).digest()  # noqa: S324 - the portal's thumbprint is defined as SHA-1
    sha256 = hashlib.sha256(der).digest()
    return CertificateFiles(
        certificate=cert_path,
        private_key=key_path,
        pkcs12=pfx_path,
        sha1_hex=sha1.hex().upper(),
        sha256_hex=sha256.hex().upper(),
        x5t=base64.urlsafe_b64encode(sha1).rstrip(b"=").decode(),
        x5t_s256=base64.urlsafe_b64encode(sha256).rstrip(b"=").decode(),
        not_after=cert.not_valid_after_utc,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with the final permissions from the start (keys are never world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
