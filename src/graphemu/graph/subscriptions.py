"""Graph routes for change-notification subscriptions to Outlook events (graph-facts §8).

    POST   /subscriptions                  validate, handshake with the endpoint(s), 201 + subscription
    GET    /subscriptions                  this app's subscriptions (clientState withheld, as Graph does)
    GET    /subscriptions/{id}             PATCH (renew / new notificationUrl)   DELETE -> 204
    POST   /subscriptions/{id}/reauthorize -> 204, answers a reauthorizationRequired challenge

Creation is an async handler: it must POST `?validationToken=` to notificationUrl (and
lifecycleNotificationUrl) and wait for the echo before answering, as Graph does. Delivery lives in
`graphemu.notify`. Errors use the texts seen from the service where known: ExtensionError for the access
policy (graph-facts §9) and the expiry limit, InvalidRequest "NotificationUrl scheme='http' is not
supported.", ValidationError / InvalidRequest for a failed or timed-out handshake, and 404
ResourceNotFound "The object was not found." for an unknown subscription id.

CHOICE: resources accepted are `me|users/{id|upn}` + `/events` (documented), `/calendar/events` and
`/calendars/{id}/events` (used in the wild); a query string (`$filter`, `$select`) is kept in `resource` but
not applied, so such a subscription hears about every change. Other resources answer 400 InvalidRequest.
CHOICE: errors resolving the mailbox at creation keep their status and are wrapped as Graph wraps the
policy error: ExtensionError "Operation: Create; Exception: [Status Code: <reason>; Reason: <message>]";
PATCH and reauthorize re-check access the same way with "Operation: Update" / "Operation: Reauthorize".
CHOICE: an expiry not in the future is 400 ExtensionError "Subscription expiration must be in the future.";
an expirationDateTime without offset is taken as UTC; minimum lifetimes are not raised (to 45 min).
CHOICE: the per-mailbox limit (1,000 across apps) answers 403 ExtensionError with a Forbidden reason.
CHOICE: includeResourceData=true (rich notifications) answers 400: graphemu does not encrypt resource data.
CHOICE: PATCH changes only expirationDateTime and notificationUrl (a new URL is validated again); a
different lifecycleNotificationUrl is 400; other properties are ignored. Expired subscriptions vanish (404).
CHOICE: messages for a missing property, a bad changeType, a clientState over 128 characters or an unknown
latestSupportedTlsVersion are graphemu's own wording (400 InvalidRequest); branch on status and code.
Knobs read with defaults until EmulatorConfig has them: allow_http_notification_url (False),
subscriptions_per_mailbox (1000); notify.py reads the notification timeouts and the reauthorization grace.
CHOICE: the validation token is Graph's observed text, "Validation: Testing client application
reachability for subscription Request-Id: <request-id>", form-encoded (`+` for spaces, lower-case escapes).

The Subscription and its store are in `graphemu.graph.subscription_store`; the test control API
(`control_routes`, re-exported here) is in `graphemu.graph.subscription_control`.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from graphemu import notify
from graphemu.errors import GraphError
from graphemu.graph.access import resolve_mailbox
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Principal, Router, split_path
from graphemu.graph.subscription_control import control_routes
from graphemu.graph.subscription_store import Subscription, to_json
from graphemu.notify import validate_endpoint
from graphemu.world import User

__all__ = ["control_routes", "install", "router", "to_json"]

router = Router()
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
_NOT_FOUND = ("ResourceNotFound", "The object was not found.")


def install(ctx: Context) -> None:
    """Hook the notifier into the world's change listeners (once per World)."""
    notify.notifier(ctx)


