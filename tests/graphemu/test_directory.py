"""Directory routes: users, groups, transitive membership, supported time zones, mailbox time zone."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from graphemu import World
from graphemu.testing import EmulatorTransport
from tests.graphemu.conftest import OTHER_TENANT, mint

ADELE = "adele@contoso.onmicrosoft.com"
DEFAULT_USER_KEYS = {
    "@odata.context",
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
}


def client(app: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {token}"},
    )


def group_id(app: Any, name: str) -> str:
    world: World = app.state.world
    return next(g.id for g in world.groups.values() if g.display_name == name)


async def test_get_user_by_upn_returns_default_property_set(graph: httpx.AsyncClient) -> None:
    """GET users/{upn} answers the v1.0 default user properties and an $entity context."""
    response = await graph.get(f"/users/{ADELE}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DEFAULT_USER_KEYS
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    assert body["userPrincipalName"] == ADELE
    assert body["businessPhones"] == []


async def test_get_user_upn_is_case_insensitive_and_id_works(graph: httpx.AsyncClient) -> None:
    """A UPN matches whatever its case, and the object id reaches the same user."""
    by_upn = (await graph.get(f"/users/{ADELE.upper()}")).json()
    by_id = (await graph.get(f"/users/{by_upn['id']}")).json()
    assert by_id["userPrincipalName"] == ADELE


def not_present(key: str) -> tuple[int, str, str]:
    """Entra's answer for a directory object it does not have (the wording Graph uses for any key)."""
    message = (
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
    )
    return 404, "Request_ResourceNotFound", message


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


async def test_unknown_user_is_404_request_resource_not_found(graph: httpx.AsyncClient) -> None:
    """The directory answers for `users/{key}` itself: an unknown user is Entra's 404
    Request_ResourceNotFound naming the key as sent, not Exchange's ErrorInvalidUser."""
    for key in ("ghost@contoso.onmicrosoft.com", "5f1e1a8c-0000-4000-8000-000000000000"):
        assert error(await graph.get(f"/users/{key}")) == not_present(key)


async def test_unknown_user_under_a_calendar_path_is_error_invalid_user(graph: httpx.AsyncClient) -> None:
    """Under a mailbox path Exchange answers: 404 ErrorInvalidUser (graph-facts §9)."""
    response = await graph.get("/users/ghost@contoso.onmicrosoft.com/calendars")
    assert error(response) == (
        404,
        "ErrorInvalidUser",
        "The requested user 'ghost@contoso.onmicrosoft.com' is invalid.",
    )


async def test_unknown_user_error_is_switchable(app: Any, graph: httpx.AsyncClient) -> None:
    """config.unknown_user_error selects the ResourceNotFound variant for mailbox paths; the directory's
    own answer does not change."""
    app.state.config.unknown_user_error = "ResourceNotFound"  # graph-facts §9: ResourceNotFound
    response = await graph.get("/users/ghost@contoso.onmicrosoft.com/events")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
    key = "ghost@contoso.onmicrosoft.com"
    assert error(await graph.get(f"/users/{key}")) == not_present(key)


async def test_user_of_other_tenant_is_not_found(graph: httpx.AsyncClient) -> None:
    """A user of another tenant is invisible to this tenant's app."""
    response = await graph.get("/users/eve@fabrikam.onmicrosoft.com")
    assert error(response) == not_present("eve@fabrikam.onmicrosoft.com")


async def test_select_limits_properties(graph: httpx.AsyncClient) -> None:
    """$select returns only the chosen properties (case-insensitive names) and names them in the context."""
    body = (await graph.get(f"/users/{ADELE}", params={"$select": "displayName,ACCOUNTENABLED"})).json()
    assert set(body) == {"@odata.context", "displayName", "accountEnabled"}
    assert body["accountEnabled"] is True
    assert body["@odata.context"].endswith("#users(displayName,accountEnabled)/$entity")


async def test_select_unknown_property_is_400(graph: httpx.AsyncClient) -> None:
    """$select of a property users do not have is a 400 BadRequest."""
    response = await graph.get("/users", params={"$select": "shoeSize"})
    assert response.status_code == 400
    assert "shoeSize" in response.json()["error"]["message"]


