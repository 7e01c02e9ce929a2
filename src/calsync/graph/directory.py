"""Typed calls for users, groups and a mailbox's supported time zones (graph-facts §11-12).

`group_transitive_user_members` is how calsync finds the mailboxes to sync: the OData cast to
`microsoft.graph.user` returns only users, flattened through nested groups, and is an advanced query, so it
needs both `ConsistencyLevel: eventual` and `$count=true`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from calsync.graph.odata import segment, user_path
from calsync.graph.requester import Requester

__all__ = ["DirectoryApi"]


class DirectoryApi(Requester):
    """Users, groups and time zones."""

    async def get_user(self, user: str, *, select: Iterable[str] | None = None) -> dict[str, Any]:
        """One user by object id or UPN."""
        params = {"$select": ",".join(select)} if select else None
        result: dict[str, Any] = await self.request_json("GET", user_path(user), params=params)
        return result

    def list_users(
        self, *, filter: str | None = None, select: Iterable[str] | None = None, page_size: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every user of the tenant (optionally filtered)."""
        params: dict[str, str] = {}
        if filter:
            params["$filter"] = filter
        if select:
            params["$select"] = ",".join(select)
        return self.paginate("/users", params=params or None, page_size=page_size)

    def group_transitive_user_members(
        self, group_id: str, *, select: Iterable[str] | None = None, page_size: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every user in the group, including members of nested groups."""
        params: dict[str, str] = {"$count": "true"}
        if select:
            params["$select"] = ",".join(select)
        return self.paginate(
            f"/groups/{segment(group_id)}/transitiveMembers/microsoft.graph.user",
            params=params,
            page_size=page_size,
            headers={"ConsistencyLevel": "eventual"},
        )

    async def supported_time_zones(
        self, mailbox: str, standard: Literal["windows", "iana"] = "windows"
    ) -> list[dict[str, Any]]:
        """The time zones the mailbox accepts: [{"alias", "displayName"}, ...] (Windows names by default)."""
        path = f"{user_path(mailbox)}/outlook/supportedTimeZones"
        if standard == "iana":
            path += "(TimeZoneStandard=microsoft.graph.timeZoneStandard'Iana')"
        result = await self.request_json("GET", path)
        value: list[dict[str, Any]] = result.get("value", []) if isinstance(result, dict) else []
        return value
