"""JSON batching: validation, dependsOn and 424, per-item statuses and throttling, parallelism per mailbox."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from graphemu.pipeline import ConnectionDropped
from graphemu.testing import EmulatorTransport
from tests.graphemu.conftest import mint

ADELE = "adele@contoso.onmicrosoft.com"
IANA = "supportedTimeZones(TimeZoneStandard=microsoft.graph.timeZoneStandard'Iana')"


def get(rid: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "method": "GET", "url": url, **extra}


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in body["responses"]}


def adele_urls(app: Any) -> list[str]:
    """Six distinct URLs that all count against Adele's mailbox."""
    uid = app.state.world.find_user(ADELE).id
    return [
        f"/users/{uid}",
        f"users/{ADELE}",
        f"/users/{uid}/outlook/supportedTimeZones",
        f"/users/{ADELE}/outlook/supportedTimeZones",
        f"/users/{uid}/outlook/{IANA}",
        f"/users/{ADELE}/outlook/{IANA}",
    ]


async def test_batch_runs_items_and_correlates_by_id(graph: httpx.AsyncClient) -> None:
    """A valid batch answers 200 with one response per id, each with its own status and body."""
    batch = {
        "requests": [
            get("a", f"/users/{ADELE}?$select=displayName"),
            get("b", "/users/ghost@contoso.onmicrosoft.com"),
            get("c", "/groups?$top=1"),
        ]
    }
    response = await graph.post("/$batch", json=batch)
    assert response.status_code == 200
    items = by_id(response.json())
    assert set(items) == {"a", "b", "c"}
    assert items["a"]["status"] == 200
    assert items["a"]["body"]["displayName"] == "Adele Vance"
    assert items["a"]["headers"]["Content-Type"].startswith("application/json;odata.metadata=minimal")
    assert items["b"]["status"] == 404
    assert items["b"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert items["b"]["headers"]["Content-Type"] == "application/json"
    assert items["c"]["status"] == 200
    assert len(items["c"]["body"]["value"]) == 1


async def test_batch_items_are_logged_in_batch(app: Any, graph: httpx.AsyncClient) -> None:
    """Every item goes through the pipeline and appears in the request log with in_batch set."""
    await graph.post("/$batch", json={"requests": [get("1", "/users"), get("2", "/groups")]})
    entries = [e for e in app.state.pipeline.log if e.in_batch]
    assert sorted(e.path for e in entries) == ["groups", "users"]
    assert len({e.request_id for e in entries}) == 2


async def test_item_client_request_id_is_echoed(graph: httpx.AsyncClient) -> None:
    """An item's client-request-id header is used for that item; others inherit the batch's."""
    batch = {
        "requests": [
            get("1", "/users/ghost@contoso.onmicrosoft.com", headers={"client-request-id": "item-1"}),
            get("2", "/users/ghost2@contoso.onmicrosoft.com"),
        ]
    }
    response = await graph.post("/$batch", json=batch, headers={"client-request-id": "outer"})
    items = by_id(response.json())
    assert items["1"]["body"]["error"]["innerError"]["client-request-id"] == "item-1"
    assert items["2"]["body"]["error"]["innerError"]["client-request-id"] == "outer"


async def test_twenty_items_allowed_twenty_one_rejected(graph: httpx.AsyncClient) -> None:
    """At most 20 requests: 20 run, 21 fail the whole batch with 400."""
    ok = await graph.post("/$batch", json={"requests": [get(str(i), "/users?$top=1") for i in range(20)]})
    assert ok.status_code == 200
    assert len(ok.json()["responses"]) == 20
    too_many = await graph.post("/$batch", json={"requests": [get(str(i), "/users") for i in range(21)]})
    assert too_many.status_code == 400
    error = too_many.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"] == "Number of requests inside batch exceed the limit."


@pytest.mark.parametrize("body", [None, {}, {"requests": []}, {"requests": "x"}, {"requests": [{"id": "1"}]}])
async def test_malformed_batch_is_400(graph: httpx.AsyncClient, body: Any) -> None:
    """A body that is not a list of requests with id, method and url is 400 Invalid batch payload format."""
    response = await graph.post("/$batch", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid batch payload format."


async def test_duplicate_ids_fail_whole_batch_case_insensitively(graph: httpx.AsyncClient) -> None:
    """Ids are unique ignoring case; a repeat fails the whole batch."""
    response = await graph.post("/$batch", json={"requests": [get("Ab", "/users"), get("aB", "/groups")]})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Request Id aB has to be unique in a batch."


async def test_write_without_content_type_or_body_is_400(graph: httpx.AsyncClient) -> None:
    """A POST item needs both a body and a Content-Type header."""
    no_type = {"id": "1", "method": "POST", "url": "/users/x/events", "body": {"subject": "s"}}
    response = await graph.post("/$batch", json={"requests": [no_type]})
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"]
        == "Write request id : 1 does not contain Content-Type header or body."
    )
    no_body = {
        "id": "1",
        "method": "PATCH",
        "url": "/users/x/events/y",
        "headers": {"Content-Type": "application/json"},
    }
    assert (await graph.post("/$batch", json={"requests": [no_body]})).status_code == 400


async def test_depends_on_must_name_an_earlier_item(graph: httpx.AsyncClient) -> None:
    """dependsOn on an unknown or later id is a 400 for the whole batch."""
    unknown = {"requests": [get("1", "/users"), get("2", "/users", dependsOn=["9"])]}
    response = await graph.post("/$batch", json=unknown)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid dependency for request Id 2")
    forward = {"requests": [get("1", "/users", dependsOn=["2"]), get("2", "/users")]}
    assert (await graph.post("/$batch", json=forward)).status_code == 400


async def test_mixed_sequencing_is_rejected_by_default(app: Any, graph: httpx.AsyncClient) -> None:
    """A batch neither fully sequential nor fully parallel is a 400, unless the knob allows it."""
    mixed = {"requests": [get("1", "/users"), get("2", "/users", dependsOn=["1"]), get("3", "/groups")]}
    response = await graph.post("/$batch", json=mixed)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Batch should be either fully sequential or fully parallel."
    app.state.config.batch_reject_mixed_sequencing = False
    response = await graph.post("/$batch", json=mixed)
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["responses"]} == {200}


