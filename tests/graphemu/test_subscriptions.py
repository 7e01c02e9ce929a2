"""Subscriptions and change notifications: creation rules, the validation handshake, renewal, delivery."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from graphemu import ids
from graphemu.testing import EmulatorTransport
from graphemu.world import Event, World
from tests.graphemu.conftest import CLIENT, TENANT, mint

HOOK = "https://hooks.example.com/notify?tenant=contoso"
LIFECYCLE = "https://hooks.example.com/lifecycle"


@dataclass
class Receiver:
    """A webhook endpoint: echoes validation tokens and records notification POSTs."""

    status: int = 202
    lifecycle_status: int = 202
    validation: str = "echo"  # echo | wrong | json | fail | slow
    validations: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)

    def asgi(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            token = request.query_params.get("validationToken")
            if token is not None:
                self.validations.append(
                    {
                        "path": request.url.path,
                        "raw_query": request.url.query,
                        "content_type": request.headers.get("content-type"),
                        "body": await request.body(),
                        "token": token,
                    }
                )
                if self.validation == "slow":
                    await asyncio.sleep(1)
                if self.validation == "wrong":
                    return PlainTextResponse(token + "x")
                if self.validation == "json":
                    return JSONResponse(token)
                if self.validation == "fail":
                    return Response(status_code=500)
                return PlainTextResponse(token)
            self.posts.append(
                {
                    "path": request.url.path,
                    "query": dict(request.query_params),
                    "content_type": request.headers.get("content-type"),
                    "body": await request.json(),
                }
            )
            return Response(
                status_code=self.lifecycle_status if request.url.path == "/lifecycle" else self.status
            )

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])

    def items(self, path: str = "/notify") -> list[dict[str, Any]]:
        return [item for post in self.posts if post["path"] == path for item in post["body"]["value"]]


@pytest.fixture
def receiver(app: Any) -> Receiver:
    hook = Receiver()
    app.state.world.extra["notification_transport"] = httpx.ASGITransport(app=hook.asgi())
    return hook


def _world(app: Any) -> World:
    world: World = app.state.world
    return world


def _uid(app: Any, upn: str) -> str:
    user = _world(app).find_user(upn)
    assert user is not None
    return user.id


def _later(app: Any, minutes: float) -> str:
    return (_world(app).clock.now() + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _body(app: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": HOOK,
        "resource": f"/users/{_uid(app, 'adele@contoso.onmicrosoft.com')}/events",
        "expirationDateTime": _later(app, 60),
        "clientState": "s3cret-state",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _add_event(app: Any, upn: str, calendar_id: str | None = None) -> Event:
    world = _world(app)
    owner = _uid(app, upn)
    now = world.clock.now()
    event = Event(
        id=ids.exchange_id(),
        owner_id=owner,
        calendar_id=calendar_id or world.default_calendar(owner).id,
        props={"subject": "Lesson"},
        start_utc=now,
        end_utc=now + timedelta(hours=1),
        created=now,
        modified=now,
    )
    return world.put_event(event, "created")


async def _drain(control: httpx.AsyncClient) -> None:
    response = await control.post("/_emu/notifications/drain")
    assert response.status_code == 200


async def test_create_returns_201_with_the_subscription_entity(app, graph, receiver) -> None:
    """POST /subscriptions answers 201 with every schema property, clientState and defaults."""
    response = await graph.post("/subscriptions", json=_body(app))
    assert response.status_code == 201
    sub = response.json()
    assert sub["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"
    assert sub["applicationId"] == CLIENT
    assert sub["clientState"] == "s3cret-state"
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["latestSupportedTlsVersion"] == "v1_2"
    assert sub["lifecycleNotificationUrl"] is None
    assert sub["notificationUrl"] == HOOK
    assert sub["expirationDateTime"].endswith("0Z")
    assert len(sub["expirationDateTime"].split(".")[1]) == 8
    assert set(sub) >= {
        "id",
        "resource",
        "creatorId",
        "includeResourceData",
        "encryptionCertificate",
        "encryptionCertificateId",
        "notificationQueryOptions",
        "notificationUrlAppId",
    }


async def test_handshake_posts_an_url_encoded_token_as_text_plain(app, graph, receiver) -> None:
    """The handshake is a POST with an empty text/plain body, a form-encoded token and the URL's own query."""
    response = await graph.post("/subscriptions", json=_body(app), headers={"client-request-id": "c1"})
    assert response.status_code == 201
    [check] = receiver.validations
    assert check["path"] == "/notify"
    assert check["content_type"] == "text/plain; charset=utf-8"
    assert check["body"] == b""
    query = parse_qs(check["raw_query"])
    assert query["tenant"] == ["contoso"]
    assert "+" in check["raw_query"]
    assert "%3a" in check["raw_query"]
    assert check["token"] == query["validationToken"][0]
    assert check["token"].startswith("Validation: Testing client application reachability")


