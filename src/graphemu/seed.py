"""Seed files: a documented JSON description of a tenant, loaded into a World.

Format (all keys camelCase; docs/graphemu.md documents it with an example):

    {
      "tenants": [{"id": GUID, "domain": "contoso.onmicrosoft.com", "displayName": "Contoso"}],
      "apps": [{"clientId": GUID, "tenantId": GUID, "displayName": "calsync",
                "secrets": [{"value" | "valueEnv" | "valueFile": ..., "keyId": GUID?, "expires": ISO?}],
                "certificates": [{"pem" | "file": PEM certificate, "expires": ISO?}],
                "applicationPermissions": ["Calendars.ReadWrite", ...],
                "adminConsentedScopes": ["Calendars.ReadWrite", ...],
                "userConsents": {"<upn or id>": ["Calendars.ReadWrite"]},
                "redirectUris": ["http://localhost:8080/callback"], "publicClient": false,
                "appRoles": [{"value": "calsync.admin", "id": GUID?}],
                "appRoleAssignments": [{"principal": "<upn, user id, group id or group mail>",
                                        "role": "calsync.admin"}],
                "groupMembershipClaims": "SecurityGroup" | "All" | "None"}],
      "users": [{"id": GUID?, "tenantId": GUID?, "userPrincipalName": ..., "displayName": ..., "mail": ...?,
                 "hasMailbox": true, "password": ...?, "timeZone": "UTC", "calendars": ["Timetable"],
                 "holidayCalendar": false}],
      "groups": [{"id": GUID?, "tenantId": GUID?, "displayName": ..., "mail": ..., "mailEnabled": true,
                  "securityEnabled": true, "members": ["<upn, user id, group id or group mail>"]}],
      "accessPolicies": [{"clientId": GUID, "group": "<id or mail>", "accessRight": "RestrictAccess"}]
    }

`tenantId` defaults to the first tenant. Secrets are never required inline: `valueEnv` names an
environment variable and `valueFile` a file, so seed files can be committed without secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from graphemu.world import (
    AccessPolicy,
    AppRegistration,
    ClientCertificate,
    ClientSecret,
    Group,
    Tenant,
    User,
    World,
)


class SeedError(ValueError):
    """A problem in a seed file; `problems` lists every one found, with its location."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid seed:\n  " + "\n  ".join(problems))
        self.problems = problems


def load_seed(path: str | Path, world: World | None = None) -> World:
    """Read a seed file (relative `file` paths resolve against its folder)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    return world_from_seed(data, world, base_dir=path.parent)


def certificate_from_pem(pem: bytes, expires: datetime | None = None) -> ClientCertificate:
    """A ClientCertificate with SHA-1 and SHA-256 thumbprints of the DER encoding."""
    cert = x509.load_pem_x509_certificate(pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    return ClientCertificate(
        der=der,
        sha1=hashlib.sha1(der).digest(),  # noqa: S324 - x5t is defined as the SHA-1 thumbprint
        sha256=hashlib.sha256(der).digest(),
        expires=expires or cert.not_valid_after_utc,
    )


def world_from_seed(
    data: dict[str, Any], world: World | None = None, *, base_dir: Path | None = None
) -> World:
    """Add the seed's objects to `world` (a new one when None). Every problem is reported at once."""
    world = world or World()
    problems: list[str] = []
    base_dir = base_dir or Path.cwd()
    for i, t in enumerate(data.get("tenants", [])):
        if "id" not in t or "domain" not in t:
            problems.append(f"tenants[{i}]: 'id' and 'domain' are required")
            continue
        world.add_tenant(Tenant(id=t["id"], domain=t["domain"], display_name=t.get("displayName", "Contoso")))
    default_tenant = next(iter(world.tenants), None)

    def tenant_of(item: dict[str, Any], where: str) -> str:
        tid = item.get("tenantId", default_tenant)
        if tid is None or tid not in world.tenants:
            problems.append(f"{where}: unknown tenant {tid!r}")
            return ""
        return str(tid)

    for i, u in enumerate(data.get("users", [])):
        where = f"users[{i}]"
        if "userPrincipalName" not in u:
            problems.append(f"{where}: 'userPrincipalName' is required")
            continue
        upn = u["userPrincipalName"]
        user = User(
            id=u.get("id") or str(uuid.uuid5(uuid.NAMESPACE_DNS, upn.lower())),
            tenant_id=tenant_of(u, where),
            user_principal_name=upn,
            display_name=u.get("displayName", upn.split("@")[0]),
            mail=u.get("mail", upn),
            given_name=u.get("givenName"),
            surname=u.get("surname"),
            job_title=u.get("jobTitle"),
            has_mailbox=u.get("hasMailbox", True),
            password=u.get("password"),
            time_zone=u.get("timeZone", "UTC"),
        )
        world.add_user(user, extra_calendars=tuple(u.get("calendars", ())))
        if u.get("holidayCalendar") and user.has_mailbox:
            world.add_calendar(
                user.id,
                "United States holidays",
                can_edit=False,
                can_share=False,
                allowed_online_meeting_providers=[],
                default_online_meeting_provider="unknown",
            )

    groups = data.get("groups", [])
    for i, g in enumerate(groups):
        if "displayName" not in g:
            problems.append(f"groups[{i}]: 'displayName' is required")
            continue
        world.add_group(
            Group(
                id=g.get("id") or str(uuid.uuid5(uuid.NAMESPACE_DNS, "group:" + g["displayName"])),
                tenant_id=tenant_of(g, f"groups[{i}]"),
                display_name=g["displayName"],
                mail=g.get("mail"),
                mail_enabled=g.get("mailEnabled", True),
                security_enabled=g.get("securityEnabled", True),
                group_types=list(g.get("groupTypes", [])),
            )
        )
    for i, g in enumerate(groups):
        group = next((x for x in world.groups.values() if x.display_name == g.get("displayName")), None)
        for member in g.get("members", []):
            ref = _ref(world, member)
            if ref is None:
                problems.append(f"groups[{i}].members: unknown member {member!r}")
            elif group is not None:
                world.add_member(group, ref)

    for i, a in enumerate(data.get("apps", [])):
        tenant_id = tenant_of(a, f"apps[{i}]") if "clientId" in a else ""
        _add_app(world, a, f"apps[{i}]", tenant_id=tenant_id, problems=problems, base_dir=base_dir)
    for i, p in enumerate(data.get("accessPolicies", [])):
        ref = _ref(world, p.get("group", ""))
        if "clientId" not in p:
            problems.append(f"accessPolicies[{i}]: 'clientId' is required")
            continue
        if ref is None or ref not in world.groups:
            problems.append(f"accessPolicies[{i}]: unknown group {p.get('group')!r}")
            continue
        world.policies.append(AccessPolicy(p["clientId"], ref, p.get("accessRight", "RestrictAccess")))
    if problems:
        raise SeedError(problems)
    return world


