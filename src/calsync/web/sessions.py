"""Signed session cookies: who is signed in, their CSRF token, and short-lived page messages.

Why our own small middleware instead of Starlette's `SessionMiddleware` (reliability-targets §1.2, OA-15):
- the cookie is `__Host-` prefixed, `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/` (Starlette's has no
  prefix and no Secure by default). Lax, not Strict: Microsoft's redirect back after sign-in is a
  top-level GET (`response_mode=query`), which carries Lax cookies (service-facts §4, the form_post trap).
  Only an `http://` loopback `public_url` (development, tests) gets a cookie without `Secure`/`__Host-`;
- every session has a random id (`session_id`), replaced by `regenerate` at sign-in so a cookie planted
  before sign-in is worth nothing after it (session fixation, ASVS 7.2.4), and the sign-in flow is
  bound to it (ASVS 10.1.2);
- idle and absolute timeouts (`session_idle_minutes`, `session_max_hours`) are enforced on the server
  from times inside the signed payload, not by the browser's cookie expiry.

The cookie is signed (itsdangerous, HMAC-SHA1 over a key derived from the session secret), not
encrypted: it holds no token or secret, only ids, names and the CSRF token, which its owner may read.
Signing out empties the session and deletes the cookie; a copy of the cookie kept elsewhere stays
valid until its timeouts (a stateless session's known limit, kept short by `session_idle_minutes`).

The secret comes from `CALSYNC_SESSION_SECRET` or `session_secret_file`; without either, on SQLite it
is generated once into `calsync-session.key` beside the database (mode 0600), else a key per process.
It is never logged.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.engine import make_url
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync.settings import Settings, SettingsError

__all__ = [
    "SessionMiddleware",
    "end_session",
    "load_session_secret",
    "regenerate",
    "session_id",
]

log = logging.getLogger("calsync.web")
STATE_KEY = "calsync.session"
MIN_SECRET_BYTES = 32
GENERATED_NAME = "calsync-session.key"


@dataclass
class _State:
    sid: str | None
    issued: float
    data: dict[str, Any] = field(default_factory=dict)
    had_cookie: bool = False


class SessionMiddleware:
    """Loads the signed cookie into `scope["session"]` (so `request.session` works) and writes it back."""

    def __init__(
        self, app: ASGIApp, *, secret: bytes, secure: bool, idle_seconds: float, max_age_seconds: float
    ) -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="calsync.session")
        self.secure = secure
        self.cookie_name = "__Host-calsync-session" if secure else "calsync-session"
        self.idle = idle_seconds
        self.max_age = max_age_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self._load(HTTPConnection(scope).cookies.get(self.cookie_name))
        scope[STATE_KEY] = state
        scope["session"] = state.data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = self._cookie(state)
                if cookie is not None:
                    MutableHeaders(scope=message).append("Set-Cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, raw: str | None) -> _State:
        now = time.time()
        if not raw:
            return _State(None, now)
        try:
            payload = self.serializer.loads(raw, max_age=int(self.idle))
        except BadSignature:  # tampered, signed with another key, or idle too long (SignatureExpired)
            return _State(None, now, had_cookie=True)
        if not isinstance(payload, dict) or now - float(payload.get("iat", 0)) > self.max_age:
            return _State(None, now, had_cookie=True)
        data = payload.get("data")
        return _State(str(payload["sid"]), float(payload["iat"]), dict(data or {}), had_cookie=True)

    def _cookie(self, state: _State) -> str | None:
        if not state.data:
            return self._header("", 0) if state.had_cookie else None
        if state.sid is None:
            state.sid, state.issued = _new_sid(), time.time()
        value = self.serializer.dumps({"sid": state.sid, "iat": int(state.issued), "data": state.data})
        remaining = max(1, int(state.issued + self.max_age - time.time()))
        return self._header(value, remaining)

    def _header(self, value: str, max_age: int) -> str:
        cookie: SimpleCookie = SimpleCookie()
        cookie[self.cookie_name] = value
        morsel = cookie[self.cookie_name]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        morsel["max-age"] = max_age
        if self.secure:
            morsel["secure"] = True
        return morsel.OutputString()


def _new_sid() -> str:
    return secrets.token_urlsafe(32)


def _state(conn: HTTPConnection) -> _State:
    state = conn.scope.get(STATE_KEY)
    if not isinstance(state, _State):
        raise RuntimeError("SessionMiddleware is not installed")
    return state


def session_id(conn: HTTPConnection) -> str:
    """This browser session's id (created now if it has none): what sign-in flows are bound to."""
    state = _state(conn)
    if state.sid is None:
        state.sid, state.issued = _new_sid(), time.time()
    state.data.setdefault("_v", 1)  # a session with an id must be written back, even with no other data
    return state.sid


def regenerate(conn: HTTPConnection) -> None:
    """A new, empty session with a new id and a new absolute lifetime: call at sign-in (fixation)."""
    state = _state(conn)
    state.data.clear()
    state.sid, state.issued = _new_sid(), time.time()
    state.data["_v"] = 1


def end_session(conn: HTTPConnection) -> None:
    """Sign out: the session is emptied and its cookie deleted."""
    state = _state(conn)
    state.data.clear()
    state.sid = None


def load_session_secret(settings: Settings) -> bytes:
    """The key that signs session cookies (see the module docstring for where it comes from).

    Raises:
        SettingsError: a secret shorter than 32 bytes, or a secret file that cannot be read.
    """
    if settings.session_secret is not None:
        return _long_enough(settings.session_secret.get_secret_value().encode(), "session_secret")
    if settings.session_secret_file is not None:
        try:
            text = settings.session_secret_file.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise SettingsError([f"session_secret_file: cannot read: {exc.strerror}"], "web") from None
        return _long_enough((text[0] if text else "").encode(), "session_secret_file")
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return _generated(Path(url.database).resolve().parent / GENERATED_NAME)
    log.warning(
        "calsync.web.session_secret_per_process",
        extra={"hint": "set CALSYNC_SESSION_SECRET or session_secret_file so sessions survive restarts"},
    )
    return secrets.token_bytes(32)


def _long_enough(secret: bytes, key: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise SettingsError(
            [f"{key}: at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"], "web"
        )
    return secret


def _generated(path: Path) -> bytes:
    """Read the generated key, or create it (0600, exclusively, so two starting processes agree)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _long_enough(path.read_text(encoding="utf-8").strip().encode(), str(path))
    except OSError as exc:
        raise SettingsError([f"session secret: cannot create {path}: {exc.strerror}"], "web") from None
    secret = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    log.info("calsync.web.session_secret_created", extra={"path": str(path)})
    return secret.encode()
