"""$batch over MockTransport: planning, correlation, retrying only failed items, indeterminate envelopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from calsync.graph import BatchItem, Indeterminate, Throttled
from calsync.graph.batch_plan import plan_batches, wire_item, wire_requests
from calsync.graph.errors import BadRequest, HTTPStatusError

from .conftest import FakeClock, fast_policy, graph_error_response, mock_client


def create(mailbox: str, n: int, *, tx: bool = True, **kwargs: Any) -> BatchItem:
    body: dict[str, Any] = {"subject": f"event {n}"}
    if tx:
        body["transactionId"] = f"tx-{mailbox}-{n}"
    return BatchItem("POST", f"/users/{mailbox}/events", body, **kwargs)


def test_plan_groups_by_mailbox_and_cuts_at_20() -> None:
    """45 items for A and 5 for B become 20+20+5 for A and 5 for B; no batch mixes mailboxes."""
    items = [create("a", n) for n in range(45)] + [create("B", n) for n in range(5)]
    chunks = plan_batches(items)
    assert [(c.mailbox, len(c.indexes)) for c in chunks] == [("a", 20), ("a", 20), ("a", 5), ("b", 5)]
    assert sorted(i for c in chunks for i in c.indexes) == list(range(50))


def test_plan_keeps_dependency_chains_together() -> None:
    """Items linked by dependsOn land in the same batch even when that starts a new one."""
    items = [create("a", n, id=f"i{n}") for n in range(19)]
    items += [create("a", 19, id="head"), create("a", 20, id="tail", depends_on=("head",))]
    chunks = plan_batches(items)
    together = next(c for c in chunks if 19 in c.indexes)
    assert 20 in together.indexes
    assert all(len(c.indexes) <= 20 for c in chunks)


def test_chains_never_share_a_batch_with_independent_items() -> None:
    """Graph refuses batches mixing items with and without dependsOn, so a chain gets a batch of its own."""
    items = [
        create("a", 0, id="solo1"),
        create("a", 1, id="head"),
        create("a", 2, id="tail", depends_on=("head",)),
    ]
    items.append(create("a", 3, id="solo2"))
    chunks = plan_batches(items)
    assert sorted(c.indexes for c in chunks) == [(0, 3), (1, 2)]


def test_retry_round_stays_fully_sequential() -> None:
    """When trimming done dependencies leaves several roots beside dependents, the roots are chained."""
    items = [
        create("a", 0, id="b", depends_on=()),
        create("a", 1, id="c", depends_on=("b",)),
        create("a", 2, id="d"),
    ]
    entries = wire_requests(items, ["b", "c", "d"])
    assert [e.get("dependsOn") for e in entries] == [None, ["b"], ["b"]]
    parallel = wire_requests([create("a", 0), create("a", 1)], ["0", "1"])
    assert all("dependsOn" not in e for e in parallel)


def test_plan_refuses_bad_dependencies() -> None:
    """Unknown ids, cross-mailbox dependencies, duplicate ids and over-long chains are refused."""
    with pytest.raises(ValueError, match="unknown id"):
        plan_batches([create("a", 0, id="x", depends_on=("nope",))])
    with pytest.raises(ValueError, match="another mailbox"):
        plan_batches([create("a", 0, id="x"), create("b", 1, id="y", depends_on=("x",))])
    with pytest.raises(ValueError, match="must come before"):
        plan_batches([create("a", 0, id="x", depends_on=("y",)), create("a", 1, id="y")])
    with pytest.raises(ValueError, match="duplicate"):
        plan_batches([create("a", 0, id="X"), create("a", 1, id="x")])
    chain = [create("a", 0, id="0")] + [
        create("a", n, id=str(n), depends_on=(str(n - 1),)) for n in range(1, 21)
    ]
    with pytest.raises(ValueError, match="does not fit"):
        plan_batches(chain)


def test_wire_item_adds_content_type_and_trims_dependencies() -> None:
    """A body gets Content-Type: application/json; dependsOn keeps only ids still pending."""
    item = BatchItem("post", "users/a/events", {"subject": "x"}, depends_on=("1", "2"))
    assert wire_item(item, "3", {"2", "3"}) == {
        "id": "3",
        "method": "POST",
        "url": "/users/a/events",
        "body": {"subject": "x"},
        "headers": {"Content-Type": "application/json"},
        "dependsOn": ["2"],
    }


def test_event_item_factories_encode_paths() -> None:
    """The event factories path-encode ids, add transactionId and If-Match like the typed calls."""
    create_item = BatchItem.create_event("a@x.com", {"subject": "s"}, "CAL=", transaction_id="tx", id="1")
    assert (create_item.url, create_item.body, create_item.retry_safe) == (
        "/users/a@x.com/calendars/CAL%3D/events",
        {"subject": "s", "transactionId": "tx"},
        True,
    )
    update = BatchItem.update_event("a@x.com", "AAMk-_=", {"subject": "t"}, if_match="ck")
    assert update.url == "/users/a@x.com/events/AAMk-_%3D"
    assert update.headers == {"If-Match": 'W/"ck"'}
    assert BatchItem.delete_event("me", "E/1").url == "/me/events/E%2F1"


BatchFn = Callable[[list[dict[str, Any]], int], list[dict[str, Any]]]


def batch_server(
    answer: BatchFn,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[list[dict[str, Any]]]]:
    """A MockTransport handler for $batch; `answer(requests, round)` gives the responses (any order)."""
    rounds: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1.0/$batch"
        requests = json.loads(request.content)["requests"]
        rounds.append(requests)
        return httpx.Response(200, json={"responses": answer(requests, len(rounds))})

    return handler, rounds


async def test_results_are_correlated_by_id() -> None:
    """Responses in reverse order still land on the right items, returned in input order."""

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        return [
            {"id": r["id"], "status": 201, "body": {"subject": r["body"]["subject"]}}
            for r in reversed(requests)
        ]

    handler, rounds = batch_server(answer)
    async with mock_client(handler) as graph:
        results = await graph.batch([create("a", n) for n in range(5)])
    assert [r.body["subject"] for r in results] == [f"event {n}" for n in range(5)]
    assert all(r.ok and r.status == 201 for r in results)
    assert len(rounds) == 1


async def test_keep_drops_the_rest_of_a_successful_answer_only() -> None:
    """`keep` trims a successful answer's body to the fields named; an error's body stays whole (its
    code and message are read from it), and an item without `keep` gets the whole answer."""
    whole = {"id": "E1", "changeKey": "ck", "subject": "s", "body": {"content": "x" * 1000}}

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        bad = {"error": {"code": "ErrorInvalidRequest", "message": "no"}}
        return [
            {"id": "0", "status": 201, "body": dict(whole)},
            {"id": "1", "status": 201, "body": dict(whole)},
            {"id": "2", "status": 400, "body": bad},
        ]

    handler, _ = batch_server(answer)
    items = [
        create("a", 0, keep=("id", "changeKey", "absent")),
        create("a", 1),
        create("a", 2, keep=("id",)),
    ]
    async with mock_client(handler) as graph:
        kept, full, failed = await graph.batch(items)
    assert kept.body == {"id": "E1", "changeKey": "ck"}
    assert kept.ok
    assert full.body == whole
    assert failed.body == {"error": {"code": "ErrorInvalidRequest", "message": "no"}}
    assert isinstance(failed.error, BadRequest)
    assert failed.error.code == "ErrorInvalidRequest"


async def test_inner_429_retries_only_failed_items_after_largest_retry_after() -> None:
    """Items answered 429 are sent again alone, after the largest inner Retry-After; the mailbox pauses."""

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        out = []
        for r in requests:
            if n == 1 and r["id"] in ("1", "3"):
                wait = "2.5" if r["id"] == "1" else "0.75"
                out.append({"id": r["id"], "status": 429, "headers": {"Retry-After": wait}, "body": {}})
            else:
                out.append({"id": r["id"], "status": 201, "body": {"id": f"E{r['id']}"}})
        return out

    handler, rounds = batch_server(answer)
    clock = FakeClock()
    async with mock_client(handler, clock=clock) as graph:
        results = await graph.batch([create("a", n) for n in range(5)])
    assert [r["id"] for r in rounds[1]] == ["1", "3"]
    assert clock.sleeps == [pytest.approx(2.5)]
    assert all(r.ok for r in results)


async def test_failed_dependency_is_retried_with_its_dependency() -> None:
    """A 424 whose dependency was throttled is retried with it; dependsOn on a done item is dropped."""

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        if n == 1:
            return [
                {"id": "a", "status": 201, "body": {}},
                {"id": "b", "status": 429, "headers": {"retry-after": "1"}, "body": {}},
                {"id": "c", "status": 424, "body": {"error": {"code": "FailedDependency"}}},
            ]
        return [{"id": r["id"], "status": 201, "body": {}} for r in requests]

    items = [
        create("m", 0, id="a"),
        create("m", 1, id="b", depends_on=("a",)),
        create("m", 2, id="c", depends_on=("b",)),
    ]
    handler, rounds = batch_server(answer)
    async with mock_client(handler) as graph:
        results = await graph.batch(items)
    assert [r["id"] for r in rounds[1]] == ["b", "c"]
    assert "dependsOn" not in rounds[1][0]
    assert rounds[1][1]["dependsOn"] == ["b"]
    assert all(r.ok for r in results)


async def test_failed_dependency_on_a_real_failure_is_final() -> None:
    """A 424 whose dependency failed for good (400) is returned as is, not retried."""

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        return [
            {"id": "a", "status": 400, "body": {"error": {"code": "ErrorInvalidRequest", "message": "bad"}}},
            {"id": "b", "status": 424, "body": {"error": {"code": "FailedDependency"}}},
        ]

    handler, rounds = batch_server(answer)
    async with mock_client(handler) as graph:
        first, second = await graph.batch([create("m", 0, id="a"), create("m", 1, id="b", depends_on=("a",))])
    assert isinstance(first.error, BadRequest)
    assert first.error.message == "bad"
    assert isinstance(second.error, HTTPStatusError)
    assert second.status == 424
    assert len(rounds) == 1


async def test_inner_5xx_retried_for_safe_items_indeterminate_for_others() -> None:
    """An inner 503 is retried for a create with transactionId; without one it is Indeterminate."""

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        return [{"id": r["id"], "status": 503 if n == 1 else 201, "body": {}} for r in requests]

    handler, rounds = batch_server(answer)
    async with mock_client(handler) as graph:
        safe, unsafe = await graph.batch([create("m", 0), create("m", 1, tx=False)])
    assert safe.ok
    assert isinstance(unsafe.error, Indeterminate)
    assert unsafe.status == 503
    assert [r["id"] for r in rounds[1]] == ["0"]


async def test_envelope_timeout_retries_safe_items_only() -> None:
    """When the $batch POST itself times out, safe items are sent again; unsafe ones are Indeterminate."""
    calls: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["requests"]
        calls.append([r["id"] for r in requests])
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"responses": [{"id": r["id"], "status": 201} for r in requests]})

    items = [create("m", 0), create("m", 1, tx=False), BatchItem("DELETE", "/users/m/events/E1")]
    async with mock_client(handler) as graph:
        tx_create, plain_create, delete = await graph.batch(items)
    assert calls == [["0", "1", "2"], ["0", "2"]]
    assert tx_create.ok
    assert delete.ok
    assert isinstance(plain_create.error, Indeterminate)
    assert plain_create.status == 0


async def test_envelope_429_retries_everything() -> None:
    """A throttled $batch envelope ran nothing: every item is sent again after its Retry-After."""
    answers = [graph_error_response(429, "TooManyRequests", headers={"Retry-After": "3"})]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            return answers.pop()
        requests = json.loads(request.content)["requests"]
        return httpx.Response(200, json={"responses": [{"id": r["id"], "status": 201} for r in requests]})

    clock = FakeClock()
    async with mock_client(handler, clock=clock) as graph:
        results = await graph.batch([create("m", 0, tx=False), create("m", 1)])
    assert all(r.ok for r in results)
    assert clock.sleeps == [3.0]


async def test_retries_are_bounded() -> None:
    """An item throttled every time ends as a Throttled result after max_attempts rounds."""

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        return [{"id": r["id"], "status": 429, "headers": {"Retry-After": "1"}} for r in requests]

    handler, rounds = batch_server(answer)
    async with mock_client(handler, retry=fast_policy(max_attempts=3)) as graph:
        (result,) = await graph.batch([create("m", 0)])
    assert isinstance(result.error, Throttled)
    assert len(rounds) == 3


async def test_auth_failure_is_raised_as_itself() -> None:
    """When no token can be had, batch raises the AuthError itself (not an exception group)."""
    from calsync.graph import AuthError

    class NoTokens:
        async def token(self, *, force_refresh: bool = False) -> str:
            raise AuthError("nope", error="invalid_client")

    handler, rounds = batch_server(lambda requests, n: [])
    async with mock_client(handler, tokens=NoTokens()) as graph:
        with pytest.raises(AuthError):
            await graph.batch([create("a", 0), create("b", 0)])
    assert rounds == []


async def test_missing_answer_is_indeterminate_for_unsafe_item() -> None:
    """An item absent from the responses is retried if safe, else reported Indeterminate."""

    def answer(requests: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        return [{"id": r["id"], "status": 201} for r in requests if n > 1 or r["id"] == "9"]

    handler, rounds = batch_server(answer)
    async with mock_client(handler) as graph:
        safe, unsafe, fine = await graph.batch(
            [create("m", 0), create("m", 1, tx=False), create("m", 9, id="9")]
        )
    assert safe.ok
    assert fine.ok
    assert isinstance(unsafe.error, Indeterminate)
    assert [r["id"] for r in rounds[1]] == ["0"]