async def test_failed_dependency_gives_424_down_the_chain(graph: httpx.AsyncClient) -> None:
    """When an item fails, every item that depends on it (directly or not) answers 424 without running."""
    chain = {
        "requests": [
            get("1", "/users/ghost@contoso.onmicrosoft.com"),
            get("2", "/users", dependsOn=["1"]),
            get("3", "/groups", dependsOn=["2"]),
        ]
    }
    response = await graph.post("/$batch", json=chain)
    assert response.status_code == 200
    items = by_id(response.json())
    assert items["1"]["status"] == 404
    assert items["2"]["status"] == 424
    assert items["3"]["status"] == 424
    assert items["2"]["body"]["error"]["code"] == "FailedDependency"


async def test_sequential_chain_runs_in_order(app: Any, graph: httpx.AsyncClient) -> None:
    """A dependsOn chain runs one item after the other, in dependency order."""
    chain = {
        "requests": [
            get("1", "/users"),
            get("2", "/groups", dependsOn=["1"]),
            get("3", "/users", dependsOn=["2"]),
        ]
    }
    response = await graph.post("/$batch", json=chain)
    assert [r["id"] for r in response.json()["responses"]] == ["1", "2", "3"]
    assert [e.path for e in app.state.pipeline.log if e.in_batch] == ["users", "groups", "users"]


