"""Profiles come from connection sources: the deployment's application-permission mailboxes, and any other
source added (delegated connections): a disconnected one carries its relink URL, a connected one none."""

from __future__ import annotations

import contextlib
from pathlib import Path

from calsync.services import Deployment
from calsync.services.unified import Connection, UnifiedApi, application_connections
from calsync.services.unified_ids import mailbox_of_profile, profile_id
from tests.calsync.api.conftest import MAILBOX, ApiTenant, api_client


async def delegated(deployment: Deployment) -> list[Connection]:
    """A second way of reaching mailboxes, as a delegated-connection source would list them."""
    return [
        Connection("bob@uni.example", "bob@uni.example", connected=False,
                   relink_url="https://calsync.example/connect", source="delegated"),
        Connection(MAILBOX.upper(), MAILBOX, source="delegated"),  # also reached with app permissions
    ]  # fmt: skip


async def test_sources_are_merged_and_relink_urls_shown_only_when_disconnected(
    api_tenant: ApiTenant, folder: Path
) -> None:
    async with api_client(api_tenant, folder) as c:
        api = UnifiedApi(c.deployment, sources=[application_connections, delegated])
        profiles = {p["profile_name"]: p for p in await api.profiles()}
        assert set(profiles) == {MAILBOX, "bob@uni.example"}
        assert profiles[MAILBOX]["profile_connected"] is True
        assert "profile_relink_url" not in profiles[MAILBOX]
        bob = profiles["bob@uni.example"]
        assert bob["profile_connected"] is False
        assert bob["profile_relink_url"] == "https://calsync.example/connect"
        assert mailbox_of_profile(str(bob["profile_id"])) == "bob@uni.example"
        assert (await api.connection_of_profile(profile_id(MAILBOX))).source == "application"


def test_ids_round_trip() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from calsync.services.unified_ids import UnknownId, calendar_id, split_calendar_id

    @given(st.text(min_size=1).filter(lambda m: "\n" not in m), st.text(min_size=1))
    def round_trip(mailbox: str, graph_id: str) -> None:
        assert mailbox_of_profile(profile_id(mailbox)) == mailbox.lower()
        assert split_calendar_id(calendar_id(mailbox, graph_id)) == (mailbox.lower(), graph_id)

    round_trip()

    @given(st.text())
    def garbage_is_refused_cleanly(text: str) -> None:
        for parse in (mailbox_of_profile, split_calendar_id):
            with contextlib.suppress(UnknownId):  # anything else raised fails the test
                parse(text)

    garbage_is_refused_cleanly()


async def test_people_who_connected_are_profiles_and_a_disconnected_one_links_to_relink(
    api_tenant: ApiTenant, folder: Path
) -> None:
    """The default sources include the delegated connections stored in the deployment's database."""
    from calsync.services.connections import connection_store
    from calsync.services.unified import delegated_connections

    async with api_client(api_tenant, folder) as c:
        store = connection_store(c.deployment)
        ada = store.upsert_signed_in(
            tenant_id="t", home_account_id="oid-a.t", mailbox="ada@uni.example", profile="default",
            cache="{}", status="connected",
        )  # fmt: skip
        eve = store.upsert_signed_in(
            tenant_id="t", home_account_id="oid-e.t", mailbox="eve@uni.example", profile="default",
            cache="{}", status="connected",
        )  # fmt: skip
        assert store.set_status(eve.id, "disconnected", "AADSTS65001", drop_tokens=True)
        listed = {x.mailbox: x for x in await delegated_connections(c.deployment)}
        assert listed["ada@uni.example"].connected
        assert listed["ada@uni.example"].relink_url is None
        assert not listed["eve@uni.example"].connected
        assert listed["eve@uni.example"].relink_url is not None
        assert listed["eve@uni.example"].relink_url.endswith(f"/connect/start?relink={eve.id}")

        profiles = {p["profile_name"]: p for p in await UnifiedApi(c.deployment).profiles()}
        assert profiles["ada@uni.example"]["profile_connected"] is True
        assert "profile_relink_url" not in profiles["ada@uni.example"]
        assert profiles["eve@uni.example"]["profile_connected"] is False
        assert profiles["eve@uni.example"]["profile_relink_url"] == listed["eve@uni.example"].relink_url
        assert ada.id not in str(profiles["eve@uni.example"])
