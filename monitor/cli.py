"""The ``monitor`` command: parses arguments, builds the config, runs one subcommand.

This is the edge of the program: the only place that reads ``os.environ``, installs
signal handlers and turns errors into one-line messages and exit codes (2 for a bad
configuration or usage, 1 for a failure to start).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from monitor import __version__
from monitor.aggregator.server import StatsdServer
from monitor.aggregator.settings import SettingsError, from_node_config
from monitor.config import Config, ConfigError, load_config
from monitor.dashboards import check_file, dashboard_files, duplicate_ids, live_problems
from monitor.deploys import Deploy, DeployNotRecorded, record
from monitor.logs import configure_logging
from monitor.up import Running, StartupError, describe_statsd, serve, start, start_statsd

__all__ = ["main"]

log = logging.getLogger("monitor")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor", description="statsd, Graphite and supergrep in one install."
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config",
            type=Path,
            help="TOML file (default: $MONITOR_CONFIG, else ./monitor.toml if present)",
        )
        sub.add_argument(
            "--set",
            dest="overrides",
            type=_key_value,
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override one setting, e.g. --set http.port=9090 (repeatable)",
        )

    up = commands.add_parser("up", help="run the whole stack on this machine")
    with_config(up)
    up.add_argument("--data-dir", type=Path, help="where metrics and events are stored")
    up.add_argument("--log-format", choices=["text", "json"], help="log output format")
    up.add_argument(
        "--demo", action="store_true", help="also run a simulated shop (what `make run` shows)"
    )

    statsd = commands.add_parser(
        "statsd",
        help="run only the statsd daemon",
        description="Run the statsd daemon. --config takes monitor.toml ([statsd] table)"
        " or node statsd's own JSON config file (*.json).",
    )
    with_config(statsd)
    statsd.add_argument("--log-format", choices=["text", "json"], help="log output format")

    deploy = commands.add_parser(
        "deploy",
        help="record a deploy: a Graphite event and the deploys.<stack>.<env> metric",
        description="Record a deploy on the stack that monitor.toml (or --config, --set)"
        " describes, or on --graphite and --carbon. Running it again for the same deploy"
        " records nothing twice.",
    )
    with_config(deploy)
    deploy.add_argument("--stack", required=True, help="what was deployed, e.g. web")
    deploy.add_argument("--env", required=True, help="where, e.g. production")
    deploy.add_argument("--sha", default="", help="the version deployed")
    deploy.add_argument("--who", default=_login_name(), help="who deployed (default: you)")
    deploy.add_argument("--url", default="", help="a link: the change, the pipeline run")
    deploy.add_argument("--what", default="", help="the event's title (default: built)")
    deploy.add_argument("--when", type=int, help="when, in seconds since the epoch (default: now)")
    deploy.add_argument(
        "--graphite",
        default=os.environ.get("MONITOR_GRAPHITE_URL"),
        help="Graphite API for the event, or 'none' ($MONITOR_GRAPHITE_URL; default:"
        " the configured http.host and http.port)",
    )
    deploy.add_argument(
        "--carbon",
        default=os.environ.get("MONITOR_CARBON"),
        help="carbon HOST:PORT for the metric, or 'none' ($MONITOR_CARBON; default: the"
        " configured carbon.address and carbon.port)",
    )
    deploy.add_argument("--timeout", type=float, default=3.0, help="seconds per attempt")
    deploy.add_argument(
        "--force", action="store_true", help="record it even if it looks like a retry"
    )

    boards = commands.add_parser("dashboards", help="dashboard files")
    board_commands = boards.add_subparsers(dest="dashboards_command", required=True)
    board_check = board_commands.add_parser(
        "check", help="validate dashboard files; exit 1 on any problem"
    )
    board_check.add_argument(
        "paths", nargs="*", type=Path, default=[Path("dashboards")], help="files or directories"
    )
    board_check.add_argument(
        "--live", metavar="URL", help="also ask this Graphite API whether targets return series"
    )

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a monitor.toml")
    with_config(check)
    return parser


def config_path(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    if os.environ.get("MONITOR_CONFIG"):
        return Path(os.environ["MONITOR_CONFIG"])
    default = Path("monitor.toml")
    return default if default.is_file() else None


def _load(args: argparse.Namespace) -> Config:
    overrides = dict(args.overrides)
    if args.config is not None and args.config.suffix == ".json":
        return _with_node_config(args.config, overrides)
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = str(args.data_dir)
    if getattr(args, "log_format", None) is not None:
        overrides["log_format"] = args.log_format
    if getattr(args, "demo", False):
        overrides["demo.enabled"] = "1"
    return load_config(config_path(args.config), os.environ, overrides)


def _with_node_config(path: Path, overrides: dict[str, str]) -> Config:
    """A ``Config`` whose ``statsd`` settings come from node statsd's JSON config file."""
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object of node statsd settings")
    try:
        settings, unknown = from_node_config(raw)
    except SettingsError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for key in unknown:
        print(f"monitor: {path}: ignoring unknown node statsd key {key!r}", file=sys.stderr)
    config = load_config(None, os.environ, overrides)
    return dataclasses.replace(config, statsd=settings)