async def test_inner_429_carries_retry_after_while_batch_is_200(app: Any, graph: httpx.AsyncClient) -> None:
    """An injected 429 on an item comes back as that item's status with Retry-After in its headers."""
    faults = app.state.config.faults
    faults.rate, faults.statuses, faults.retry_after = 1.0, (429,), 2.5
    response = await graph.post("/$batch", json={"requests": [get("1", "/users"), get("2", "/groups")]})
    assert response.status_code == 200
    for item in response.json()["responses"]:
        assert item["status"] == 429
        assert item["headers"]["Retry-After"] == "2.5"


async def test_items_throttled_while_others_hold_the_mailbox(app: Any, graph: httpx.AsyncClient) -> None:
    """With two direct requests in flight on a mailbox, a 6-item batch gets 2 through and 4 inner 429s."""
    app.state.config.faults.latency_ms = 200
    urls = adele_urls(app)
    holders = [asyncio.create_task(graph.get(url)) for url in urls[:2]]
    await asyncio.sleep(0.05)
    batch = {"requests": [get(str(i), url) for i, url in enumerate(urls)]}
    response = await graph.post("/$batch", json=batch)
    assert [r.status_code for r in await asyncio.gather(*holders)] == [200, 200]
    statuses = sorted(r["status"] for r in response.json()["responses"])
    assert statuses == [200, 200, 429, 429, 429, 429]
    for item in response.json()["responses"]:
        if item["status"] == 429:
            assert item["body"]["error"]["code"] == "ApplicationThrottled"
            assert float(item["headers"]["Retry-After"]) > 0


async def test_at_most_four_items_in_flight_per_mailbox(app: Any, graph: httpx.AsyncClient) -> None:
    """Parallel items to one mailbox run at most 4 at a time, so none is throttled by the batch itself."""
    app.state.config.faults.latency_ms = 50
    urls = adele_urls(app)
    batch = {"requests": [get(str(i), urls[i % len(urls)] + f"?n={i}") for i in range(12)]}
    response = await graph.post("/$batch", json=batch)
    assert {r["status"] for r in response.json()["responses"]} == {200}
    assert app.state.world.counters.max_in_flight_per_mailbox == 4


async def test_items_for_different_mailboxes_run_in_parallel(app: Any, graph: httpx.AsyncClient) -> None:
    """The per-mailbox cap does not serialize items addressed to different mailboxes: all eight items, two
    for each of four mailboxes, are in flight at once (overlap, not elapsed time, is what is asserted)."""
    config = app.state.config
    config.faults.latency_ms = 100  # each item sleeps inside the pipeline: they overlap or queue up
    # Count in-flight requests per app rather than per app and mailbox, so that the emulator's high-water
    # mark covers the whole batch; the per-app limit is raised to stay out of the way.
    config.concurrency_scope, config.mailbox_concurrency = "app", 8
    users = ["adele", "alex", "megan", "outsider"]
    batch = {
        "requests": [get(f"{u}{i}", f"/users/{u}@contoso.onmicrosoft.com") for u in users for i in range(2)]
    }
    response = await graph.post("/$batch", json=batch)
    assert {r["status"] for r in response.json()["responses"]} == {200}
    assert app.state.world.counters.max_in_flight_per_mailbox == 8


async def test_responses_come_in_completion_order(app: Any, graph: httpx.AsyncClient) -> None:
    """Responses are listed as items finish, not in request order."""
    app.state.config.faults.latency_ms = 30
    batch = {"requests": [get(str(i), f"/users/{ADELE}?n={i}") for i in range(6)]}
    order = [r["id"] for r in (await graph.post("/$batch", json=batch)).json()["responses"]]
    assert sorted(order) == [str(i) for i in range(6)]
    assert order[:4] == ["0", "1", "2", "3"]