async def test_lifecycle_url_is_validated_too(app, graph, receiver) -> None:
    """Both notificationUrl and lifecycleNotificationUrl get a handshake before the subscription exists."""
    response = await graph.post("/subscriptions", json=_body(app, lifecycleNotificationUrl=LIFECYCLE))
    assert response.status_code == 201
    assert [v["path"] for v in receiver.validations] == ["/notify", "/lifecycle"]
    assert response.json()["lifecycleNotificationUrl"] == LIFECYCLE


@pytest.mark.parametrize("mode", ["wrong", "json", "fail"])
async def test_failed_handshake_is_400_and_creates_nothing(app, graph, receiver, mode) -> None:
    """A wrong echo, a non-text/plain answer or a non-200 status fails creation with ValidationError."""
    receiver.validation = mode
    response = await graph.post("/subscriptions", json=_body(app))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "ValidationError"
    assert error["message"].startswith("Subscription validation request failed.")
    assert (await graph.get("/subscriptions")).json()["value"] == []


async def test_slow_handshake_times_out_with_invalid_request(app, config, graph, receiver) -> None:
    """An endpoint slower than the validation timeout gets 400 InvalidRequest 'timed out'."""
    config.notification_validation_timeout_seconds = 0.05
    receiver.validation = "slow"
    response = await graph.post("/subscriptions", json=_body(app))
    assert response.status_code == 400
    assert response.json()["error"] == response.json()["error"] | {
        "code": "InvalidRequest",
        "message": "Subscription validation request timed out.",
    }


async def test_http_notification_url_needs_the_config_switch(app, config, graph, receiver) -> None:
    """http:// is refused with Graph's message unless allow_http_notification_url is on."""
    response = await graph.post(
        "/subscriptions", json=_body(app, notificationUrl="http://hooks.example.com/n")
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "NotificationUrl scheme='http' is not supported."
    assert receiver.validations == []
    config.allow_http_notification_url = True
    response = await graph.post(
        "/subscriptions", json=_body(app, notificationUrl="http://hooks.example.com/n")
    )
    assert response.status_code == 201


async def test_expiration_must_be_future_and_within_the_maximum(app, config, graph, receiver) -> None:
    """Expiry beyond subscription_max_minutes, in the past or missing is a 400."""
    too_far = await graph.post("/subscriptions", json=_body(app, expirationDateTime=_later(app, 10_081)))
    assert too_far.status_code == 400
    assert too_far.json()["error"]["code"] == "ExtensionError"
    assert (
        too_far.json()["error"]["message"]
        == "Subscription expiration can only be 10080 minutes in the future."
    )
    past = await graph.post("/subscriptions", json=_body(app, expirationDateTime=_later(app, -1)))
    assert past.status_code == 400
    missing = await graph.post("/subscriptions", json=_body(app, expirationDateTime=None))
    assert missing.status_code == 400
    config.subscription_max_minutes = 60
    assert (
        await graph.post("/subscriptions", json=_body(app, expirationDateTime=_later(app, 61)))
    ).status_code == 400
    assert (
        await graph.post("/subscriptions", json=_body(app, expirationDateTime=_later(app, 59)))
    ).status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [
        {"changeType": "created,moved"},
        {"changeType": None},
        {"clientState": "x" * 129},
        {"latestSupportedTlsVersion": "v2_0"},
        {"resource": "/users/adele@contoso.onmicrosoft.com/messages"},
        {"resource": "/users/adele@contoso.onmicrosoft.com/calendarView"},
        {"resource": "/me/events"},
        {"notificationUrl": "not a url"},
        {"includeResourceData": True},
    ],
)
async def test_invalid_requests_are_400(app, graph, receiver, overrides) -> None:
    """Bad changeType, clientState over 128 characters, unsupported resources and the like are 400."""
    response = await graph.post("/subscriptions", json=_body(app, **overrides))
    assert response.status_code == 400
    assert receiver.validations == []


