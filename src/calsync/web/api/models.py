"""The REST API's request and answer bodies (they make its OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Profile(BaseModel):
    provider_name: str = Field(description='Cronofy\'s provider name: "exchange" for Microsoft 365.')
    provider_service: str = Field(description='"office365".')
    provider_protocol: str = Field(description='How calsync reaches it: "graph" (Microsoft Graph).')
    profile_id: str
    profile_name: str = Field(description="The mailbox (user principal name).")
    profile_connected: bool
    profile_initial_sync_required: bool
    profile_relink_url: str | None = Field(
        default=None, description="Where the user reconnects; only when profile_connected is false."
    )

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})


class ProfilesAnswer(BaseModel):
    profiles: list[Profile]
