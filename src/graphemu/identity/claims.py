"""The id token's `roles` and `groups` claims, as Entra emits them for an app registration.

- `roles`: the `value` of each app role (manifest `appRoles`) assigned to the user on the app's service
  principal, directly or through a group the user is a *direct* member of (Entra: app role assignment to
  groups does not follow nested groups). Absent when none is assigned.
- `groups`: only when the manifest's `groupMembershipClaims` asks for it: `SecurityGroup` lists the
  object ids of the security groups the user belongs to, nested ones included; `All` adds distribution
  and Microsoft 365 groups. Above 200 groups (the JWT limit for id tokens) the claim is replaced by the
  overage indicator `_claim_names`/`_claim_sources` pointing at Graph's getMemberObjects, and the app
  must ask Graph.
CHOICE: directory roles (which `SecurityGroup` also emits, as role template ids) are not modelled.
"""

from __future__ import annotations

from typing import Any

from graphemu.world import AppRegistration, User, World

GROUPS_LIMIT = 200
GRAPH_ROOT = "https://graph.microsoft.com/v1.0"


def membership_claims(world: World, app: AppRegistration, user: User) -> dict[str, Any]:
    """The `roles` and `groups` (or overage) claims for `user`'s id token from `app`."""
    claims: dict[str, Any] = {}
    direct_groups = [g.id for g in world.groups.values() if user.id in g.members]
    roles = set(app.role_assignments.get(user.id, set()))
    for group_id in direct_groups:
        roles |= app.role_assignments.get(group_id, set())
    if roles:
        claims["roles"] = sorted(roles)
    if app.group_membership_claims in ("SecurityGroup", "All"):
        groups = [
            g.id
            for g in world.groups.values()
            if g.tenant_id == user.tenant_id
            and (app.group_membership_claims == "All" or g.security_enabled)
            and user.id in world.transitive_members(g.id)
        ]
        if len(groups) > GROUPS_LIMIT:
            claims["_claim_names"] = {"groups": "src1"}
            claims["_claim_sources"] = {
                "src1": {"endpoint": f"{GRAPH_ROOT}/users/{user.id}/getMemberObjects"}
            }
        elif groups:
            claims["groups"] = groups
    return claims
