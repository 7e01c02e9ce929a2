"""`calsync cert create`: a certificate for the app registration, and how to upload it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from calsync.cli.output import console, emit_json, reported

app = typer.Typer(help="Certificates for app-only authentication.", no_args_is_help=True)


@app.command("create")
def create(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the files.")] = Path("."),
    name: Annotated[str, typer.Option(help="Base name of the files.")] = "calsync",
    common_name: Annotated[str, typer.Option("--cn", help="Subject common name.")] = "calsync",
    days: Annotated[int, typer.Option(help="Validity in days (1-3650).")] = 730,
    pkcs12: Annotated[
        bool, typer.Option("--pkcs12/--no-pkcs12", help="Also write a password-protected .pfx.")
    ] = False,
    password_file: Annotated[
        Path | None,
        typer.Option(help="File holding the .pfx password (else CALSYNC_PKCS12_PASSWORD or a prompt)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create a self-signed certificate and key (PEM, optionally PKCS#12) and print the upload steps."""
    with reported(as_json=as_json):
        from calsync.certs import create_certificate  # cryptography: only when a certificate is made

        password: bytes | None = None
        if pkcs12:
            if password_file is not None:
                password = password_file.read_bytes().strip()
            elif os.environ.get("CALSYNC_PKCS12_PASSWORD"):
                password = os.environ["CALSYNC_PKCS12_PASSWORD"].encode()
            else:
                password = typer.prompt(
                    "PKCS#12 password", hide_input=True, confirmation_prompt=True
                ).encode()
        files = create_certificate(
            directory,
            name=name,
            common_name=common_name,
            days=days,
            pkcs12_password=password,
            overwrite=overwrite,
        )
        if as_json:
            emit_json(
                {
                    "certificate": str(files.certificate),
                    "privateKey": str(files.private_key),
                    "pkcs12": str(files.pkcs12) if files.pkcs12 else None,
                    "sha1": files.sha1_hex,
                    "sha256": files.sha256_hex,
                    "notAfter": files.not_after.isoformat(),
                }
            )
            return
        console.print(f"[bold]Certificate[/]  {files.certificate}")
        console.print(f"[bold]Private key[/]  {files.private_key} (mode 0600; keep it secret)")
        if files.pkcs12:
            console.print(f"[bold]PKCS#12[/]      {files.pkcs12}")
        console.print(f"[bold]SHA-1[/]        {files.sha1_hex}")
        console.print(f"[bold]SHA-256[/]      {files.sha256_hex}")
        console.print(f"[bold]Expires[/]      {files.not_after:%Y-%m-%d}")
        console.print(
            "\nUpload it to the app registration:\n"
            "  1. Azure portal -> Microsoft Entra ID -> App registrations -> your app.\n"
            "  2. Certificates & secrets -> Certificates -> Upload certificate.\n"
            f"  3. Choose {files.certificate.name} (the public certificate only, never the key), add a\n"
            "     description, and press Add.\n"
            f"  4. Check that the Thumbprint column shows {files.sha1_hex}.\n"
            "Then configure calsync:\n"
            f'  certificate_file = "{files.certificate}"\n'
            f'  private_key_file = "{files.private_key}"'
        )
