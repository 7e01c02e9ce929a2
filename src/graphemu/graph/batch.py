"""JSON batching: `POST /v1.0/$batch` with up to 20 requests, each run through the same pipeline.

Why: calsync sends bulk creates as batches, and what can go wrong there differs from single calls: the
envelope is 200 while items fail one by one (inner 429 with its own Retry-After, 424 after a failed
dependency), the response order is not the request order, and every item counts against the mailbox's
limits (graph-facts §6, §7; Dev Proxy §14). Each item becomes a `GraphRequest` with the batch's
principal and goes through `Pipeline.execute(in_batch=True)`, so throttling, faults, latency and the
request log apply per item exactly as for direct calls.

Validation (whole batch 400 BadRequest, wording as observed from Graph where known):
- body not `{"requests": [...]}`, an empty list, an item without string `id`/`method`/`url`:
  "Invalid batch payload format."
- more than 20 items: "Number of requests inside batch exceed the limit." (seen live from Graph)
- an id repeated, ignoring case: "Request Id {id} has to be unique in a batch."
- a POST/PATCH/PUT without a body or without a Content-Type header (and any body without one):
  "Write request id : {id} does not contain Content-Type header or body."
- dependsOn naming an id that is not an earlier item: "Invalid dependency for request Id {id}."
  (Graph requires dependencies to appear earlier; the exact wording past "Invalid dependency for
  request Id" is UNCONFIRMED.)
- some items with dependsOn and some without, beyond the first: "Batch should be either fully
  sequential or fully parallel." CHOICE: on by default because live Graph was reported to answer so (a
  docs issue and a field test; the docs only call it a tip); `batch_reject_mixed_sequencing=False`
  runs any dependency graph instead. An empty `dependsOn: []` counts as none.

Execution: items run as asyncio tasks. An item waits for its dependencies; if any of them ended with
status >= 400 it is not run and answers 424. Independent items run concurrently, at most
`batch_parallelism` (4, Graph's parallelism against Outlook) at once per mailbox. Items are answered in
completion order (deterministic for a given run), or shuffled with the pipeline's seeded RNG when
`batch_shuffle_responses` is set. Commit-then-drop raised by an item (ConnectionDropped /
SimulatedTimeout) is re-raised after every item has finished: the writes stay applied and the whole
batch response is lost, as when the real connection drops. The pipeline is told that the items' answers
were lost, so that an early retry of an item that had been throttled is not counted as a Retry-After
violation (the client never saw that 429).

CHOICE: the 424 body is {"error": {"code": "FailedDependency", "message": "...", "innerError": {...}}}
(wording UNCONFIRMED). An item whose own response was dropped by commit-then-drop counts as succeeded
for its dependents, because the server did apply it.
CHOICE: item headers are `Cache-Control: no-cache`, `Content-Type` (the OData JSON type for 2xx JSON
bodies, `application/json` for errors, as in the docs' example), `OData-Version` with 2xx JSON, plus the
item's own headers (Retry-After, Location, ETag, Preference-Applied...); no request-id (the docs' example
has none). A response without content (204) has no `body` member.
CHOICE: an absolute item URL (with a scheme) answers that item 400 BadRequest "Invalid request URL."; a
leading "/" is optional. A "/v1.0" prefix is not stripped (item urls are relative to the version root):
"v1.0" is then an unknown first segment, and the item answers 400 BadRequest "Resource not found for the
segment 'v1.0'.", as Graph does (msgraph-sdk-javascript#1178).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.datastructures import QueryParams

from graphemu import ids
from graphemu.errors import GraphError
from graphemu.graph.http import JSON_TYPE
from graphemu.graph.router import GraphRequest, GraphResponse, split_path
from graphemu.pipeline import ConnectionDropped, SimulatedTimeout

if TYPE_CHECKING:
    from graphemu.pipeline import Pipeline

MAX_REQUESTS = 20
DEFAULT_PARALLELISM = 4  # Graph runs up to 4 requests of a batch in parallel against Outlook (graph-facts §6)
_WRITE_METHODS = ("POST", "PATCH", "PUT")
_JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


@dataclass
class _Item:
    """One request of the batch, validated, with what its dependents wait on."""

    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    depends_on: list[str]
    done: asyncio.Event = field(default_factory=asyncio.Event)
    status: int = 0


def _invalid(message: str = "Invalid batch payload format.") -> GraphError:
    return GraphError(400, "BadRequest", message)


def parse_items(body: Any, *, reject_mixed: bool = True) -> list[_Item]:
    """Validate a batch body into items; raises GraphError 400 for anything Graph rejects as a whole."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise _invalid()
    if len(requests) > MAX_REQUESTS:
        raise _invalid("Number of requests inside batch exceed the limit.")
    items: list[_Item] = []
    seen: dict[str, str] = {}
    for raw in requests:
        if not isinstance(raw, dict):
            raise _invalid()
        rid, method, url = raw.get("id"), raw.get("method"), raw.get("url")
        if not (isinstance(rid, str) and isinstance(method, str) and isinstance(url, str)):
            raise _invalid()
        if not (rid and method and url):
            raise _invalid()
        if rid.lower() in seen:
            raise _invalid(f"Request Id {rid} has to be unique in a batch.")
        headers = raw.get("headers") or {}
        depends = raw.get("dependsOn") or []
        if not isinstance(headers, dict) or not isinstance(depends, list):
            raise _invalid()
        headers = {str(k).lower(): str(v) for k, v in headers.items()}
        method = method.upper()
        has_body = raw.get("body") is not None
        if (method in _WRITE_METHODS or has_body) and not (has_body and "content-type" in headers):
            raise _invalid(f"Write request id : {rid} does not contain Content-Type header or body.")
        for dep in depends:
            if not isinstance(dep, str) or dep.lower() not in seen:
                raise _invalid(f"Invalid dependency for request Id {rid}.")
        seen[rid.lower()] = rid
        items.append(_Item(rid, method, url, headers, raw.get("body"), [seen[d.lower()] for d in depends]))
    dependent = [bool(item.depends_on) for item in items[1:]]
    if reject_mixed and any(dependent) and not all(dependent):
        raise _invalid("Batch should be either fully sequential or fully parallel.")
    return items


