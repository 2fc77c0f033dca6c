"""``monitor up``: every part of the stack in one process, started and stopped together.

Start order: check the data directory, bind every listening socket, then report the
URLs. A failure at any step (a port in use, an unwritable directory) stops what was
started and raises ``StartupError`` with a one-line message saying what to do, so
nothing is left half-running. Stop (Ctrl-C, SIGTERM) reverses the order.

Parts join this file as they are built; the status page lists the ones still to come.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from aiohttp import web

from monitor.aggregator.server import StatsdServer
from monitor.aggregator.settings import StatsdSettings
from monitor.aggregator.sinks import sinks_for
from monitor.config import Config
from monitor.web.app import make_app
from monitor.web.status import PartStatus

__all__ = ["Running", "StartupError", "serve", "start", "start_statsd"]

log = logging.getLogger("monitor.up")

#: Parts of the stack not in this build yet, shown on the status page as such.
PLANNED = (
    ("Graphite store and API", "whisper files, carbon receiver on 2003, /render, /events"),
    ("dashboards", "JSON files in dashboards/, drawn with deploy markers"),
    ("supergrep", "live, regex-filtered logs in the browser"),
)


class StartupError(Exception):
    """``monitor up`` could not start; the message says what to do."""


@dataclass
class Running:
    """A started stack: its URL, and how to stop it."""

    url: str
    runner: web.AppRunner
    statsd: StatsdServer

    async def stop(self) -> None:
        """Stop every part, in reverse start order."""
        await self.runner.cleanup()
        await self.statsd.stop()


def check_data_dir(config: Config) -> None:
    """Create the data directory and prove it is writable, or raise ``StartupError``."""
    path = config.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise StartupError(
            f"data directory {path} is not usable ({exc.strerror or exc});"
            " choose another with --data-dir DIR"
        ) from None


async def start(config: Config) -> Running:
    """Start the stack described by ``config``; raise ``StartupError`` if it cannot."""
    check_data_dir(config)
    url_holder: list[str] = []
    statsd = await start_statsd(config.statsd)

    def status() -> Sequence[PartStatus]:
        here = url_holder[0] if url_holder else None
        return [
            PartStatus("web server", "running", f"status page and APIs at {here}", here),
            PartStatus("statsd daemon", "running", describe_statsd(statsd)),
            *(PartStatus(name, "not built yet", detail) for name, detail in PLANNED),
        ]

    runner = web.AppRunner(make_app(status), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.http.host, config.http.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await statsd.stop()
        where = f"{config.http.host}:{config.http.port}"
        raise StartupError(
            bind_error("web server", OSError(exc.errno, where), "http.port")
        ) from None
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    url_holder.append(f"http://{shown}:{port}/")
    return Running(url_holder[0], runner, statsd)


def bind_error(part: str, exc: OSError, keys: str) -> str:
    """A one-line message for a listener that could not bind (``exc.strerror``: where)."""
    reason = os.strerror(exc.errno) if exc.errno else "cannot bind"
    message = f"{part}: cannot listen on {exc.strerror}: {reason}"
    if exc.errno == errno.EADDRINUSE:
        message += f"; stop the other process or choose another port with --set {keys}=N"
    return message


def describe_statsd(server: StatsdServer) -> str:
    """One line for the status page: where it listens, how many flushes, where they go."""
    bound = server.bound
    where = [f"udp {h}:{p}" for h, p in bound.udp] + [f"tcp {h}:{p}" for h, p in bound.tcp]
    if bound.mgmt:
        where.append(f"admin {bound.mgmt[0]}:{bound.mgmt[1]}")
    sinks = ", ".join(s.name for s in server.sinks) or "nowhere yet (set statsd.graphite_host)"
    return f"{', '.join(where)}; {server.flushes} flushes, sent to {sinks}"


async def start_statsd(settings: StatsdSettings) -> StatsdServer:
    """Start the statsd daemon with the sinks ``settings`` ask for, or raise ``StartupError``."""
    server = StatsdServer(settings, sinks_for(settings))
    try:
        await server.start()
    except OSError as exc:
        raise StartupError(bind_error("statsd", exc, "statsd.port (or mgmt_port)")) from None
    return server


class Stoppable(Protocol):
    """Something started that stops cleanly."""

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Stoppable)


async def serve(
    starting: Awaitable[S], stop: asyncio.Event, on_ready: Callable[[S], None] | None = None
) -> None:
    """Start (``monitor up``'s ``start(config)``, or ``start_statsd``), call ``on_ready``,
    run until ``stop`` is set, then stop cleanly."""
    running = await starting
    if on_ready is not None:
        on_ready(running)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await running.stop()
        log.info("stopped")