async def test_resource_by_upn_and_calendar_forms_are_accepted(app, graph, receiver) -> None:
    """users/{upn}/events, users/{id}/calendar/events and users/{id}/calendars/{id}/events are accepted."""
    adele = _uid(app, "adele@contoso.onmicrosoft.com")
    calendar = _world(app).default_calendar(adele).id
    for resource in (
        "users/Adele@contoso.onmicrosoft.com/events",
        f"/users/{adele}/calendar/events",
        f"/users('{adele}')/calendars/{calendar}/events",
    ):
        response = await graph.post("/subscriptions", json=_body(app, resource=resource))
        assert response.status_code == 201, response.text
        assert response.json()["resource"] == resource


async def test_mailbox_outside_the_access_policy_is_403_extension_error(app, graph, receiver) -> None:
    """A mailbox the application access policy excludes answers Graph's wrapped ExtensionError."""
    response = await graph.post(
        "/subscriptions", json=_body(app, resource="/users/outsider@contoso.onmicrosoft.com/events")
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "ExtensionError"
    assert error["message"] == (
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access to OData is disabled.]"
    )
    assert receiver.validations == []


async def test_missing_permission_is_403_access_denied(app, receiver) -> None:
    """A token without Calendars.Read (or better) cannot subscribe."""
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {mint(app, roles=['User.Read.All'])}"},
    ) as client:
        response = await client.post("/subscriptions", json=_body(app))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ErrorAccessDenied"


async def test_delegated_subscription_reaches_only_the_signed_in_mailbox(app, graph, receiver) -> None:
    """/me/events works with a user token; another user's mailbox is refused; the creator is the user."""
    token = mint(app, user="adele@contoso.onmicrosoft.com", scopes=["Calendars.Read"])
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        mine = await client.post("/subscriptions", json=_body(app, resource="/me/events"))
        other = await client.post(
            "/subscriptions", json=_body(app, resource="/users/alex@contoso.onmicrosoft.com/events")
        )
    assert mine.status_code == 201
    assert mine.json()["creatorId"] == _uid(app, "adele@contoso.onmicrosoft.com")
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "ExtensionError"
    assert [s["id"] for s in (await graph.get("/subscriptions")).json()["value"]] == [mine.json()["id"]]


async def test_list_withholds_client_state_and_get_returns_it(app, graph, receiver) -> None:
    """GET /subscriptions lists this app's subscriptions with clientState null; GET by id includes it."""
    created = (await graph.post("/subscriptions", json=_body(app))).json()
    listed = (await graph.get("/subscriptions")).json()
    assert listed["@odata.context"].endswith("$metadata#subscriptions")
    assert [s["id"] for s in listed["value"]] == [created["id"]]
    assert listed["value"][0]["clientState"] is None
    one = (await graph.get(f"/subscriptions/{created['id']}")).json()
    assert one["clientState"] == "s3cret-state"