def _item_request(batch: GraphRequest, item: _Item) -> GraphRequest:
    path, _, query = item.url.partition("?")
    return GraphRequest(
        method=item.method,
        path=unquote(path.lstrip("/")),
        query=dict(QueryParams(query)),
        headers=item.headers,
        body=item.body,
        principal=batch.principal,
        request_id=ids.request_id(),
        client_request_id=item.headers.get("client-request-id") or batch.client_request_id,
        raw_url=item.url,
    )


def _answer(item: _Item, response: GraphResponse) -> dict[str, Any]:
    """One entry of `responses`, with the headers a batch item carries."""
    headers = {"Cache-Control": "no-cache"}
    entry: dict[str, Any] = {"id": item.id, "status": response.status, "headers": headers}
    if response.body is not None:
        if isinstance(response.body, str):
            headers["Content-Type"] = "text/plain"
        elif response.status >= 400:
            headers["Content-Type"] = "application/json"
        else:
            headers["OData-Version"] = "4.0"
            headers["Content-Type"] = JSON_TYPE
        entry["body"] = response.body
    headers.update(response.headers)
    return entry


def _failed_dependency(pipeline: Pipeline, req: GraphRequest, item: _Item, dependency: str) -> GraphResponse:
    exc = GraphError(
        424, "FailedDependency", f"Request Id {item.id} depends on request Id {dependency}, which failed."
    )
    now = pipeline.ctx.world.clock.now()
    return GraphResponse(424, exc.body(now, req.request_id, req.client_request_id))


async def run_batch(pipeline: Pipeline, req: GraphRequest) -> GraphResponse:
    """Answer a `$batch` POST: 400 for an invalid batch, else 200 with one response per item."""
    config = pipeline.ctx.config
    pipeline.ctx.world.counters.batches += 1
    try:
        items = parse_items(req.body, reject_mixed=config.batch_reject_mixed_sequencing)
    except GraphError as exc:
        return pipeline._error(req, exc, pipeline._log(req, False))
    by_id = {item.id: item for item in items}
    arrived = pipeline.ctx.world.clock.monotonic()  # every item was sent with the batch
    parallelism = config.batch_parallelism
    slots: dict[str, asyncio.Semaphore] = {}
    answers: list[dict[str, Any]] = []
    lost: list[BaseException] = []
    sent: list[GraphRequest] = []  # every item request, for the pipeline to forget if the batch is lost

    async def run(item: _Item) -> None:
        try:
            for dep in item.depends_on:
                await by_id[dep].done.wait()
            item_req = _item_request(req, item)
            sent.append(item_req)
            failed = next((d for d in item.depends_on if by_id[d].status >= 400), None)
            if failed is not None:
                response = _failed_dependency(pipeline, item_req, item, failed)
            elif "://" in item.url:
                response = pipeline._error(
                    item_req, _invalid("Invalid request URL."), pipeline._log(item_req, True)
                )
            else:
                try:
                    key = pipeline.mailbox_key(item_req, split_path(item_req.path, item_req.principal))
                except GraphError:
                    key = "(invalid)"
                slot = slots.setdefault(key, asyncio.Semaphore(parallelism))
                async with slot:
                    try:
                        response = await pipeline.execute(item_req, in_batch=True, sent_at=arrived)
                    except (ConnectionDropped, SimulatedTimeout) as exc:
                        lost.append(exc)
                        item.status = 200  # applied on the server; only the answer is lost
                        return
            item.status = response.status
            answers.append(_answer(item, response))
        finally:
            item.done.set()

    results = await asyncio.gather(*(run(item) for item in items), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    if lost:
        pipeline.answers_lost(sent)  # the items' 429s never reach the client
        raise lost[0]
    if config.batch_shuffle_responses:
        pipeline.rng.shuffle(answers)
    return GraphResponse(200, {"responses": answers})
