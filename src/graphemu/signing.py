"""The emulator's token-signing key and the access tokens it issues.

Graph tokens are opaque to clients (graph-facts §1.6), but graphemu issues real RS256 JWTs with the
documented claims (tid, oid, sub, roles or scp, exp, ...) so that Graph routes can check them and tests
can read them. The public key is published at the jwks_uri.

Verification is the largest cost of a Graph request (an RS256 check plus PyJWT's parsing), so a key
remembers the tokens whose signature and audience it has verified, by their exact string: a token cannot
change, so the result of that check cannot either. Expiry and not-before are still checked on every call
against the emulator clock (which tests move), and callers still check revocation.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_VERIFIED_LIMIT = 10_000  # tokens remembered per key; the memory is dropped whole when full


def _b64u_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """An RSA key pair with a key id (kid), as published in the JWKS."""

    private_key: rsa.RSAPrivateKey
    kid: str
    # (token, audience) -> claims of a token whose signature and audience were verified with this key.
    _verified: dict[tuple[str, str | None], dict[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _public: rsa.RSAPublicKey | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def generate(cls) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()  # noqa: S324 - a key id
        return cls(key, kid)

    def jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64u_int(numbers.n),
            "e": _b64u_int(numbers.e),
            "alg": "RS256",
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"}
        )

    def verify(self, token: str, *, audience: str | None = None, now: float | None = None) -> dict[str, Any]:
        """Check signature and expiry against the emulator clock (`now`). Raises jwt.InvalidTokenError.
        Returns a fresh dict of the claims each time."""
        verified = self._verified.get((token, audience))
        if verified is None:
            if self._public is None:
                self._public = self.private_key.public_key()
            verified = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                audience=audience,
                options={
                    "verify_exp": False,  # checked below against the emulator clock, which tests can move
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": audience is not None,
                },
            )
            if len(self._verified) >= _VERIFIED_LIMIT:
                self._verified.clear()
            self._verified[(token, audience)] = verified
        claims = dict(verified)
        if now is not None:
            if float(claims.get("exp", 0)) <= now:
                raise jwt.ExpiredSignatureError("Lifetime validation failed, the token is expired.")
            if float(claims.get("nbf", 0)) > now + 300:
                raise jwt.ImmatureSignatureError("Access token has expired or is not yet valid.")
        return claims


def access_token_claims(
    *,
    tenant_id: str,
    client_id: str,
    now: float,
    lifetime: int,
    roles: list[str] | None = None,
    scopes: list[str] | None = None,
    user_id: str | None = None,
    upn: str | None = None,
) -> dict[str, Any]:
    """Claims of a Graph access token: app-only carries `roles`, delegated `scp` (ED access-token claims)."""
    claims: dict[str, Any] = {
        "aud": GRAPH_RESOURCE,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + lifetime,
        "tid": tenant_id,
        "appid": client_id,
        "azp": client_id,
        "ver": "1.0",
        "uti": uuid.uuid4().hex[:22],
        "idtyp": "user" if user_id else "app",
    }
    if user_id:
        claims.update({"oid": user_id, "sub": user_id, "scp": " ".join(scopes or []), "upn": upn})
    else:
        sp_oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}:{tenant_id}"))
        claims.update({"oid": sp_oid, "sub": sp_oid, "roles": sorted(roles or [])})
    return claims
