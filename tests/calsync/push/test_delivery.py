"""Deliveries to a real loopback receiver that verifies them with the `standardwebhooks` package:
healthy, failing (500), gone (410), throttling (429 + Retry-After), timing out and slow receivers; time
moves on a virtual clock, never by sleeping through the schedule."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from calsync.services import push
from calsync.services.push.retry import JITTER, MAX_ATTEMPTS, SCHEDULE
from tests.calsync.push.conftest import Env
from tests.calsync.push.receiver import Receiver


async def subscribe(
    env: Env, receiver: Receiver, path: str, owner: str = "key_a", **kw: object
) -> push.NewChannel:
    made = await push.create_channel(env.deployment, owner=owner, callback_url=receiver.url(path), **kw)  # type: ignore[arg-type]
    receiver.secrets[path] = made.secret
    return made


async def changed(
    env: Env, profile_id: str = "ada@uni.example", calendar_ids: tuple[str, ...] = ("cal1",)
) -> int:
    return await push.publish_calendar_changed(
        env.deployment, profile_id=profile_id, calendar_ids=calendar_ids, changes_since=env.clock.now()
    )


async def test_a_healthy_receiver_gets_each_notification_once_signed_and_verifiable(
    env: Env, receiver: Receiver
) -> None:
    made = await subscribe(env, receiver, "/ok/a", cronofy_signature=True)
    assert made.secret.startswith("whsec_")
    for _ in range(3):
        assert await changed(env) == 1
    deliverer = push.deliverer(env.deployment)
    try:
        result = await deliverer.drain()
        again = await deliverer.drain()
    finally:
        await deliverer.aclose()
    assert (result.claimed, result.delivered, again.claimed) == (3, 3, 0)
    got = receiver.delivered("/ok/a")
    assert len(got) == len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 3
    payload = got[0].verified
    assert payload["type"] == "calendar.changed"
    assert payload["data"]["profile_id"] == "ada@uni.example"
    assert payload["data"]["calendar_ids"] == ["cal1"]
    assert payload["data"]["channel_id"] == made.channel.id
    # The Cronofy-compatible header: base64 HMAC-SHA256 of the body, keyed with the secret string.
    from calsync.services.push.signing import cronofy_signature

    assert got[0].headers["cronofy-hmac-sha256"] == cronofy_signature(made.secret, got[0].body)
    states = {d.state for d in push.push_store(env.deployment).deliveries()}
    assert states == {"delivered"}


async def test_a_wrong_secret_does_not_verify(env: Env, receiver: Receiver) -> None:
    """The receiver's check is not vacuous: with another channel's secret, verification fails."""
    await subscribe(env, receiver, "/ok/b")
    other = await push.create_channel(env.deployment, owner="key_a", callback_url=receiver.url("/ok/c"))
    receiver.secrets["/ok/b"] = other.secret
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    await deliverer.drain()
    await deliverer.aclose()
    assert [r.error for r in receiver.requests if r.path == "/ok/b"] == ["No matching signature found"]


async def test_a_failing_receiver_is_retried_on_schedule_and_nothing_is_lost(
    env: Env, receiver: Receiver
) -> None:
    """Three 500s, then 200: attempts at publish, +5 s, +5 min, +30 min (each stretched by <= 20 %
    jitter), then delivered once; nothing is sent before its time."""
    await subscribe(env, receiver, "/flaky/3/x")
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    store = push.push_store(env.deployment)
    sent_at = []
    try:
        for step in range(4):
            before = len(receiver.requests)
            await deliverer.drain()
            assert len(receiver.requests) == before + 1
            sent_at.append(env.clock.now())
            if step == 3:
                break
            due = store.next_due()
            assert due is not None
            wait = due - env.clock.now()
            assert SCHEDULE[step] <= wait <= SCHEDULE[step] * (1 + JITTER)
            await env.clock.jump(wait - timedelta(seconds=1))
            assert (await deliverer.drain()).claimed == 0  # not yet
            await env.clock.jump(timedelta(seconds=1))
    finally:
        await deliverer.aclose()
    assert [r.status for r in receiver.requests] == [500, 500, 500, 200]
    assert len(receiver.delivered()) == 1
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # the same id on every retry
    (row,) = store.deliveries()
    assert (row.state, row.attempts, row.last_status) == ("delivered", 4, 200)


async def test_410_gone_disables_the_channel(env: Env, receiver: Receiver) -> None:
    made = await subscribe(env, receiver, "/status/410/gone")
    healthy = await subscribe(env, receiver, "/ok/healthy")
    await changed(env)
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    result = await deliverer.drain()
    await deliverer.aclose()
    assert result.gone >= 1
    store = push.push_store(env.deployment)
    channel = store.channel(made.channel.id)
    assert channel is not None
    assert (channel.status, channel.disabled_reason) == ("disabled", "the receiver answered 410 Gone")
    assert {d.state for d in store.deliveries(made.channel.id)} == {"dead"}
    assert store.next_due() is None  # nothing more is ever sent to it
    assert await changed(env) == 1  # only the healthy channel gets new notifications
    assert store.channel(healthy.channel.id).status == "active"  # type: ignore[union-attr]


async def test_429_with_retry_after_is_honoured(env: Env, receiver: Receiver) -> None:
    """Retry-After: 3600 on the first failure, where the schedule would wait 5 s: the retry waits an
    hour, and nothing is sent before."""
    path = "/status/429/busy"
    made = await push.create_channel(
        env.deployment, owner="k", callback_url=receiver.url(path) + "?retry_after=3600"
    )
    receiver.secrets[path] = made.secret
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    try:
        await deliverer.drain()
        due = push.push_store(env.deployment).next_due()
        assert due is not None
        assert due - env.clock.now() == timedelta(hours=1)
        await env.clock.jump(timedelta(minutes=59))
        assert (await deliverer.drain()).claimed == 0
    finally:
        await deliverer.aclose()
    assert [r.status for r in receiver.requests] == [429]


async def test_a_receiver_that_does_not_answer_in_time_is_retried(env: Env, receiver: Receiver) -> None:
    """push_timeout_seconds is 2 s here: a receiver taking 3 s counts as failed and is tried again."""
    made = await subscribe(env, receiver, "/slow/3/late")
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    await deliverer.drain()
    await deliverer.aclose()
    (row,) = push.push_store(env.deployment).deliveries(made.channel.id)
    assert (row.state, row.last_status, row.last_error) == ("pending", None, "no answer within 2 s")
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > env.clock.now()


async def test_a_slow_receiver_within_the_timeout_is_delivered(env: Env, receiver: Receiver) -> None:
    await subscribe(env, receiver, "/slow/0.5/patient")
    await subscribe(env, receiver, "/ok/quick")
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    result = await deliverer.drain()
    await deliverer.aclose()
    assert result.delivered == 2
    assert {r.path for r in receiver.delivered()} == {"/slow/0.5/patient", "/ok/quick"}


async def test_a_receiver_down_for_days_gets_every_attempt_then_the_channel_is_disabled(
    env: Env, receiver: Receiver
) -> None:
    made = await subscribe(env, receiver, "/status/503/down")
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    store = push.push_store(env.deployment)
    start = env.clock.now()
    try:
        while (due := store.next_due()) is not None:
            await env.clock.jump(max(due - env.clock.now(), timedelta(0)))
            await deliverer.drain()
    finally:
        await deliverer.aclose()
    assert len(receiver.requests) == MAX_ATTEMPTS == 10
    assert env.clock.now() - start >= sum(SCHEDULE, timedelta()) > timedelta(days=3)
    channel = store.channel(made.channel.id)
    assert channel is not None
    assert channel.status == "disabled"
    assert "no delivery succeeded in 10 attempts" in (channel.disabled_reason or "")


async def test_the_outbox_survives_a_restart_between_publish_and_delivery(
    env: Env, receiver: Receiver
) -> None:
    """Publish, close the deployment (the process stops), open a new one: the notification arrives."""
    from calsync.services import open_deployment

    await subscribe(env, receiver, "/ok/durable")
    await changed(env)
    await env.deployment.aclose()
    async with open_deployment(env.settings) as again:
        again.clock = env.clock.now
        deliverer = push.deliverer(again)
        await deliverer.drain()
        await deliverer.aclose()
    assert len(receiver.delivered("/ok/durable")) == 1


async def test_a_crash_between_send_and_mark_sends_again_with_the_same_id(
    env: Env, receiver: Receiver
) -> None:
    """At least once: a deliverer that dies after claiming (here: claims and never marks) leaves the row
    to the next one once the claim's lease has passed; the repeat carries the same webhook-id."""
    await subscribe(env, receiver, "/ok/twice")
    await changed(env)
    deliverer = push.deliverer(env.deployment)
    store = push.push_store(env.deployment)
    (claim,) = store.claim_due(env.clock.now(), limit=10, lease=deliverer.lease)
    assert (await deliverer.drain()).claimed == 0  # claimed: invisible to others until the lease ends
    await env.clock.jump(deliverer.lease)
    result = await deliverer.drain()
    await deliverer.aclose()
    assert result.delivered == 1
    assert not store.mark_delivered(claim, env.clock.now(), 200)  # the dead claim cannot mark it any more
    assert receiver.delivered()[0].headers["webhook-id"] == claim.item.webhook_id