async def test_shuffle_knob_reorders_deterministically(app: Any) -> None:
    """batch_shuffle_responses shuffles with the seeded RNG: same seed, same order."""
    orders = []
    for _ in range(2):
        app.state.config.batch_shuffle_responses = True
        app.state.pipeline.reseed(7)
        async with httpx.AsyncClient(
            transport=EmulatorTransport(app),
            base_url="https://graph.microsoft.com/v1.0",
            headers={"Authorization": f"Bearer {mint(app)}"},
        ) as c:
            body = (
                await c.post("/$batch", json={"requests": [get(str(i), "/users?$top=1") for i in range(10)]})
            ).json()
        orders.append([r["id"] for r in body["responses"]])
    assert orders[0] == orders[1]
    assert orders[0] != [str(i) for i in range(10)]


async def test_absolute_item_url_fails_that_item(graph: httpx.AsyncClient) -> None:
    """An item URL with a scheme is answered 400 for that item only."""
    batch = {"requests": [get("1", "https://graph.microsoft.com/v1.0/users"), get("2", "/users")]}
    items = by_id((await graph.post("/$batch", json=batch)).json())
    assert items["1"]["status"] == 400
    assert items["2"]["status"] == 200


async def test_version_prefixed_item_url_names_the_version_segment(graph: httpx.AsyncClient) -> None:
    """Item URLs are relative to the version root (json-batching.md), so a kept "/v1.0" prefix is an
    unknown first segment: that item is 400 BadRequest "Resource not found for the segment 'v1.0'.", as
    Graph answers it (msgraph-sdk-javascript#1178), and the other items run."""
    batch = {"requests": [get("1", "/v1.0/me/events"), get("2", f"/v1.0/users/{ADELE}"), get("3", "/users")]}
    items = by_id((await graph.post("/$batch", json=batch)).json())
    for rid in ("1", "2"):
        assert items[rid]["status"] == 400
        error = items[rid]["body"]["error"]
        assert (error["code"], error["message"]) == (
            "BadRequest",
            "Resource not found for the segment 'v1.0'.",
        )
    assert items["3"]["status"] == 200


async def test_unknown_route_in_item_is_per_item_error(graph: httpx.AsyncClient) -> None:
    """A request the router does not know fails only its own item."""
    items = by_id(
        (await graph.post("/$batch", json={"requests": [get("1", "/nonsense"), get("2", "/users")]})).json()
    )
    assert items["1"]["status"] == 400
    assert items["2"]["status"] == 200


async def test_batch_without_token_is_401(app: Any) -> None:
    """The batch itself needs a valid token."""
    async with httpx.AsyncClient(transport=EmulatorTransport(app), base_url="https://g/v1.0") as c:
        response = await c.post("/$batch", json={"requests": [get("1", "/users")]})
    assert response.status_code == 401


async def test_dropped_item_loses_the_whole_batch(app: Any, graph: httpx.AsyncClient) -> None:
    """A dropped item's exception surfaces after every item ran, so the client sees a dropped connection."""
    faults = app.state.config.faults
    faults.commit_then_drop_rate, faults.commit_then_drop_methods = 1.0, ("GET",)
    with pytest.raises(httpx.RemoteProtocolError):
        await graph.post("/$batch", json={"requests": [get("1", "/users"), get("2", "/groups")]})
    assert sorted(e.path for e in app.state.pipeline.log if e.in_batch) == ["groups", "users"]
    assert app.state.world.counters.commit_then_drop == 2


