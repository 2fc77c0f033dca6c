"""Instrument application code: ``from monitor import statsd; statsd.incr("checkout.ok")``.

The module-level functions (``incr``, ``decr``, ``gauge``, ``set``, ``timing``,
``timer``, ``pipeline``) send through a default client built from the environment
the first time one of them is called, never at import::

    STATSD_HOST=localhost  STATSD_PORT=8125  STATSD_PREFIX=  STATSD_MAXUDPSIZE=512
    STATSD_IPV6=0  STATSD_DISABLED=0  STATSD_DNS_TTL=60  STATSD_STRICT=0

Names and arguments are pystatsd's. Nothing here raises into the application: a
network failure drops the metric and counts it (``statsd.get_client().stats``). A bad
call (an empty name, a count that is not a number) raises ``InvalidMetric`` only in
strict mode, which is on in tests (``monitor.statsd.testing``), with
``STATSD_STRICT=1`` and under ``python -X dev``; otherwise it is dropped, counted and
logged at most once a minute. A bad ``STATSD_*`` variable is logged and disables
sending (strict mode raises ``InvalidConfig`` instead).

Explicit clients: ``statsd.Client(host=..., port=..., prefix=...)`` has the same methods.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from statsd.client.timer import Timer

from monitor.statsd._client import (
    BaseClient,
    Client,
    ClientStats,
    InvalidMetric,
    NullClient,
)

__all__ = [
    "BaseClient",
    "Client",
    "ClientStats",
    "InvalidConfig",
    "InvalidMetric",
    "NullClient",
    "Timer",
    "client_from_env",
    "decr",
    "gauge",
    "get_client",
    "incr",
    "pipeline",
    "set",
    "set_client",
    "timer",
    "timing",
]

log = logging.getLogger("monitor.statsd")


class InvalidConfig(ValueError):
    """A ``STATSD_*`` environment variable has a value that cannot be used."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(environ: Mapping[str, str], key: str) -> bool:
    value = environ.get(key, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidConfig(f"{key}={environ[key]!r}: expected 1 or 0")


def _positive(environ: Mapping[str, str], key: str, default: int, upper: int) -> int:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 0 < value <= upper:
        raise InvalidConfig(f"{key}={raw!r}: expected an integer from 1 to {upper}")
    return value


def strict_from_env(environ: Mapping[str, str]) -> bool:
    """Strict mode: ``STATSD_STRICT=1`` or Python's development mode (``-X dev``)."""
    return _flag(environ, "STATSD_STRICT") or sys.flags.dev_mode


def client_from_env(environ: Mapping[str, str]) -> BaseClient:
    """Build a client from ``STATSD_*`` variables; raise ``InvalidConfig`` naming the bad one."""
    strict = strict_from_env(environ)
    prefix = environ.get("STATSD_PREFIX") or None
    if _flag(environ, "STATSD_DISABLED"):
        return NullClient(prefix, strict=strict)
    host = environ.get("STATSD_HOST", "").strip() or "localhost"
    return Client(
        host=host,
        port=_positive(environ, "STATSD_PORT", 8125, 65535),
        prefix=prefix,
        maxudpsize=_positive(environ, "STATSD_MAXUDPSIZE", 512, 65507),
        ipv6=_flag(environ, "STATSD_IPV6"),
        dns_ttl=_positive(environ, "STATSD_DNS_TTL", 60, 86400),
        strict=strict,
    )


_default: BaseClient | None = None
_default_lock = threading.Lock()


def get_client() -> BaseClient:
    """The client behind the module-level functions, built from ``os.environ`` on first use."""
    global _default
    with _default_lock:
        if _default is None:
            try:
                _default = client_from_env(os.environ)
            except InvalidConfig as exc:
                if sys.flags.dev_mode or os.environ.get("STATSD_STRICT", "").lower() in _TRUE:
                    raise
                log.error("statsd: %s; metrics are not sent", exc)
                _default = NullClient()
        return _default


def set_client(client: BaseClient | None) -> BaseClient | None:
    """Make ``client`` the default and return the previous one.

    ``None`` means: build it again from the environment on next use.
    """
    global _default
    with _default_lock:
        previous, _default = _default, client
    return previous


def incr(stat: str, count: float = 1, rate: float = 1) -> None:
    """Add ``count`` (default 1) to the counter ``stat``."""
    (_default or get_client()).incr(stat, count, rate)


def decr(stat: str, count: float = 1, rate: float = 1) -> None:
    """Subtract ``count`` (default 1) from the counter ``stat``."""
    (_default or get_client()).decr(stat, count, rate)


def gauge(stat: str, value: float, rate: float = 1, delta: bool = False) -> None:
    """Set the gauge ``stat`` to ``value``, or change it by ``value`` with ``delta=True``."""
    (_default or get_client()).gauge(stat, value, rate, delta)


def set(stat: str, value: object, rate: float = 1) -> None:
    """Add ``value`` to the set ``stat``: the graph shows how many distinct values arrived."""
    (_default or get_client()).set(stat, value, rate)


def timing(stat: str, delta: float | timedelta, rate: float = 1) -> None:
    """Record a duration in milliseconds (or a ``timedelta``) for the timer ``stat``."""
    (_default or get_client()).timing(stat, delta, rate)


class _DefaultClient:
    """Stands in for the default client inside a ``Timer``, looked up when it sends.

    ``@statsd.timer("x")`` runs at import time; binding the real client then would
    read the environment at import and ignore a later ``set_client`` (or a test's
    recorder).
    """

    def timing(self, stat: str, delta: float, rate: float = 1) -> None:
        (_default or get_client()).timing(stat, delta, rate)


_DEFAULT_CLIENT = _DefaultClient()


def timer(stat: str, rate: float = 1) -> Any:
    """A ``Timer``: decorator (sync or async), context manager, or ``start()``/``stop()``.

    Each call gives a new ``Timer``, so a ``with statsd.timer(...)`` block is safe in any
    thread; a decorated function may run in many threads at once.
    """
    return Timer(_DEFAULT_CLIENT, stat, rate)


def pipeline() -> Any:
    """A batch of metrics sent in as few datagrams as fit under ``maxudpsize``."""
    return (_default or get_client()).pipeline()
