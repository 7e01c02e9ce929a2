"""A private CA and a server certificate so graphemu can serve HTTPS on loopback.

Why: msal refuses ``http://`` authorities (graph-facts §1.5), so the emulator must speak TLS, and clients
must be able to trust it without touching the system store. Clients pass ``ca.pem`` explicitly (for
requests/msal also set ``trust_env=False``: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` silently override
``verify=``).

Reuse rules: the CA is reused while it is a valid CA whose key matches and which outlives a fresh server
certificate, so a ``ca.pem`` clients already trust keeps working when only the server certificate is
renewed (e.g. a new hostname). The server certificate is reused only if it is signed by that CA, its key
matches, it covers every requested hostname and stays valid for more than a day. Anything unreadable is
regenerated rather than reported. Concurrent calls on one directory are not locked against each other.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsFiles", "ensure_tls"]

CA_VALIDITY = dt.timedelta(days=3650)
SERVER_VALIDITY = dt.timedelta(days=825)  # the longest lifetime Apple platforms accept for TLS server certs
MIN_REMAINING = dt.timedelta(days=1)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock skew between processes/containers
_CA_CN = "graphemu local CA"
_SERVER_CN = "graphemu"

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOAD_ERRORS = (
    OSError,
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    InvalidSignature,
    x509.ExtensionNotFound,
)


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files; give ``ca_cert`` to clients, the other two to the server."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _now() -> dt.datetime:
    """Current UTC time; a separate function so tests can move the clock."""
    return dt.datetime.now(dt.UTC)


def _split_hostnames(hostnames: Sequence[str]) -> tuple[list[str], list[_IPAddress]]:
    """DNS names (lower-cased, deduplicated, order kept) and IP addresses among ``hostnames``."""
    if isinstance(hostnames, str):
        raise TypeError("hostnames must be a sequence of names, not a single string")
    dns: list[str] = []
    ips: list[_IPAddress] = []
    for raw in hostnames:
        name = raw.strip()
        if not name:
            raise ValueError("empty hostname")
        try:
            ip = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            if name.lower() not in dns:
                dns.append(name.lower())
        else:
            if ip not in ips:
                ips.append(ip)
    if not dns and not ips:
        raise ValueError("at least one hostname is required")
    return dns, ips


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a temp file in the same directory and ``os.replace`` so readers never see half a file.

    mkstemp creates the file 0600, so a key is never readable by others, even briefly.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The certificate and its matching EC key, or None if either is missing, unreadable or mismatched."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except _LOAD_ERRORS:
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        return None
    return cert, key


def _usable_ca(loaded: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, now: dt.datetime) -> bool:
    if loaded is None:
        return False
    cert = loaded[0]
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)  # needed to issue the server cert
    except _LOAD_ERRORS:
        return False
    # Must outlive a freshly issued server certificate, otherwise that certificate would outlive its issuer.
    return is_ca and cert.not_valid_after_utc > now + SERVER_VALIDITY + MIN_REMAINING


def _usable_server(
    loaded: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    ca: x509.Certificate,
    dns: list[str],
    ips: list[_IPAddress],
    now: dt.datetime,
) -> bool:
    if loaded is None:
        return False
    cert = loaded[0]
    try:
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except _LOAD_ERRORS:
        return False
    have_dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return (
        cert.not_valid_after_utc > now + MIN_REMAINING
        and set(dns) <= have_dns
        and all(ip in have_ips for ip in ips)
    )


def _key_usage(**enabled: bool) -> x509.KeyUsage:
    """A KeyUsage with only the named bits set (the constructor insists on all nine)."""
    bits = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment"]
    bits += ["key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{bit: enabled.get(bit, False) for bit in bits})


def _new_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_CN)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns: list[str],
    ips: list[_IPAddress],
    now: dt.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
    names += [x509.IPAddress(ip) for ip in ips]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _SERVER_CN)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def ensure_tls(directory: Path, hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1")) -> TlsFiles:
    """Create or reuse ``ca.pem``/``ca-key.pem`` and ``server.pem``/``server-key.pem`` in ``directory``.

    Keys are EC P-256, PKCS#8 PEM, unencrypted, mode 0600 (re-applied on reuse); certificates are 0644.
    Each hostname is parsed with :mod:`ipaddress` (``[::1]`` brackets allowed) to go into the SAN as an
    IP address, otherwise as a lower-cased DNS name. See the module docstring for the reuse rules.
    """
    dns, ips = _split_hostnames(hostnames)
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    ca_key_path = directory / "ca-key.pem"
    now = _now()

    ca = _load(files.ca_cert, ca_key_path)
    new_ca = not _usable_ca(ca, now)
    if ca is None or new_ca:
        ca = _new_ca(now)
        _write_atomic(ca_key_path, _pem_key(ca[1]), 0o600)
        _write_atomic(files.ca_cert, ca[0].public_bytes(serialization.Encoding.PEM), 0o644)
    else:
        os.chmod(ca_key_path, 0o600)

    server = None if new_ca else _load(files.server_cert, files.server_key)
    if not _usable_server(server, ca[0], dns, ips, now):
        cert, key = _new_server(ca[0], ca[1], dns, ips, now)
        _write_atomic(files.server_key, _pem_key(key), 0o600)
        _write_atomic(files.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    else:
        os.chmod(files.server_key, 0o600)
    return files
