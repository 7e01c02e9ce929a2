"""Serve the emulator over real sockets (TLS by default) with network failures that look real.

Why: msal refuses http:// authorities (graph-facts §1.5), and a client's handling of indeterminate writes
can only be tested end to end if a dropped connection is really dropped. So:

- `network_faults(app)` wraps the ASGI app. The app's response is held back until the app returns (all
  graphemu responses are small JSON). If the pipeline raised `ConnectionDropped` (commit-then-drop
  "reset") the held response is discarded, a `200` head with a Content-Length is sent and the connection
  is aborted: the client sees `httpx.RemoteProtocolError` while the write stays applied. On
  `SimulatedTimeout` the head is sent, nothing more for `faults.timeout_hang_seconds` (or until the client
  gives up), then the connection is aborted: the client sees a read timeout.
- `serve(...)` binds the socket first, so port 0 works and the advertised base URLs
  (`EmulatorConfig.base_url` / `login_base_url`, used by nextLinks and discovery) are the real
  `https://host:port`, then runs uvicorn with the certificate from `graphemu.tls.ensure_tls`.
- `BackgroundServer` runs `serve` in a thread for tests; `ready_file` reports the port to other processes.

CHOICE: a wildcard bind address (0.0.0.0, ::) is advertised as 127.0.0.1 unless `advertise_host` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphemu.app import create_app
from graphemu.config import EmulatorConfig
from graphemu.pipeline import ConnectionDropped, SimulatedTimeout
from graphemu.world import World

__all__ = ["BackgroundServer", "ServerInfo", "network_faults", "serve"]


class _AbortConnection(Exception):
    """Raised after the response head was sent, so uvicorn closes the connection mid-response."""


class _QuietAborts(logging.Filter):
    """Keep uvicorn from logging a traceback for every connection graphemu drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _AbortConnection))


_QUIET = _QuietAborts()


def network_faults(app: ASGIApp, hang_seconds: Callable[[], float] | None = None) -> ASGIApp:
    """Wrap `app` so commit-then-drop exceptions become a reset or a hang on the real connection.

    `hang_seconds` returns how long a simulated timeout hangs (default: the app's
    `config.faults.timeout_hang_seconds`, read on each request so the control API can change it).
    """

    def hang_for() -> float:
        if hang_seconds is not None:
            return hang_seconds()
        config: EmulatorConfig = app.state.config  # type: ignore[attr-defined]
        return config.faults.timeout_hang_seconds

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await app(scope, receive, hold)
        except ConnectionDropped:
            await _send_head(send)
            raise _AbortConnection("commit-then-drop: connection reset") from None
        except SimulatedTimeout:
            await _send_head(send)
            await _hang(receive, hang_for())
            raise _AbortConnection("commit-then-drop: timeout") from None
        for message in held:
            await send(message)

    return wrapped


async def _send_head(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1024")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


async def _hang(receive: Receive, seconds: float) -> None:
    """Sleep, but stop early when the client disconnects."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), timeout=seconds)


@dataclass(frozen=True)
class ServerInfo:
    """Where a running server can be reached: what the ready file holds."""

    port: int
    base_url: str
    graph: str
    login: str
    ca: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "ca": self.ca,
            "graph": self.graph,
            "login": self.login,
            "base": self.base_url,
        }


def _advertised(host: str, advertise_host: str | None) -> str:
    name = advertise_host or host
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name
    if ip.is_unspecified and advertise_host is None:
        return "127.0.0.1"
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP (not 0) is what makes asyncio set TCP_NODELAY on each accepted connection;
    # without it, Nagle's algorithm holds each small response ~40 ms (22 requests/s one at a time).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def write_ready_file(path: Path, info: ServerInfo) -> None:
    """Write the ready file atomically, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info.as_json(), fh)
    os.replace(tmp, path)


