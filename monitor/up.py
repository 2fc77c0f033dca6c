"""``monitor up``: every part of the stack in one process, started and stopped together.

Start order: check the data directory, bind every listening socket, then report the
URLs. A failure at any step (a port in use, an unwritable directory) stops what was
started and raises ``StartupError`` with a one-line message saying what to do, so
nothing is left half-running. Stop (Ctrl-C, SIGTERM) reverses the order.

Parts join this file as they are built; the status page lists the ones still to come.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import ipaddress
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from monitor.aggregator.server import StatsdServer
from monitor.aggregator.settings import StatsdSettings
from monitor.aggregator.sinks import Sink, StoreSink, sinks_for
from monitor.config import Config
from monitor.demo import run_demo
from monitor.demo_backfill import backfill_once, wanted
from monitor.logs import log_to_file
from monitor.store.events import Event, EventStore
from monitor.store.receiver import CarbonReceiver
from monitor.store.whisper_store import WhisperStore
from monitor.web.app import make_app
from monitor.web.graphite_api import Graphite
from monitor.web.render_pool import RenderPool
from monitor.web.render_worker import WorkerSetup
from monitor.web.status import PartStatus
from supergrep.server import Supergrep
from supergrep.settings import StreamSettings, SupergrepSettings, WatchSettings

__all__ = ["Running", "StartupError", "serve", "start", "start_statsd", "start_web"]

log = logging.getLogger("monitor.up")

#: The event store's database (under the data directory).
EVENTS = "events.sqlite"
#: ``monitor up`` writes its log here (under the data directory) and streams it.
LOG_FILE = "monitor.log"
#: The demo shop's log file (under the data directory).
DEMO_LOG = "demo/shop.log"
#: Written once the demo's history is (under the data directory): not again after it.
DEMO_HISTORY_MARKER = "demo/history-written"


class StartupError(Exception):
    """``monitor up`` could not start; the message says what to do."""


@dataclass
class Running:
    """A started stack: its URL, its parts, and how to stop them."""

    url: str
    parts: AsyncExitStack
    statsd: StatsdServer
    store: WhisperStore
    supergrep: Supergrep
    pool: RenderPool

    async def stop(self) -> None:
        """Stop every part, in reverse start order."""
        await self.parts.aclose()


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


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise StartupError(f"graphite.timezone: unknown timezone {name!r}") from None


def check_exposure(config: Config) -> None:
    """Refuse to listen beyond loopback without a token (secure by default)."""
    try:
        loopback = ipaddress.ip_address(config.http.host).is_loopback
    except ValueError:
        loopback = config.http.host == "localhost"
    if not loopback and not config.http.token:
        raise StartupError(
            f"http.host {config.http.host!r} is not loopback: set http.token (or"
            " MONITOR_HTTP_TOKEN) so that writes need it, or bind 127.0.0.1"
        )


async def start(config: Config) -> Running:
    """Start the stack described by ``config``; raise ``StartupError`` if it cannot.

    Each part registers its stop as it starts; if a later part fails, the earlier ones
    are stopped before the error is raised.
    """
    check_exposure(config)
    check_data_dir(config)
    taken = taken_ports(config)
    if taken:
        raise StartupError(
            "ports taken by another process (stop it, or choose others):\n  " + "\n  ".join(taken)
        )
    parts = AsyncExitStack()
    parts.callback(log_to_file(config.data_dir / LOG_FILE, config.log_format))
    try:
        running = await _start_parts(config, parts)
    except BaseException:
        await parts.aclose()
        raise
    return running


async def _start_parts(config: Config, parts: AsyncExitStack) -> Running:
    url_holder: list[str] = []
    try:
        store = WhisperStore(config.data_dir / "whisper", config.store)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    store.start()
    parts.push_async_callback(asyncio.to_thread, store.stop)
    events = EventStore(config.data_dir / EVENTS)
    parts.callback(events.close)
    receiver = CarbonReceiver(config.carbon, store)
    try:
        await receiver.start()
    except OSError as exc:
        raise StartupError(bind_error("carbon receiver", exc, "carbon.port")) from None
    parts.push_async_callback(receiver.stop)
    statsd = await start_statsd(config.statsd, [StoreSink(store)])
    parts.push_async_callback(statsd.stop)
    warn_flush_finer_than_store(config, store)
    try:
        supergrep = Supergrep(
            supergrep_settings(config),
            token=config.http.token,
            state_dir=config.data_dir / "supergrep",
        )
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    supergrep.metrics = statsd.submit
    await supergrep.start()
    parts.push_async_callback(supergrep.stop)

    gauge = StoreGauge(store, receiver)

    def status() -> Sequence[PartStatus]:
        here = url_holder[0] if url_holder else None
        return [
            PartStatus("web server", "running", f"status page and APIs at {here}", here),
            PartStatus(
                "statsd daemon", "running", describe_statsd(statsd), None, statsd_counts(statsd)
            ),
            PartStatus(
                "Graphite store",
                "failing" if store.stats.low_disk else "running",
                gauge.describe(),
                None,
                gauge.counts(),
            ),
            PartStatus(
                "dashboards",
                "running",
                f"files in {config.dashboards.dir}",
                f"{here}dashboards" if here else None,
            ),
            PartStatus(
                "Graphite API",
                "running",
                "/render, /metrics/find, /metrics/expand, /events/, /events/get_data;"
                f" {pool.describe()}",
                f"{here}render?target=stats_counts.*&from=-1h" if here else None,
                pool.counts(),
            ),
            PartStatus(
                "supergrep",
                "running",
                supergrep.describe(),
                f"{here}supergrep" if here else None,
                supergrep.counts(),
            ),
            *(
                [
                    PartStatus(
                        "demo shop",
                        "running",
                        "simulated traffic, logs (stream 'demo') and a deploy every two"
                        " minutes"
                        + (
                            f", on top of {config.demo.history_days:g} days of history it"
                            " wrote at its first start"
                            if config.demo.history_days
                            else ""
                        )
                        + "; run without --demo to turn it off",
                        f"{here}dashboards/app-overview" if here else None,
                    )
                ]
                if config.demo.enabled
                else []
            ),
        ]

    def on_event(event: Event) -> None:
        if "deploy" in event.tags:
            supergrep.announce_deploy(event.when, event.what, event.tags, event.data)

    zone = _zone(config.graphite.timezone)
    pool = RenderPool(
        WorkerSetup(
            store.root,
            config.store,
            config.data_dir / EVENTS,
            str(zone),
            config.render,
            config.graphite.jsonp,
        ),
        store,
    )
    await pool.start()
    parts.push_async_callback(pool.stop)
    graphite = Graphite(pool, events, zone, on_event=on_event, jsonp=config.graphite.jsonp)
    app = make_app(
        status,
        graphite,
        upstream=config.graphite.upstream,
        upstream_auth=config.graphite.upstream_auth,
        token=config.http.token,
        dashboards=config.dashboards.dir,
        supergrep=supergrep,
    )
    runner = await start_web(app, config, "web server")
    parts.push_async_callback(runner.cleanup)
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    url_holder.append(f"http://{shown}:{port}/")
    if config.demo.enabled:
        demo = await _start_demo(
            config, statsd, receiver, f"http://{_local(host)}:{port}", store, events
        )
        parts.push_async_callback(demo)
    return Running(url_holder[0], parts, statsd, store, supergrep, pool)


async def start_web(app: web.Application, config: Config, part: str) -> web.AppRunner:
    """Serve ``app`` on ``http.host``/``http.port``; a port that cannot be bound is a
    ``StartupError`` naming ``part`` (nothing is left running then)."""
    # Requests still running at stop get a second to finish, then are cancelled (a
    # render's worker is then killed): Ctrl-C must not wait for a slow request.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.http.host, config.http.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{config.http.host}:{config.http.port}"
        raise StartupError(bind_error(part, OSError(exc.errno, where), "http.port")) from None
    return runner


def warn_flush_finer_than_store(config: Config, store: WhisperStore) -> None:
    """Flushes more often than the store's finest step land in the same whisper slot
    and replace each other (as with carbon): a counter's count is then the last flush's
    only. Say so at start rather than let the graphs be quietly low."""
    flush = config.statsd.flush_interval / 1000
    archives, _, _ = store.rules.for_metric(f"{config.statsd.graphite.global_prefix}.x")
    step = archives[0][0]
    if flush < step:
        log.warning(
            "statsd.flush_interval (%g s) is shorter than the store's finest step for"
            " statsd's metrics (%d s): flushes within one step replace each other;"
            " use a flush interval of %d s or a finer retention",
            flush,
            step,
            step,
        )


def _local(host: str) -> str:
    """An address to reach a listener bound to ``host`` from this machine."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def _start_demo(
    config: Config,
    statsd: StatsdServer,
    receiver: CarbonReceiver,
    url: str,
    store: WhisperStore,
    events: EventStore,
) -> Callable[[], Awaitable[None]]:
    """Start the simulated shop against this stack; returns its stop. On the first
    start, its history is written meanwhile (in a thread: the stack serves, the shop
    runs)."""
    udp = statsd.bound.udp
    carbon = [(h, p) for kind, h, p in receiver.bound if kind == "tcp"]
    if not udp or not carbon:
        raise StartupError("--demo needs statsd on UDP and the carbon receiver on TCP")
    stop = asyncio.Event()
    cancel = threading.Event()

    async def demo() -> None:
        # The shop goes live at once, beside its history being written: the history
        # ends where live data starts, with no gap for the seconds the writing takes.
        history = asyncio.create_task(_demo_history(config, store, events, cancel))
        try:
            await run_demo(
                stop,
                statsd=(_local(udp[0][0]), udp[0][1]),
                graphite=url,
                carbon=(_local(carbon[0][0]), carbon[0][1]),
                log_path=config.data_dir / DEMO_LOG,
                deploy_every=config.demo.deploy_every,
                first_deploy=config.demo.first_deploy,
                token=config.http.token,
            )
        finally:
            cancel.set()
            await history

    task = asyncio.create_task(demo())

    async def stop_demo() -> None:
        stop.set()
        cancel.set()
        await task

    return stop_demo


