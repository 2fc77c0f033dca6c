"""Where flushes go: a carbon server (node's graphite backend), the console, or the store.

A sink's ``submit`` never blocks: the flush loop hands over a ``Flush`` and moves on, so
a slow or dead sink never delays ingest or the next flush. ``CarbonSink`` keeps flushes
it could not deliver in a bounded queue and retries with backoff; past the bound the
oldest are dropped, counted and logged.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import time
from collections.abc import Callable
from typing import Literal, Protocol, TextIO

from monitor.aggregator.aggregator import Flush
from monitor.aggregator.jsnumber import format_number, round_half_up
from monitor.aggregator.namespace import Namespace
from monitor.aggregator.settings import StatsdSettings
from monitor.carbon import Point, pickled, plaintext
from monitor.store.whisper_store import WhisperStore

__all__ = ["CarbonSink", "ConsoleSink", "Sink", "StoreSink", "sinks_for"]

log = logging.getLogger("monitor.statsd")


class Sink(Protocol):
    """What the flush loop needs from a destination."""

    name: str

    def submit(self, flush: Flush) -> None:
        """Take a flush; must return at once."""

    def status(self) -> dict[str, float]:
        """Values for the admin ``stats`` command; names starting ``last_`` are times."""

    async def run(self) -> None:
        """Deliver submitted flushes until cancelled."""

    async def close(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds, then stop."""


class CarbonSink:
    """Sends each flush to carbon on a new TCP connection, closed after writing (as node).

    The connection also carries the sink's own ``graphiteStats`` values (last_exception,
    last_flush, flush_time, flush_length), as node's graphite backend does.
    """

    name = "graphite"

    def __init__(
        self,
        host: str,
        port: int,
        namespace: Namespace,
        protocol: Literal["text", "pickle"] = "text",
        buffer: int = 360,
        *,
        timeout: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.host, self.port = host, port
        self.namespace = namespace
        self.encode = pickled if protocol == "pickle" else plaintext
        self.limit = max(1, buffer)
        self.timeout = timeout
        self.backoff = backoff
        self.wall = wall
        self.queue: collections.deque[Flush] = collections.deque()
        self.dropped = 0
        self.stats = {
            "last_flush": float(round_half_up(wall())),
            "last_exception": 0.0,
            "flush_time": 0.0,
            "flush_length": 0.0,
        }
        self._wake = asyncio.Event()
        self._failing_since: float | None = None

    def submit(self, flush: Flush) -> None:
        """Queue ``flush``; past the bound, drop the oldest and say so."""
        if len(self.queue) >= self.limit:
            self.queue.popleft()
            self.dropped += 1
            log.error(
                "carbon %s:%d unreachable: buffer of %d flushes full, dropped the oldest"
                " (%d dropped so far)",
                self.host,
                self.port,
                self.limit,
                self.dropped,
            )
        self.queue.append(flush)
        self._wake.set()

    def status(self) -> dict[str, float]:
        """node's graphite backend status, plus our queue."""
        return {**self.stats, "queued_flushes": len(self.queue), "dropped_flushes": self.dropped}

    async def run(self) -> None:
        """Deliver queued flushes in order, retrying with exponential backoff."""
        delay = self.backoff[0]
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.queue:
                if await self._send(self.queue[0]):
                    self.queue.popleft()
                    delay = self.backoff[0]
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff[1])

    async def _send(self, flush: Flush) -> bool:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            self._failed(exc)
            return False
        try:
            now = round_half_up(self.wall())
            own: list[Point] = [
                (self.namespace.backend_stat(name), self.stats[name], now)
                for name in ("last_exception", "last_flush", "flush_time", "flush_length")
            ]
            payload = self.encode([(p, v, flush.ts) for p, v in flush.metrics] + own)
            started = time.monotonic()
            writer.write(payload)
            await asyncio.wait_for(writer.drain(), self.timeout)
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), self.timeout)
        except (OSError, TimeoutError) as exc:
            writer.close()
            self._failed(exc)
            return False
        self.stats["flush_time"] = round_half_up((time.monotonic() - started) * 1000)
        self.stats["flush_length"] = len(payload)
        self.stats["last_flush"] = round_half_up(self.wall())
        if self._failing_since is not None:
            log.info("carbon %s:%d reachable again", self.host, self.port)
            self._failing_since = None
        return True

    def _failed(self, exc: BaseException) -> None:
        self.stats["last_exception"] = round_half_up(self.wall())
        if self._failing_since is None:
            self._failing_since = self.wall()
            log.warning(
                "cannot send to carbon %s:%d (%s); keeping up to %d flushes and retrying",
                self.host,
                self.port,
                exc or type(exc).__name__,
                self.limit,
            )

    async def close(self, timeout: float) -> None:
        """Deliver what is queued (one try each), within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.queue and time.monotonic() < deadline:
            if not await self._send(self.queue[0]):
                break
            self.queue.popleft()
        if self.queue:
            log.error(
                "stopping with %d flushes not delivered to carbon %s:%d",
                len(self.queue),
                self.host,
                self.port,
            )


class ConsoleSink:
    """Writes every flush to a stream, for debugging (node's console backend)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None, wall: Callable[[], float] = time.time):
        self.stream = stream or sys.stdout
        self.wall = wall
        self.stats = {"lastFlush": float(round_half_up(wall())), "lastException": 0.0}

    def submit(self, flush: Flush) -> None:
        """Print the flush at once."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(flush.ts))
        lines = [f"Flushing stats at {when}"]
        lines += [f"  {path} {format_number(value)}" for path, value in flush.metrics]
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self.stats["lastFlush"] = float(flush.ts)

    def status(self) -> dict[str, float]:
        """node's console backend status."""
        return dict(self.stats)

    async def run(self) -> None:
        """Nothing to deliver later: ``submit`` already wrote."""

    async def close(self, timeout: float) -> None:
        """Nothing queued."""


class StoreSink:
    """Hands each flush to the embedded whisper store, which caches and writes it."""

    name = "store"

    def __init__(self, store: WhisperStore) -> None:
        self.store = store
        self.stats = {"last_flush": 0.0, "points": 0.0}

    def submit(self, flush: Flush) -> None:
        """Cache the flush's points in the store (its writer thread puts them on disk)."""
        ts = flush.ts
        accepted = self.store.add((path, value, ts) for path, value in flush.metrics)
        self.stats["last_flush"] = float(ts)
        self.stats["points"] += accepted

    def status(self) -> dict[str, float]:
        """When the last flush went in, and how many points so far."""
        return dict(self.stats)

    async def run(self) -> None:
        """Nothing to do later: the store writes on its own thread."""

    async def close(self, timeout: float) -> None:
        """The store flushes its cache when it stops."""


def sinks_for(settings: StatsdSettings) -> list[Sink]:
    """The sinks node's ``backends`` setting asks for.

    Like node, ``graphite`` without a ``graphite_host`` computes flushes and discards them.
    """
    sinks: list[Sink] = []
    for backend in settings.backends:
        if backend == "console":
            sinks.append(ConsoleSink())
        elif settings.graphite_host:
            port = (
                settings.graphite_pickle_port
                if settings.graphite_protocol == "pickle"
                else settings.graphite_port
            )
            sinks.append(
                CarbonSink(
                    settings.graphite_host,
                    port,
                    Namespace(settings),
                    settings.graphite_protocol,
                    settings.carbon_buffer,
                )
            )
    return sinks
