"""The app registration check behind `calsync auth test` and the administrators' page of the same name.

Gets a token with the configured credential, reads its claims (without verifying them: it is our own
token, fresh from the identity platform; only the payload is base64-decoded, and the token itself is never
shown), compares the granted application permissions (`roles`) or delegated scopes (`scp`) with those
calsync needs, then makes one harmless call per mailbox (GET /users/{m}/calendar, at most 3) to find
access-policy denials and mailboxes that cannot be reached. Every finding that is a problem carries the
exact fix. `Report.outcome` says how it stands: "ok", "problems" or "unauthorized".
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from calsync.graph import EntraApp, GraphClientError
    from calsync.settings import Settings

Level = Literal["ok", "info", "warning", "missing", "denied"]
MAX_PROBES = 3

# Application permissions calsync uses, and what for.
CALENDARS = "Calendars.ReadWrite"
GROUP_MEMBERS = "GroupMember.Read.All"
USERS = "User.Read.All"
PURPOSE = {
    CALENDARS: "create, update and delete events in the synced mailboxes",
    GROUP_MEMBERS: "read the members of the configured group (the mailboxes to sync)",
    USERS: "optional: resolve users by name or id",
}
# Broader permissions that also satisfy one calsync needs (Graph's "least privileged first" lists).
SATISFIED_BY = {
    GROUP_MEMBERS: ("Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    USERS: ("User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
}
# Scopes every delegated sign-in carries; never needless.
SIGN_IN_SCOPES = frozenset({"openid", "profile", "offline_access", "email", "user.read"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report: a permission or a mailbox, how it stands, and the fix when one is needed."""

    level: Level
    subject: str
    message: str
    fix: str | None = None

    @property
    def problem(self) -> bool:
        return self.level in ("warning", "missing", "denied")


