"""ensure_tls: file layout and permissions, reuse rules, and real handshakes against the issued certs."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from graphemu import tls
from graphemu.tls import TlsFiles, ensure_tls


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _server_context(files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.server_cert, files.server_key)
    return ctx


@contextmanager
def _one_shot_tls_server(files: TlsFiles) -> Iterator[tuple[int, list[BaseException]]]:
    """Accept one connection on 127.0.0.1, handshake, send b'ok'; errors are collected, not raised."""
    ctx = _server_context(files)
    errors: list[BaseException] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], errors
    finally:
        thread.join(10)
        listener.close()


def _client_read(files: TlsFiles, port: int, server_hostname: str) -> bytes:
    ctx = ssl.create_default_context(cafile=files.ca_cert)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=server_hostname) as conn,
    ):
        return conn.recv(16)


def test_creates_files_with_private_keys_0600(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    files = ensure_tls(directory)
    assert files == TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    assert sorted(p.name for p in directory.iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "server-key.pem",
        "server.pem",
    ]
    assert _mode(directory / "ca-key.pem") == 0o600
    assert _mode(files.server_key) == 0o600
    assert _mode(files.ca_cert) == 0o644
    assert _mode(files.server_cert) == 0o644


def test_certificate_contents(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path)
    ca, server = _cert(files.ca_cert), _cert(files.server_cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "graphemu local CA"
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "graphemu"
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)

    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(days=3650)

    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert dt.timedelta(days=825) <= lifetime <= dt.timedelta(days=825, minutes=10)


def test_second_call_reuses_everything(tmp_path: Path) -> None:
    ensure_tls(tmp_path)
    before = _snapshot(tmp_path)
    ensure_tls(tmp_path)
    ensure_tls(tmp_path, ["LOCALHOST", "127.0.0.1"])  # a subset, in another case, is still covered
    assert _snapshot(tmp_path) == before


def test_missing_hostname_reissues_server_cert_but_keeps_ca(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path)
    before = _snapshot(tmp_path)
    ensure_tls(tmp_path, ["localhost", "127.0.0.1", "::1", "graph.emulator.test", "10.1.2.3"])
    after = _snapshot(tmp_path)
    assert after["ca.pem"] == before["ca.pem"]
    assert after["ca-key.pem"] == before["ca-key.pem"]
    assert after["server.pem"] != before["server.pem"]
    assert after["server-key.pem"] != before["server-key.pem"]
    san = _cert(files.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "graph.emulator.test" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("10.1.2.3") in san.get_values_for_type(x509.IPAddress)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)  # no temp files left behind


def test_server_cert_near_expiry_is_reissued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_tls(tmp_path)
    before = _snapshot(tmp_path)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=824, hours=12)
    monkeypatch.setattr(tls, "_now", lambda: later)
    ensure_tls(tmp_path)
    after = _snapshot(tmp_path)
    assert after["ca.pem"] == before["ca.pem"]
    assert after["server.pem"] != before["server.pem"]


def test_ca_that_would_not_outlive_a_new_server_cert_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_tls(tmp_path)
    before = _snapshot(tmp_path)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650 - 800)
    monkeypatch.setattr(tls, "_now", lambda: later)
    ensure_tls(tmp_path)
    after = _snapshot(tmp_path)
    assert after["ca.pem"] != before["ca.pem"]
    assert after["server.pem"] != before["server.pem"]


def test_corrupt_or_mismatched_files_are_regenerated(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path)
    files.server_cert.write_bytes(b"not a certificate")
    ensure_tls(tmp_path)
    _cert(files.server_cert).verify_directly_issued_by(_cert(files.ca_cert))

    other = ensure_tls(tmp_path / "other")
    files.server_key.write_bytes(other.server_key.read_bytes())  # key no longer matches server.pem
    ensure_tls(tmp_path)
    with _one_shot_tls_server(files) as (port, errors):
        assert _client_read(files, port, "localhost") == b"ok"
    assert errors == []


def test_key_permissions_are_restored_on_reuse(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path)
    files.server_key.chmod(0o644)
    ensure_tls(tmp_path)
    assert _mode(files.server_key) == 0o600


def test_rejects_bad_hostnames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty hostname"):
        ensure_tls(tmp_path, ["localhost", " "])
    with pytest.raises(ValueError, match="at least one"):
        ensure_tls(tmp_path, [])
    with pytest.raises(TypeError):
        ensure_tls(tmp_path, "localhost")


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_tls_handshake_with_default_client_context(tmp_path: Path, server_hostname: str) -> None:
    files = ensure_tls(tmp_path)
    with _one_shot_tls_server(files) as (port, errors):
        assert _client_read(files, port, server_hostname) == b"ok"
    assert errors == []


def test_handshake_fails_for_a_name_not_in_the_certificate(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path)
    with _one_shot_tls_server(files) as (port, _errors), pytest.raises(ssl.SSLCertVerificationError):
        _client_read(files, port, "example.com")


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello over tls"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


def test_httpx_get_over_tls(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = _server_context(files).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        verify = ssl.create_default_context(cafile=files.ca_cert)
        # trust_env=False: proxy or CA-bundle variables in the environment must not change the outcome.
        with httpx.Client(verify=verify, trust_env=False, timeout=10) as client:
            response = client.get(f"https://127.0.0.1:{port}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert response.status_code == 200
    assert response.text == "hello over tls"
