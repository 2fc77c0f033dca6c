"""statsd clients: pystatsd's line building, our checks, three ways to deliver lines.

Every client shares ``BaseClient``, a subclass of pystatsd's ``StatsClientBase``: the
method names, the wire lines, sampling, ``Timer`` and the pipeline's packing under
``maxudpsize`` all come from pystatsd. What this module adds is what pystatsd's users
keep asking for:

* names sanitized as the daemon sanitizes them (``monitor.names``), cached;
* bad arguments (an empty name, a non-numeric count, a rate outside ``(0, 1]``)
  raise ``InvalidMetric`` in strict mode (tests, ``STATSD_STRICT=1``, ``python -X
  dev``) and otherwise are dropped, counted and logged at a bounded rate;
* the network never raises: ``Client`` resolves its host off the caller's thread,
  re-resolves after a TTL, uses a non-blocking socket and counts every drop;
* fork safety: a child process opens its own socket on first use.

The transports: ``Client`` (UDP), ``NullClient`` (``STATSD_DISABLED=1``) and
``monitor.statsd.testing.Recorder`` (keeps lines for assertions).
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import logging
import math
import numbers
import os
import random as _random
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from statsd.client.base import StatsClientBase
from statsd.client.udp import Pipeline as _PystatsdPipeline

from monitor.names import sanitize

__all__ = ["BaseClient", "Client", "ClientStats", "InvalidMetric", "NullClient"]

log = logging.getLogger("monitor.statsd")

#: Distinct names whose sanitized form is remembered; names past this are
#: sanitized on every call (names built from user ids must not grow memory).
NAME_CACHE_SIZE = 10_000
#: Lines held while the host is first being resolved; the oldest are dropped
#: (and counted as ``unresolved``) beyond this.
PENDING_MAX = 1_000
#: Seconds between resolution attempts after a failure.
RESOLVE_RETRY = 5.0
#: Seconds between two log lines about dropped metrics, per client.
LOG_INTERVAL = 60.0
#: How long the interpreter waits at exit for a first resolution to deliver
#: lines sent before it finished (a cron job that sends one metric and exits).
EXIT_GRACE = 1.0


class InvalidMetric(ValueError):
    """A metric call the daemon would reject: raised in strict mode only."""


@dataclass(frozen=True)
class ClientStats:
    """What a client could not deliver, for health checks and debugging.

    ``invalid``: calls refused for their arguments. ``send_errors``: datagrams the
    OS refused (nobody listening, full buffer, no route). ``unresolved``: lines lost
    because the host was not resolved in time. ``resolve_errors``: failed lookups.
    """

    invalid: int = 0
    send_errors: int = 0
    unresolved: int = 0
    resolve_errors: int = 0
    last_error: str | None = None

    @property
    def dropped(self) -> int:
        """Every metric that did not leave the process."""
        return self.invalid + self.send_errors + self.unresolved


def _number(value: object) -> int | float | None:
    """``value`` as a finite int or float the daemon will accept, else None."""
    kind = type(value)
    if kind is int:
        return cast(int, value)
    if kind is float:
        return cast(float, value) if math.isfinite(cast(float, value)) else None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    as_float = float(value)
    if not math.isfinite(as_float):
        return None
    return int(as_float) if isinstance(value, numbers.Integral) else as_float


def _format_rate(rate: float) -> str:
    """The rate as statsd parses it: ``@([\\d.]+)``, so never in exponent form."""
    text = repr(float(rate))
    return text if "e" not in text else f"{rate:.15f}".rstrip("0")


class _Checked(StatsClientBase):  # type: ignore[misc]
    """pystatsd's public methods with their arguments checked first.

    pystatsd formats whatever it is given into the line, so ``incr("x", "a")`` sends
    ``x:a|c``, which the daemon counts as a bad line. Here such calls never leave.
    """

    def _refuse(self, message: str) -> None:
        raise NotImplementedError

    def incr(self, stat: str, count: float = 1, rate: float = 1) -> None:
        """Add ``count`` (default 1) to the counter ``stat``."""
        number = count if type(count) is int else _number(count)
        if number is None:
            self._refuse(f"statsd count for {stat!r} must be a finite number, not {count!r}")
        else:
            self._send_stat(stat, f"{number}|c", rate)

    def decr(self, stat: str, count: float = 1, rate: float = 1) -> None:
        """Subtract ``count`` (default 1) from the counter ``stat``."""
        number = _number(count)
        if number is None:
            self._refuse(f"statsd count for {stat!r} must be a finite number, not {count!r}")
        else:
            super().incr(stat, -number, rate)

    def gauge(self, stat: str, value: float, rate: float = 1, delta: bool = False) -> None:
        """Set the gauge ``stat`` to ``value``, or change it by ``value`` with ``delta``."""
        number = _number(value)
        if number is None:
            self._refuse(f"statsd gauge {stat!r} must be a finite number, not {value!r}")
        else:
            super().gauge(stat, number, rate, delta)

    def set(self, stat: str, value: object, rate: float = 1) -> None:
        """Add ``value`` to the set ``stat``; the daemon counts distinct members."""
        member = str(value)
        if not member or any(c in member for c in ":|\n"):
            self._refuse(
                f"statsd set member for {stat!r} must be non-empty, without ':', '|' or"
                f" a newline, not {member!r}"
            )
        else:
            super().set(stat, member, rate)

    def timing(self, stat: str, delta: float | timedelta, rate: float = 1) -> None:
        """Record a duration: milliseconds, or a ``timedelta``."""
        ms = delta.total_seconds() * 1000.0 if isinstance(delta, timedelta) else _number(delta)
        if ms is None or ms < 0:
            self._refuse(
                f"statsd timing {stat!r} must be a finite, non-negative number of"
                f" milliseconds or a timedelta, not {delta!r}"
            )
        else:
            super().timing(stat, ms, rate)


class _Pipeline(_Checked, _PystatsdPipeline):  # type: ignore[misc]
    """pystatsd's UDP pipeline (lines packed under ``maxudpsize``), checked as its client."""

    _client: Any

    def _prepare(self, stat: str, value: str, rate: float) -> str | None:
        return self._client._prepare(stat, value, rate)  # type: ignore[no-any-return]

    def _refuse(self, message: str) -> None:
        self._client._refuse(message)