@pytest.mark.parametrize(("dropped", "violations"), [(True, 0), (False, 1)])
async def test_only_a_received_429_makes_an_early_retry_a_violation(
    app: Any, graph: httpx.AsyncClient, dropped: bool, violations: int
) -> None:
    """A 429 inside a batch whose whole response was lost to commit-then-drop never reached the client,
    so retrying that request before its Retry-After is throttled again (the server still holds the limit)
    but is no Retry-After violation; after a delivered batch the same early retry is one."""
    faults, world = app.state.config.faults, app.state.world
    faults.rate, faults.statuses, faults.methods, faults.retry_after = 1.0, (429,), ("GET",), 5.0
    calendars = f"/users/{ADELE}/calendars"
    requests = [get("t", calendars)]
    if dropped:  # a write beside the throttled item, whose answer is lost with the whole batch
        faults.commit_then_drop_rate, faults.commit_then_drop_methods = 1.0, ("POST",)
        event = {"subject": "Lost", "start": {"dateTime": "2030-02-04T09:00:00", "timeZone": "UTC"},
                 "end": {"dateTime": "2030-02-04T10:00:00", "timeZone": "UTC"}}  # fmt: skip
        requests.append({"id": "w", "method": "POST", "url": f"/users/{ADELE}/events",
                         "headers": {"Content-Type": "application/json"}, "body": event})  # fmt: skip
        with pytest.raises(httpx.RemoteProtocolError):
            await graph.post("/$batch", json={"requests": requests})
    else:
        item = (await graph.post("/$batch", json={"requests": requests})).json()["responses"][0]
        assert (item["status"], item["headers"]["Retry-After"]) == (429, "5")
    faults.rate = faults.commit_then_drop_rate = 0.0
    world.clock.advance(1.0)  # well inside the 5 s Retry-After, well past the in-flight grace
    retry = await graph.get(calendars)
    assert retry.status_code == 429
    assert world.counters.retry_after_violations == violations


async def test_run_batch_raises_connection_dropped(app: Any) -> None:
    """run_batch itself re-raises ConnectionDropped (the transport turns it into a reset)."""
    from graphemu.graph.batch import run_batch
    from graphemu.graph.router import GraphRequest, Principal

    faults = app.state.config.faults
    faults.commit_then_drop_rate, faults.commit_then_drop_methods = 1.0, ("GET",)
    principal = Principal(
        tenant_id=app.state.world.find_user(ADELE).tenant_id,
        client_id=next(iter(app.state.world.apps)),
        roles=frozenset({"User.Read.All"}),
    )
    req = GraphRequest("POST", "$batch", {}, {}, {"requests": [get("1", "/users")]}, principal, "r", "c")
    with pytest.raises(ConnectionDropped):
        await run_batch(app.state.pipeline, req)


async def test_batch_writes_create_and_delete(app: Any, graph: httpx.AsyncClient) -> None:
    """A batch POST creates an event (201 with its JSON) and a dependent DELETE answers 204 without a body."""
    event = {
        "subject": "Batched",
        "start": {"dateTime": "2030-02-04T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-02-04T10:00:00", "timeZone": "UTC"},
    }
    json_type = {"Content-Type": "application/json"}
    created = await graph.post(
        "/$batch", json={"requests": [{"id": "c", "method": "POST", "url": f"/users/{ADELE}/events",
                                       "headers": json_type, "body": event}]},
    )  # fmt: skip
    item = created.json()["responses"][0]
    assert item["status"] == 201
    event_id = item["body"]["id"]
    deleted = await graph.post("/$batch", json={"requests": [
        {"id": "d", "method": "DELETE", "url": f"/users/{ADELE}/events/{event_id}"},
        {"id": "g", "method": "GET", "url": f"/users/{ADELE}/events/{event_id}", "dependsOn": ["d"]},
    ]})  # fmt: skip
    items = by_id(deleted.json())
    assert items["d"]["status"] == 204
    assert "body" not in items["d"]
    assert items["g"]["status"] == 404


async def test_counters_count_envelopes_apart_from_their_items(app: Any, graph: httpx.AsyncClient) -> None:
    """`requests` counts each item of a batch as one Graph request, `batches` the envelopes (benchmarks
    report HTTP requests that carry writes from it), an invalid one too."""
    counters = app.state.world.counters
    before = (counters.requests, counters.batches)
    three = {"requests": [get(str(i), f"/users/{ADELE}?n={i}") for i in range(3)]}
    assert (await graph.post("/$batch", json=three)).status_code == 200
    assert (await graph.post("/$batch", json={"requests": "not a list"})).status_code == 400
    assert (counters.requests - before[0], counters.batches - before[1]) == (3, 2)
