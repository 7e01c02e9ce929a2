"""The HTTP face of Graph: turn a request into a `GraphRequest`, run it, render Graph's headers.

Every response carries request-id and client-request-id (the client's value echoed, else the request-id),
plus the headers Graph and Dev Proxy send (graph-facts §9). `$batch` is dispatched from here too, since
its items are GraphRequests run by the same pipeline.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from graphemu import ids
from graphemu.errors import GraphError
from graphemu.graph.access import principal_from_header
from graphemu.graph.router import GraphRequest, GraphResponse, Principal

if TYPE_CHECKING:
    from graphemu.pipeline import Pipeline

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
_ANONYMOUS = Principal(tenant_id="", client_id="")


def render(response: GraphResponse, request_id: str, client_request_id: str) -> Response:
    """A Starlette response with Graph's standard headers."""
    headers = {
        "request-id": request_id,
        "client-request-id": client_request_id,
        "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Emulated","Slice":"E","Ring":"0",'
        '"ScaleUnit":"000","RoleInstance":"graphemu"}}',
        "Strict-Transport-Security": "max-age=31536000",
        "Cache-Control": "no-store",
        "OData-Version": "4.0",
    }
    headers.update(response.headers)
    if response.body is None:
        return Response(status_code=response.status, headers=headers)
    if isinstance(response.body, str):
        return Response(response.body, response.status, headers, media_type="text/plain")
    payload = json.dumps(response.body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(payload, response.status, headers, media_type=JSON_TYPE)


async def graph_endpoint(request: Request) -> Response:
    """ASGI endpoint for `/v1.0/{path}`."""
    pipeline: Pipeline = request.app.state.pipeline
    request_id = ids.request_id()
    client_request_id = request.headers.get("client-request-id") or request_id
    path = request.path_params["path"]
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        principal = principal_from_header(pipeline.ctx, request.headers.get("authorization"))
        body = await _read_json(request)
    except GraphError as exc:
        fake = GraphRequest(
            request.method, path, {}, headers, None, _ANONYMOUS, request_id, client_request_id
        )
        return render(pipeline._error(fake, exc, pipeline._log(fake, False)), request_id, client_request_id)
    req = GraphRequest(
        method=request.method,
        path=path,
        query=dict(request.query_params),
        headers=headers,
        body=body,
        principal=principal,
        request_id=request_id,
        client_request_id=client_request_id,
        raw_url=str(request.url),
    )
    if path.strip("/").lower() == "$batch" and request.method == "POST":
        from graphemu.graph.batch import run_batch

        response = await run_batch(pipeline, req)
    else:
        response = await pipeline.execute(req)
    return render(response, request_id, client_request_id)


async def _read_json(request: Request) -> Any:
    if request.method not in ("POST", "PATCH", "PUT"):
        return None
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type "
            "header is set and payload is of valid JSON format.",
        ) from None
