"""`calsync cert create`: files, permissions, thumbprints and a usable PKCS#12."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from typer.testing import CliRunner

from calsync.cli.main import app

runner = CliRunner()


def test_creates_pem_key_and_pkcs12_with_matching_thumbprints(tmp_path: Path) -> None:
    """The printed SHA-1/SHA-256 are the certificate's; the key is 0600; the .pfx opens with the password."""
    password = tmp_path / "pw"
    password.write_text("correct horse\n")
    result = runner.invoke(
        app,
        ["cert", "create", "--dir", str(tmp_path), "--pkcs12", "--password-file", str(password), "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    cert = x509.load_pem_x509_certificate(Path(out["certificate"]).read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert out["sha1"] == hashlib.sha1(der).hexdigest().upper()
    assert out["sha256"] == hashlib.sha256(der).hexdigest().upper()
    assert stat.S_IMODE(Path(out["privateKey"]).stat().st_mode) == 0o600
    key, pfx_cert, _ = pkcs12.load_key_and_certificates(Path(out["pkcs12"]).read_bytes(), b"correct horse")
    assert key is not None
    assert pfx_cert == cert


def test_refuses_to_overwrite_without_flag(tmp_path: Path) -> None:
    """A second run does not replace a key an app registration may already trust."""
    assert runner.invoke(app, ["cert", "create", "--dir", str(tmp_path)]).exit_code == 0
    before = (tmp_path / "calsync.key").read_bytes()
    result = runner.invoke(app, ["cert", "create", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "overwrite" in result.output
    assert (tmp_path / "calsync.key").read_bytes() == before


def test_human_output_tells_the_upload_steps(tmp_path: Path) -> None:
    """The table output names the portal path and the thumbprint to check."""
    result = runner.invoke(app, ["cert", "create", "--dir", str(tmp_path)])
    assert "Certificates & secrets" in result.output
    assert "Thumbprint" in result.output
