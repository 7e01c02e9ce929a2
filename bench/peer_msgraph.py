"""The peer in bench/peer_bench.py: a sync script on msgraph-sdk, as a competent engineer writes it in a day.

Runs in the benchmark's own virtualenv (`.bench-venv`, where peer_bench.py installs msgraph-sdk; it is
not a calsync dependency), never imports calsync:

    .bench-venv/bin/python bench/peer_msgraph.py WORK_JSON

WORK_JSON (written by peer_bench.py) names graphemu (Graph base URL, token endpoint, CA file), the app's
client id and secret file, the tag property and, per mailbox, the desired events as Graph bodies'
fields. Each run, per mailbox: list the events carrying the tag (one GET, `$expand` of the tag, pages of
1,000), then create the missing ones, update those whose subject, times or location differ and delete
those no longer wanted, in `$batch` requests of 20 with at most 4 batches in flight per mailbox and 64
mailboxes at once (16 listings at once); batch items answered 429/503/504 are sent again after their
Retry-After, a batch whose connection dropped is sent again (creates carry a transactionId). Stateless:
everything is decided from the listing. Prints one JSON line: the counts of what it did.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location
from msgraph.generated.models.single_value_legacy_extended_property import (
    SingleValueLegacyExtendedProperty,
)
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

BATCH, PER_MAILBOX, MAILBOXES = 20, 4, 64
# Listings at once: the SDK parses a listing on the event loop (0.2-0.6 s of CPU per 100 events), so 64
# at once stall the TLS handshakes of the connections still opening past graphemu's (asyncio's) 60 s
# handshake limit on a slow machine: the no-op then failed with ConnectError.
LISTINGS = 16


class Token(AccessTokenProvider):
    """An app-only token from the token endpoint (client credentials), fetched once."""

    def __init__(self, work: dict[str, Any], http: httpx.AsyncClient) -> None:
        self.work, self.http, self.token = work, http, ""

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        if not self.token:
            w = self.work
            answer = await self.http.post(
                w["token_url"],
                data={
                    "grant_type": "client_credentials",
                    "client_id": w["client"],
                    "client_secret": Path(w["secret_file"]).read_text().strip(),
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
            answer.raise_for_status()
            self.token = answer.json()["access_token"]
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([])


def event(work: dict[str, Any], e: dict[str, Any]) -> Event:
    return Event(
        subject=e["subject"],
        body=ItemBody(content=e.get("body", ""), content_type=None),
        start=DateTimeTimeZone(date_time=e["start"], time_zone=e["tz"]),
        end=DateTimeTimeZone(date_time=e["end"], time_zone=e["tz"]),
        location=Location(display_name=e["location"]),
        single_value_extended_properties=[
            SingleValueLegacyExtendedProperty(id=work["tag_id"], value=e["key"])
        ],
        transaction_id=e["txid"],
    )


async def listing(client: GraphServiceClient, work: dict[str, Any], upn: str) -> dict[str, Event]:
    tag = work["tag_id"]
    query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
        filter=f"singleValueExtendedProperties/Any(ep: ep/id eq '{tag}' and ep/value ne '')",
        expand=[f"singleValueExtendedProperties($filter=id eq '{tag}')"],
        select=["subject", "start", "end", "location"],
        top=1000,
    )
    builder = client.users.by_user_id(upn).events
    page = await builder.get(
        request_configuration=EventsRequestBuilder.EventsRequestBuilderGetRequestConfiguration(
            query_parameters=query
        )
    )
    found: dict[str, Event] = {}
    while page is not None:
        for item in page.value or []:
            for prop in item.single_value_extended_properties or []:
                if prop.id == tag and prop.value:
                    found[prop.value] = item
        page = await builder.with_url(page.odata_next_link).get() if page.odata_next_link else None
    return found


def differs(have: Event, want: dict[str, Any]) -> bool:
    return (
        have.subject != want["subject"]
        or (have.location.display_name if have.location else "") != want["location"]
        or not (have.start and (have.start.date_time or "").startswith(want["start_utc"]))
        or not (have.end and (have.end.date_time or "").startswith(want["end_utc"]))
    )


async def send(client: GraphServiceClient, requests: list[Any], counts: dict[str, int]) -> None:
    """One $batch of up to 20 request informations; items answered 429/5xx are sent again."""
    pending = requests
    while pending:
        content = BatchRequestContent()
        items: dict[str, Any] = {}
        for n, info in enumerate(pending):
            item = BatchRequestItem(request_information=info, id=str(n + 1))
            content.add_request(item.id, item)
            items[item.id] = info
        for attempt in range(3):  # a kept-alive connection the server closed meanwhile: send again
            try:
                answer = await client.batch.post(batch_request_content=content)
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
        counts["batches"] += 1
        retry, wait = [], 0.0
        for rid, item in (answer.responses or {}).items():
            if item.status in (429, 503, 504):
                retry.append(items[rid])
                wait = max(wait, float((item.headers or {}).get("Retry-After", 1)))
            elif item.status and item.status >= 400:
                counts["failed"] += 1
        counts["retried"] += len(retry)
        pending = retry
        if pending:
            await asyncio.sleep(wait)


async def sync_mailbox(
    client: GraphServiceClient,
    work: dict[str, Any],
    upn: str,
    wanted: list[dict[str, Any]],
    counts: dict[str, int],
    listings: asyncio.Semaphore,
) -> None:
    async with listings:
        have = await listing(client, work, upn)
    events = client.users.by_user_id(upn).events
    requests: list[Any] = []
    keys = set()
    for e in wanted:
        keys.add(e["key"])
        if e["key"] not in have:
            requests.append(events.to_post_request_information(event(work, e)))
            counts["created"] += 1
        elif differs(have[e["key"]], e):
            assert have[e["key"]].id is not None
            requests.append(
                events.by_event_id(have[e["key"]].id).to_patch_request_information(event(work, e))
            )
            counts["updated"] += 1
    for key, item in have.items():
        if key not in keys and item.id:
            requests.append(events.by_event_id(item.id).to_delete_request_information())
            counts["deleted"] += 1
    gate = asyncio.Semaphore(PER_MAILBOX)

    async def one(chunk: list[Any]) -> None:
        async with gate:
            await send(client, chunk, counts)

    await asyncio.gather(*(one(requests[i : i + BATCH]) for i in range(0, len(requests), BATCH)))


# Generous: the SDK parses each listing on the event loop (about 0.2-0.6 s of CPU per mailbox of 100
# events), so on a slow machine a connection opened meanwhile waits minutes for its TLS handshake; a
# timeout there would fail the run instead of measuring it.
TIMEOUT = httpx.Timeout(600.0)


async def main(work: dict[str, Any]) -> dict[str, int]:
    context = ssl.create_default_context(cafile=work["ca"])
    counts = dict.fromkeys(("created", "updated", "deleted", "batches", "retried", "failed"), 0)
    async with httpx.AsyncClient(verify=context, timeout=TIMEOUT, trust_env=False) as plain:
        auth = BaseBearerTokenAuthenticationProvider(Token(work, plain))
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=context, timeout=TIMEOUT, trust_env=False)
        )
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = work["graph"]
        client = GraphServiceClient(request_adapter=adapter)
        gate, listings = asyncio.Semaphore(MAILBOXES), asyncio.Semaphore(LISTINGS)

        async def mailbox(upn: str, wanted: list[dict[str, Any]]) -> None:
            async with gate:
                await sync_mailbox(client, work, upn, wanted, counts, listings)

        await asyncio.gather(*(mailbox(u, w) for u, w in work["mailboxes"].items()))
        await http.aclose()
    return counts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))))
