"""The `scope` parameter: one resource's permissions plus the OpenID Connect scopes.

v2 scopes are `{resource}/{permission}`; an unqualified name (`Calendars.ReadWrite`) means Microsoft
Graph, and `{resource}/.default` means "whatever is already consented" (ED v2-permissions-and-consent).
graphemu emulates one resource, Graph; any other resource is AADSTS500011, and two resources in one
request are AADSTS700022 (graph-facts §1.1). Permission names are case-insensitive in Entra, so known
names are normalised to their documented spelling; unknown names are kept as sent.

CHOICE: the `scope` of a token response lists Graph permissions in full-URI form
(`https://graph.microsoft.com/Calendars.ReadWrite`, the form MSAL asks with, so its cache matches)
followed by the OpenID scopes that were asked for; the access token's `scp` uses short names.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphemu.errors import AadError
from graphemu.signing import GRAPH_APP_ID, GRAPH_RESOURCE

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
DEFAULT = ".default"
KNOWN_PERMISSIONS = (
    "Calendars.Read",
    "Calendars.ReadBasic",
    "Calendars.ReadWrite",
    "Calendars.Read.Shared",
    "Calendars.ReadWrite.Shared",
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "MailboxSettings.Read",
    "MailboxSettings.ReadWrite",
    "Mail.Read",
    "Mail.Send",
)
_CANONICAL = {name.lower(): name for name in KNOWN_PERMISSIONS}


@dataclass(frozen=True)
class ScopeSet:
    """A parsed scope parameter: Graph permission names, `.default`, and OpenID scopes."""

    graph: frozenset[str] = frozenset()
    default: bool = False
    oidc: frozenset[str] = frozenset()

    @property
    def has_resource(self) -> bool:
        return self.default or bool(self.graph)

    def as_param(self) -> str:
        """The scope parameter this set was parsed from, normalised (what a refresh token remembers)."""
        parts = [f"{GRAPH_RESOURCE}/{DEFAULT}"] if self.default else []
        parts.extend(f"{GRAPH_RESOURCE}/{name}" for name in sorted(self.graph))
        parts.extend(s for s in OIDC_SCOPES if s in self.oidc)
        return " ".join(parts)

    def response_scope(self, granted: frozenset[str] | set[str]) -> str:
        """The `scope` string of a token response for the granted Graph permissions."""
        parts = [f"{GRAPH_RESOURCE}/{name}" for name in sorted(granted)]
        parts.extend(s for s in OIDC_SCOPES if s in self.oidc)
        return " ".join(parts)


def canonical(name: str) -> str:
    """A permission's documented spelling (Entra matches names case-insensitively)."""
    return _CANONICAL.get(name.lower(), name)


def _graph_aliases(graph_base_url: str | None) -> set[str]:
    aliases = {GRAPH_RESOURCE.lower(), GRAPH_APP_ID}
    if graph_base_url:
        aliases.add(graph_base_url.rstrip("/").lower())
    return aliases


def parse_scopes(text: str | None, *, tenant: str, graph_base_url: str | None = None) -> ScopeSet:
    """Parse a scope parameter. Raises AADSTS900144 (missing), 700022 (two resources), 500011 (unknown
    resource) or 70011 (malformed, or `.default` mixed with named permissions)."""
    if text is None or not text.strip():
        raise AadError("invalid_request", 900144, parameter="scope")
    aliases = _graph_aliases(graph_base_url)
    graph: set[str] = set()
    oidc: set[str] = set()
    resources: set[str] = set()
    default = False
    for item in text.split():
        lowered = item.lower()
        if lowered in OIDC_SCOPES:
            oidc.add(lowered)
            continue
        resource, sep, permission = item.rpartition("/")
        if not sep:
            resource, permission = GRAPH_RESOURCE, item
        if not permission:
            raise AadError("invalid_scope", 70011, scope=item)
        resource_key = resource.rstrip("/").lower()
        resource_key = GRAPH_RESOURCE.lower() if resource_key in aliases else resource_key
        resources.add(resource_key)
        if permission == DEFAULT:
            default = True
        else:
            graph.add(canonical(permission))
    if len(resources) > 1:
        raise AadError("invalid_scope", 700022)
    unknown = resources - {GRAPH_RESOURCE.lower()}
    if unknown:
        raise AadError("invalid_resource", 500011, name=unknown.pop(), tenant=tenant)
    if default and graph:
        raise AadError("invalid_scope", 70011, scope=text)
    return ScopeSet(graph=frozenset(graph), default=default, oidc=frozenset(oidc))


def consented(app_admin: set[str], user_scopes: set[str] | None) -> frozenset[str]:
    """Delegated permissions a user may get for an app: tenant-wide admin consent plus their own."""
    return frozenset(canonical(s) for s in app_admin | (user_scopes or set()))


def granted_for(request: ScopeSet, consented_scopes: frozenset[str], client_id: str) -> frozenset[str]:
    """The Graph permissions to grant, or AADSTS65001 (consent_required) when one is not consented.
    `.default` grants everything consented and needs at least one consented permission."""
    if request.default:
        if not consented_scopes:
            raise AadError("invalid_grant", 65001, suberror="consent_required", client_id=client_id)
        return consented_scopes
    missing = request.graph - consented_scopes
    if missing:
        raise AadError("invalid_grant", 65001, suberror="consent_required", client_id=client_id)
    return request.graph
