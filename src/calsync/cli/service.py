"""`calsync serve` and `calsync worker`: the long-running processes (docs/deploy.md).

`serve` runs the web app (health, readiness, metrics) under uvicorn and, on the embedded default (SQLite),
the in-process scheduler; on PostgreSQL it only enqueues and `calsync worker` processes run the syncs.
SIGTERM or SIGINT: stop taking work, let runs end at their next chunk boundary (the chunk in flight is
written and recorded), release their leases, exit 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from calsync.cli.output import reported
from calsync.cli.state import settings_from

if TYPE_CHECKING:
    import httpx
    import uvicorn

    from calsync.runtime.embedded import EmbeddedRuntime
    from calsync.runtime.queued import QueuedRuntime
    from calsync.settings import Settings

log = logging.getLogger("calsync.service")

HostOpt = Annotated[str | None, typer.Option("--host", help="Address to listen on (default: listen_host).")]
PortOpt = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Port (default: listen_port).")]


def serve(ctx: typer.Context, host: HostOpt = None, port: PortOpt = None) -> None:
    """Run calsync as a service: the web app (/healthz, /readyz, /metrics) and the scheduler (on SQLite)
    or the job queue's producer (on PostgreSQL, with `calsync worker`s). Stops cleanly on SIGTERM."""
    import asyncio  # here, not at the top: `calsync --help` does not need it

    with reported():
        settings = settings_from(ctx.obj, log_default="info")
        asyncio.run(run_service(settings, host=host, port=port))


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, max=256, help="Mailboxes at once (worker_concurrency)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The worker's name (default: host:pid).")] = None,
) -> None:
    """Run sync jobs from the PostgreSQL job queue until SIGTERM (any number of workers, on any host)."""
    import asyncio

    with reported():
        settings = settings_from(ctx.obj, log_default="info")
        from calsync.runtime.database import uses_job_queue

        if not uses_job_queue(settings):
            raise typer.BadParameter(
                "calsync worker needs a PostgreSQL database_url; on SQLite `calsync serve` runs the syncs"
            )
        asyncio.run(_work(settings, concurrency or settings.worker_concurrency, name))


async def _work(settings: Settings, concurrency: int, name: str | None) -> None:
    from calsync import metrics, services
    from calsync.runtime import worker as runtime_worker

    if directory := metrics.multiprocess_dir():
        metrics.use_multiprocess_dir(directory)
    async with services.open_deployment(settings) as deployment:
        await runtime_worker.run(
            deployment, concurrency=concurrency, name=name or f"{socket.gethostname()}:{os.getpid()}"
        )


async def run_service(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    on_ready: Callable[[str], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """The `serve` process's main coroutine (the demo runs it too): returns after SIGTERM/SIGINT."""
    import asyncio

    import uvicorn

    from calsync import services, web
    from calsync.runtime.database import uses_job_queue

    host = host or settings.listen_host
    sock = _listen(host, port if port is not None else settings.listen_port)  # fail fast, before any work
    async with services.open_deployment(settings, transport=transport) as deployment:
        runtime: EmbeddedRuntime | QueuedRuntime
        if uses_job_queue(settings):
            from calsync.runtime.queued import QueuedRuntime

            runtime = QueuedRuntime(deployment)
            await runtime.start()
        else:
            from calsync.runtime.embedded import EmbeddedRuntime

            runtime = EmbeddedRuntime(deployment)
            runtime.start()
        app = web.create_app(
            deployment,
            runtime_ready=runtime.ready,
            queue_depth=runtime.queue_depth,
            request_sync=runtime.request,
        )
        config = uvicorn.Config(
            app,
            log_config=None,  # calsync's logging pipeline (redaction included) handles uvicorn's lines
            lifespan="off",
            access_log=False,
        )
        server = _quiet_server(config)

        def stop_soon() -> None:
            server.should_exit = True

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_soon)
        try:
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if server.started:
                shown = f"[{host}]" if ":" in host else host
                url = f"http://{shown}:{sock.getsockname()[1]}"
                log.info("calsync.serve.listening", extra={"url": url})
                if on_ready is not None:
                    on_ready(url)
            await serving
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            log.info("calsync.serve.stopping")
            await runtime.stop()
            sock.close()
        log.info("calsync.serve.stopped")


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a port in use is a configuration error (exit 3) named by its
    key, raised before the scheduler starts, not a traceback from inside uvicorn."""
    from calsync.settings import SettingsError

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(
            [f"listen_host / listen_port: cannot listen on {host}:{port}: {exc.strerror}"], "serve"
        ) from None
    sock.set_inheritable(True)
    return sock


def _quiet_server(config: uvicorn.Config) -> uvicorn.Server:
    """uvicorn's server without its signal capture: uvicorn re-raises a captured SIGTERM once it has
    stopped, which would kill the process before calsync's runs have ended (exit -15 instead of 0);
    calsync installs its own handlers instead."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)
