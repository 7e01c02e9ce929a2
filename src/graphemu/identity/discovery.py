"""OpenID discovery, the signing keys, and instance discovery (graph-facts §1.4, §1.5).

- `GET /{tenant}/v2.0/.well-known/openid-configuration`: the fields of a recorded real document, with
  every endpoint under `config.login_base_url` (MSAL requires https and canonicalises the advertised
  token_endpoint, and signs assertions for exactly that URL). A domain tenant is advertised by GUID,
  as the service does; aliases keep the alias and the issuer keeps the literal `{tenantid}`.
  Served with `Cache-Control: max-age=86400, private`.
- `GET /{tenant}/.well-known/openid-configuration`: the v1 document (issuer `https://sts.windows.net/
  {tid}/`). Only its discovery is emulated; the v1 token and authorize endpoints are not served.
- `GET /{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`: the JWKS with the emulator's key.
- `GET /common/discovery/instance`: what MSAL calls when instance discovery is on. The emulator's
  login host and Microsoft's public hosts are known instances; others get `invalid_instance`
  (AADSTS50049), which MSAL turns into its "authority is not known" error.

CHOICE: discovery for an unknown tenant answers 400 `invalid_tenant` AADSTS90002 (the service's
discovery error; the token endpoint uses `invalid_request` for the same code).
CHOICE: `device_authorization_endpoint`, `end_session_endpoint` and `kerberos_endpoint` are advertised
for fidelity with the recorded document even though graphemu does not serve them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from graphemu.errors import AadError
from graphemu.graph.router import Context
from graphemu.identity.common import advertised_segment, json_answer, login_base, resolve_tenant

DISCOVERY_CACHE = {"Cache-Control": "max-age=86400, private", "Access-Control-Allow-Origin": "*"}
PUBLIC_HOSTS = ("login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net")
CLAIMS = [
    "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host",
    "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash",
    "c_hash", "email",
]  # fmt: skip


def openid_configuration(ctx: Context, segment: str, tenant_id: str | None) -> dict[str, Any]:
    """The v2 discovery document for an advertised tenant segment (GUID or alias)."""
    base = login_base(ctx.config)
    graph_host = urlsplit(ctx.config.base_url).netloc or "graph.microsoft.com"
    prefix = f"{base}/{segment}"
    return {
        "token_endpoint": f"{prefix}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{prefix}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{tenant_id or '{tenantid}'}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{ctx.config.base_url.rstrip('/')}/oidc/userinfo",
        "authorization_endpoint": f"{prefix}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{prefix}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{prefix}/oauth2/v2.0/logout",
        "claims_supported": CLAIMS,
        "kerberos_endpoint": f"{prefix}/kerberos",
        "tenant_region_scope": "NA" if tenant_id else None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": graph_host,
        "rbac_url": "https://pas.windows.net",
    }


def openid_configuration_v1(ctx: Context, segment: str, tenant_id: str | None) -> dict[str, Any]:
    """The v1 discovery document (sts.windows.net issuer, v1 endpoints)."""
    base = login_base(ctx.config)
    prefix = f"{base}/{segment}"
    return {
        "token_endpoint": f"{prefix}/oauth2/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/common/discovery/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": f"https://sts.windows.net/{tenant_id or '{tenantid}'}/",
        "microsoft_multi_refresh_token": True,
        "authorization_endpoint": f"{prefix}/oauth2/authorize",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{prefix}/oauth2/logout",
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "email",
            "given_name",
            "family_name",
            "nickname",
        ],
        "tenant_region_scope": "NA" if tenant_id else None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": urlsplit(ctx.config.base_url).netloc or "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def routes(ctx: Context) -> list[BaseRoute]:
    world, config = ctx.world, ctx.config

    def _tenant(request: Request) -> tuple[str, str | None]:
        ref = resolve_tenant(world, request.path_params["tenant"], error="invalid_tenant")
        return advertised_segment(ref), ref.tenant.id if ref.tenant else None

    async def v2(request: Request) -> Response:
        return json_answer(openid_configuration(ctx, *_tenant(request)), headers=DISCOVERY_CACHE)

    async def v1(request: Request) -> Response:
        return json_answer(openid_configuration_v1(ctx, *_tenant(request)), headers=DISCOVERY_CACHE)

    async def keys(request: Request) -> Response:
        _, tenant_id = _tenant(request)
        jwk = dict(world.extra["signing_key"].jwk())
        jwk["issuer"] = f"{login_base(config)}/{tenant_id or '{tenantid}'}/v2.0"
        return json_answer({"keys": [jwk]}, headers=DISCOVERY_CACHE)

    async def instance(request: Request) -> Response:
        endpoint = request.query_params.get("authorization_endpoint")
        if not endpoint:
            raise AadError("invalid_request", 50050)
        parts = urlsplit(endpoint)
        own_host = urlsplit(login_base(config)).netloc.lower()
        host = parts.netloc.lower()
        segments = [s for s in parts.path.split("/") if s]
        if parts.scheme != "https" or host not in (own_host, *PUBLIC_HOSTS) or not segments:
            raise AadError("invalid_instance", 50049)
        tenant = segments[0]
        v1_style = "v2.0" not in segments
        discovery = (
            f"{login_base(config)}/{tenant}{'' if v1_style else '/v2.0'}/.well-known/openid-configuration"
        )
        public = {
            "preferred_network": PUBLIC_HOSTS[0],
            "preferred_cache": PUBLIC_HOSTS[1],
            "aliases": list(PUBLIC_HOSTS),
        }
        own = {"preferred_network": own_host, "preferred_cache": own_host, "aliases": [own_host]}
        body = {
            "tenant_discovery_endpoint": discovery,
            "api-version": request.query_params.get("api-version", "1.1"),
            "metadata": [public] if own_host in PUBLIC_HOSTS else [own, public],
        }
        return json_answer(body, headers=DISCOVERY_CACHE)

    return [
        Route("/common/discovery/instance", instance, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", v2, methods=["GET"]),
        Route("/{tenant}/.well-known/openid-configuration", v1, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
        Route("/{tenant}/discovery/keys", keys, methods=["GET"]),
    ]
