"""What every identity-platform endpoint shares: the tenant in the path, URLs, forms and JSON answers.

The `{tenant}` path segment is a tenant GUID, a verified domain, or one of the aliases `common`,
`organizations` and `consumers` (graph-facts §1.1). An unknown GUID or domain is AADSTS90002.

CHOICE: graphemu models single-tenant app registrations only, so `organizations` and `common`
resolve to the app's home tenant wherever a tenant is needed (delegated grants and admin consent),
and `organizations` is accepted for client_credentials (the AADSTS9001023 text itself recommends it);
`common` and `consumers` are refused for client_credentials (AADSTS9001023).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from graphemu import ids
from graphemu.config import EmulatorConfig
from graphemu.errors import AadError
from graphemu.world import AppRegistration, Tenant, World

ALIASES = ("common", "organizations", "consumers")
TenantKind = Literal["tenant", "common", "organizations", "consumers"]


@dataclass(frozen=True)
class TenantRef:
    """The `{tenant}` segment as sent (`segment`) and what it names."""

    segment: str
    kind: TenantKind
    tenant: Tenant | None = None

    @property
    def is_alias(self) -> bool:
        return self.kind != "tenant"


def resolve_tenant(world: World, segment: str, *, error: str = "invalid_request") -> TenantRef:
    """Resolve the path's tenant; an unknown GUID or domain raises AADSTS90002 with `error`."""
    lowered = segment.lower()
    if lowered in ALIASES:
        kind: TenantKind = (
            "common" if lowered == "common" else ("organizations" if lowered[0] == "o" else "consumers")
        )
        return TenantRef(segment, kind)
    tenant = world.tenants.get(lowered) or world.tenants.get(segment)
    if tenant is None:
        tenant = next((t for t in world.tenants.values() if t.domain.lower() == lowered), None)
    if tenant is None:
        raise AadError(error, 90002, tenant=segment)
    return TenantRef(segment, "tenant", tenant)


def find_app(world: World, ref: TenantRef, client_id: str | None) -> AppRegistration:
    """The app registration a request names, within the path's tenant (AADSTS900144 / 700016)."""
    if not client_id:
        raise AadError("invalid_request", 900144, parameter="client_id")
    app = world.apps.get(client_id) or world.apps.get(client_id.lower())
    tenant_label = ref.tenant.id if ref.tenant else ref.segment
    if app is None or (ref.tenant is not None and app.tenant_id != ref.tenant.id):
        raise AadError("unauthorized_client", 700016, client_id=client_id, tenant=tenant_label)
    return app


def login_base(config: EmulatorConfig) -> str:
    return config.login_base_url.rstrip("/")


def token_endpoint(config: EmulatorConfig, tenant: str) -> str:
    return f"{login_base(config)}/{tenant}/oauth2/v2.0/token"


def issuer(config: EmulatorConfig, tenant_id: str) -> str:
    """The v2 issuer, `https://login.microsoftonline.com/{tid}/v2.0` but under `login_base_url`."""
    return f"{login_base(config)}/{tenant_id}/v2.0"


def advertised_segment(ref: TenantRef) -> str:
    """The tenant as discovery advertises it: aliases stay, a domain becomes the tenant GUID."""
    return ref.tenant.id if ref.tenant is not None else ref.segment.lower()


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body as a dict (first value wins). Any other content type reads as empty, which
    makes Entra answer AADSTS900144 for the first missing parameter, as it does for JSON bodies."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    raw = (await request.body()).decode("utf-8", errors="replace")
    form: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        form.setdefault(key, value)
    return form


def json_answer(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with the headers the token service sends (never cached)."""
    all_headers = {
        "Cache-Control": "no-store, no-cache",
        "Pragma": "no-cache",
        "x-ms-request-id": ids.request_id(),
        "x-ms-ests-server": "graphemu",
    }
    all_headers.update(headers or {})
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Response(payload, status, all_headers, media_type="application/json; charset=utf-8")


def same_url(a: str, b: str) -> bool:
    """Compare endpoint URLs ignoring a trailing slash and the case of scheme and host."""
    pa, pb = urlsplit(a.strip()), urlsplit(b.strip())
    return (
        pa.scheme.lower() == pb.scheme.lower()
        and pa.netloc.lower() == pb.netloc.lower()
        and pa.path.rstrip("/").lower() == pb.path.rstrip("/").lower()
    )