def _add_app(
    world: World, a: dict[str, Any], where: str, *, tenant_id: str, problems: list[str], base_dir: Path
) -> None:
    """One app registration with its secrets, certificates and user consents."""
    if "clientId" not in a:
        problems.append(f"{where}: 'clientId' is required")
        return
    app = AppRegistration(
        client_id=a["clientId"],
        tenant_id=tenant_id,
        display_name=a.get("displayName", "calsync"),
        application_permissions=set(a.get("applicationPermissions", [])),
        admin_consented_scopes=set(a.get("adminConsentedScopes", [])),
        redirect_uris=list(a.get("redirectUris", [])),
        public_client=a.get("publicClient", False),
        group_membership_claims=_membership_claims(a.get("groupMembershipClaims"), where, problems),
    )
    _add_roles(world, app, a, where, problems)
    for j, s in enumerate(a.get("secrets", [])):
        value = _secret_value(s, base_dir)
        if value is None:
            problems.append(f"{where}.secrets[{j}]: give 'value', 'valueEnv' (set) or 'valueFile'")
            continue
        app.secrets.append(
            ClientSecret(
                value=value, key_id=s.get("keyId") or str(uuid.uuid4()), expires=_date(s.get("expires"))
            )
        )
    for j, c in enumerate(a.get("certificates", [])):
        try:
            pem = c["pem"].encode() if "pem" in c else (base_dir / c["file"]).read_bytes()
            app.certificates.append(certificate_from_pem(pem, _date(c.get("expires"))))
        except (KeyError, OSError, ValueError) as exc:
            problems.append(f"{where}.certificates[{j}]: {exc}")
    for who, scopes in a.get("userConsents", {}).items():
        consenting = world.find_user(who)
        if consenting is None:
            problems.append(f"{where}.userConsents: unknown user {who!r}")
        else:
            app.user_consents[consenting.id] = set(scopes)
    world.add_app(app)


def _membership_claims(value: Any, where: str, problems: list[str]) -> str | None:
    if value in (None, "None"):
        return None
    if value not in ("SecurityGroup", "All"):
        problems.append(f"{where}.groupMembershipClaims: 'SecurityGroup', 'All' or 'None', not {value!r}")
        return None
    return str(value)


def _add_roles(
    world: World, app: AppRegistration, a: dict[str, Any], where: str, problems: list[str]
) -> None:
    """The manifest's app roles and their assignments to users or groups (the id token's `roles`)."""
    for j, role in enumerate(a.get("appRoles", [])):
        if not isinstance(role, dict) or not role.get("value"):
            problems.append(f"{where}.appRoles[{j}]: 'value' is required")
            continue
        app.app_roles[str(role["value"])] = str(role.get("id") or uuid.uuid4())
    for j, assignment in enumerate(a.get("appRoleAssignments", [])):
        principal = _ref(world, str(assignment.get("principal", "")))
        role = assignment.get("role")
        if principal is None:
            problems.append(
                f"{where}.appRoleAssignments[{j}]: unknown principal {assignment.get('principal')!r}"
            )
        elif role not in app.app_roles:
            problems.append(f"{where}.appRoleAssignments[{j}]: {role!r} is not one of the app's appRoles")
        else:
            app.role_assignments.setdefault(principal, set()).add(str(role))


def _ref(world: World, key: str) -> str | None:
    """A user or group id from an id, UPN, group display name or group mail."""
    if key in world.groups:
        return key
    user = world.find_user(key)
    if user is not None:
        return user.id
    lowered = key.lower()
    for group in world.groups.values():
        if (group.mail or "").lower() == lowered or group.display_name.lower() == lowered:
            return group.id
    return None


def _secret_value(spec: dict[str, Any], base_dir: Path) -> str | None:
    if "value" in spec:
        return str(spec["value"])
    if "valueEnv" in spec:
        return os.environ.get(str(spec["valueEnv"]))
    if "valueFile" in spec:
        return (base_dir / str(spec["valueFile"])).read_text(encoding="utf-8").strip()
    return None


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
