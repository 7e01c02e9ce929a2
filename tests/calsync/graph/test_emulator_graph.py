"""The client against graphemu in-process: typed calls, throttling storms, faults, dropped writes,
per-mailbox concurrency, paging, delta and batches. Waits are simulated by the fake clock (it advances
graphemu's clock too), so Retry-After is honoured without sleeping."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest

from calsync.graph import (
    BatchItem,
    DeltaStart,
    Forbidden,
    GraphClient,
    Indeterminate,
    InvalidUser,
    MailboxNotEnabled,
    NotFound,
    PreconditionFailed,
    SyncStateNotFound,
)
from graphemu import World
from graphemu.testing import EmulatorTransport

from .conftest import ADELE, ALEX, GRAPH, MEGAN, EmuTokens, FakeClock, fast_policy

TAG = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name calsyncKey"
DAY = datetime(2025, 3, 3, tzinfo=UTC)


def event(n: int, *, day: datetime = DAY, tx: str | None = None, tag: str | None = None) -> dict[str, Any]:
    start = day + timedelta(hours=8 + n % 8, minutes=n // 8)
    body: dict[str, Any] = {
        "subject": f"Lesson {n}",
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
    }
    if tx:
        body["transactionId"] = tx
    if tag is not None:
        body["singleValueExtendedProperties"] = [{"id": TAG, "value": tag}]
    return body


async def stored_events(control: httpx.AsyncClient, user: str) -> list[dict[str, Any]]:
    response = await control.get(f"/_emu/events/{user}")
    response.raise_for_status()
    value: list[dict[str, Any]] = response.json()["value"]
    return value


async def counters(control: httpx.AsyncClient) -> dict[str, int]:
    data: dict[str, int] = (await control.get("/_emu/counters")).json()
    return data


async def test_calendars_and_events_round_trip(graph: GraphClient) -> None:
    """Calendars and events: create, read back with the extended property, update with If-Match, delete."""
    default = await graph.get_calendar(ADELE)
    created_cal = await graph.create_calendar(ADELE, "Timetable 2025")
    assert (await graph.update_calendar(ADELE, created_cal["id"], {"name": "Timetable"}))[
        "name"
    ] == "Timetable"
    names = {c["name"] async for c in graph.list_calendars(ADELE)}
    assert {default["name"], "Timetable"} <= names

    created = await graph.create_event(
        ADELE, event(1, tag="it's key 1"), created_cal["id"], transaction_id="tx-1"
    )
    assert created["id"]
    assert created["transactionId"] == "tx-1"
    fetched = await graph.get_event(ADELE, created["id"], expand_extended=[TAG])
    assert fetched["singleValueExtendedProperties"] == [{"id": TAG, "value": "it's key 1"}]
    found = [e async for e in graph.find_events_by_extended_property(ADELE, TAG, "it's key 1")]
    assert [e["id"] for e in found] == [created["id"]]

    updated = await graph.update_event(
        ADELE, created["id"], {"subject": "Moved"}, if_match=fetched["changeKey"]
    )
    assert updated["subject"] == "Moved"
    with pytest.raises(PreconditionFailed):
        await graph.update_event(ADELE, created["id"], {"subject": "Stale"}, if_match=fetched["changeKey"])
    assert await graph.delete_event(ADELE, created["id"]) is True
    assert await graph.delete_event(ADELE, created["id"]) is False
    with pytest.raises(NotFound):
        await graph.get_event(ADELE, created["id"])
    assert await graph.delete_calendar(ADELE, created_cal["id"]) is True


async def test_event_ids_are_encoded_and_case_sensitive(graph: GraphClient) -> None:
    """Ids with '=', '-' and '_' survive the path; a case-changed id is another (missing) event."""
    ids = [(await graph.create_event(MEGAN, event(n)))["id"] for n in range(6)]
    assert any(set(i) & set("=-_") for i in ids)
    for event_id in ids:
        assert (await graph.get_event(MEGAN, event_id))["id"] == event_id
    with pytest.raises(NotFound):
        await graph.get_event(MEGAN, ids[0].swapcase())


async def test_calendar_view_and_instances(graph: GraphClient) -> None:
    """calendarView returns occurrences in the window; instances lists a series' occurrences."""
    series = event(0) | {
        "recurrence": {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2025-03-03", "numberOfOccurrences": 5},
        }
    }
    master = await graph.create_event(ALEX, series)
    window = (DAY, DAY + timedelta(days=3))
    view = [e async for e in graph.calendar_view(ALEX, *window, page_size=2)]
    assert len(view) == 3
    assert all(e["type"] == "occurrence" for e in view)
    occurrences = [e async for e in graph.instances(ALEX, master["id"], DAY, DAY + timedelta(days=10))]
    assert len(occurrences) == 5


