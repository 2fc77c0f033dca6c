"""The carbon line receiver: ``path value timestamp`` over TCP and UDP (port 2003).

collectd, scripts and real statsd daemons feed the store through it, as they would feed
carbon-cache. Lines are parsed by ``monitor.carbon.parse_line`` and handed to the store
in batches, one per read. Bad lines are counted and logged at most every 10 seconds with
an example; they never close the connection. A line longer than ``LINE_MAX`` bytes is
dropped and counted, so one client cannot exhaust memory. On stop, what clients sent
that is still unread in the kernel's buffers is read and stored first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.carbon import BadLine, Point, parse_line
from monitor.store.whisper_store import WhisperStore
from monitor.udp import UdpDrain, bind_udp

__all__ = ["CarbonReceiver", "CarbonSettings"]

log = logging.getLogger("monitor.carbon")

LINE_MAX = 64 * 1024
#: Seconds ``stop`` spends at most reading what clients sent before it.
DRAIN = 2.0


@dataclass(frozen=True)
class CarbonSettings:
    """``[carbon]``: where the line receiver listens."""

    address: str = "127.0.0.1"
    port: int = field(default=2003, metadata={"range": (0, 65535)})
    tcp: bool = True
    udp: bool = True


@dataclass
class ReceiverStats:
    """Counts since start."""

    lines: int = 0
    bad_lines: int = 0
    last_bad: str = ""


class CarbonReceiver:
    """Carbon's plaintext protocol into a ``WhisperStore``."""

    def __init__(
        self,
        settings: CarbonSettings,
        store: WhisperStore,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.wall = wall
        self.stats = ReceiverStats()
        self.bound: list[tuple[str, str, int]] = []
        self._server: asyncio.Server | None = None
        self._udp: UdpDrain | None = None
        self._feeding = threading.Lock()  # TCP on the loop, UDP in its thread
        #: Open connections: their handler tasks and sockets.
        self._connections: dict[asyncio.Task[None], Any] = {}
        self._logged_at = 0.0

    async def start(self) -> None:
        """Listen; raises ``OSError`` naming the address if a port cannot be bound."""
        s = self.settings
        where = f"{s.address}:{s.port}"
        try:
            if s.tcp:
                self._server = await asyncio.start_server(self._client, s.address, s.port)
                host, port = self._server.sockets[0].getsockname()[:2]
                self.bound.append(("tcp", host, port))
            if s.udp:
                family = socket.AF_INET6 if ":" in s.address else socket.AF_INET
                sock = bind_udp(s.address, s.port, family)
                host, port = sock.getsockname()[:2]
                self._udp = UdpDrain(sock, self._datagrams, f"carbon-udp-{port}")
                self._udp.start()
                self.bound.append(("udp", host, port))
        except OSError as exc:
            await self.stop()
            raise OSError(exc.errno, f"carbon {where}") from exc

    async def stop(self) -> None:
        """Stop listening, store what clients have sent that is still unread (in the
        kernel's socket buffers: for up to ``DRAIN`` seconds), then end connections."""
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN
        while loop.time() < deadline and any(_unread(s) for s in self._sockets()):
            await asyncio.sleep(0.01)  # the loop reads and stores meanwhile
        await asyncio.sleep(0.01)  # and what it read last reaches the store
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._udp is not None:
            await asyncio.to_thread(self._udp.stop)  # reads what is queued first
            self._udp = None

    def _sockets(self) -> list[Any]:
        return list(self._connections.values())

    def _datagrams(self, batch: list[bytes]) -> None:
        """Lines from UDP, in the drain's thread."""
        self.feed(b"\n".join(batch).decode("utf-8", "replace").split("\n"))

    def udp_drops(self) -> int:
        """Datagrams the kernel dropped before they could be read (a full buffer)."""
        return self._udp.drops() if self._udp is not None else 0

    def feed(self, lines: list[str]) -> None:
        """Parse lines and store the good ones."""
        now = self.wall()
        points: list[Point] = []
        with self._feeding:
            for line in lines:
                if not line.strip():
                    continue
                self.stats.lines += 1
                try:
                    points.append(parse_line(line, now))
                except BadLine as exc:
                    self._bad(line, str(exc))
        if points:
            self.store.add(points)

    def _bad(self, line: str, reason: str) -> None:
        self.stats.bad_lines += 1
        self.stats.last_bad = line[:200]
        now = time.monotonic()
        if now - self._logged_at > 10:
            self._logged_at = now
            log.warning(
                "carbon: bad line %r: %s (%d bad lines so far)",
                line[:200],
                reason,
                self.stats.bad_lines,
            )

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._connections.pop(task, None)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[task] = writer.get_extra_info("socket")
            task.add_done_callback(self._forget)
        pending = b""
        try:
            while data := await reader.read(65536):
                pending += data
                *lines, pending = pending.split(b"\n")
                if len(pending) > LINE_MAX:
                    self._bad(pending[:200].decode("utf-8", "replace"), "line too long")
                    pending = b""
                self.feed([line.decode("utf-8", "replace") for line in lines])
            if pending:
                self.feed([pending.decode("utf-8", "replace")])
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


def _unread(sock: Any) -> bool:
    """Whether bytes wait in ``sock``'s kernel receive buffer."""
    try:
        waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return False
    return int.from_bytes(waiting, sys.byteorder) > 0