# -- the token's claims --------------------------------------------------------------------------------


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, base64url-decoded and NOT verified (only for our own, fresh tokens).

    Raises:
        ValueError: the token is not a readable JWT (e.g. encrypted or opaque).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("the token is not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        raise ValueError("the token's payload is not readable JSON") from None
    if not isinstance(claims, dict):
        raise ValueError("the token's payload is not a JSON object")
    return claims


def granted(claims: Mapping[str, Any]) -> tuple[str, list[str]]:
    """("application", roles) for an app-only token, ("delegated", scopes) for a delegated one."""
    if "scp" in claims:
        return "delegated", sorted(str(claims.get("scp") or "").split())
    roles = claims.get("roles") or []
    return "application", sorted(str(r) for r in roles) if isinstance(roles, list) else []


# -- permissions against what calsync needs -------------------------------------------------------------


def portal_add(app: EntraApp, permission: str, kind: str = "Application") -> str:
    """The exact steps to add and consent an application permission."""
    return (
        f"Azure portal -> Microsoft Entra ID -> App registrations -> {app.client_id} -> API permissions -> "
        f"Add a permission -> Microsoft Graph -> {kind} permissions -> {permission} -> Add permissions -> "
        f"Grant admin consent for the tenant. Or, once the permission is on the registration, an "
        f"administrator opens {app.admin_consent_url()}"
    )


def portal_remove(app: EntraApp, permission: str) -> str:
    """The exact steps to remove a permission."""
    return (
        f"Azure portal -> Microsoft Entra ID -> App registrations -> {app.client_id} -> API permissions -> "
        f"'...' next to {permission} -> Remove permission (and Revoke admin consent for it)."
    )


def _needless_reason(permission: str, have: set[str]) -> str:
    lower = permission.lower()
    if lower in ("calendars.read", "calendars.readbasic", "calendars.readbasic.all") and CALENDARS in have:
        return f"not needed: {CALENDARS} already includes it"
    if lower.startswith("mail."):
        return "not needed: calsync never reads or sends mail"
    if lower == "user.read":
        return "a delegated permission left on an app-permissions registration: calsync does not use it"
    if lower in ("directory.read.all", "group.read.all"):
        return f"broader than needed: calsync reads only group members ({GROUP_MEMBERS}) and users ({USERS})"
    if lower.endswith(".readwrite.all"):
        return "far broader than calsync needs (it writes only calendar events): remove it"
    return "not used by calsync: remove it (least privilege)"


def check_application(roles: Sequence[str], settings: Settings, app: EntraApp) -> list[Finding]:
    """Findings for the roles of an app-only token."""
    have = set(roles)
    findings: list[Finding] = []
    required = [CALENDARS] + ([GROUP_MEMBERS] if settings.group else [])
    accounted: set[str] = set()
    for permission in required:
        broader = [p for p in SATISFIED_BY.get(permission, ()) if p in have]
        if permission in have:
            findings.append(Finding("ok", permission, f"granted: {PURPOSE[permission]}"))
            accounted.add(permission)
        elif broader:
            findings.append(
                Finding(
                    "warning",
                    broader[0],
                    f"grants {permission} but is broader than needed; {permission} is enough",
                    f"{portal_add(app, permission)} Then: {portal_remove(app, broader[0])}",
                )
            )
            accounted.add(broader[0])
        else:
            findings.append(
                Finding("missing", permission, f"missing: calsync needs it to {PURPOSE[permission]}",
                        portal_add(app, permission))
            )  # fmt: skip
    if USERS in have:
        findings.append(Finding("info", USERS, f"granted ({PURPOSE[USERS]})"))
        accounted.add(USERS)
    if GROUP_MEMBERS in have and not settings.group:
        findings.append(Finding("info", GROUP_MEMBERS, "granted; used only when `group` is set"))
        accounted.add(GROUP_MEMBERS)
    for permission in sorted(have - accounted):
        reason = _needless_reason(permission, have)
        findings.append(Finding("warning", permission, reason, portal_remove(app, permission)))
    return findings


def check_delegated(scopes: Sequence[str], settings: Settings, app: EntraApp) -> list[Finding]:
    """Findings for the scopes of a delegated token."""
    have = {s.lower(): s for s in scopes}
    findings: list[Finding] = []
    wanted = {s.rsplit("/", 1)[-1] for s in settings.delegated_scopes}
    for scope in sorted(wanted):
        if scope.lower() in have:
            findings.append(Finding("ok", scope, "granted"))
        else:
            findings.append(Finding("missing", scope, "missing", portal_add(app, scope, "Delegated")))
    needed = {w.lower() for w in wanted} | SIGN_IN_SCOPES
    for lower, scope in sorted(have.items()):
        if lower not in needed:
            findings.append(
                Finding("warning", scope, _needless_reason(scope, set(scopes)), portal_remove(app, scope))
            )
    return findings


# -- mailbox probes --------------------------------------------------------------------------------------


def probe_finding(mailbox: str, exc: GraphClientError | None, client_id: str) -> Finding:
    """The finding for one GET /users/{m}/calendar (exc None: it worked)."""
    from calsync.graph import Forbidden, HTTPStatusError, InvalidUser, MailboxNotEnabled, NotFound

    if exc is None:
        return Finding("ok", mailbox, "calendar reachable")
    request_id = (
        f" (request-id {exc.request_id})" if isinstance(exc, HTTPStatusError) and exc.request_id else ""
    )
    if isinstance(exc, Forbidden) and exc.access_policy:
        return Finding(
            "denied",
            mailbox,
            f"Access to OData is disabled: an Exchange application access policy (or RBAC for Applications "
            f"scope) keeps this app out of the mailbox{request_id}",
            f"In Exchange Online PowerShell: Test-ApplicationAccessPolicy -Identity {mailbox} -AppId "
            f"{client_id} shows the decision; add the mailbox to the mail-enabled security group the "
            f"policy names (New-/Set-ApplicationAccessPolicy), or with RBAC for Applications check "
            f"Test-ServicePrincipalAuthorization -Identity <service principal> -Resource {mailbox}. "
            f"Changes can take up to an hour to apply.",
        )
    if isinstance(exc, Forbidden):
        return Finding(
            "denied", mailbox, f"access denied ({exc.code}: {exc.message}){request_id}",
            f"grant {CALENDARS} (see the permissions above)",
        )  # fmt: skip
    if isinstance(exc, MailboxNotEnabled):
        return Finding(
            "denied",
            mailbox,
            f"no Exchange Online mailbox (MailboxNotEnabledForRESTAPI){request_id}: the user is unlicensed, "
            "inactive, soft-deleted or on-premises",
            "assign an Exchange Online licence, or move the mailbox to Exchange Online",
        )
    if isinstance(exc, InvalidUser | NotFound):
        return Finding(
            "denied", mailbox, f"no such user in the tenant ({exc.code}){request_id}",
            "check the UPN or object id in `mailboxes`",
        )  # fmt: skip
    return Finding("warning", mailbox, f"could not check: {type(exc).__name__}: {exc}")


@dataclass
class Report:
    """What `auth test` found."""

    kind: str
    tenant: str
    app_id: str
    expires_in: int | None
    permissions: list[Finding]
    mailboxes: list[Finding]
    notes: list[str]
    admin_consent_url: str
    unauthorized: bool = False

    @property
    def outcome(self) -> Literal["ok", "problems", "unauthorized"]:
        """unauthorized: the token was refused; problems: a finding needs a fix; else ok."""
        if self.unauthorized:
            return "unauthorized"
        if any(f.problem for f in [*self.permissions, *self.mailboxes]):
            return "problems"
        return "ok"


async def run_test(settings: Settings, mailboxes: Sequence[str]) -> Report:
    """Token, claims, permissions, then up to MAX_PROBES mailbox calls (AuthError propagates)."""
    from calsync import wiring
    from calsync.graph import AppTokenProvider, GraphClientError, Unauthorized

    entra = wiring.entra_app(settings)
    tokens = AppTokenProvider(entra)
    try:
        token = await tokens.token()
        notes: list[str] = []
        try:
            claims = token_claims(token)
        except ValueError as exc:
            claims = {}
            notes.append(f"{exc}: its permissions cannot be read here")
        kind, permissions = granted(claims)
        report = Report(
            kind=kind,
            tenant=str(claims.get("tid") or settings.tenant_id),
            app_id=str(claims.get("appid") or claims.get("azp") or settings.client_id),
            expires_in=int(claims["exp"] - time.time())
            if isinstance(claims.get("exp"), int | float)
            else None,
            permissions=[],
            mailboxes=[],
            notes=notes,
            admin_consent_url=entra.admin_consent_url(),
        )
        if report.app_id.lower() != str(settings.client_id).lower():
            notes.append(f"the token was issued to {report.app_id}, not to client_id {settings.client_id}")
        if settings.permissions == "delegated" and kind == "application":
            notes.append(
                "permissions = delegated: scopes are granted when each person connects at /connect "
                "(calsync serve; docs/delegated.md); "
                "this test checked the app's credential only. `calsync consent-url` prints the sign-in URL."
            )
            return report
        if claims:
            report.permissions = (
                check_delegated(permissions, settings, entra)
                if kind == "delegated"
                else check_application(permissions, settings, entra)
            )
        async with wiring.graph_client(settings, tokens=tokens) as graph:
            targets = list(mailboxes[:MAX_PROBES])
            if not targets and settings.group:
                try:
                    members = graph.group_transitive_user_members(
                        settings.group, select=["userPrincipalName"]
                    )
                    async for user in members:
                        targets.append(str(user.get("userPrincipalName") or user.get("id")))
                        if len(targets) >= MAX_PROBES:
                            break
                except GraphClientError as exc:
                    report.mailboxes.append(
                        Finding("warning", f"group {settings.group}", f"cannot list members: {exc}")
                    )
            if not targets and not report.mailboxes:
                notes.append("no mailboxes configured: pass --mailbox to check access to a mailbox")
            for mailbox in targets:
                try:
                    await graph.get_calendar(mailbox)
                except Unauthorized:
                    report.unauthorized = True
                    report.mailboxes.append(
                        Finding("denied", mailbox, "Graph rejected the token (401) even after a refresh")
                    )
                except GraphClientError as exc:
                    report.mailboxes.append(probe_finding(mailbox, exc, entra.client_id))
                else:
                    report.mailboxes.append(probe_finding(mailbox, None, entra.client_id))
        return report
    finally:
        await tokens.aclose()
