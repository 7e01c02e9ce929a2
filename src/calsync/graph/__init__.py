"""calsync.graph: the async Microsoft Graph client (auth, transport, errors, retries, limits, $batch,
paging, delta, typed calls).

Start with `GraphClient` (client.py) and a token provider (auth.py); the error tree is drawn in errors.py
and autherrors.py. This package imports only httpx, msal (in auth.py alone), cryptography and the standard
library; it never imports graphemu or other calsync packages.
"""

from __future__ import annotations

from calsync.graph.auth import (
    GRAPH_DEFAULT_SCOPE,
    AppTokenProvider,
    DelegatedTokenCache,
    DelegatedTokenProvider,
    EntraApp,
)
from calsync.graph.autherrors import (
    AppNotFound,
    AuthError,
    CertificateExpired,
    CertificateNotRegistered,
    ClientSecretExpired,
    ConsentRequired,
    InvalidClientSecret,
    ReconnectRequired,
)
from calsync.graph.batch_plan import MAX_BATCH_ITEMS, BatchItem, BatchResult
from calsync.graph.client import DEFAULT_BASE_URL, GraphClient
from calsync.graph.credentials import CertificateCredential, ClientSecretCredential, Credential, Secret
from calsync.graph.delta import DeltaRound, DeltaStart
from calsync.graph.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GraphClientError,
    HTTPStatusError,
    Indeterminate,
    InvalidUser,
    MailboxNotEnabled,
    NotFound,
    PreconditionFailed,
    ServerError,
    SyncStateNotFound,
    Throttled,
    TransportError,
    Unauthorized,
    parse_retry_after,
)
from calsync.graph.limiter import MailboxLimiter, mailbox_key
from calsync.graph.odata import extended_property_filter, literal
from calsync.graph.retry import Clock, RetryPolicy, SystemClock
from calsync.graph.signin import SignIn, finish_auth_code_flow, start_auth_code_flow
from calsync.graph.tokens import TokenProvider

__all__ = [
    "DEFAULT_BASE_URL",
    "GRAPH_DEFAULT_SCOPE",
    "MAX_BATCH_ITEMS",
    "AppNotFound",
    "AppTokenProvider",
    "AuthError",
    "BadRequest",
    "BatchItem",
    "BatchResult",
    "CertificateCredential",
    "CertificateExpired",
    "CertificateNotRegistered",
    "ClientSecretCredential",
    "ClientSecretExpired",
    "Clock",
    "Conflict",
    "ConsentRequired",
    "Credential",
    "DelegatedTokenCache",
    "DelegatedTokenProvider",
    "DeltaRound",
    "DeltaStart",
    "EntraApp",
    "Forbidden",
    "GraphClient",
    "GraphClientError",
    "HTTPStatusError",
    "Indeterminate",
    "InvalidClientSecret",
    "InvalidUser",
    "MailboxLimiter",
    "MailboxNotEnabled",
    "NotFound",
    "PreconditionFailed",
    "ReconnectRequired",
    "RetryPolicy",
    "Secret",
    "ServerError",
    "SignIn",
    "SyncStateNotFound",
    "SystemClock",
    "Throttled",
    "TokenProvider",
    "TransportError",
    "Unauthorized",
    "extended_property_filter",
    "finish_auth_code_flow",
    "literal",
    "mailbox_key",
    "parse_retry_after",
    "start_auth_code_flow",
]