async def test_list_users_is_tenant_scoped(graph: httpx.AsyncClient) -> None:
    """GET users lists this tenant's users only, with a collection context."""
    body = (await graph.get("/users")).json()
    upns = {u["userPrincipalName"] for u in body["value"]}
    assert ADELE in upns
    assert "eve@fabrikam.onmicrosoft.com" not in upns
    assert len(upns) == 5
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users"
    assert "@odata.nextLink" not in body


async def test_list_users_pages_with_skiptoken(graph: httpx.AsyncClient) -> None:
    """$top pages the list; following @odata.nextLink verbatim walks every user once."""
    seen: list[str] = []
    url: str | None = "/users?$top=2&$select=id,userPrincipalName"
    pages = 0
    while url:
        body = (await graph.get(url)).json()
        pages += 1
        assert len(body["value"]) <= 2
        seen += [u["userPrincipalName"] for u in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert url.startswith("https://graph.microsoft.com/v1.0/users?")
            assert "%24skiptoken=" in url or "$skiptoken=" in url
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


async def test_default_page_size_comes_from_config(app: Any, graph: httpx.AsyncClient) -> None:
    """Without $top the page size is config.directory_default_page_size."""
    app.state.config.directory_default_page_size = 3
    body = (await graph.get("/users")).json()
    assert len(body["value"]) == 3
    assert "@odata.nextLink" in body


async def test_top_out_of_range_is_400(graph: httpx.AsyncClient) -> None:
    """$top above 999 answers Entra's Request_UnsupportedQuery page-size error."""
    response = await graph.get("/users", params={"$top": "1000"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "Request_UnsupportedQuery"
    assert error["message"] == "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."


async def test_bad_skiptoken_is_400(graph: httpx.AsyncClient) -> None:
    """A forged $skiptoken is rejected, not treated as the first page."""
    response = await graph.get("/users", params={"$skiptoken": "!!!"})
    assert response.status_code == 400


async def test_filter_users_by_upn_and_account_enabled(graph: httpx.AsyncClient) -> None:
    """$filter on userPrincipalName, mail, displayName and accountEnabled narrows the list."""
    body = (await graph.get("/users", params={"$filter": f"userPrincipalName eq '{ADELE.upper()}'"})).json()
    assert [u["userPrincipalName"] for u in body["value"]] == [ADELE]
    body = await graph.get(
        "/users", params={"$filter": "startswith(displayName,'A') and accountEnabled eq true"}
    )
    assert {u["displayName"] for u in body.json()["value"]} == {"Adele Vance", "Alex Wilber"}
    body = (await graph.get("/users", params={"$filter": "mail eq 'megan@contoso.onmicrosoft.com'"})).json()
    assert len(body["value"]) == 1


async def test_filter_on_unsupported_property_is_400(graph: httpx.AsyncClient) -> None:
    """$filter on a property graphemu does not index answers 400 Request_UnsupportedQuery."""
    response = await graph.get("/users", params={"$filter": "officeLocation eq 'x'"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


async def test_malformed_filter_is_400(graph: httpx.AsyncClient) -> None:
    """A syntactically broken $filter is a 400 BadRequest."""
    response = await graph.get("/users", params={"$filter": "displayName eq"})
    assert response.status_code == 400


async def test_orderby_and_count(graph: httpx.AsyncClient) -> None:
    """$orderby sorts the list and $count=true adds @odata.count."""
    body = (await graph.get("/users", params={"$orderby": "displayName desc", "$count": "true"})).json()
    names = [u["displayName"] for u in body["value"]]
    assert names == sorted(names, key=str.casefold, reverse=True)
    assert body["@odata.count"] == 5


async def test_search_is_rejected(graph: httpx.AsyncClient) -> None:
    """$search is not emulated and says so instead of returning unfiltered data."""
    response = await graph.get("/users", params={"$search": '"displayName:a"'})
    assert response.status_code == 400


async def test_app_without_user_read_all_is_denied(app: Any) -> None:
    """An app token without User.Read.All gets 403 Authorization_RequestDenied."""
    async with client(app, mint(app, roles=["Calendars.ReadWrite"])) as c:
        response = await c.get("/users")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


async def test_delegated_user_read_reaches_only_me(app: Any) -> None:
    """Delegated User.Read reads /me but not another user."""
    async with client(app, mint(app, user=ADELE, scopes=["User.Read"])) as c:
        me = await c.get("/me")
        other = await c.get("/users/alex@contoso.onmicrosoft.com")
        listing = await c.get("/users")
    assert me.status_code == 200
    assert me.json()["userPrincipalName"] == ADELE
    assert other.status_code == 403
    assert listing.status_code == 403


async def test_delegated_user_readbasic_all_reads_others(app: Any) -> None:
    """Delegated User.ReadBasic.All reads any user of the tenant."""
    async with client(app, mint(app, user=ADELE, scopes=["User.ReadBasic.All"])) as c:
        response = await c.get("/users/alex@contoso.onmicrosoft.com")
    assert response.status_code == 200


async def test_me_with_app_token_is_400(graph: httpx.AsyncClient) -> None:
    """/me needs a delegated token."""
    response = await graph.get("/me")
    assert response.status_code == 400


async def test_get_group(app: Any, graph: httpx.AsyncClient) -> None:
    """GET groups/{id} answers a mail-enabled security group's shape."""
    gid = group_id(app, "Calendar sync")
    body = (await graph.get(f"/groups/{gid}")).json()
    assert body["@odata.context"].endswith("$metadata#groups/$entity")
    assert body["id"] == gid
    assert body["groupTypes"] == []
    assert body["mailEnabled"] is True
    assert body["securityEnabled"] is True
    assert body["description"] is None
    assert body["mail"] == "calsync-scope@contoso.onmicrosoft.com"


async def test_unknown_group_is_404(graph: httpx.AsyncClient) -> None:
    """An unknown group id answers 404 Request_ResourceNotFound."""
    response = await graph.get("/groups/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Request_ResourceNotFound"


async def test_list_groups_filter_by_mail(graph: httpx.AsyncClient) -> None:
    """GET groups?$filter=mail eq '...' finds the policy group by its address."""
    body = (
        await graph.get("/groups", params={"$filter": "mail eq 'calsync-scope@contoso.onmicrosoft.com'"})
    ).json()
    assert [g["displayName"] for g in body["value"]] == ["Calendar sync"]


async def test_transitive_members_are_flat_and_typed(app: Any, graph: httpx.AsyncClient) -> None:
    """transitiveMembers lists nested users and groups once each, each with @odata.type."""
    body = (await graph.get(f"/groups/{group_id(app, 'Calendar sync')}/transitiveMembers")).json()
    assert body["@odata.context"].endswith("$metadata#directoryObjects")
    types = {m.get("userPrincipalName") or m["displayName"]: m["@odata.type"] for m in body["value"]}
    assert types == {
        ADELE: "#microsoft.graph.user",
        "alex@contoso.onmicrosoft.com": "#microsoft.graph.user",
        "Staff": "#microsoft.graph.group",
        "megan@contoso.onmicrosoft.com": "#microsoft.graph.user",
        "nomail@contoso.onmicrosoft.com": "#microsoft.graph.user",
    }


async def test_transitive_members_user_cast(app: Any, graph: httpx.AsyncClient) -> None:
    """The microsoft.graph.user cast keeps only users, without ConsistencyLevel, in a users context."""
    gid = group_id(app, "Calendar sync")
    body = (
        await graph.get(f"/groups/{gid}/transitiveMembers/microsoft.graph.user", params={"$count": "true"})
    ).json()
    assert body["@odata.context"].endswith("$metadata#users")
    assert body["@odata.count"] == 4
    assert all("@odata.type" not in m and "userPrincipalName" in m for m in body["value"])


async def test_transitive_members_group_cast_and_bad_cast(app: Any, graph: httpx.AsyncClient) -> None:
    """The group cast lists nested groups; an unknown cast segment is a 400."""
    gid = group_id(app, "Calendar sync")
    body = (await graph.get(f"/groups/{gid}/transitiveMembers/microsoft.graph.group")).json()
    assert [g["displayName"] for g in body["value"]] == ["Staff"]
    response = await graph.get(f"/groups/{gid}/transitiveMembers/microsoft.graph.device")
    assert response.status_code == 400


async def test_transitive_members_casts_accept_the_graph_alias(app: Any, graph: httpx.AsyncClient) -> None:
    """Graph's CSDL declares `graph` as the alias of the `microsoft.graph` namespace, and the Kiota SDKs
    send the alias (`transitiveMembers/graph.user`): it answers exactly as the full cast name does."""
    members = f"/groups/{group_id(app, 'Calendar sync')}/transitiveMembers"
    for alias, full in (("graph.user", "microsoft.graph.user"), ("graph.group", "microsoft.graph.group")):
        aliased, named = await graph.get(f"{members}/{alias}"), await graph.get(f"{members}/{full}")
        assert aliased.status_code == named.status_code == 200, aliased.text
        assert aliased.json() == named.json()
    assert (await graph.get(f"{members}/graph.device")).status_code == 400


async def test_count_segment_answers_the_number_as_plain_text(app: Any, graph: httpx.AsyncClient) -> None:
    """`.../$count` with `ConsistencyLevel: eventual` answers 200 text/plain with the bare number
    (group-list-transitivemembers.md, "Get only a count of transitive membership"), casts and $filter
    applied; inside a batch the header travels with the item."""
    members = f"/groups/{group_id(app, 'Calendar sync')}/transitiveMembers"
    eventual = {"ConsistencyLevel": "eventual"}
    cases = {
        f"{members}/$count": "5",
        f"{members}/microsoft.graph.user/$count": "4",
        f"{members}/graph.group/$count": "1",
        "/users/$count": "5",
        "/groups/$count": "2",
        "/users/$count?$filter=startswith(displayName,'A')": "2",
    }
    for url, count in cases.items():
        response = await graph.get(url, headers=eventual)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == count, url
    batch = {"requests": [{"id": "1", "method": "GET", "url": f"{members}/$count", "headers": eventual}]}
    item = (await graph.post("/$batch", json=batch)).json()["responses"][0]
    assert (item["status"], item["body"], item["headers"]["Content-Type"]) == (200, "5", "text/plain")


async def test_count_segment_without_consistency_level_is_400(app: Any, graph: httpx.AsyncClient) -> None:
    """Counting directory objects is an advanced query: without `ConsistencyLevel: eventual` the segment
    is refused with 400 Request_BadRequest "$count is not currently supported." (aad-advanced-queries.md)."""
    members = f"/groups/{group_id(app, 'Calendar sync')}/transitiveMembers"
    for url in (f"{members}/$count", f"{members}/graph.user/$count", "/users/$count", "/groups/$count"):
        response = await graph.get(url)
        assert response.status_code == 400, url
        error = response.json()["error"]
        assert error["code"] == "Request_BadRequest"
        assert error["message"] == "$count is not currently supported."


async def test_transitive_members_page(app: Any, graph: httpx.AsyncClient) -> None:
    """transitiveMembers pages with $top and @odata.nextLink."""
    gid = group_id(app, "Calendar sync")
    first = (await graph.get(f"/groups/{gid}/transitiveMembers", params={"$top": "2"})).json()
    assert len(first["value"]) == 2
    rest = (await graph.get(first["@odata.nextLink"])).json()
    assert len(rest["value"]) == 2
    last = (await graph.get(rest["@odata.nextLink"])).json()
    assert len(last["value"]) == 1
    assert "@odata.nextLink" not in last


async def test_transitive_members_needs_group_member_read(app: Any) -> None:
    """Without GroupMember.Read.All (or broader) transitiveMembers is 403."""
    async with client(app, mint(app, roles=["User.Read.All"])) as c:
        response = await c.get(f"/groups/{group_id(app, 'Staff')}/transitiveMembers")
    assert response.status_code == 403


async def test_group_of_other_tenant_is_not_found(app: Any) -> None:
    """A token of another tenant cannot read this tenant's group."""
    async with client(app, mint(app, tenant_id=OTHER_TENANT, roles=["GroupMember.Read.All"])) as c:
        response = await c.get(f"/groups/{group_id(app, 'Staff')}")
    assert response.status_code == 404


async def test_supported_time_zones_windows_and_iana(graph: httpx.AsyncClient) -> None:
    """supportedTimeZones lists Windows names by default and IANA names with the Iana standard."""
    windows = (await graph.get(f"/users/{ADELE}/outlook/supportedTimeZones")).json()
    aliases = {z["alias"] for z in windows["value"]}
    assert "W. Europe Standard Time" in aliases
    assert set(windows["value"][0]) == {"alias", "displayName"}
    assert windows["@odata.context"].endswith("$metadata#Collection(microsoft.graph.timeZoneInformation)")
    iana = await graph.get(
        f"/users/{ADELE}/outlook/supportedTimeZones(TimeZoneStandard=microsoft.graph.timeZoneStandard'Iana')"
    )
    assert iana.status_code == 200
    assert "Europe/Berlin" in {z["alias"] for z in iana.json()["value"]}


async def test_supported_time_zones_rejects_unknown_standard_and_no_mailbox(graph: httpx.AsyncClient) -> None:
    """An unknown timeZoneStandard is a 400; a user without a mailbox is MailboxNotEnabledForRESTAPI."""
    bad = await graph.get(f"/users/{ADELE}/outlook/supportedTimeZones(TimeZoneStandard='Martian')")
    assert bad.status_code == 400
    nomail = await graph.get("/users/nomail@contoso.onmicrosoft.com/outlook/supportedTimeZones")
    assert nomail.status_code == 404
    assert nomail.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"


async def test_supported_time_zones_delegated_me(app: Any) -> None:
    """A delegated User.Read token reads its own supportedTimeZones through /me."""
    async with client(app, mint(app, user=ADELE, scopes=["User.Read"])) as c:
        response = await c.get("/me/outlook/supportedTimeZones")
    assert response.status_code == 200


async def test_mailbox_time_zone(app: Any) -> None:
    """mailboxSettings/timeZone returns the mailbox's zone and respects the access policy."""
    app.state.world.find_user(ADELE).time_zone = "W. Europe Standard Time"
    async with client(app, mint(app, roles=["MailboxSettings.Read"])) as c:
        own = await c.get(f"/users/{ADELE}/mailboxSettings/timeZone")
        outside = await c.get("/users/outsider@contoso.onmicrosoft.com/mailboxSettings/timeZone")
    assert own.json()["value"] == "W. Europe Standard Time"
    assert outside.status_code == 403
    assert outside.json()["error"]["message"] == "Access to OData is disabled."


async def test_mailbox_time_zone_needs_mailbox_settings_permission(graph: httpx.AsyncClient) -> None:
    """Without MailboxSettings.Read the time zone is 403 ErrorAccessDenied."""
    response = await graph.get(f"/users/{ADELE}/mailboxSettings/timeZone")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ErrorAccessDenied"


def test_upn_lookup_survives_a_replaced_user(world: World) -> None:
    """find_user remembers where a UPN was found, but checks it: a user replaced under a new id (as a
    snapshot load does) is found under the new id, not the stale one."""
    adele = world.find_user(ADELE.upper())
    assert adele is not None
    assert adele.user_principal_name == ADELE
    del world.users[adele.id]
    moved = dataclasses.replace(adele, id="00000000-0000-4000-8000-00000000ad01")
    world.users[moved.id] = moved
    assert world.find_user(ADELE) is moved
    assert world.find_user("nobody@contoso.onmicrosoft.com") is None


def test_access_policy_follows_membership_changes(world: World) -> None:
    """The policy group's nested members are cached between requests, and a membership change through
    add_member or add_group is seen at once."""
    client_id = next(iter(world.apps))
    outsider = world.find_user("outsider@contoso.onmicrosoft.com")
    megan = world.find_user("megan@contoso.onmicrosoft.com")
    assert outsider is not None
    assert megan is not None
    assert world.app_may_access(client_id, megan.id)  # through the nested Staff group
    assert not world.app_may_access(client_id, outsider.id)
    staff = next(g for g in world.groups.values() if g.display_name == "Staff")
    world.add_member(staff, outsider.id)
    assert world.app_may_access(client_id, outsider.id)
    assert outsider.id in world.transitive_members(
        next(g.id for g in world.groups.values() if g.display_name == "Calendar sync")
    )
