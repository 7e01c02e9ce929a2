"""The JSON of directory objects: users and groups in Graph's shapes, and the property lists they define.

Split from `graphemu.graph.directory` because the entity shapes are used both by the routes and by the
query options (`graphemu.graph.directory_query`: $select checks names against them, and a user without
$select gets v1.0's default property set). `graphemu.graph.directory` re-exports `user_json`, `group_json`.
"""

from __future__ import annotations

from typing import Any

from graphemu.world import Group, User

Item = dict[str, Any]

_UNMODELLED_USER = ("department", "companyName", "city", "country", "usageLocation", "employeeId")


def user_json(user: User) -> Item:
    """A user: v1.0's default property set first, then the selectable extras graphemu models."""
    return {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": user.surname,
        "userPrincipalName": user.user_principal_name,
        "id": user.id,
        "accountEnabled": user.account_enabled,
        "userType": "Member",
        "mailNickname": user.user_principal_name.split("@", 1)[0],
        "otherMails": [],
    } | dict.fromkeys(_UNMODELLED_USER)


def group_json(group: Group) -> Item:
    return {
        "id": group.id,
        "description": None,
        "displayName": group.display_name,
        "groupTypes": list(group.group_types),
        "mail": group.mail,
        "mailEnabled": group.mail_enabled,
        "mailNickname": (group.mail or group.display_name).split("@", 1)[0],
        "securityEnabled": group.security_enabled,
    }


_USER_PROPS = tuple(user_json(User(id="", tenant_id="", user_principal_name="x@y", display_name="")))
_GROUP_PROPS = tuple(group_json(Group(id="", tenant_id="", display_name="")))
_DEFAULT_USER = frozenset(_USER_PROPS[: _USER_PROPS.index("id") + 1])  # v1.0's default $select of users