async def _demo_history(
    config: Config, store: WhisperStore, events: EventStore, cancel: threading.Event
) -> None:
    """Write the demo's history unless it was written before (or is turned off)."""
    days = config.demo.history_days
    marker = config.data_dir / DEMO_HISTORY_MARKER
    if not wanted(marker, days):
        return
    log.info("demo: writing %g days of history", days)
    try:
        written = await asyncio.to_thread(
            backfill_once, marker, store, events, days, statsd=config.statsd, cancel=cancel
        )
    except Exception:  # the live demo runs all the same
        log.exception("demo: history not written")
        return
    if written is not None:
        log.info(
            "demo: wrote %g days of history in %.1f s: %d points in %d series, %d deploys",
            days,
            written.seconds,
            written.points,
            written.series,
            written.deploys,
        )


def supergrep_settings(config: Config) -> SupergrepSettings:
    """The hub's settings with what ``monitor up`` adds: its own log as the stream
    ``monitor`` and, with ``--demo``, the shop's log as ``demo`` with a watch counting
    its errors (a stream of the same name in the config wins)."""
    settings = config.supergrep
    streams = {"monitor": StreamSettings((str(config.data_dir / LOG_FILE),))}
    watches = settings.watch
    if config.demo.enabled:
        streams["demo"] = StreamSettings((str(config.data_dir / DEMO_LOG),))
        watches = (
            WatchSettings("demo", r"\bERROR\b", "logs.demo.errors"),
            WatchSettings("demo", r"^Traceback", "logs.demo.tracebacks"),
            *watches,
        )
    streams.update(settings.streams)
    return dataclasses.replace(settings, streams=streams, watch=watches)


