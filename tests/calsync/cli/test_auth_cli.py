"""`calsync auth test` and `calsync consent-url` against graphemu over TLS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from calsync.cli.authcmd import token_claims
from calsync.cli.main import app
from tests.calsync.cli.conftest import (
    ADA,
    BOB,
    CLIENT,
    GROUP,
    NOMAIL,
    OUTSIDER,
    SECRET,
    TENANT,
    ConfigWriter,
    Emulator,
)

runner = CliRunner()


def auth_test(config: Path, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(config), "auth", "test", *args])


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


def by_subject(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["subject"]: f for f in findings}


def test_all_permissions_granted_exits_0(config: Path) -> None:
    """With Calendars.ReadWrite (and the optional User.Read.All) and a reachable mailbox: exit 0."""
    result = auth_test(config, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["token"]["tenant"] == TENANT
    assert report["token"]["appId"] == CLIENT
    assert report["token"]["kind"] == "application"
    permissions = by_subject(report["permissions"])
    assert permissions["Calendars.ReadWrite"]["level"] == "ok"
    assert permissions["User.Read.All"]["level"] == "info"
    assert report["mailboxes"] == [
        {"level": "ok", "subject": ADA, "message": "calendar reachable", "fix": None}
    ]
    human = auth_test(config)
    assert human.exit_code == 0, human.output
    assert "All good." in human.stdout
    assert TENANT in human.stdout


def test_missing_permission_exits_6_and_names_the_fix(config: Path, emulator: Emulator) -> None:
    """Without Calendars.ReadWrite: exit 6, the permission named with the portal path and consent URL."""
    emulator.grant("User.Read.All")
    result = auth_test(config)
    assert result.exit_code == 6, result.output
    text = flat(result.output)
    assert "Calendars.ReadWrite" in text
    assert "missing" in text
    assert "API permissions -> Add a permission -> Microsoft Graph -> Application permissions" in text
    assert "Grant admin consent" in text
    assert f"/{TENANT}/v2.0/adminconsent?client_id={CLIENT}" in text


def test_group_needs_group_member_read_all(write_config: ConfigWriter, emulator: Emulator) -> None:
    """With `group` set, GroupMember.Read.All is required; once granted, the group's members are probed."""
    config = write_config(extra=f'group = "{GROUP}"\n', mailboxes=())
    missing = json.loads(auth_test(config, "--json").stdout)
    assert by_subject(missing["permissions"])["GroupMember.Read.All"]["level"] == "missing"
    emulator.grant("Calendars.ReadWrite", "GroupMember.Read.All")
    result = auth_test(config, "--json")
    report = json.loads(result.stdout)
    assert by_subject(report["permissions"])["GroupMember.Read.All"]["level"] == "ok"
    probed = by_subject(report["mailboxes"])
    assert probed[ADA]["level"] == probed[BOB]["level"] == "ok"
    assert probed[NOMAIL]["level"] == "denied"  # the group's member without a mailbox
    assert result.exit_code == 6


def test_needless_permissions_are_warned_about(config: Path, emulator: Emulator) -> None:
    """User.Read, Mail.Read, Calendars.Read beside ReadWrite and Directory.ReadWrite.All: each a warning."""
    emulator.grant(
        "Calendars.ReadWrite", "Calendars.Read", "User.Read", "Mail.Read", "Directory.ReadWrite.All"
    )
    result = auth_test(config, "--json")
    assert result.exit_code == 6, result.output
    found = by_subject(json.loads(result.stdout)["permissions"])
    assert found["Calendars.ReadWrite"]["level"] == "ok"
    for needless in ("Calendars.Read", "User.Read", "Mail.Read", "Directory.ReadWrite.All"):
        assert found[needless]["level"] == "warning"
        assert "Remove permission" in found[needless]["fix"]
    assert "already includes" in found["Calendars.Read"]["message"]
    assert "delegated" in found["User.Read"]["message"]
    human = flat(auth_test(config).output)
    assert "warning Mail.Read" in human


def test_wrong_client_secret_exits_4_with_the_hint(write_config: ConfigWriter) -> None:
    """A secret's ID given as the secret: exit 4, the hint says to use the value; the secret is not shown."""
    wrong = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"  # the secret's ID
    config = write_config(secret=wrong)
    result = auth_test(config)
    assert result.exit_code == 4, result.output
    text = flat(result.output)
    assert "AADSTS7000215" in text
    assert "secret ID, not its value" in text
    machine = auth_test(config, "--json")
    assert machine.exit_code == 4
    assert json.loads(machine.stdout)["error"]["type"] == "InvalidClientSecret"
    right = write_config(secret=SECRET)
    ok = auth_test(right, "--json")
    assert ok.exit_code == 0, ok.output
    assert SECRET not in ok.output


def test_access_policy_and_missing_mailbox_are_reported(config: Path) -> None:
    """Probing a mailbox outside the access policy and one without a mailbox explains both; exit 6."""
    result = auth_test(config, "--mailbox", OUTSIDER, "--mailbox", NOMAIL)
    assert result.exit_code == 6, result.output
    text = flat(result.output)
    assert "Access to OData is disabled" in text
    assert "application access policy" in text
    assert f"Test-ApplicationAccessPolicy -Identity {OUTSIDER} -AppId {CLIENT}" in text
    assert "MailboxNotEnabledForRESTAPI" in text


def test_token_claims_decodes_without_verifying() -> None:
    """The payload of a JWT is read without a key; anything else is refused with ValueError."""
    token = "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ0Iiwicm9sZXMiOlsiQ2FsZW5kYXJzLlJlYWRXcml0ZSJdfQ.sig"
    assert token_claims(token) == {"tid": "t", "roles": ["Calendars.ReadWrite"]}
    for bad in ("opaque", "a.!!!.c", "a.bnVsbA.c"):  # not three parts; not base64 JSON; JSON null
        with pytest.raises(ValueError):
            token_claims(bad)


def test_consent_url_names_tenant_client_and_adminconsent(config: Path) -> None:
    """consent-url prints the admin-consent and sign-in URLs for the configured app (no network needed)."""
    result = runner.invoke(app, ["--config", str(config), "consent-url", "--json"])
    assert result.exit_code == 0, result.output
    urls = json.loads(result.stdout)
    assert (urls["tenant"], urls["clientId"]) == (TENANT, CLIENT)
    assert f"/{TENANT}/v2.0/adminconsent?client_id={CLIENT}" in urls["adminConsentUrl"]
    sign_in = urls["signInUrl"]
    assert f"/{TENANT}/oauth2/v2.0/authorize?client_id={CLIENT}&response_type=code" in sign_in
    assert "scope=Calendars.ReadWrite+offline_access" in sign_in
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A8400%2Fconnect%2Fcallback" in sign_in
    assert "state=" not in sign_in
    assert "code_challenge=" not in sign_in
    human = runner.invoke(app, ["--config", str(config), "consent-url"])
    assert human.exit_code == 0, human.output
    lines = human.stdout.splitlines()
    assert urls["adminConsentUrl"] in lines  # printed unwrapped, ready to copy
    for expected in ("adminconsent", TENANT, CLIENT, "/connect page"):
        assert expected in human.stdout


def test_delegated_configuration_checks_the_credential_only(write_config: ConfigWriter) -> None:
    """With permissions = delegated, auth test checks the credential and explains where scopes come from."""
    config = write_config(extra='permissions = "delegated"\n')
    result = auth_test(config, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["permissions"], report["mailboxes"]) == ([], [])
    assert "consent-url" in report["notes"][0]