class _Server(uvicorn.Server):
    """uvicorn's server plus hooks: announce after start-up, save the snapshot after shutdown."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_stopped = on_stopped
        self.announced = threading.Event()  # set once the ready file is written and on_ready has run

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self._on_started()
            self.announced.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        self._on_stopped()


@dataclass
class _Prepared:
    server: _Server
    sock: socket.socket
    info: ServerInfo
    app: Any  # the Starlette app (its .state holds world, config, pipeline)


def prepare(
    world: World,
    config: EmulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls_dir: Path | None = Path(".graphemu/tls"),
    advertise_host: str | None = None,
    public_url: str | None = None,
    ready_file: Path | None = None,
    on_ready: Callable[[ServerInfo], None] | None = None,
    on_stop: Callable[[], None] | None = None,
    log_level: str = "warning",
    keep_alive_seconds: int = 5,
) -> _Prepared:
    """Bind, point the advertised URLs at the socket, build the app and a uvicorn server around it.

    `tls_dir` None serves plain HTTP. The CA, server certificate and key are created in `tls_dir` on first
    use and reused afterwards, so a `ca.pem` clients already trust keeps working. `public_url` replaces the
    advertised base entirely, e.g. a fake `https://login.emulator.test` that a client's http_client rewrites
    to this plain-HTTP server (graph-facts §1.5, way B).
    """
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    public = _advertised(host, advertise_host)
    ssl: dict[str, Any] = {}
    ca: str | None = None
    if tls_dir is not None:
        from graphemu.tls import ensure_tls

        names = ["localhost", "127.0.0.1", "::1", public.strip("[]"), host.strip("[]")]
        files = ensure_tls(Path(tls_dir), list(dict.fromkeys(names)))
        ssl = {"ssl_certfile": str(files.server_cert), "ssl_keyfile": str(files.server_key)}
        ca = str(files.ca_cert.resolve())
    base = (
        public_url.rstrip("/")
        if public_url
        else f"{'https' if tls_dir is not None else 'http'}://{public}:{bound}"
    )
    config.base_url = base
    config.login_base_url = base
    info = ServerInfo(port=bound, base_url=base, graph=f"{base}/v1.0", login=base, ca=ca)
    app = create_app(world, config)
    uv_config = uvicorn.Config(
        network_faults(app),
        log_level=log_level,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=keep_alive_seconds,  # how long an idle connection stays open (uvicorn: 5 s)
        lifespan="off",
        **ssl,
    )
    logging.getLogger("uvicorn.error").addFilter(_QUIET)  # adding the same filter twice is a no-op

    def started() -> None:
        if ready_file is not None:
            write_ready_file(Path(ready_file), info)
        if on_ready is not None:
            on_ready(info)

    return _Prepared(_Server(uv_config, started, on_stop or (lambda: None)), sock, info, app)


def serve(world: World, config: EmulatorConfig, **options: Any) -> None:
    """Run the emulator until SIGINT/SIGTERM (or `should_exit`); options as for `prepare`."""
    prepared = prepare(world, config, **options)
    asyncio.run(_serve(prepared, world))


async def _serve(prepared: _Prepared, world: World) -> None:
    """Serve, then close the notifier's connections to receivers (they belong to this event loop)."""
    try:
        await prepared.server.serve(sockets=[prepared.sock])
    finally:
        from graphemu.notify import Notifier

        notifier = world.extra.get("notifier")
        if isinstance(notifier, Notifier):
            await notifier.aclose()


class BackgroundServer:
    """`serve` in a daemon thread, for tests: `with BackgroundServer(world, config) as info: ...`."""

    def __init__(self, world: World, config: EmulatorConfig, **options: Any) -> None:
        self._prepared = prepare(world, config, **options)
        self._world = world
        self._thread = threading.Thread(target=self._run, name="graphemu-server", daemon=True)
        self.error: BaseException | None = None

    @property
    def info(self) -> ServerInfo:
        return self._prepared.info

    @property
    def app(self) -> Any:
        """The served app, for tests that reach into `app.state` (world, config, pipeline)."""
        return self._prepared.app

    def _run(self) -> None:
        try:
            asyncio.run(_serve(self._prepared, self._world))
        except BaseException as exc:  # surfaced by start()
            self.error = exc

    def start(self, timeout: float = 10.0) -> ServerInfo:
        """Start the thread and wait until the server accepts connections."""
        self._thread.start()
        waiter = threading.Event()
        for _ in range(int(timeout * 100)):
            if self._prepared.server.announced.is_set() or not self._thread.is_alive():
                break
            waiter.wait(0.01)
        if self.error is not None or not self._prepared.server.announced.is_set():
            raise RuntimeError("graphemu server did not start") from self.error
        return self.info

    def stop(self, timeout: float = 10.0) -> None:
        self._prepared.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
