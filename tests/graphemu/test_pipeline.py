"""The request pipeline: authentication, Graph's error shape and headers, throttling and faults."""

from __future__ import annotations

import httpx

from tests.graphemu.conftest import mint


async def test_missing_token_is_401_with_www_authenticate(app) -> None:
    """A request without a bearer token gets 401 InvalidAuthenticationToken and WWW-Authenticate."""
    from graphemu.testing import EmulatorTransport

    async with httpx.AsyncClient(transport=EmulatorTransport(app), base_url="https://g/v1.0") as client:
        response = await client.get("/users", headers={"client-request-id": "abc"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    assert error["innerError"]["client-request-id"] == "abc"
    assert response.headers["client-request-id"] == "abc"
    assert response.headers["request-id"] == error["innerError"]["request-id"]
    assert 'client_id="00000003-0000-0000-c000-000000000000"' in response.headers["www-authenticate"]


async def test_expired_token_is_401(app) -> None:
    """A token past its exp is rejected with the lifetime message."""
    from graphemu.testing import EmulatorTransport

    token = mint(app, lifetime=10)
    app.state.world.clock.advance(20)
    async with httpx.AsyncClient(transport=EmulatorTransport(app), base_url="https://g/v1.0") as client:
        response = await client.get("/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


async def test_unknown_segment_is_400(graph) -> None:
    """An unknown resource segment answers 400 BadRequest as Graph does."""
    response = await graph.get("/nonsense")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"


async def test_unknown_segment_error_names_the_first_unresolved_segment(graph) -> None:
    """Graph's parser stops at the first segment it cannot resolve and names that one, not the last."""
    cases = {
        "/nonsense/deeper": "nonsense",
        "/users/adele@contoso.onmicrosoft.com/bogus/deeper": "bogus",
        "/users/adele@contoso.onmicrosoft.com/calendars/x/bogus/deeper": "bogus",
        "/groups/x/transitiveMembers/microsoft.graph.user/$count/extra": "extra",
    }
    for path, segment in cases.items():
        response = await graph.get(path)
        assert response.status_code == 400, path
        assert response.json()["error"]["message"] == f"Resource not found for the segment '{segment}'.", path