def _invalid(message: str, code: str = "InvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def _extension(operation: str, status: int, reason: str) -> GraphError:
    phrase = HTTPStatus(status).phrase.replace(" ", "")
    return GraphError(
        status,
        "ExtensionError",
        f"Operation: {operation}; Exception: [Status Code: {phrase}; Reason: {reason}]",
    )


def _mailbox(ctx: Context, principal: Principal, key: str, operation: str) -> User:
    try:
        return resolve_mailbox(ctx, principal, key)
    except GraphError as exc:
        raise _extension(operation, exc.status, exc.message) from None


def _url(value: Any, name: str, ctx: Context) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(f"{name} is a required property for subscription creation.")
    parts = urlsplit(value)
    allowed = ("https", "http") if ctx.config.allow_http_notification_url else ("https",)
    if parts.scheme.lower() == "http" and "http" not in allowed:
        prefix = "NotificationUrl" if name == "notificationUrl" else "LifecycleNotificationUrl"
        raise _invalid(f"{prefix} scheme='http' is not supported.")
    if parts.scheme.lower() not in allowed or not parts.hostname:
        raise _invalid(f"Invalid notification url='{value}'.")
    return value


def _expiration(ctx: Context, value: Any) -> datetime:
    if value is None:
        raise _invalid("expirationDateTime is a required property for subscription creation.")
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise _invalid(
            f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset'.", "BadRequest"
        ) from None
    parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    now = ctx.world.clock.now()
    limit = ctx.config.subscription_max_minutes
    if parsed <= now:
        raise _invalid("Subscription expiration must be in the future.", "ExtensionError")
    if parsed > now + timedelta(minutes=limit):
        raise _invalid(
            f"Subscription expiration can only be {limit} minutes in the future.", "ExtensionError"
        )
    return parsed


def _ticks(value: Any) -> int:
    """The 100 ns digit of an expirationDateTime: Graph keeps DateTimeOffset to 7 digits and echoes them
    (subscription-post-subscriptions.md sends and gets back "...45.9356913Z"); datetime stops at 6."""
    match = re.search(r"\.\d{6}(\d)", str(value))
    return int(match[1]) if match else 0


def _resource(ctx: Context, req: GraphRequest, resource: Any) -> tuple[User, str | None]:
    """The watched mailbox and calendar (None: every calendar) of an event resource path."""
    if not isinstance(resource, str) or not resource.strip("/ "):
        raise _invalid("resource is a required property for subscription creation.")
    segments = split_path(resource.split("?", 1)[0], req.principal)
    lowered = [s.lower() for s in segments]
    if (
        len(segments) < 3
        or lowered[0] != "users"
        or lowered[-1] != "events"
        or len(segments) not in (3, 4, 5)
    ):
        raise _invalid(f"Resource '{resource}' is not supported for change notifications.")
    if len(segments) == 4 and lowered[2] != "calendar":
        raise _invalid(f"Resource '{resource}' is not supported for change notifications.")
    if len(segments) == 5 and lowered[2] != "calendars":
        raise _invalid(f"Resource '{resource}' is not supported for change notifications.")
    mailbox = _mailbox(ctx, req.principal, segments[1], "Create")
    if len(segments) == 3:
        return mailbox, None
    if len(segments) == 4:
        return mailbox, ctx.world.default_calendar(mailbox.id).id
    if segments[3] not in ctx.world.calendars.get(mailbox.id, {}):
        raise _extension("Create", 404, "The specified object was not found in the store.")
    return mailbox, segments[3]


def _change_types(value: Any) -> frozenset[str]:
    if not isinstance(value, str) or not value.strip():
        raise _invalid("changeType is a required property for subscription creation.")
    kinds = frozenset(part.strip().lower() for part in value.split(","))
    unknown = kinds - CHANGE_TYPES
    if unknown or "" in kinds:
        raise _invalid(f"Invalid changeType '{value}'. Supported values are created, updated and deleted.")
    return kinds


def creator_id(principal: Principal) -> str:
    """A delegated caller's user id, else a stable stand-in for the app's service principal object id."""
    if principal.user_id:
        return principal.user_id
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphemu:sp:{principal.tenant_id}:{principal.client_id}"))


@router.route("POST", "subscriptions", permission="Calendars.Read")
async def create_subscription(ctx: Context, req: GraphRequest) -> GraphResponse:
    body = req.body if isinstance(req.body, dict) else {}
    fields = {k.lower(): v for k, v in body.items()}
    change_types = _change_types(fields.get("changetype"))
    notification_url = _url(fields.get("notificationurl"), "notificationUrl", ctx)
    lifecycle = fields.get("lifecyclenotificationurl")
    lifecycle_url = _url(lifecycle, "lifecycleNotificationUrl", ctx) if lifecycle is not None else None
    expiration = _expiration(ctx, fields.get("expirationdatetime"))
    client_state = fields.get("clientstate")
    if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
        raise _invalid("clientState must be a string of at most 128 characters.")
    tls = fields.get("latestsupportedtlsversion") or "v1_2"
    if tls not in TLS_VERSIONS:
        raise _invalid(
            f"Invalid latestSupportedTlsVersion '{tls}'. Supported values are {', '.join(TLS_VERSIONS)}."
        )
    include = fields.get("includeresourcedata")
    if include is True:
        raise _invalid(
            "includeResourceData (rich notifications) is not supported by graphemu.", "NotSupported"
        )
    mailbox, calendar_id = _resource(ctx, req, fields.get("resource"))
    note = notify.notifier(ctx)
    now = ctx.world.clock.now()
    limit = ctx.config.subscriptions_per_mailbox
    if len(note.store.active_for_owner(mailbox.id, now)) >= limit:
        raise _extension("Create", 403, f"The mailbox has reached its limit of {limit} active subscriptions.")
    await validate_endpoint(ctx, notification_url, req.request_id)
    if lifecycle_url is not None:
        await validate_endpoint(ctx, lifecycle_url, req.request_id)
    sub = Subscription(
        id=str(uuid.uuid4()),
        tenant_id=req.principal.tenant_id,
        application_id=req.principal.client_id,
        creator_id=creator_id(req.principal),
        owner_id=mailbox.id,
        calendar_id=calendar_id,
        resource=str(fields["resource"]),
        change_types=change_types,
        change_type=str(fields["changetype"]),
        notification_url=notification_url,
        lifecycle_url=lifecycle_url,
        expiration=expiration,
        expiration_ticks=_ticks(fields.get("expirationdatetime")),
        client_state=client_state,
        tls_version=tls,
        include_resource_data=include if isinstance(include, bool) else None,
        delegated_user_id=req.principal.user_id,
    )
    note.store.add(sub)
    body_out = {"@odata.context": ctx.context_url("subscriptions/$entity"), **to_json(ctx, sub)}
    return GraphResponse(201, body_out)


def _own(ctx: Context, req: GraphRequest, sub_id: str) -> Subscription:
    """A live subscription this caller created (same app and tenant; same user when delegated), else 404."""
    store = notify.notifier(ctx).store
    sub = store.by_id.get(sub_id)
    if sub is not None and not sub.active(ctx.world.clock.now()):
        store.remove(sub_id)
        sub = None
    p = req.principal
    if sub is None or sub.application_id != p.client_id or sub.tenant_id != p.tenant_id:
        raise GraphError(404, *_NOT_FOUND)
    if p.user_id is not None and sub.delegated_user_id != p.user_id:
        raise GraphError(404, *_NOT_FOUND)
    return sub


@router.route("GET", "subscriptions", permission="Calendars.Read")
def list_subscriptions(ctx: Context, req: GraphRequest) -> GraphResponse:
    store = notify.notifier(ctx).store
    store.purge_expired(ctx.world.clock.now())
    p = req.principal
    mine = [
        to_json(ctx, s, client_state=False)
        for s in store.by_id.values()
        if s.application_id == p.client_id
        and s.tenant_id == p.tenant_id
        and (p.user_id is None or s.delegated_user_id == p.user_id)
    ]
    return GraphResponse(200, {"@odata.context": ctx.context_url("subscriptions"), "value": mine})


@router.route("GET", "subscriptions/{sub_id}", permission="Calendars.Read")
def get_subscription(ctx: Context, req: GraphRequest, sub_id: str) -> GraphResponse:
    sub = _own(ctx, req, sub_id)
    return GraphResponse(
        200, {"@odata.context": ctx.context_url("subscriptions/$entity"), **to_json(ctx, sub)}
    )


@router.route("PATCH", "subscriptions/{sub_id}", permission="Calendars.Read")
async def update_subscription(ctx: Context, req: GraphRequest, sub_id: str) -> GraphResponse:
    sub = _own(ctx, req, sub_id)
    body = req.body if isinstance(req.body, dict) else {}
    fields = {k.lower(): v for k, v in body.items()}
    if fields.get("expirationdatetime") is None and fields.get("notificationurl") is None:
        raise _invalid(
            "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property "
            "and its value."
        )
    if "lifecyclenotificationurl" in fields and fields["lifecyclenotificationurl"] != sub.lifecycle_url:
        raise _invalid(
            "lifecycleNotificationUrl cannot be added or changed by updating a subscription; delete "
            "the subscription and create a new one."
        )
    _mailbox(ctx, req.principal, sub.owner_id, "Update")
    expiration, ticks = sub.expiration, sub.expiration_ticks
    if fields.get("expirationdatetime") is not None:
        expiration, ticks = (
            _expiration(ctx, fields["expirationdatetime"]),
            _ticks(fields["expirationdatetime"]),
        )
    url = sub.notification_url
    if fields.get("notificationurl") is not None and fields["notificationurl"] != sub.notification_url:
        url = _url(fields["notificationurl"], "notificationUrl", ctx)
        await validate_endpoint(ctx, url, req.request_id)
    sub.expiration, sub.expiration_ticks, sub.notification_url = expiration, ticks, url
    sub.reauthorization_required_at = None  # renewing also reauthorizes (lifecycle docs)
    return GraphResponse(
        200, {"@odata.context": ctx.context_url("subscriptions/$entity"), **to_json(ctx, sub)}
    )


@router.route("DELETE", "subscriptions/{sub_id}", permission="Calendars.Read")
def delete_subscription(ctx: Context, req: GraphRequest, sub_id: str) -> GraphResponse:
    sub = _own(ctx, req, sub_id)
    notify.notifier(ctx).store.remove(sub.id)
    return GraphResponse(204)


@router.route("POST", "subscriptions/{sub_id}/reauthorize", permission="Calendars.Read")
def reauthorize_subscription(ctx: Context, req: GraphRequest, sub_id: str) -> GraphResponse:
    sub = _own(ctx, req, sub_id)
    _mailbox(ctx, req.principal, sub.owner_id, "Reauthorize")
    sub.reauthorization_required_at = None
    return GraphResponse(204)
