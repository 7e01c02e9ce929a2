"""`graphemu serve`: run the emulator on a local port, over TLS by default.

    graphemu serve --port 8443 --seed examples/graphemu-seed.json [--host 127.0.0.1]
                   [--tls-dir .graphemu/tls] [--http] [--latency-ms 300] [--jitter-ms 100]
                   [--fault-rate 0.1] [--seed-faults 42] [--drop-rate 0.05 --drop-mode reset]
                   [--no-control] [--snapshot state.json] [--ready-file ready.json]

`--port 0` picks a free port; `--ready-file` then tells scripts and tests which one (JSON
{"port", "ca", "graph", "login", "base"}, written once the server accepts connections). With `--snapshot`
the world is loaded from that file when it exists (the seed is then not read) and saved to it on shutdown.
On start the base URLs, the CA file and ready-to-paste client hints are printed (graph-facts §1.5).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from graphemu.config import EmulatorConfig
from graphemu.world import World


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphemu", description="Offline Microsoft Graph calendar emulator."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the identity platform and Graph v1.0 on a local port")
    add = serve.add_argument
    add("--port", type=int, default=8443, help="TCP port; 0 picks a free one (default 8443)")
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--advertise-host", help="host name put in advertised URLs (default: --host)")
    add("--public-url", help="base URL to advertise instead (e.g. a fake https URL a client rewrites)")
    add("--seed", type=Path, help="seed file: tenants, apps, users, groups, access policies")
    add("--tls-dir", type=Path, default=Path(".graphemu/tls"), help="where the CA and certificates live")
    add("--http", action="store_true", help="serve plain HTTP (msal will refuse it)")
    add("--latency-ms", type=float, default=0.0, help="latency added to every Graph request")
    add("--jitter-ms", type=float, default=0.0, help="uniform extra latency 0..N ms")
    add("--keep-alive-seconds", type=int, default=5, help="close a connection idle this long (default 5)")
    add("--fault-rate", type=float, default=0.0, help="share 0..1 of Graph requests that fail")
    add("--seed-faults", type=int, default=0, help="random seed of the faults (deterministic runs)")
    add("--drop-rate", type=float, default=0.0, help="share 0..1 of writes applied, then the answer lost")
    add(
        "--drop-mode", choices=("reset", "timeout", "503"), default="reset", help="how a dropped answer fails"
    )
    add("--no-control", action="store_true", help="disable the /_emu control API")
    add("--snapshot", type=Path, help="load the world from FILE if it exists; save it on shutdown")
    add("--ready-file", type=Path, help="write {port, ca, graph, login} here once serving")
    add("--log-level", default="warning", help="uvicorn log level (default warning)")
    return parser


def _world(args: argparse.Namespace) -> tuple[World, str]:
    from graphemu import snapshot
    from graphemu.seed import load_seed

    if args.snapshot is not None and args.snapshot.exists():
        return snapshot.load(args.snapshot), f"snapshot {args.snapshot}"
    if args.seed is not None:
        return load_seed(args.seed), f"seed {args.seed}"
    return World(), "empty world (no --seed)"


def banner(
    info_base: str, ca: str | None, world: World, *, source: str, control: bool, listen: str = ""
) -> str:
    """What `serve` prints on start: where things are and how to point clients at them."""
    tenant = next(iter(world.tenants.values()), None)
    app = next(iter(world.apps.values()), None)
    tid = tenant.id if tenant else "<tenant-id>"
    client = app.client_id if app else "<client-id>"
    cacert = f"--cacert {ca} " if ca else ""
    lines = [
        f"graphemu serving {info_base}  ({source}{', listening on ' + listen if listen else ''})",
        f"  Graph API    {info_base}/v1.0",
        f"  Identity     {info_base}/{tid}   (token endpoint {info_base}/{tid}/oauth2/v2.0/token)",
    ]
    if control:
        lines.append(f"  Control API  {info_base}/_emu/state")
    if ca:
        lines.append(f"  CA file      {ca}")
    lines += [
        "",
        "Try it:",
        f"  curl {cacert}{info_base}/v1.0/users            # 401 InvalidAuthenticationToken: no token yet",
        f"  curl {cacert}{info_base}/{tid}/oauth2/v2.0/token -d grant_type=client_credentials \\",
        f'       -d client_id={client} -d client_secret="$GRAPHEMU_DEMO_SECRET" \\',
        "       -d scope=https://graph.microsoft.com/.default",
        f'  curl {cacert}-H "Authorization: Bearer $TOKEN" {info_base}/v1.0/users',
    ]
    if ca:
        lines += [
            "Python clients:",
            f'  httpx: httpx.Client(verify=ssl.create_default_context(cafile="{ca}"))',
            f'  msal:  session = requests.Session(); session.trust_env = False; session.verify = "{ca}"',
            f'         msal.ConfidentialClientApplication("{client}", client_credential=SECRET,',
            f'             authority="{info_base}/{tid}", instance_discovery=False, http_client=session)',
            "         (trust_env=False: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE silently override verify=)",
        ]
    else:
        lines.append(
            "Plain HTTP: msal refuses http:// authorities; serve TLS (drop --http) for msal clients."
        )
    return "\n".join(lines)


def serve_command(args: argparse.Namespace) -> int:
    from graphemu import snapshot
    from graphemu.seed import SeedError
    from graphemu.server import ServerInfo, serve

    try:
        world, source = _world(args)
    except (OSError, ValueError, SeedError) as exc:
        print(f"graphemu: cannot load the world: {exc}", file=sys.stderr)
        return 2
    config = EmulatorConfig(control_api=not args.no_control)
    faults = config.faults
    faults.latency_ms, faults.jitter_ms = args.latency_ms, args.jitter_ms
    faults.rate, faults.seed = args.fault_rate, args.seed_faults
    faults.commit_then_drop_rate, faults.commit_then_drop_mode = args.drop_rate, args.drop_mode

    def ready(info: ServerInfo) -> None:
        listen = f"{args.host}:{info.port}"
        print(
            banner(info.base_url, info.ca, world, source=source, control=config.control_api, listen=listen),
            flush=True,
        )

    def stopped() -> None:
        if args.snapshot is not None:
            snapshot.save(world, args.snapshot)
            print(f"graphemu: saved snapshot {args.snapshot}", flush=True)

    try:
        serve(
            world,
            config,
            host=args.host,
            port=args.port,
            tls_dir=None if args.http else args.tls_dir,
            advertise_host=args.advertise_host,
            public_url=args.public_url,
            ready_file=args.ready_file,
            on_ready=ready,
            on_stop=stopped,
            log_level=args.log_level,
            keep_alive_seconds=args.keep_alive_seconds,
        )
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"graphemu: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve_command(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
