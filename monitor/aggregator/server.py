"""The statsd daemon's I/O: receive packets, schedule flushes, answer the admin port.

The aggregator is pure; this module only moves bytes:

* UDP: one thread per socket (``monitor/udp.py``) drains whatever is queued without
  blocking, in batches; each batch is decoded once and handed to the aggregator under
  a lock. The receive buffer is large to ride out bursts, and on stop what is still
  queued is read first: nothing accepted is lost. Kernel drops are counted.
* TCP: node's semantics. Bytes are read as ASCII with the high bit stripped (node's
  ``setEncoding('ascii')``), and everything up to the last newline is one packet; a
  final line without a newline is dropped at close. A client that sends more than
  ``TCP_LINE_MAX`` bytes without a newline has that buffer dropped and counted as a
  bad line, and at most ``tcp_max_connections`` clients are served at once (more are
  closed and counted), so clients cannot exhaust memory: 512 x 64 KiB at most.
* Flushes happen at ``start + k * interval`` on the wall clock (aligned, no drift), on
  the event loop; the result goes to every sink without waiting for it.
* Stopping closes the listeners first, flushes once more, then gives sinks a few
  seconds to deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from monitor.aggregator.admin import Admin
from monitor.aggregator.aggregator import Aggregator, Flush
from monitor.aggregator.jsnumber import round_half_up
from monitor.aggregator.settings import Listener, StatsdSettings
from monitor.aggregator.sinks import Sink
from monitor.udp import UdpDrain, bind_udp

__all__ = ["StatsdServer"]

log = logging.getLogger("monitor.statsd")

TCP_LINE_MAX = 1 << 16
STOP_GRACE = 5.0

# node reads TCP data as 'ascii', which keeps the low 7 bits of every byte.
_ASCII = bytes(b & 0x7F for b in range(256))


@dataclass
class Bound:
    """Where the daemon listens, once started (ports are real even when 0 was asked)."""

    udp: list[tuple[str, int]] = field(default_factory=list)
    tcp: list[tuple[str, int]] = field(default_factory=list)
    mgmt: tuple[str, int] | None = None


class StatsdServer:
    """A running statsd daemon: ``await start()``, then ``await stop()``."""

    def __init__(
        self,
        settings: StatsdSettings,
        sinks: Sequence[Sink],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sinks = list(sinks)
        self.wall = wall
        self.aggregator = Aggregator(settings)
        self.lock = threading.Lock()
        self.bound = Bound()
        self.started = wall()
        self.admin = Admin(self.aggregator, self.sinks, self.started)
        self.flushes = 0
        #: TCP connections closed at once because ``tcp_max_connections`` were open.
        self.tcp_refused = 0
        self._udp: list[UdpDrain] = []
        self._servers: list[asyncio.Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Bind every listener and the admin port, start sinks and the flush loop.

        Raises ``OSError`` naming the address (nothing left running) if one cannot be bound.
        """
        where = ""
        try:
            for listener in self.settings.listeners:
                where = f"{listener.protocol} {listener.address}:{listener.port}"
                if listener.protocol == "udp":
                    self._start_udp(listener)
                else:
                    await self._start_tcp(listener)
            where = f"admin {self.settings.mgmt_address}:{self.settings.mgmt_port}"
            admin = await asyncio.start_server(
                self._admin_client, self.settings.mgmt_address, self.settings.mgmt_port
            )
            self._servers.append(admin)
            self.bound.mgmt = admin.sockets[0].getsockname()[:2]
        except OSError as exc:
            await self._close_listeners()
            raise OSError(exc.errno, where) from exc
        for sink in self.sinks:
            self._tasks.append(asyncio.create_task(sink.run(), name=f"statsd-sink-{sink.name}"))
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="statsd-flush"))
        for drain in self._udp:
            drain.start()

    async def stop(self) -> None:
        """Stop receiving, flush once more, let sinks deliver, then stop them."""
        await self._close_listeners()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.flush()
        for sink in self.sinks:
            await sink.close(STOP_GRACE)

    async def _close_listeners(self) -> None:
        self._stopping = True
        for drain in self._udp:
            await asyncio.to_thread(drain.stop)  # reads what is queued first
        self._udp.clear()
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    # -- receiving ----------------------------------------------------------------

    def _start_udp(self, listener: Listener) -> None:
        family = socket.AF_INET6 if listener.address_ipv6 else socket.AF_INET
        sock = bind_udp(listener.address, listener.port, family)
        self.bound.udp.append(sock.getsockname()[:2])
        self._udp.append(UdpDrain(sock, self._udp_batch, f"statsd-udp-{listener.port}"))

    def _udp_batch(self, batch: list[bytes]) -> None:
        text = b"\n".join(batch).decode("utf-8", "replace")
        now = self.wall()
        with self.lock:
            self.aggregator.ingest(text, len(batch), now)

    def udp_drops(self) -> int:
        """Datagrams the kernel dropped before they could be read (a full buffer)."""
        return sum(drain.drops() for drain in self._udp)

    async def _start_tcp(self, listener: Listener) -> None:
        family = socket.AF_INET6 if listener.address_ipv6 else socket.AF_INET
        server = await asyncio.start_server(
            self._tcp_client, listener.address, listener.port, family=family
        )
        self._servers.append(server)
        self.bound.tcp.append(server.sockets[0].getsockname()[:2])

    def _track(self, writer: asyncio.StreamWriter) -> bool:
        """Remember the running connection handler, so ``stop`` can end it; False (and
        the connection closed) if ``tcp_max_connections`` are open already."""
        if len(self._connections) >= self.settings.tcp_max_connections:
            self.tcp_refused += 1
            if self.tcp_refused in (1, 10, 100) or self.tcp_refused % 1000 == 0:
                log.warning(
                    "statsd: %d TCP connection(s) refused: %d are open"
                    " (statsd.tcp_max_connections)",
                    self.tcp_refused,
                    len(self._connections),
                )
            writer.close()
            return False
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        return True

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._track(writer):
            return
        pending = ""
        try:
            while data := await reader.read(65536):
                pending += data.translate(_ASCII).decode("ascii")
                cut = pending.rfind("\n")
                if cut >= 0:
                    packet, pending = pending[: cut + 1], pending[cut + 1 :]
                    with self.lock:
                        self.aggregator.ingest(packet, 1, self.wall())
                elif len(pending) > TCP_LINE_MAX:
                    with self.lock:
                        self.aggregator.bad_line(pending[:200] + "…")
                    pending = ""
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _admin_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if not self._track(writer):
            return
        try:
            while data := await reader.read(4096):
                with self.lock:
                    reply, close = self.admin.respond(
                        data.translate(_ASCII).decode("ascii"), self.wall()
                    )
                writer.write(reply.encode())
                await writer.drain()
                if close:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    # -- flushing -------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        interval = self.settings.flush_interval / 1000
        start = round_half_up(self.started)  # node aligns flushes to its startup second
        while True:
            # node's getFlushTimeout: the slot after the nearest one (Math.round), so the
            # first flush comes one interval after the start second, and an early or late
            # wake-up never makes a double flush or a skipped one.
            due = start + (round_half_up((self.wall() - start) / interval) + 1) * interval
            # asyncio sleeps on the monotonic clock; the schedule is the wall clock's.
            while (now := self.wall()) < due:
                await asyncio.sleep(due - now)
            self.flush()

    def submit(self, text: str) -> None:
        """Metrics from inside the process (statsd lines joined by newlines), taken as
        one packet: ``monitor up`` counts log watches this way, without a socket."""
        with self.lock:
            self.aggregator.ingest(text, 1, self.wall())

    def flush(self) -> Flush:
        """Flush now: compute, hand to every sink, log bad lines seen since the last one."""
        with self.lock:
            result = self.aggregator.flush(self.wall())
            bad, example = self.aggregator.take_bad_lines()
        self.flushes += 1
        if bad:
            log.warning("%d bad line(s) since the last flush, the last: %r", bad, example[:200])
        for sink in self.sinks:
            sink.submit(result)
        return result