async def test_directory_and_mailbox_errors(graph: GraphClient, world: World) -> None:
    """Users, transitive group members, time zones; policy, missing mailbox and unknown user errors."""
    assert (await graph.get_user(ADELE, select=["id", "userPrincipalName"]))["userPrincipalName"] == ADELE
    assert len([u async for u in graph.list_users()]) == 5
    group = next(g for g in world.groups.values() if g.display_name == "Calendar sync")
    members = {u["userPrincipalName"] async for u in graph.group_transitive_user_members(group.id)}
    assert members == {ADELE, ALEX, MEGAN, "nomail@contoso.onmicrosoft.com"}
    zones = await graph.supported_time_zones(ADELE)
    assert any(z["alias"] == "W. Europe Standard Time" for z in zones)
    iana = await graph.supported_time_zones(ADELE, "iana")
    assert any(z["alias"] == "Europe/Berlin" for z in iana)
    with pytest.raises(Forbidden) as policy:
        await graph.get_calendar("outsider@contoso.onmicrosoft.com")
    assert policy.value.access_policy
    assert policy.value.request_id
    with pytest.raises(MailboxNotEnabled):
        await graph.get_calendar("nomail@contoso.onmicrosoft.com")
    with pytest.raises(InvalidUser):
        await graph.get_calendar("nobody@contoso.onmicrosoft.com")