def _until_signalled(command: str, body: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``body(stop)``; SIGINT or SIGTERM sets ``stop``, a second one quits at once.
    A ``StartupError`` exits 1."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def signalled() -> None:
            if stop.is_set():
                print(f"monitor {command}: quitting without finishing the stop", file=sys.stderr)
                os._exit(130)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, signalled)
        await body(stop)

    try:
        asyncio.run(main())
    except StartupError as exc:
        print(f"monitor {command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _statsd(config: Config) -> int:
    configure_logging(config.log_format)

    def ready(server: StatsdServer) -> None:
        # "server is up" is node's readiness line; scripts and Etsy's tests wait for it.
        print(f"server is up: {describe_statsd(server)}", flush=True)

    return _until_signalled("statsd", lambda stop: serve(start_statsd(config.statsd), stop, ready))


def _up(config: Config) -> int:
    configure_logging(config.log_format)

    def ready(running: Running) -> None:
        udp = running.statsd.bound.udp
        lines = [
            f"monitor {__version__} is up.",
            f"  {running.url:<40} status page",
            f"  {running.url + 'dashboards':<40} dashboards",
            f"  {running.url + 'supergrep':<40} live logs (supergrep)",
            f"  {running.url + 'render?target=stats_counts.*&from=-1h':<40} Graphite API",
        ]
        if udp:
            lines.append(f"  {f'statsd udp://{udp[0][0]}:{udp[0][1]}':<40} send metrics here")
        if config.demo.enabled:
            lines.append("Demo on: a simulated shop sends metrics, logs and deploys.")
        lines.append(f"Data in {config.data_dir.resolve()}. Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)

    return _until_signalled("up", lambda stop: serve(start(config), stop, ready))


def _login_name() -> str:
    """Who runs the command: $USER, else the login name ($USER is empty in some CI
    runners and containers)."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid
        return ""


def _loopback(host: str) -> str:
    """Where to reach a server bound to ``host`` from this machine."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _deploy(args: argparse.Namespace) -> int:
    def fail(message: str, status: int = 2) -> int:
        print(f"monitor deploy: {message}", file=sys.stderr)
        return status

    try:
        config = load_config(config_path(args.config), os.environ, dict(args.overrides))
    except ConfigError as exc:
        return fail("; ".join(exc.problems))
    graphite: str | None = args.graphite
    if graphite is None:
        if config.http.port == 0:
            return fail("http.port is 0 (any free port): say where with --graphite URL")
        graphite = f"http://{_loopback(config.http.host)}:{config.http.port}"
    elif graphite.lower() == "none":
        graphite = None
    carbon: tuple[str, int] | None = None
    if args.carbon is None:
        if config.carbon.tcp and config.carbon.port:
            carbon = (_loopback(config.carbon.address).strip("[]"), config.carbon.port)
    elif args.carbon.lower() != "none":
        host, _, port = args.carbon.rpartition(":")
        if not host or not port.isdigit():
            return fail(f"--carbon {args.carbon!r}: expected HOST:PORT or none")
        carbon = (host.strip("[]"), int(port))
    if graphite is None and carbon is None:
        return fail("nothing to record: no Graphite API (--graphite) and no carbon (--carbon)")
    token = os.environ.get("MONITOR_TOKEN") or config.http.token or None
    deploy = Deploy(args.stack, args.env, args.sha, args.who, args.url, args.what)
    if args.when is not None:
        deploy = dataclasses.replace(deploy, when=args.when)
    try:
        done = record(deploy, graphite, carbon, timeout=args.timeout, token=token,
                      force=args.force)  # fmt: skip
    except DeployNotRecorded as exc:
        for line in exc.recorded:
            print(f"recorded: {line}")
        retry = f" (to retry without a second mark: the same command with --when {exc.when})"
        return fail(f"{exc}{retry if exc.recorded else ''}", 1)
    for line in done:
        print(f"recorded: {line}")
    return 0


def _check_dashboards(paths: list[Path], live: str | None) -> int:
    files = dashboard_files(paths)
    problems = []
    for path in files:
        found = check_file(path)
        if live and all(p.severity == "warning" for p in found):
            found += live_problems(path, live)
        problems += found
    problems += duplicate_ids(files)
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(
        f"checked {len(files)} dashboard file(s): {errors or 'no'} problem(s)"
        + (f", {warnings} warning(s)" if warnings else "")
    )
    return 1 if errors or not files else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``monitor`` command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "deploy":
        return _deploy(args)
    if args.command == "dashboards":
        return _check_dashboards(args.paths, args.live)
    try:
        config = _load(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"monitor: {problem}", file=sys.stderr)
        return 2
    if args.command == "up":
        return _up(config)
    if args.command == "statsd":
        return _statsd(config)
    print(f"configuration is valid: {config_path(args.config) or 'defaults only'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