class StoreGauge:
    """What the status page says about the store: the ingest rate since the previous
    look, and the series count and size on disk (a tree walk, redone at most every
    30 s)."""

    def __init__(self, store: WhisperStore, receiver: CarbonReceiver) -> None:
        self.store = store
        self.receiver = receiver
        self._seen = (time.monotonic(), 0)
        self._rate = 0.0
        self._usage = (0.0, (0, 0))

    def counts(self) -> dict[str, float]:
        """The numbers of ``describe``, by name."""
        self._look()
        s = self.store.stats
        files, size = self._usage[1]
        return {
            "points_per_s": round(self._rate, 1),
            "points_accepted": s.points_accepted,
            "points_written": s.points_written,
            "points_dropped": s.points_dropped + s.invalid_paths,
            "series": files,
            "disk_bytes": size,
            "disk_free_bytes": s.disk_free,
            "low_disk": int(s.low_disk),
            "creates_waiting": s.creates_waiting,
            "bad_lines": self.receiver.stats.bad_lines,
            "udp_kernel_drops": self.receiver.udp_drops(),
        }

    def _look(self) -> None:
        """Update the rate (at most every second) and the disk use (every 30 s)."""
        now = time.monotonic()
        accepted = self.store.stats.points_accepted
        then, before = self._seen
        if now - then >= 1.0:
            self._rate = (accepted - before) / (now - then)
            self._seen = (now, accepted)
        if now - self._usage[0] > 30 or self._usage[0] == 0:
            self._usage = (now, self.store.disk_usage())

    def describe(self) -> str:
        """One line: where carbon lines come in, the ingest rate, what is stored."""
        self._look()
        files, size = self._usage[1]
        where = ", ".join(f"{kind} {host}:{port}" for kind, host, port in self.receiver.bound)
        s = self.store.stats
        waiting = (
            f"; {s.creates_waiting:,} new series wait for their files"
            " (store.max_creates_per_minute)"
            if s.creates_waiting and not s.low_disk
            else ""
        )
        low = (
            f"; LOW DISK: {s.disk_free / 2**20:,.0f} MiB free, below store.min_free_mb:"
            f" no new series are created ({s.creates_waiting:,} wait)"
            if s.low_disk
            else ""
        )
        return (
            f"carbon on {where}; {self._rate:,.0f} points/s now, {s.points_accepted:,} accepted,"
            f" {s.points_written:,} written, {s.points_dropped + s.invalid_paths:,} dropped;"
            f" {files:,} series, {size / 2**20:,.1f} MB on disk in {self.store.root};"
            f" {self.receiver.stats.bad_lines:,} bad carbon lines,"
            f" {self.receiver.udp_drops():,} UDP datagrams dropped by the kernel{waiting}{low}"
        )


