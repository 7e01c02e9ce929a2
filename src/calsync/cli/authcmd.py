"""`calsync auth test` and `calsync consent-url`: is the app registration set up the way calsync needs?

`auth test` gets a token with the configured credential, reads its claims (without verifying them: it is
our own token, fresh from the identity platform; only the payload is base64-decoded, and the token itself is
never printed), compares the granted application permissions (`roles`) or delegated scopes (`scp`) with
those calsync needs, and then makes one harmless call per mailbox (GET /users/{m}/calendar, at most 3) to
find access-policy denials and mailboxes that cannot be reached. Exit codes: 0 all good, 4 the token was
refused (or Graph rejected it), 6 missing or needless permissions, or a mailbox that cannot be reached.

`consent-url` prints the admin-consent URL (application permissions) and the delegated sign-in URL.
The check itself lives in calsync.services.appcheck (the administrators' page runs it too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import typer
from rich.markup import escape
from rich.table import Table

from calsync.cli.output import EXIT_AUTH, EXIT_PARTIAL, console, emit_json, reported
from calsync.cli.state import settings_from
from calsync.services.appcheck import MAX_PROBES, Finding, Report, run_test, token_claims

if TYPE_CHECKING:  # calsync.graph (httpx, msal) is imported by the commands that use it, not at start-up
    from calsync.settings import Settings

app = typer.Typer(
    help="Check the app registration: credential, permissions, mailbox access.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
__all__ = ["app", "consent_url", "token_claims"]  # the check itself: calsync.services.appcheck


def exit_code(report: Report) -> int:
    """4 the token was refused, 6 a finding needs a fix, else 0."""
    return {"unauthorized": EXIT_AUTH, "problems": EXIT_PARTIAL}.get(report.outcome, 0)


def report_json(report: Report) -> dict[str, Any]:
    """The --json document (docs/cli-json.md)."""
    return {
        "ok": exit_code(report) == 0,
        "exitCode": exit_code(report),
        "token": {
            "kind": report.kind,
            "tenant": report.tenant,
            "appId": report.app_id,
            "expiresInSeconds": report.expires_in,
        },
        "permissions": [asdict(f) for f in report.permissions],
        "mailboxes": [asdict(f) for f in report.mailboxes],
        "notes": report.notes,
        "adminConsentUrl": report.admin_consent_url,
    }


# -- rendering -----------------------------------------------------------------------------------------

_STYLE = {"ok": "green", "info": "cyan", "warning": "yellow", "missing": "red", "denied": "red"}


def _findings_table(title: str, findings: Sequence[Finding]) -> Table:
    table = Table(title=title)
    table.add_column("", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("what it means")
    for f in findings:
        table.add_row(escape(f.subject), f"[{_STYLE[f.level]}]{f.level}[/]", escape(f.message))
    return table


def print_report(report: Report) -> None:
    """The report for people: token facts, two tables, then every fix in full."""
    expires = f"{report.expires_in // 60} min" if report.expires_in is not None else "unknown"
    console.print(f"[green]Token acquired[/] ({report.kind} permissions), expires in {expires}.")
    console.print(f"  tenant  {escape(report.tenant)}\n  app id  {escape(report.app_id)}")
    if report.permissions:
        console.print(_findings_table("Permissions", report.permissions))
    if report.mailboxes:
        console.print(_findings_table("Mailbox access (GET /users/{m}/calendar)", report.mailboxes))
    for note in report.notes:
        console.print(f"[cyan]note:[/] {escape(note)}")
    fixes = [f for f in [*report.permissions, *report.mailboxes] if f.problem and f.fix]
    for f in fixes:
        console.print(f"[{_STYLE[f.level]}]{f.level}[/] {escape(f.subject)}: {escape(f.message)}")
        console.print(f"  fix: {escape(f.fix or '')}", soft_wrap=True)
    if exit_code(report) == 0:
        console.print("[green]All good.[/]")


@app.command("test")
def auth_test(
    ctx: typer.Context,
    mailbox: Annotated[
        list[str] | None,
        typer.Option("--mailbox", "-m", help="Mailbox to try (repeatable; default: the first 3 configured)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Get a token and check its permissions and mailbox access against what calsync needs."""
    import asyncio  # here, with calsync.graph: `calsync --help` needs neither

    from calsync.graph import AuthError

    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)
        targets = list(mailbox or settings.mailboxes[:MAX_PROBES])
        try:
            report = asyncio.run(run_test(settings, targets))
        except AuthError as exc:
            if not as_json:
                raise  # rendered with its hint by calsync.cli.output
            emit_json(
                {
                    "ok": False,
                    "exitCode": EXIT_AUTH,
                    "error": {
                        "type": type(exc).__name__,
                        "aadsts": exc.aadsts,
                        "error": exc.error,
                        "hint": exc.hint,
                        "description": exc.description,
                    },
                }
            )
            raise typer.Exit(EXIT_AUTH) from None
        if as_json:
            emit_json(report_json(report))
        else:
            print_report(report)
        if exit_code(report):
            raise typer.Exit(exit_code(report))


# -- consent-url ---------------------------------------------------------------------------------------

PER_FLOW = ("state", "nonce", "code_challenge", "code_challenge_method")


def sign_in_url(settings: Settings) -> str:
    """The authorization-code sign-in URL without its per-flow values (state, nonce, PKCE)."""
    from calsync import wiring

    scopes = [*settings.delegated_scopes, "offline_access"]
    query = {
        "client_id": str(settings.client_id),
        "response_type": "code",
        "redirect_uri": wiring.connect_redirect_uri(settings),
        "response_mode": "query",  # as the /connect page asks (docs/delegated.md, "Sign-in")
        "scope": " ".join(dict.fromkeys(scopes)),
    }
    return (
        f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}/oauth2/v2.0/authorize?{urlencode(query)}"
    )


def _redirect(settings: Settings) -> str:
    from calsync import wiring

    return wiring.connect_redirect_uri(settings)


def consent_url(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the admin-consent URL (application permissions) and the delegated sign-in URL."""
    from calsync.graph import EntraApp

    with reported(as_json=as_json):
        settings = settings_from(ctx.obj)
        settings.require("tenant_id", "client_id")
        entra = EntraApp(
            tenant=str(settings.tenant_id),
            client_id=str(settings.client_id),
            authority_host=settings.authority_host,
        )
        admin = entra.admin_consent_url()
        sign_in = sign_in_url(settings)
        if as_json:
            emit_json(
                {
                    "tenant": entra.tenant,
                    "clientId": entra.client_id,
                    "adminConsentUrl": admin,
                    "signInUrl": sign_in,
                    "signInAddsPerFlow": list(PER_FLOW),
                }
            )
            return
        console.print("[bold]Admin consent[/] (application permissions; a Global or Privileged Role "
                      "Administrator opens it once):")  # fmt: skip
        console.print(admin, markup=False, soft_wrap=True)
        console.print(
            "\n[bold]Delegated sign-in[/] (each user; scopes: "
            f"{escape(' '.join(settings.delegated_scopes))} offline_access):"
        )
        console.print(sign_in, markup=False, soft_wrap=True)
        console.print(
            "\nThis is the URL's pattern: the /connect page of `calsync serve` adds state, nonce and a PKCE "
            "code_challenge (S256) for every sign-in and checks them on return, so start sign-ins there. "
            f"The redirect URI ({escape(_redirect(settings))}) must be registered under "
            "Authentication (Web platform).",
            soft_wrap=False,
        )
