"""The ``supergrep`` command: ``serve`` (the hub alone), ``agent``, ``tail``.

``monitor up`` runs the hub as part of the whole stack; ``supergrep serve`` runs only
the hub, from the same ``monitor.toml`` (``[supergrep]`` and ``[http]``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from monitor import __version__
from monitor.cli import config_path
from monitor.config import Config, ConfigError, default_data_dir, load_config
from monitor.logs import configure_logging
from monitor.up import StartupError, check_exposure, start_web
from monitor.web.app import make_app
from monitor.web.status import PartStatus
from supergrep.agent import Agent
from supergrep.server import Supergrep, host_token
from supergrep.settings import StreamSettings
from supergrep.terminal import TailOptions, run_tail

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supergrep", description="Live, regex-filtered logs from many hosts."
    )
    parser.add_argument("--version", action="version", version=f"supergrep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the hub alone ([supergrep] in monitor.toml)")
    serve.add_argument("--config", type=Path, help="TOML file (default: ./monitor.toml)")
    serve.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting, e.g. --set http.port=8081",
    )  # fmt: skip
    serve.add_argument(
        "--stream", action="append", default=[], metavar="NAME=GLOB[,GLOB]",
        help="a stream to tail (repeatable; adds to the config's streams)",
    )  # fmt: skip

    agent = commands.add_parser("agent", help="ship this host's logs to a hub")
    agent.add_argument("--hub", required=True, help="ws://hub:8080/supergrep/ingest")
    agent.add_argument(
        "--stream", action="append", required=True, metavar="NAME=GLOB[,GLOB]",
        help="a stream and its files (repeatable)",
    )  # fmt: skip
    agent.add_argument(
        "--token", default=os.environ.get("SUPERGREP_TOKEN", ""),
        help="this host's token from `supergrep agent-token HOST` ($SUPERGREP_TOKEN;"
        " --token-file keeps it out of ps)",
    )  # fmt: skip
    agent.add_argument("--token-file", type=Path, help="read the token from this file")

    agent_token = commands.add_parser(
        "agent-token",
        help="print the token an agent on HOST presents (run where the hub's token is)",
    )
    agent_token.add_argument("host", help="the agent's host name, as it sends it (--host)")
    agent_token.add_argument(
        "--token", default=os.environ.get("MONITOR_HTTP_TOKEN", ""),
        help="the hub's token, http.token (default: $MONITOR_HTTP_TOKEN)",
    )  # fmt: skip
    agent.add_argument("--host", default=socket.gethostname(), help="this host's name")
    agent.add_argument(
        "--keepalive", type=float, default=10.0, metavar="SECONDS",
        help="ping the hub this often; a link silent for twice this is redialled",
    )  # fmt: skip
    agent.add_argument(
        "--state", type=Path,
        default=default_data_dir(os.environ) / "supergrep-agent.json",
        help="where acknowledged offsets are kept (default: %(default)s)",
    )  # fmt: skip

    tail = commands.add_parser("tail", help="the live feed in this terminal")
    tail.add_argument("stream", help="stream name(s), comma-separated")
    tail.add_argument("pattern", nargs="?", help="show only lines matching this regex")
    tail.add_argument(
        "--server",
        default=os.environ.get("SUPERGREP_SERVER", "http://127.0.0.1:8080"),
        help="the hub: `monitor up` or `supergrep serve`, as http(s)://HOST:PORT"
        " (default: $SUPERGREP_SERVER, else %(default)s)",
    )
    tail.add_argument("--exclude", "-v", action="append", default=[], help="hide matching lines")
    tail.add_argument("-i", "--ignore-case", action="store_true")
    tail.add_argument("--backfill", "-n", type=int, default=10, help="recent lines to show first")
    tail.add_argument(
        "--token", default=os.environ.get("SUPERGREP_TOKEN", ""),
        help="the hub's token, if it has one ($SUPERGREP_TOKEN)",
    )  # fmt: skip
    tail.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto",
        help="colour hosts and deploy banners (auto: on a terminal)",
    )  # fmt: skip
    tail.add_argument(
        "--timeout", type=float, default=5.0,
        help="seconds to wait for the hub to answer (default: %(default)s)",
    )  # fmt: skip
    return parser


def _streams(specs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        name, sep, globs = spec.partition("=")
        if not sep or not name or not globs:
            raise ValueError(f"--stream {spec!r}: expected NAME=GLOB[,GLOB…]")
        out[name] = out.get(name, ()) + tuple(g for g in globs.split(",") if g)
    return out


def _until_signalled(body: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await body(stop)

    try:
        return asyncio.run(main())
    except StartupError as exc:
        print(f"supergrep: {exc}", file=sys.stderr)
        return 1


async def _serve(config: Config, stop: asyncio.Event) -> int:
    check_exposure(config)
    service = Supergrep(
        config.supergrep, token=config.http.token, state_dir=config.data_dir / "supergrep"
    )
    await service.start()
    try:
        app = make_app(
            lambda: [PartStatus("supergrep", "running", service.describe())],
            supergrep=service,
            token=config.http.token,
        )
        runner = await start_web(app, config, "supergrep")
        try:
            host, port = runner.addresses[0][:2]
            names = ", ".join(sorted(config.supergrep.streams)) or "none (agents may add some)"
            print(f"supergrep is up: ws://{host}:{port}/supergrep/ws; streams: {names}", flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await service.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``supergrep`` command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        streams = _streams(args.stream) if args.command in ("serve", "agent") else {}
    except ValueError as exc:
        print(f"supergrep: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        overrides = dict(o.partition("=")[::2] for o in args.overrides)
        try:
            config = load_config(config_path(args.config), os.environ, overrides)
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"supergrep: {problem}", file=sys.stderr)
            return 2
        if streams:
            merged = dict(config.supergrep.streams)
            for name, globs in streams.items():
                merged[name] = StreamSettings(merged.get(name, StreamSettings()).paths + globs)
            config = dataclasses.replace(
                config, supergrep=dataclasses.replace(config.supergrep, streams=merged)
            )
        configure_logging(config.log_format)
        return _until_signalled(lambda stop: _serve(config, stop))
    if args.command == "agent-token":
        if not args.token:
            print("supergrep agent-token: give the hub's token: --token or $MONITOR_HTTP_TOKEN",
                  file=sys.stderr)  # fmt: skip
            return 2
        print(host_token(args.token, args.host))
        return 0
    if args.command == "agent":
        configure_logging()
        token = args.token
        if args.token_file is not None:
            try:
                token = args.token_file.read_text().strip()
            except OSError as exc:
                print(f"supergrep: --token-file: {exc}", file=sys.stderr)
                return 2
        agent = Agent(
            args.hub,
            streams,
            host=args.host,
            token=token,
            state=args.state,
            keepalive=args.keepalive,
        )

        async def run_agent(stop: asyncio.Event) -> int:
            await agent.run(stop)
            return 0

        return _until_signalled(run_agent)
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    options = TailOptions(
        server=args.server,
        streams=[s for s in args.stream.split(",") if s],
        include=[args.pattern] if args.pattern else [],
        exclude=args.exclude,
        ignore_case=args.ignore_case,
        backfill=args.backfill,
        token=args.token,
        colour=colour,
        timeout=args.timeout,
    )
    return _until_signalled(lambda stop: run_tail(options, stop))


if __name__ == "__main__":
    sys.exit(main())
