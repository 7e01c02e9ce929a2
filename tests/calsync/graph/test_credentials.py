"""Credentials: secrets stay hidden, certificates load from PEM and PKCS#12 and feed msal correctly."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from calsync.graph import CertificateCredential, ClientSecretCredential, Secret


def make_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed RSA certificate, as `calsync cert create` would make."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="module")
def keypair() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return make_certificate()


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption
    )


def test_secret_is_masked() -> None:
    """Neither repr nor str of a secret (or of a credential holding one) shows the value."""
    credential = ClientSecretCredential.from_value("  s3cr3t-value \n")
    assert "s3cr3t" not in repr(credential)
    assert "s3cr3t" not in str(credential.value)
    assert credential.msal_credential() == "s3cr3t-value"
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")


def test_secret_from_file(tmp_path: Path) -> None:
    """A secret can be read from a file (trailing newline ignored)."""
    (tmp_path / "secret").write_text("value-from-file\n")
    assert ClientSecretCredential.from_file(tmp_path / "secret").msal_credential() == "value-from-file"


def test_from_pem_separate_files(tmp_path: Path, keypair: tuple[rsa.RSAPrivateKey, x509.Certificate]) -> None:
    """PEM certificate + encrypted key load; thumbprints match the DER certificate; PS256 by default."""
    key, cert = keypair
    (tmp_path / "c.pem").write_bytes(pem(cert))
    (tmp_path / "k.pem").write_bytes(key_pem(key, b"pass"))
    credential = CertificateCredential.from_pem(tmp_path / "c.pem", tmp_path / "k.pem", passphrase="pass")
    der = cert.public_bytes(serialization.Encoding.DER)
    assert credential.sha1_thumbprint == hashlib.sha1(der).hexdigest().upper()
    assert credential.sha256_thumbprint == hashlib.sha256(der).hexdigest().upper()
    given = credential.msal_credential()
    assert set(given) == {"private_key", "public_certificate"}
    assert "BEGIN PRIVATE KEY" in given["private_key"]
    assert "BEGIN CERTIFICATE" in given["public_certificate"]
    assert "PRIVATE KEY" not in repr(credential)


def test_from_pem_combined_file_and_thumbprint_mode(
    tmp_path: Path, keypair: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    """Key and certificate in one file; thumbprint mode gives msal the SHA-1 thumbprint instead."""
    key, cert = keypair
    (tmp_path / "both.pem").write_bytes(key_pem(key) + pem(cert))
    credential = CertificateCredential.from_pem(tmp_path / "both.pem", use_thumbprint=True)
    assert credential.msal_credential()["thumbprint"] == credential.sha1_thumbprint


def test_from_pkcs12_with_password(
    tmp_path: Path, keypair: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    """A password-protected PKCS#12 file (openssl pkcs12 -export) loads; a wrong password fails."""
    key, cert = keypair
    blob = pkcs12.serialize_key_and_certificates(
        b"calsync", key, cert, None, serialization.BestAvailableEncryption(b"p12-password")
    )
    (tmp_path / "app.pfx").write_bytes(blob)
    credential = CertificateCredential.from_pkcs12(tmp_path / "app.pfx", "p12-password")
    assert credential.not_valid_after == cert.not_valid_after_utc
    with pytest.raises(ValueError, match="wrong password"):
        CertificateCredential.from_pkcs12(tmp_path / "app.pfx", "nope")


def test_mismatched_key_is_refused(
    tmp_path: Path, keypair: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    """A key that does not belong to the certificate is refused at load time, not at the token endpoint."""
    _key, cert = keypair
    other, _ = make_certificate()
    (tmp_path / "c.pem").write_bytes(pem(cert))
    (tmp_path / "k.pem").write_bytes(key_pem(other))
    with pytest.raises(ValueError, match="does not belong"):
        CertificateCredential.from_pem(tmp_path / "c.pem", tmp_path / "k.pem")


def test_wrong_passphrase_is_reported(
    tmp_path: Path, keypair: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    """An encrypted key with a wrong passphrase gives a readable ValueError."""
    key, cert = keypair
    (tmp_path / "c.pem").write_bytes(pem(cert))
    (tmp_path / "k.pem").write_bytes(key_pem(key, b"right"))
    with pytest.raises(ValueError, match="cannot read the private key"):
        CertificateCredential.from_pem(tmp_path / "c.pem", tmp_path / "k.pem", passphrase="wrong")
