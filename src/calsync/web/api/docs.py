"""Browsable API documentation that loads nothing from anywhere else.

FastAPI's /docs and /redoc pages fetch Swagger UI or ReDoc from a CDN; a self-hosted service should not
make its users' browsers call a third party (and its Content-Security-Policy can then stay strict). No
installed package ships those assets, so this is a small server-rendered page made from the OpenAPI
document itself: each operation with its method, path, summary, scope, parameters, request body and
answers. The machine-readable document is at /openapi.json.
"""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "h2{margin-top:2.5rem;border-bottom:1px solid #ddd}code,pre{background:#f5f5f5;padding:.1rem .3rem}"
    "pre{padding:.6rem;overflow:auto}.m{font-weight:bold;text-transform:uppercase;margin-right:.5rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}"
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    return str(schema.get("type", "object"))


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    parts = [f'<h3 id="{_e(op.get("operationId", ""))}"><span class="m">{_e(method)}</span><code>{_e(path)}'
             f"</code></h3>", f"<p>{_e(op.get('summary', ''))}</p>"]  # fmt: skip
    if op.get("description"):
        parts.append(f"<pre>{_e(op['description'])}</pre>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{_e(_schema_name(p.get('schema', {})))}</td><td>{'yes' if p.get('required') else ''}</td>"
            f"<td>{_e(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th>"
                     f"<th></th></tr>{rows}</table>")  # fmt: skip
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        parts.append(f"<p>Request body: <a href='#schema-{_e(_schema_name(body))}'>{_e(_schema_name(body))}"
                     "</a></p>")  # fmt: skip
    answers = "".join(
        f"<li><code>{_e(code)}</code> {_e(r.get('description', ''))}</li>"
        for code, r in op.get("responses", {}).items()
    )
    parts.append(f"<ul>{answers}</ul>")
    return "\n".join(parts)


def docs_page(openapi: dict[str, Any]) -> str:
    """The HTML page for an OpenAPI document: operations first, then every schema as JSON."""
    info = openapi.get("info", {})
    ops = [
        _operation(method, path, op)
        for path, item in openapi.get("paths", {}).items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    schemas = "".join(
        f"<h3 id='schema-{_e(name)}'>{_e(name)}</h3><pre>{_e(json.dumps(s, indent=2))}</pre>"
        for name, s in openapi.get("components", {}).get("schemas", {}).items()
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(info.get('title', 'API'))}"
        f"</title><style>{_STYLE}</style></head><body><h1>{_e(info.get('title', ''))} "
        f"{_e(info.get('version', ''))}</h1><p>{_e(info.get('description', ''))}</p>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. Guide: docs/api.md.</p>"
        f"<h2>Operations</h2>{''.join(ops)}<h2>Schemas</h2>{schemas}</body></html>"
    )
