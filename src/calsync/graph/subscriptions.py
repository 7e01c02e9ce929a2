"""Typed calls for change-notification subscriptions (graph-facts §8).

Creating a subscription makes Graph validate the notification URL first (a POST with `validationToken` that
must be answered within 10 s), so the web endpoint must be up before `create_subscription` is called. A
create is not repeated after an unknown outcome (Graph has no transactionId for subscriptions): list the
subscriptions, or let the expiry clean up a duplicate. `lifecycleNotificationUrl` cannot be added by PATCH;
delete and create again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calsync.graph.errors import NotFound
from calsync.graph.odata import graph_datetime, segment
from calsync.graph.requester import Requester

__all__ = ["SubscriptionApi"]


class SubscriptionApi(Requester):
    """Create, renew, reauthorize and delete subscriptions."""

    async def create_subscription(
        self,
        *,
        resource: str,
        notification_url: str,
        expiration: datetime | str,
        change_type: str = "created,updated,deleted",
        client_state: str | None = None,
        lifecycle_notification_url: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a subscription, e.g. resource "/users/{id}/events"; returns it (with its id)."""
        body: dict[str, Any] = {
            "changeType": change_type,
            "notificationUrl": notification_url,
            "resource": resource,
            "expirationDateTime": graph_datetime(expiration),
            **extra,
        }
        if client_state is not None:
            body["clientState"] = client_state
        if lifecycle_notification_url is not None:
            body["lifecycleNotificationUrl"] = lifecycle_notification_url
        result: dict[str, Any] = await self.request_json("POST", "/subscriptions", json=body)
        return result

    async def renew_subscription(self, subscription_id: str, expiration: datetime | str) -> dict[str, Any]:
        """Move the expiry (PATCH expirationDateTime)."""
        result: dict[str, Any] = await self.request_json(
            "PATCH",
            f"/subscriptions/{segment(subscription_id)}",
            json={"expirationDateTime": graph_datetime(expiration)},
        )
        return result

    async def reauthorize_subscription(self, subscription_id: str) -> None:
        """Answer a reauthorizationRequired lifecycle event without extending the expiry. Repeating it
        changes nothing, so it is retried like an idempotent call."""
        await self.request(
            "POST", f"/subscriptions/{segment(subscription_id)}/reauthorize", json=None, idempotent=True
        )

    async def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription; False when it was already gone."""
        try:
            await self.request("DELETE", f"/subscriptions/{segment(subscription_id)}")
        except NotFound:
            return False
        return True