async def test_filters_calendar_ids_event_types_and_own_writes(env: Env, receiver: Receiver) -> None:
    await subscribe(env, receiver, "/ok/cal1", filters=push.Filters(calendar_ids=("cal1",)))
    await subscribe(env, receiver, "/ok/failures", filters=push.Filters(event_types=("sync.failed",)))
    await subscribe(env, receiver, "/ok/managed", owner="key_b", filters=push.Filters(only_managed=True))
    await subscribe(env, receiver, "/ok/echo", owner="key_b", filters=push.Filters(echo=True))
    d = env.deployment
    assert await changed(env, calendar_ids=("cal2",)) == 2  # not cal1's, not failures'
    assert await changed(env, calendar_ids=("cal1",)) == 3
    assert await changed(env, calendar_ids=()) == 3  # calendar unknown: calendar filters let it through
    since = env.clock.now()
    own = await push.publish_calendar_changed(
        d, profile_id="p", calendar_ids=["c"], changes_since=since, origin="key_b"
    )
    assert own == 1  # key_b's own write: only its channel that asked for echoes
    foreign = await push.publish_calendar_changed(
        d, profile_id="p", calendar_ids=["c"], changes_since=since, managed=False
    )
    assert foreign == 1  # a person's event changed: not for only_managed, nor for cal1's filter
    assert await push.publish(d, "sync.failed", {"error_code": "x"}, profile_id="p") == 4
    deliverer = push.deliverer(d)
    await deliverer.drain()
    await deliverer.aclose()
    types = {p: [r.verified["type"] for r in receiver.delivered(p)] for p in receiver.secrets}
    assert types["/ok/failures"] == ["sync.failed"]
    assert len(types["/ok/cal1"]) == 3
    assert len(types["/ok/echo"]) == 6
    assert len(types["/ok/managed"]) == 4


async def test_the_secret_is_never_stored_in_the_clear(env: Env, receiver: Receiver) -> None:
    made = await subscribe(env, receiver, "/ok/s")
    record = push.push_store(env.deployment).channel(made.channel.id)
    assert record is not None
    assert made.secret not in json.dumps(record.secret)
    if env.settings.database_url.startswith("sqlite"):
        path = env.settings.database_url.removeprefix("sqlite:///")
        await env.deployment.aclose()
        raw = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
        assert made.secret.encode() not in raw
        assert made.secret.removeprefix("whsec_").encode() not in raw


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest", "https://10.0.0.1/x", "https://0x7f000001/"]
)
async def test_callback_urls_pass_the_feed_address_guard(env: Env, url: str) -> None:
    from calsync.services import open_deployment
    from tests.calsync.push.conftest import push_settings

    strict = push_settings(env.settings.database_url, push_allow_private_callbacks=False)
    async with open_deployment(strict) as deployment:
        with pytest.raises(push.CallbackRefused, match="refused address"):
            await push.create_channel(deployment, owner="k", callback_url=url)