async def test_another_app_cannot_see_or_delete_the_subscription(app, graph, receiver) -> None:
    """Subscriptions belong to the creating app: others get 404 ResourceNotFound and an empty list."""
    created = (await graph.post("/subscriptions", json=_body(app))).json()
    token = mint(app, client_id="22222222-2222-4333-8444-555555555555")
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {token}"},
    ) as other:
        assert (await other.get("/subscriptions")).json()["value"] == []
        response = await other.delete(f"/subscriptions/{created['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"


async def test_patch_renews_and_guards_the_lifecycle_url(app, config, graph, receiver) -> None:
    """PATCH extends expirationDateTime (within the maximum); a new lifecycleNotificationUrl is refused."""
    created = (await graph.post("/subscriptions", json=_body(app))).json()
    url = f"/subscriptions/{created['id']}"
    renewed = await graph.patch(url, json={"expirationDateTime": _later(app, 600)})
    assert renewed.status_code == 200
    assert datetime.fromisoformat(renewed.json()["expirationDateTime"]) > datetime.fromisoformat(
        created["expirationDateTime"]
    )
    assert (await graph.patch(url, json={"expirationDateTime": _later(app, 20_000)})).status_code == 400
    assert (await graph.patch(url, json={"lifecycleNotificationUrl": LIFECYCLE})).status_code == 400
    assert (await graph.patch(url, json={})).status_code == 400


async def test_delete_is_204_and_stops_notifications(app, graph, control, receiver) -> None:
    """DELETE answers 204, the id is gone (404) and later changes are not delivered."""
    created = (await graph.post("/subscriptions", json=_body(app))).json()
    assert (await graph.delete(f"/subscriptions/{created['id']}")).status_code == 204
    assert (await graph.get(f"/subscriptions/{created['id']}")).status_code == 404
    _add_event(app, "adele@contoso.onmicrosoft.com")
    await _drain(control)
    assert receiver.posts == []


async def test_created_updated_deleted_are_delivered_with_graph_shape(app, graph, control, receiver) -> None:
    """Each change POSTs {"value": [...]} with resource, resourceData, etag, clientState and tenantId."""
    sub = (await graph.post("/subscriptions", json=_body(app))).json()
    world = _world(app)
    event = _add_event(app, "adele@contoso.onmicrosoft.com")
    created_key = event.change_key
    world.put_event(event, "updated")
    world.remove_event(event.owner_id, event.id)
    await _drain(control)
    assert [p["query"] for p in receiver.posts] == [{"tenant": "contoso"}] * 3
    assert all(p["content_type"].startswith("application/json") for p in receiver.posts)
    items = receiver.items()
    assert [i["changeType"] for i in items] == ["created", "updated", "deleted"]
    path = f"Users/{event.owner_id}/Events/{event.id}"
    first = items[0]
    assert first["subscriptionId"] == sub["id"]
    assert first["clientState"] == "s3cret-state"
    assert first["tenantId"] == TENANT
    assert first["resource"] == path
    assert first["resourceData"] == {
        "@odata.type": "#Microsoft.Graph.Event",
        "@odata.id": path,
        "@odata.etag": f'W/"{created_key}"',
        "id": event.id,
    }
    assert items[1]["resourceData"]["@odata.etag"] == f'W/"{event.change_key}"'
    assert datetime.fromisoformat(first["subscriptionExpirationDateTime"]) == datetime.fromisoformat(
        sub["expirationDateTime"]
    )


async def test_only_subscribed_change_types_calendars_and_mailboxes_notify(
    app, graph, control, receiver
) -> None:
    """changeType filters kinds; a calendar resource filters calendars; other mailboxes are never reported."""
    world = _world(app)
    adele = _uid(app, "adele@contoso.onmicrosoft.com")
    other_calendar = world.add_calendar(adele, "Timetable")
    await graph.post("/subscriptions", json=_body(app, changeType="created", clientState=None))
    await graph.post(
        "/subscriptions",
        json=_body(
            app,
            resource=f"/users/{adele}/calendars/{other_calendar.id}/events",
            notificationUrl="https://hooks.example.com/cal",
        ),
    )
    event = _add_event(app, "adele@contoso.onmicrosoft.com")
    world.put_event(event, "updated")
    _add_event(app, "alex@contoso.onmicrosoft.com")
    in_other = _add_event(app, "adele@contoso.onmicrosoft.com", calendar_id=other_calendar.id)
    await _drain(control)
    notified = receiver.items()
    assert [(i["changeType"], i["resourceData"]["id"]) for i in notified] == [
        ("created", event.id),
        ("created", in_other.id),
    ]
    assert notified[0]["clientState"] is None
    assert [i["resourceData"]["id"] for i in receiver.items("/cal")] == [in_other.id]


async def test_batching_puts_several_subscriptions_in_one_post(app, config, graph, control, receiver) -> None:
    """With notification_batch on, due notifications for one URL go out together, across subscriptions."""
    config.notification_batch = True
    await graph.post("/subscriptions", json=_body(app))
    await graph.post("/subscriptions", json=_body(app, resource="/users/alex@contoso.onmicrosoft.com/events"))
    for upn in (
        "adele@contoso.onmicrosoft.com",
        "alex@contoso.onmicrosoft.com",
        "adele@contoso.onmicrosoft.com",
    ):
        _add_event(app, upn)
    await _drain(control)
    assert len(receiver.posts) == 1
    items = receiver.posts[0]["body"]["value"]
    assert len(items) == 3
    assert len({i["subscriptionId"] for i in items}) == 2


async def test_duplicates_repeat_a_notification_with_the_same_id(
    app, config, graph, control, receiver
) -> None:
    """notification_duplicate_rate 1.0 delivers every notification twice, in separate POSTs."""
    config.notification_duplicate_rate = 1.0
    await graph.post("/subscriptions", json=_body(app))
    _add_event(app, "adele@contoso.onmicrosoft.com")
    await _drain(control)
    assert len(receiver.posts) == 2
    first, second = receiver.items()
    assert first == second


async def test_reorder_shuffles_deliveries_deterministically(app, config, graph, control, receiver) -> None:
    """notification_reorder delivers the same notifications in a seeded, different order."""
    config.notification_batch = True
    config.notification_reorder = True
    await graph.post("/subscriptions", json=_body(app))
    events = [_add_event(app, "adele@contoso.onmicrosoft.com").id for _ in range(10)]
    await _drain(control)
    delivered = [i["resourceData"]["id"] for i in receiver.items()]
    assert sorted(delivered) == sorted(events)
    assert delivered != events


async def test_failed_delivery_is_retried_with_backoff(app, graph, control, receiver) -> None:
    """A non-2xx answer is retried later on the emulator clock; the log records each attempt."""
    await graph.post("/subscriptions", json=_body(app))
    receiver.status = 503
    _add_event(app, "adele@contoso.onmicrosoft.com")
    await _drain(control)
    assert len(receiver.posts) == 1
    await _drain(control)
    assert len(receiver.posts) == 1  # the retry is not due yet
    receiver.status = 202
    _world(app).clock.advance(31)
    await _drain(control)
    assert receiver.items()[0] == receiver.items()[1]
    log = [e for e in (await control.get("/_emu/notifications")).json()["value"] if e["payload"]]
    assert [(e["status"], e["attempt"], e["outcome"]) for e in log] == [
        (503, 1, "failed"),
        (202, 2, "delivered"),
    ]


async def test_undeliverable_notification_is_dropped_after_4h_with_missed(
    app, graph, control, receiver
) -> None:
    """After four hours of failures the notification is dropped and a `missed` lifecycle event is sent."""
    await graph.post(
        "/subscriptions",
        json=_body(app, lifecycleNotificationUrl=LIFECYCLE, expirationDateTime=_later(app, 600)),
    )
    receiver.status = 500
    _add_event(app, "adele@contoso.onmicrosoft.com")
    await _drain(control)
    for _ in range(12):
        _world(app).clock.advance(3600)
        await _drain(control)
    log = _world(app).extra["notifications_log"]
    assert [e["outcome"] for e in log if e["outcome"] == "dropped"] == ["dropped"]
    assert 5 <= len(receiver.items()) <= 12
    assert [i["lifecycleEvent"] for i in receiver.items("/lifecycle")] == ["missed"]


async def test_expired_subscription_stops_delivering_and_disappears(app, graph, control, receiver) -> None:
    """Past expirationDateTime a subscription gets no notifications and answers 404."""
    sub = (await graph.post("/subscriptions", json=_body(app, expirationDateTime=_later(app, 50)))).json()
    _world(app).clock.advance(51 * 60)
    _add_event(app, "adele@contoso.onmicrosoft.com")
    await _drain(control)
    assert receiver.posts == []
    assert (await graph.get(f"/subscriptions/{sub['id']}")).status_code == 404
    assert (await graph.get("/subscriptions")).json()["value"] == []


async def test_lifecycle_events_reach_the_lifecycle_url(app, graph, control, receiver) -> None:
    """The control API sends reauthorizationRequired, missed and subscriptionRemoved (which deletes)."""
    sub = (await graph.post("/subscriptions", json=_body(app, lifecycleNotificationUrl=LIFECYCLE))).json()
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        response = await control.post(f"/_emu/subscriptions/{sub['id']}/lifecycle", json={"event": event})
        assert response.status_code == 202
        assert response.json() == {"sent": True}
    await _drain(control)
    items = receiver.items("/lifecycle")
    assert [i["lifecycleEvent"] for i in items] == [
        "reauthorizationRequired",
        "missed",
        "subscriptionRemoved",
    ]
    assert set(items[0]) == {
        "subscriptionId",
        "subscriptionExpirationDateTime",
        "tenantId",
        "clientState",
        "lifecycleEvent",
    }
    assert items[0]["clientState"] == "s3cret-state"
    assert (await graph.get(f"/subscriptions/{sub['id']}")).status_code == 404


async def test_reauthorization_pauses_delivery_until_reauthorize(app, graph, control, receiver) -> None:
    """After a challenge and its grace period changes are lost; POST /reauthorize (204) resumes delivery."""
    sub = (await graph.post("/subscriptions", json=_body(app, lifecycleNotificationUrl=LIFECYCLE))).json()
    await control.post(
        f"/_emu/subscriptions/{sub['id']}/lifecycle", json={"event": "reauthorizationRequired"}
    )
    _world(app).clock.advance(601)
    _add_event(app, "adele@contoso.onmicrosoft.com")
    await _drain(control)
    assert receiver.items() == []
    assert (await graph.post(f"/subscriptions/{sub['id']}/reauthorize")).status_code == 204
    resumed = _add_event(app, "adele@contoso.onmicrosoft.com")
    await _drain(control)
    assert [i["resourceData"]["id"] for i in receiver.items()] == [resumed.id]


async def test_mailbox_subscription_limit(app, config, graph, receiver) -> None:
    """Past the per-mailbox limit a new subscription is refused with 403 ExtensionError."""
    config.subscriptions_per_mailbox = 2
    for _ in range(2):
        assert (await graph.post("/subscriptions", json=_body(app))).status_code == 201
    response = await graph.post("/subscriptions", json=_body(app))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ExtensionError"
    other = await graph.post(
        "/subscriptions", json=_body(app, resource="/users/alex@contoso.onmicrosoft.com/events")
    )
    assert other.status_code == 201


async def test_event_created_over_graph_is_notified(app, graph, control, receiver) -> None:
    """An event created through POST /users/{id}/events produces a `created` notification for its id."""
    await graph.post("/subscriptions", json=_body(app))
    response = await graph.post(
        "/users/adele@contoso.onmicrosoft.com/events",
        json={
            "subject": "Maths",
            "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
        },
    )
    assert response.status_code == 201
    await _drain(control)
    [item] = receiver.items()
    assert item["changeType"] == "created"
    assert item["resourceData"]["id"] == response.json()["id"]
