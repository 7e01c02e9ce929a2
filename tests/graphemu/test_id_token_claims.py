"""The id token's `roles` (app roles assigned to the user or a group they are directly in) and `groups`
(`groupMembershipClaims`: SecurityGroup or All, nested groups included, overage above 200)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graphemu.seed import SeedError
from graphemu.world import Group
from tests.graphemu.conftest import SEED
from tests.graphemu.test_identity import TOKEN, claims, get_code, redeem_form

ADMIN_ROLE = "calsync.admin"


@pytest.fixture
def world() -> Any:
    from graphemu import world_from_seed

    seed = {**SEED, "apps": [dict(SEED["apps"][0])]}
    seed["groups"] = [*SEED["groups"], {"displayName": "Mail list", "securityEnabled": False,
                                          "members": ["alex@contoso.onmicrosoft.com"]}]  # fmt: skip
    seed["apps"][0] |= {
        "appRoles": [{"value": ADMIN_ROLE}, {"value": "calsync.reader"}],
        "appRoleAssignments": [
            {"principal": "adele@contoso.onmicrosoft.com", "role": ADMIN_ROLE},
            {"principal": "Staff", "role": "calsync.reader"},  # megan is a direct member
            {"principal": "Calendar sync", "role": ADMIN_ROLE},  # Staff is nested here: megan gets no admin
        ],
        "groupMembershipClaims": "SecurityGroup",
    }
    return world_from_seed(seed)


async def id_claims(login: httpx.AsyncClient, user: str) -> dict[str, Any]:
    code = await get_code(login, user=user)
    response = await login.post(TOKEN, data=redeem_form(code))
    assert response.status_code == 200, response.text
    return claims(response.json()["id_token"])


async def test_roles_come_from_direct_and_direct_group_assignments(
    world: Any, login: httpx.AsyncClient
) -> None:
    assert (await id_claims(login, "adele@contoso.onmicrosoft.com"))["roles"] == [ADMIN_ROLE]
    # megan: Staff's role, but not "Calendar sync"'s (she is in it only through Staff: not followed).
    assert (await id_claims(login, "megan@contoso.onmicrosoft.com"))["roles"] == ["calsync.reader"]
    assert "roles" not in await id_claims(login, "outsider@contoso.onmicrosoft.com")


async def test_security_groups_are_listed_nested_ones_included(world: Any, login: httpx.AsyncClient) -> None:
    groups = {g.display_name: g.id for g in world.groups.values()}
    megan = await id_claims(login, "megan@contoso.onmicrosoft.com")
    assert sorted(megan["groups"]) == sorted([groups["Staff"], groups["Calendar sync"]])
    alex = await id_claims(login, "alex@contoso.onmicrosoft.com")
    assert alex["groups"] == [groups["Calendar sync"]]  # "Mail list" is not a security group
    world.apps[next(iter(world.apps))].group_membership_claims = "All"
    alex = await id_claims(login, "alex@contoso.onmicrosoft.com")
    assert sorted(alex["groups"]) == sorted([groups["Calendar sync"], groups["Mail list"]])
    assert "groups" not in await id_claims(login, "outsider@contoso.onmicrosoft.com")


async def test_more_than_200_groups_is_the_overage_claim(world: Any, login: httpx.AsyncClient) -> None:
    user = world.find_user("outsider@contoso.onmicrosoft.com")
    for n in range(201):
        world.add_group(
            Group(id=f"g{n:03d}", tenant_id=user.tenant_id, display_name=f"G{n}", members=[user.id])
        )
    token = await id_claims(login, "outsider@contoso.onmicrosoft.com")
    assert "groups" not in token
    assert token["_claim_names"] == {"groups": "src1"}
    assert token["_claim_sources"]["src1"]["endpoint"].endswith(f"/users/{user.id}/getMemberObjects")


async def test_without_group_claims_configured_there_is_no_groups_claim(
    world: Any, login: httpx.AsyncClient
) -> None:
    world.apps[next(iter(world.apps))].group_membership_claims = None
    assert "groups" not in await id_claims(login, "megan@contoso.onmicrosoft.com")


def test_the_seed_refuses_unknown_roles_and_principals() -> None:
    from graphemu import world_from_seed

    seed = {**SEED, "apps": [dict(SEED["apps"][0])]}
    seed["apps"][0] |= {
        "appRoles": [{"value": ADMIN_ROLE}],
        "appRoleAssignments": [{"principal": "nobody@contoso.onmicrosoft.com", "role": ADMIN_ROLE},
                               {"principal": "Staff", "role": "calsync.root"}],
        "groupMembershipClaims": "Everything",
    }  # fmt: skip
    with pytest.raises(SeedError) as raised:
        world_from_seed(seed)
    text = str(raised.value)
    assert "unknown principal 'nobody@contoso.onmicrosoft.com'" in text
    assert "'calsync.root' is not one of the app's appRoles" in text
    assert "groupMembershipClaims" in text