def taken_ports(config: Config) -> list[str]:
    """Every configured port another process holds, each with its setting and both ways
    to change it, checked before anything starts (so one run names them all: ``make
    run`` users cannot pass ``--set`` without knowing which)."""
    statsd = config.statsd
    wanted: list[tuple[str, socket.SocketKind, str, int]] = [("http.port", socket.SOCK_STREAM,
                                                config.http.host, config.http.port)]  # fmt: skip
    if not statsd.servers:
        for on, kind in ((statsd.udp, socket.SOCK_DGRAM), (statsd.tcp, socket.SOCK_STREAM)):
            if on:
                wanted.append(("statsd.port", kind, statsd.address, statsd.port))
    wanted.append(("statsd.mgmt_port", socket.SOCK_STREAM, statsd.mgmt_address, statsd.mgmt_port))
    for on, kind in (
        (config.carbon.tcp, socket.SOCK_STREAM),
        (config.carbon.udp, socket.SOCK_DGRAM),
    ):
        if on:
            wanted.append(("carbon.port", kind, config.carbon.address, config.carbon.port))
    taken: list[str] = []
    for key, sock_kind, host, port in wanted:
        if port == 0 or any(key in t for t in taken):
            continue
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, sock_kind) as probe:
                if sock_kind == socket.SOCK_STREAM:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                continue  # other bind errors are reported by the part itself
            proto = "udp" if sock_kind == socket.SOCK_DGRAM else "tcp"
            var = "MONITOR_" + key.replace(".", "_").upper()
            taken.append(f"{proto} {host}:{port} ({key}) is in use: --set {key}=N or {var}=N")
    return taken


def bind_error(part: str, exc: OSError, keys: str) -> str:
    """A one-line message for a listener that could not bind (``exc.strerror``: where)."""
    reason = os.strerror(exc.errno) if exc.errno else "cannot bind"
    message = f"{part}: cannot listen on {exc.strerror}: {reason}"
    if exc.errno == errno.EADDRINUSE:
        message += f"; stop the other process or choose another port with --set {keys}=N"
    return message


def statsd_counts(server: StatsdServer) -> dict[str, float]:
    """The numbers of ``describe_statsd``, by name."""
    return {"flushes": server.flushes, "tcp_refused": server.tcp_refused,
            "udp_kernel_drops": server.udp_drops() if server.bound.udp else 0}  # fmt: skip


def describe_statsd(server: StatsdServer) -> str:
    """One line for the status page: where it listens, how many flushes, where they go."""
    bound = server.bound
    where = [f"udp {h}:{p}" for h, p in bound.udp] + [f"tcp {h}:{p}" for h, p in bound.tcp]
    if bound.mgmt:
        where.append(f"admin {bound.mgmt[0]}:{bound.mgmt[1]}")
    sinks = ", ".join(s.name for s in server.sinks) or "nowhere yet (set statsd.graphite_host)"
    refused = (
        f"; {server.tcp_refused:,} TCP connections refused (statsd.tcp_max_connections)"
        if server.tcp_refused
        else ""
    )
    drops = f", {server.udp_drops():,} UDP datagrams dropped by the kernel" if bound.udp else ""
    flushes = f"{server.flushes:,} flush{'' if server.flushes == 1 else 'es'}"
    return f"{', '.join(where)}; {flushes}, sent to {sinks}{drops}{refused}"


async def start_statsd(settings: StatsdSettings, more: Sequence[Sink] = ()) -> StatsdServer:
    """Start the statsd daemon with the sinks ``settings`` ask for (and ``more``), or raise
    ``StartupError``."""
    server = StatsdServer(settings, [*sinks_for(settings), *more])
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