class BaseClient(_Checked):
    """Line building and bookkeeping shared by every client; subclasses deliver lines."""

    def __init__(
        self,
        prefix: str | None = None,
        maxudpsize: int = 512,
        *,
        strict: bool = False,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not isinstance(maxudpsize, int) or maxudpsize < 1:
            raise ValueError(f"maxudpsize must be a positive integer, not {maxudpsize!r}")
        self._prefix = sanitize(prefix).strip(".") if prefix else None
        self._prefix = self._prefix or None
        self._maxudpsize = maxudpsize
        self._strict = strict
        self._random = random
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stats = ClientStats()
        self._logged_at = -math.inf
        self._unlogged = 0

    @property
    def prefix(self) -> str | None:
        """The sanitized prefix joined to every name with a dot."""
        return self._prefix

    @property
    def stats(self) -> ClientStats:
        """A snapshot of what this client dropped so far."""
        return self._stats

    def pipeline(self) -> _Pipeline:
        """A batch of lines sent together when the ``with`` block ends, or on ``send()``."""
        return _Pipeline(self)

    def close(self) -> None:
        """Release the socket, if any. A later call opens a new one."""

    def full_name(self, stat: str) -> str | None:
        """The name as it goes on the wire: sanitized and prefixed, or None if invalid."""
        cached = self._names.get(stat) if type(stat) is str else None
        if cached is not None:
            return cached
        if not isinstance(stat, str):
            self._refuse(f"statsd metric name must be a str, not {stat!r}")
            return None
        clean = sanitize(stat)
        if not clean.strip("."):
            self._refuse(f"statsd metric name {stat!r} is empty once sanitized")
            return None
        name = f"{self._prefix}.{clean}" if self._prefix else clean
        if len(self._names) < NAME_CACHE_SIZE:
            self._names[stat] = name
        return name

    def _prepare(self, stat: str, value: str, rate: float) -> str | None:
        if rate != 1:
            if type(rate) not in (int, float) or not 0 < rate <= 1:
                self._refuse(f"statsd sample rate for {stat!r} must be in (0, 1], not {rate!r}")
                return None
            if self._random() > rate:
                return None
            value = f"{value}|@{_format_rate(rate)}"
        name = self._names.get(stat) if type(stat) is str else None
        if name is None:
            name = self.full_name(stat)
            if name is None:
                return None
        return f"{name}:{value}"

    def _refuse(self, message: str) -> None:
        if self._strict:
            raise InvalidMetric(message)
        self._count(message, invalid=1)

    def _count(self, message: str, **increments: int) -> None:
        """Add to the drop counters and log, at most once per ``LOG_INTERVAL``."""
        with self._lock:
            fields = {k: getattr(self._stats, k) + v for k, v in increments.items()}
            self._stats = dataclasses.replace(self._stats, **fields, last_error=message)
            self._unlogged += 1
            now = time.monotonic()
            if now - self._logged_at < LOG_INTERVAL:
                return
            self._logged_at, count, self._unlogged = now, self._unlogged, 0
        log.warning("statsd: %s (%d metric(s) dropped since the last report)", message, count)


class NullClient(BaseClient):
    """A client that checks calls and sends nothing: ``STATSD_DISABLED=1``."""

    def _send(self, data: str) -> None:
        pass


class Client(BaseClient):
    """A UDP statsd client that never raises and never blocks the caller.

    The host is resolved on first use: an IP address at once, a name on a background
    thread (lines sent meanwhile wait in a buffer of ``PENDING_MAX`` lines, sent when
    the lookup finishes or at interpreter exit, within ``EXIT_GRACE`` seconds). Names
    are looked up again every ``dns_ttl`` seconds, so a moved statsd host is followed;
    a failed lookup keeps the last good address. The socket is connected (so a closed
    port shows up as counted send errors) and non-blocking (a full buffer drops the
    line rather than waiting).
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 8125,
        prefix: str | None = None,
        maxudpsize: int = 512,
        ipv6: bool = False,
        *,
        dns_ttl: float = 60.0,
        strict: bool = False,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(prefix, maxudpsize, strict=strict, random=random)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"statsd port must be an integer in 1..65535, not {port!r}")
        if not dns_ttl > 0:
            raise ValueError(f"dns_ttl must be positive, not {dns_ttl!r}")
        self.host, self.port = host, port
        self._family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self._dns_ttl = dns_ttl
        self._clock = clock
        self._addr: Any = None
        self._sock: socket.socket | None = None
        self._retired: socket.socket | None = None
        self._refresh_at = -math.inf
        self._resolver: threading.Thread | None = None
        self._pending: collections.deque[str] = collections.deque()
        try:
            self._addr = socket.getaddrinfo(
                host, port, self._family, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST
            )[0][4]
            self._refresh_at = math.inf  # an address literal never needs looking up again
        except (OSError, UnicodeError):
            pass  # a host name: resolved on first use, off the caller's thread
        _track(self)

    def __repr__(self) -> str:
        return f"Client(host={self.host!r}, port={self.port}, prefix={self._prefix!r})"

    def _send(self, data: str) -> None:
        sock = self._sock
        if sock is None or self._clock() >= self._refresh_at:
            sock = self._socket_or_hold(data)
            if sock is None:
                return
        try:
            sock.send(data.encode())
        except OSError as exc:
            self._count(f"cannot send to {self.host}:{self.port}: {exc}", send_errors=1)

    def _socket_or_hold(self, data: str) -> socket.socket | None:
        """The slow path: open the socket, start a lookup, or hold the line meanwhile."""
        error = None
        overflow = False
        with self._lock:
            if self._sock is None and self._addr is not None:
                error = self._open(self._addr)
            if self._clock() >= self._refresh_at and self._resolver is None:
                self._refresh_at = self._clock() + self._dns_ttl
                self._resolver = threading.Thread(
                    target=self._resolve, name=f"statsd-resolve-{self.host}", daemon=True
                )
                self._resolver.start()
            sock = self._sock
            if sock is None and error is None:
                self._pending.append(data)
                overflow = len(self._pending) > PENDING_MAX
                if overflow:
                    self._pending.popleft()
        if error is not None:
            self._count(error, send_errors=1)
        elif overflow:
            self._count(f"{self.host} is not resolved yet: dropped a line", unresolved=1)
        return sock

    def _open(self, addr: Any) -> str | None:
        """Connect a new socket to ``addr`` (lock held); return an error message or None.

        The replaced socket is closed one swap later, so a thread still sending on it
        never writes to a file descriptor that has been reused.
        """
        try:
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
        except OSError as exc:
            return f"cannot open a UDP socket: {exc}"
        try:
            sock.setblocking(False)
            sock.connect(addr)
        except OSError as exc:
            sock.close()
            return f"cannot reach {self.host}:{self.port}: {exc}"
        if self._retired is not None:
            self._retired.close()
        self._retired, self._sock = self._sock, sock
        return None

    def _resolve(self) -> None:
        """Look the host up (on the resolver thread) and deliver any held lines."""
        try:
            addr = socket.getaddrinfo(self.host, self.port, self._family, socket.SOCK_DGRAM)[0][4]
        except (OSError, UnicodeError) as exc:
            with self._lock:
                self._resolver = None
                self._refresh_at = min(self._refresh_at, self._clock() + RESOLVE_RETRY)
            self._count(f"cannot resolve statsd host {self.host!r}: {exc}", resolve_errors=1)
            return
        error = None
        with self._lock:
            self._resolver = None
            if addr != self._addr or self._sock is None:
                self._addr = addr
                error = self._open(addr)
            sock, held = self._sock, list(self._pending)
            self._pending.clear()
        if error is not None:
            self._count(error, send_errors=0 if sock is not None else len(held))
        for data in held:
            if sock is None:
                break
            try:
                sock.send(data.encode())
            except OSError as exc:
                self._count(f"cannot send to {self.host}:{self.port}: {exc}", send_errors=1)

    def close(self) -> None:
        """Close the sockets. The next metric opens a new one."""
        with self._lock:
            for sock in (self._sock, self._retired):
                if sock is not None:
                    sock.close()
            self._sock = self._retired = None

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's socket, lock, lookup and held lines."""
        self._lock = threading.Lock()
        for sock in (self._sock, self._retired):
            if sock is not None:
                sock.close()
        self._sock = self._retired = None
        self._pending.clear()
        if self._resolver is not None:
            self._resolver = None
            self._refresh_at = -math.inf

    def _wait_for_lookup(self, timeout: float) -> None:
        resolver = self._resolver
        if resolver is not None and self._pending:
            resolver.join(timeout)


_clients: weakref.WeakSet[Client] = weakref.WeakSet()
_hooks_installed = False


def _track(client: Client) -> None:
    """Register ``client`` for the fork and exit hooks, installed on first use."""
    global _hooks_installed
    _clients.add(client)
    if not _hooks_installed:
        _hooks_installed = True
        os.register_at_fork(after_in_child=_after_fork_in_child)
        atexit.register(_deliver_held_lines)


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork()


def _deliver_held_lines() -> None:
    deadline = time.monotonic() + EXIT_GRACE
    for client in list(_clients):
        client._wait_for_lookup(max(0.0, deadline - time.monotonic()))
