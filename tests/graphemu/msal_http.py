"""Test support for the identity tests: an http_client MSAL accepts, certificates, client assertions, and
a reader for the fields of the sign-in pages.

MSAL needs an object with `get`, `post` and `close` whose responses have `status_code`, `text`,
`headers` and `raise_for_status()` (requests-like). A sync `httpx.Client` is that; its transport here
runs each request through the in-process app (graphemu.testing.EmulatorTransport) on a short-lived
event loop, whatever host the URL names, so MSAL can talk to `https://login.example.test/...`
(graph-facts §1.5, way B) without sockets or TLS. (Starlette's TestClient would do too, but it warns
that its httpx backend is deprecated, and warnings are errors here.)
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import time
import uuid
from html.parser import HTMLParser
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from graphemu.testing import EmulatorTransport

LOGIN = "https://login.example.test"


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport: each request runs through the app on its own event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> httpx.Response:
            response = await EmulatorTransport(self.app).handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(run())


class MsalHttpClient:
    """A requests-like client for MSAL that serves every URL from the in-process app. Cookies are kept,
    so the same client can also drive the sign-in page like a browser."""

    def __init__(self, app: Any) -> None:
        self.client = httpx.Client(transport=InProcessTransport(app), base_url=LOGIN, follow_redirects=False)
        self.calls: list[tuple[str, str]] = []

    @staticmethod
    def _headers(headers: dict[str, Any] | None) -> dict[str, str]:
        return {k: str(v) for k, v in (headers or {}).items() if v is not None}

    def get(self, url: str, params: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> Any:
        self.calls.append(("GET", url))
        return self.client.get(url, params=params, headers=self._headers(headers))

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        self.calls.append(("POST", url))
        if isinstance(data, str | bytes):
            return self.client.post(url, params=params, content=data, headers=self._headers(headers))
        # requests form-encodes bytes values as their text (MSAL passes the client assertion as bytes);
        # httpx would send their repr, so decode them first.
        form = {k: v.decode() if isinstance(v, bytes) else v for k, v in (data or {}).items()}
        return self.client.post(url, params=params, data=form, headers=self._headers(headers))

    def close(self) -> None:
        self.client.close()


class Certificate:
    """A self-signed RSA certificate and its key, as PEM, with the thumbprints Entra keys them by."""

    def __init__(self, *, days: int = 30, not_after: dt.datetime | None = None) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync test")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=2))
            .not_valid_after(not_after or now + dt.timedelta(days=days))
            .sign(self.key, hashes.SHA256())
        )
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.key_pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.sha1_hex = hashlib.sha1(self.der).hexdigest().upper()

    def x5t(self, *, padded: bool = True) -> str:
        value = base64.urlsafe_b64encode(hashlib.sha1(self.der).digest()).decode()
        return value if padded else value.rstrip("=")

    def x5t_s256(self, *, padded: bool = True) -> str:
        value = base64.urlsafe_b64encode(hashlib.sha256(self.der).digest()).decode()
        return value if padded else value.rstrip("=")

    def x5c(self) -> str:
        """The PEM body with its newlines, as MSAL puts it in x5c."""
        return "".join(self.cert_pem.splitlines(keepends=True)[1:-1])


def assertion(
    cert: Certificate,
    *,
    client_id: str,
    aud: str,
    alg: str = "PS256",
    thumbprint: str = "x5t#S256",
    lifetime: float = 600,
    iat: float | None = None,
    signer: Certificate | None = None,
    **claims: Any,
) -> str:
    """A client assertion shaped like MSAL's: float iat/exp, no nbf, no kid, padded thumbprint, x5c."""
    issued = time.time() if iat is None else iat
    body: dict[str, Any] = {
        "aud": aud,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + lifetime,
    }
    body.update(claims)
    header: dict[str, Any] = {"typ": "JWT", "x5c": [cert.x5c()]}
    header[thumbprint] = cert.x5t_s256() if thumbprint == "x5t#S256" else cert.x5t()
    return jwt.encode(body, (signer or cert).key, algorithm=alg, headers=header)


class Form(HTMLParser):
    """The fields of a page: hidden inputs, select options (and which is selected), buttons, scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.options: dict[str, bool] = {}
        self.forms: list[dict[str, str | None]] = []
        self.script_nonces: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"] or ""] = a.get("value") or ""
        elif tag == "option":
            self.options[a["value"] or ""] = "selected" in a
        elif tag == "form":
            self.forms.append(a)
        elif tag == "script":
            self.script_nonces.append(a.get("nonce") or "")