async def test_throttling_storm_has_no_retry_after_violations(
    graph: GraphClient, control: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Half of all requests answered 429 (fractional Retry-After) and a tighter mailbox limit than the
    client's: everything succeeds and graphemu counts zero requests sent before their Retry-After."""
    await control.put("/_emu/faults", json={"rate": 0.5, "statuses": [429], "retry_after": 1.25, "seed": 3})
    await control.put("/_emu/limits", json={"mailboxConcurrency": 2, "throttleRetryAfter": 0.5})
    work = [
        graph.create_event(m, event(n), transaction_id=f"storm-{m}-{n}")
        for m in (ADELE, ALEX)
        for n in range(12)
    ]
    work += [graph.get_calendar(m) for m in (ADELE, ALEX, MEGAN) for _ in range(8)]
    results = await asyncio.gather(*work)
    assert len(results) == 48
    seen = await counters(control)
    assert seen["injected_faults"] > 10
    assert seen["retry_after_violations"] == 0
    assert clock.sleeps
    assert min(clock.sleeps) >= 0.5


async def test_random_faults_at_30_percent_all_succeed(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    """30% of requests fail with 429/500/502/503/504: singles and batches all succeed, without duplicates.
    (507 is left out: Outlook's ErrorQuotaExceeded does not heal by retrying.)"""
    await control.put(
        "/_emu/faults",
        json={"rate": 0.3, "statuses": [429, 500, 502, 503, 504], "retry_after": 0.5, "seed": 1},
    )
    singles = await asyncio.gather(
        *(graph.create_event(ALEX, event(n), transaction_id=f"single-{n}") for n in range(10))
    )
    items = [BatchItem.create_event(ADELE, event(n), transaction_id=f"batch-{n}") for n in range(30)]
    results = await graph.batch(items)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    for created in singles:
        await graph.update_event(ALEX, created["id"], {"subject": "updated"})
    assert [e async for e in graph.list_events(ALEX, page_size=4)]
    deleted = await asyncio.gather(*(graph.delete_event(ALEX, c["id"]) for c in singles))
    assert all(deleted)
    assert len(await stored_events(control, ADELE)) == 30
    assert await stored_events(control, ALEX) == []
    assert (await counters(control))["injected_faults"] > 10


@pytest.mark.parametrize("mode", ["reset", "timeout", "503"])
async def test_commit_then_drop_create_with_transaction_id(
    graph: GraphClient, control: httpx.AsyncClient, mode: str
) -> None:
    """The create is applied but its answer is lost; the client repeats it (transactionId), and exactly
    one event exists afterwards."""
    await control.put(
        "/_emu/faults", json={"commit_then_drop_rate": 0.6, "commit_then_drop_mode": mode, "seed": 1}
    )
    created = [await graph.create_event(MEGAN, event(n), transaction_id=f"drop-{mode}-{n}") for n in range(4)]
    stored = await stored_events(control, MEGAN)
    assert len(stored) == 4
    assert {e["id"] for e in stored} == {c["id"] for c in created}
    assert (await counters(control))["commit_then_drop"] > 0


async def test_commit_then_drop_without_transaction_id_is_indeterminate(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    """Without a transactionId the lost answer is Indeterminate and no second create is sent."""
    await control.put("/_emu/faults", json={"commit_then_drop_rate": 1.0, "commit_then_drop_mode": "reset"})
    with pytest.raises(Indeterminate):
        await graph.create_event(MEGAN, event(1))
    assert len(await stored_events(control, MEGAN)) == 1


async def test_commit_then_drop_batch(graph: GraphClient, control: httpx.AsyncClient) -> None:
    """A dropped $batch answer: items with transactionId are sent again, others reported Indeterminate;
    each create exists exactly once."""
    await control.put(
        "/_emu/faults", json={"commit_then_drop_rate": 0.05, "commit_then_drop_mode": "reset", "seed": 2}
    )
    items = [BatchItem("POST", f"/users/{ALEX}/events", event(n, tx=f"bd-{n}")) for n in range(20)]
    items.append(BatchItem("POST", f"/users/{ALEX}/events", event(99)))
    results = await graph.batch(items)
    assert all(r.ok for r in results[:20])
    stored = await stored_events(control, ALEX)
    assert sorted(e["transactionId"] for e in stored if e["transactionId"]) == sorted(
        f"bd-{n}" for n in range(20)
    )
    assert len(stored) == 21
    assert isinstance(results[20].error, Indeterminate)
    assert (await counters(control))["commit_then_drop"] > 0


async def test_per_mailbox_concurrency_never_above_limit(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    """With latency injected and many concurrent requests and batches, graphemu never sees more than 4
    requests in flight for one mailbox, and never has to throttle for concurrency."""
    await control.put("/_emu/faults", json={"latency_ms": 3})
    batches = [
        graph.batch([BatchItem("POST", f"/users/{m}/events", event(n, tx=f"cc-{m}-{n}")) for n in range(8)])
        for m in (ADELE, ALEX)
    ]
    singles = [graph.get_calendar(m) for m in (ADELE, ALEX, MEGAN) for _ in range(12)]
    await asyncio.gather(*batches, *singles)
    seen = await counters(control)
    assert seen["max_in_flight_per_mailbox"] > 1  # the requests really ran concurrently ...
    assert seen["max_in_flight_per_mailbox"] <= 4  # ... and never more than 4 per mailbox
    assert seen["throttled_mailbox_concurrency"] == 0


async def test_paging_across_pages(graph: GraphClient, control: httpx.AsyncClient) -> None:
    """25 events come back over 3 pages of 10 (nextLinks followed as given)."""
    await graph.batch([BatchItem("POST", f"/users/{ADELE}/events", event(n, tx=f"p-{n}")) for n in range(25)])
    await control.delete("/_emu/requests")
    listed = [e async for e in graph.list_events(ADELE, select=["subject"], page_size=10)]
    assert len({e["id"] for e in listed}) == 25
    log = (await control.get("/_emu/requests")).json()["value"]
    assert [entry["method"] for entry in log] == ["GET"] * 3


async def test_delta_rounds_across_pages(graph: GraphClient, control: httpx.AsyncClient) -> None:
    """A first round over pages returns every event; the next returns changes and removals; out-of-window
    noise is dropped with known_ids; an invalidated token raises SyncStateNotFound."""
    created = [await graph.create_event(ALEX, event(n, tx=f"d-{n}")) for n in range(12)]
    start = DeltaStart(ALEX, DAY - timedelta(days=1), DAY + timedelta(days=7))
    first = await graph.delta_round(start, page_size=5)
    assert {e["id"] for e in first.changed} == {c["id"] for c in created}
    assert first.removed == []

    await graph.update_event(ALEX, created[0]["id"], {"subject": "changed"})
    await graph.delete_event(ALEX, created[1]["id"])
    outside = await graph.create_event(ALEX, event(0, day=DAY + timedelta(days=60)))
    unfiltered = await graph.delta_round(first.delta_link, page_size=5)
    assert outside["id"] in unfiltered.removed  # Graph's out-of-window noise, reported as is
    second = await graph.delta_round(first.delta_link, page_size=5, known_ids={c["id"] for c in created})
    assert [e["id"] for e in second.changed] == [created[0]["id"]]
    assert second.removed == [created[1]["id"]]
    assert outside["id"] not in second.removed

    await control.post("/_emu/delta/invalidate", json={"user": ALEX})
    with pytest.raises(SyncStateNotFound):
        await graph.delta_round(second.delta_link)


async def test_batch_inner_429_and_failed_dependencies(
    graph: GraphClient, control: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Inner 429s (graphemu runs 4 items at once, the mailbox allows 2) are retried alone after the
    largest Retry-After; a chain whose head fails answers 424 for the rest; no Retry-After violation."""
    await control.put("/_emu/limits", json={"mailboxConcurrency": 2, "throttleRetryAfter": 0.75})
    await control.put("/_emu/faults", json={"latency_ms": 2})
    results = await graph.batch(
        [BatchItem("POST", f"/users/{ADELE}/events", event(n, tx=f"b-{n}")) for n in range(20)]
    )
    assert all(r.ok for r in results)
    assert 0.75 in clock.sleeps
    assert len(await stored_events(control, ADELE)) == 20

    gone = (await graph.create_event(ALEX, event(0)))["id"]
    await graph.delete_event(ALEX, gone)
    chain = [
        BatchItem.update_event(ALEX, gone, {"subject": "x"}, id="head"),
        BatchItem(
            "POST", f"/users/{ALEX}/events", event(1, tx="after-head"), id="next", depends_on=("head",)
        ),
        BatchItem("DELETE", f"/users/{ALEX}/events/{gone}", id="last", depends_on=("next",)),
    ]
    head, following, last = await graph.batch(chain)
    assert isinstance(head.error, NotFound)
    assert following.status == 424
    assert last.status == 424
    assert (await counters(control))["retry_after_violations"] == 0


async def test_batch_chain_with_throttled_head_is_retried(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    """A chain whose items are throttled at random is retried until every item has run once."""
    await control.put("/_emu/faults", json={"rate": 0.4, "statuses": [429], "retry_after": 0.5, "seed": 11})
    chain = [BatchItem("POST", f"/users/{MEGAN}/events", event(0, tx="c-0"), id="c0")]
    chain += [
        BatchItem(
            "POST", f"/users/{MEGAN}/events", event(n, tx=f"c-{n}"), id=f"c{n}", depends_on=(f"c{n - 1}",)
        )
        for n in range(1, 6)
    ]
    results = await graph.batch(chain)
    assert all(r.ok for r in results), [(r.status, r.error) for r in results]
    assert len(await stored_events(control, MEGAN)) == 6
    assert (await counters(control))["retry_after_violations"] == 0


async def test_token_expiry_mid_run_with_minted_tokens(app: Any, world: World, tokens: EmuTokens) -> None:
    """graphemu's clock passing the token's expiry makes the client fetch one new token and go on."""
    async with GraphClient(
        tokens,
        base_url=GRAPH,
        transport=EmulatorTransport(app),
        clock=FakeClock(),
        rng=random.Random(2),
        retry=fast_policy(),
    ) as graph:
        await graph.get_calendar(ADELE)
        world.clock.advance(4000)
        await asyncio.gather(*(graph.get_calendar(ADELE) for _ in range(5)))
    assert tokens.minted == 2
    assert graph.auth.refreshes >= 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reset", "timeout"])
async def test_dropped_answers_over_real_tls(
    world: World, tmp_path: Any, mode: Literal["reset", "timeout"]
) -> None:
    """Over real sockets a reset or a hang after the write is applied: creates with a transactionId are
    repeated until answered (exactly one event each); a create without one raises Indeterminate."""
    from calsync.graph import AppTokenProvider, ClientSecretCredential, EntraApp, RetryPolicy
    from graphemu import EmulatorConfig
    from graphemu.server import BackgroundServer

    from .conftest import CLIENT, SECRET, TENANT

    config = EmulatorConfig()
    config.faults.commit_then_drop_rate, config.faults.commit_then_drop_mode = 0.5, mode
    config.faults.seed, config.faults.timeout_hang_seconds = 1, 0.3
    with BackgroundServer(world, config, tls_dir=tmp_path / "tls") as info:
        assert info.ca is not None
        provider = AppTokenProvider(
            EntraApp(
                TENANT,
                CLIENT,
                ClientSecretCredential.from_value(SECRET),
                authority_host=info.login,
                ca_file=info.ca,
            )
        )
        graph = GraphClient(
            provider,
            base_url=info.graph,
            verify=info.ca,
            timeout=httpx.Timeout(0.1, connect=5),
            retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.05, max_attempts=10),
        )
        async with graph:
            created = [
                await graph.create_event(MEGAN, event(n), transaction_id=f"tls-{mode}-{n}") for n in range(3)
            ]
            config.faults.commit_then_drop_rate = 1.0
            with pytest.raises(Indeterminate):
                await graph.create_event(MEGAN, event(9))
        await provider.aclose()
    stored = list(world.events[world.find_user(MEGAN).id].values())  # type: ignore[union-attr]
    assert sorted(e.transaction_id or "" for e in stored) == [
        "",
        *sorted(c["transactionId"] for c in created),
    ]
    assert world.counters.commit_then_drop >= 2
