"""The statsd daemon's settings: ``[statsd]`` in monitor.toml, or node statsd's own JSON.

A team migrating from Etsy's daemon points ``monitor statsd --config`` at its existing
config file; ``from_node_config`` reads node's keys (camelCase, numbers as strings
accepted as node accepts them) and reports keys it does not know instead of failing.
New users write the same settings in snake_case under ``[statsd]``.

Defaults differ in one place: node binds 0.0.0.0 and only UDP; ``monitor.toml``'s
defaults bind 127.0.0.1 (secure by default) on UDP and TCP. A node config file keeps
node's defaults, so a migrated daemon listens where the old one did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from monitor.aggregator.jsnumber import parse_number

__all__ = [
    "GraphiteNames",
    "Histogram",
    "Listener",
    "SettingsError",
    "StatsdSettings",
    "from_node_config",
]


class SettingsError(ValueError):
    """A node statsd config value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Listener:
    """One server receiving statsd lines (node's ``servers`` entries)."""

    protocol: Literal["udp", "tcp"] = "udp"
    address: str = "127.0.0.1"
    port: int = field(default=8125, metadata={"range": (0, 65535)})
    address_ipv6: bool = False


@dataclass(frozen=True)
class Histogram:
    """Timer histogram bins for keys containing ``metric`` (node's ``histogram`` entries).

    ``bins`` are exclusive upper bounds, ascending; ``"inf"`` catches the rest.
    """

    metric: str = ""
    bins: tuple[float | Literal["inf"], ...] = ()


@dataclass(frozen=True)
class GraphiteNames:
    """How metric names are laid out in Graphite (node's ``graphite`` object)."""

    legacy_namespace: bool = True
    global_prefix: str = "stats"
    prefix_counter: str = "counters"
    prefix_timer: str = "timers"
    prefix_gauge: str = "gauges"
    prefix_set: str = "sets"
    global_suffix: str | None = None


@dataclass(frozen=True)
class StatsdSettings:
    """``[statsd]``: everything node statsd 0.9.0's config can say, plus our bounds."""

    address: str = "127.0.0.1"
    port: int = field(default=8125, metadata={"range": (0, 65535)})
    udp: bool = True
    tcp: bool = True
    #: node's ``servers``: when given, these replace address/port/udp/tcp.
    servers: tuple[Listener, ...] = ()
    mgmt_address: str = "127.0.0.1"
    mgmt_port: int = field(default=8126, metadata={"range": (0, 65535)})
    flush_interval: int = field(default=10_000, metadata={"range": (1, 86_400_000)})
    percent_threshold: tuple[float, ...] = (90.0,)
    delete_idle_stats: bool = False
    delete_counters: bool | None = None
    delete_timers: bool | None = None
    delete_gauges: bool | None = None
    delete_sets: bool | None = None
    gauges_max_ttl: int = 1
    histogram: tuple[Histogram, ...] = ()
    calculated_timer_metrics: tuple[str, ...] = ()
    graphite: GraphiteNames = GraphiteNames()
    prefix_stats: str = "statsd"
    key_name_sanitize: bool = True
    flush_counts: bool = True
    backends: tuple[Literal["graphite", "console"], ...] = ("graphite",)
    graphite_host: str = ""
    graphite_port: int = field(default=2003, metadata={"range": (1, 65535)})
    graphite_pickle_port: int = field(default=2004, metadata={"range": (1, 65535)})
    graphite_protocol: Literal["text", "pickle"] = "text"
    #: Distinct keys held at once, all types together; new keys past it are dropped
    #: and counted (``statsd.keys_dropped``) until a flush deletes idle ones.
    max_keys: int = field(default=100_000, metadata={"range": (1, 100_000_000)})
    #: Flushes kept for a carbon that cannot be reached, retried with backoff;
    #: the oldest are dropped (and counted) past it. 360 = one hour at 10 s.
    carbon_buffer: int = field(default=360, metadata={"range": (0, 1_000_000)})
    #: TCP clients (and admin connections) connected at once; more are closed at
    #: once and counted. Each may hold up to 64 KiB of a line not yet ended.
    tcp_max_connections: int = field(default=512, metadata={"range": (1, 1_000_000)})

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The servers to start: ``servers``, else UDP and/or TCP on ``address:port``."""
        if self.servers:
            return self.servers
        udp = (Listener("udp", self.address, self.port),) if self.udp else ()
        tcp = (Listener("tcp", self.address, self.port),) if self.tcp else ()
        return udp + tcp

    def deletes(self, kind: Literal["counters", "timers", "gauges", "sets"]) -> bool:
        """Whether idle stats of ``kind`` are deleted at flush (node's resolution order)."""
        explicit = getattr(self, f"delete_{kind}")
        return bool(self.delete_idle_stats if explicit is None else explicit)

    @property
    def gauge_ttl(self) -> int:
        """Flushes a gauge survives without an update when gauges are deleted (min 1)."""
        return self.gauges_max_ttl if self.gauges_max_ttl > 1 else 1


# node key -> (our field, kind); kinds say how node would coerce the value.
_NODE_KEYS: dict[str, tuple[str, str]] = {
    "mgmt_address": ("mgmt_address", "str"),
    "mgmt_port": ("mgmt_port", "port"),
    "flushInterval": ("flush_interval", "number"),
    "percentThreshold": ("percent_threshold", "thresholds"),
    "deleteIdleStats": ("delete_idle_stats", "bool"),
    "deleteCounters": ("delete_counters", "bool"),
    "deleteTimers": ("delete_timers", "bool"),
    "deleteGauges": ("delete_gauges", "bool"),
    "deleteSets": ("delete_sets", "bool"),
    "gaugesMaxTTL": ("gauges_max_ttl", "ttl"),
    "histogram": ("histogram", "histogram"),
    "calculatedTimerMetrics": ("calculated_timer_metrics", "strings"),
    "prefixStats": ("prefix_stats", "str"),
    "keyNameSanitize": ("key_name_sanitize", "bool"),
    "flush_counts": ("flush_counts", "bool"),
    "backends": ("backends", "backends"),
    "graphiteHost": ("graphite_host", "str"),
    "graphitePort": ("graphite_port", "port"),
    "graphitePicklePort": ("graphite_pickle_port", "port"),
    "graphiteProtocol": ("graphite_protocol", "protocol"),
}
_GRAPHITE_KEYS = {
    "legacyNamespace": "legacy_namespace",
    "globalPrefix": "global_prefix",
    "prefixCounter": "prefix_counter",
    "prefixTimer": "prefix_timer",
    "prefixGauge": "prefix_gauge",
    "prefixSet": "prefix_set",
    "globalSuffix": "global_suffix",
}
# Keys node knows that change nothing here; accepted silently.
_IGNORED = {
    "debug",
    "dumpMessages",
    "log",
    "automaticConfigReload",
    "healthStatus",
    "keyFlush",
    "console",
    "title",
    "repeater",
    "repeaterProtocol",
}


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise SettingsError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    parsed = parse_number(value) if isinstance(value, str) else None
    if parsed is None or not math.isfinite(parsed):
        raise SettingsError(f"{key}: expected a number, got {value!r}")
    return parsed


def _port(key: str, value: Any) -> int:
    number = _number(key, value)
    if number != int(number) or not 0 <= number <= 65535:
        raise SettingsError(f"{key}: expected a port number, got {value!r}")
    return int(number)


def _listener(index: int, entry: Any) -> Listener:
    where = f"servers[{index}]"
    if not isinstance(entry, dict):
        raise SettingsError(f"{where}: expected an object, got {entry!r}")
    server = str(entry.get("server", "./servers/udp"))
    protocol = server.rstrip("/").rsplit("/", 1)[-1].removesuffix(".js")
    if protocol not in ("udp", "tcp"):
        raise SettingsError(f"{where}.server: {server!r} is not ./servers/udp or ./servers/tcp")
    if "socket" in entry:
        raise SettingsError(f"{where}.socket: unix sockets are not supported; use a port")
    return Listener(
        "udp" if protocol == "udp" else "tcp",
        str(entry.get("address", "0.0.0.0")),
        _port(f"{where}.port", entry.get("port", 8125)),
        bool(entry.get("address_ipv6", False)),
    )


def from_node_config(config: Mapping[str, Any]) -> tuple[StatsdSettings, list[str]]:
    """Settings from a node statsd config object; also the keys that were not understood."""
    unknown: list[str] = []
    values: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("port", "address", "address_ipv6", "servers", "graphite") or key in _IGNORED:
            continue
        if key not in _NODE_KEYS:
            unknown.append(key)
            continue
        name, kind = _NODE_KEYS[key]
        if kind == "str":
            values[name] = "" if value is None else str(value)
        elif kind == "port":
            values[name] = _port(key, value)
        elif kind == "number":
            values[name] = int(_number(key, value))
        elif kind == "bool":
            values[name] = bool(value)
        elif kind == "ttl":
            ok = isinstance(value, int) and not isinstance(value, bool)
            values[name] = value if ok else 1
        elif kind == "thresholds":
            items = value if isinstance(value, list) else [value]
            values[name] = tuple(_number(f"{key}[{i}]", v) for i, v in enumerate(items))
        elif kind == "strings":
            values[name] = tuple(str(v) for v in value) if isinstance(value, list) else ()
        elif kind == "histogram":
            values[name] = tuple(_histogram(i, entry) for i, entry in enumerate(value or []))
        elif kind == "backends":
            values[name] = tuple(_backend(i, b, unknown) for i, b in enumerate(value or []))
            values[name] = tuple(b for b in values[name] if b)
        elif kind == "protocol":
            if value not in ("text", "pickle"):
                raise SettingsError(f"{key}: expected 'text' or 'pickle', got {value!r}")
            values[name] = value
    servers = config.get("servers")
    if servers is None:
        servers = [{k: config[k] for k in ("port", "address", "address_ipv6") if k in config}]
    if not isinstance(servers, list):
        raise SettingsError(f"servers: expected a list, got {servers!r}")
    values["servers"] = tuple(_listener(i, e) for i, e in enumerate(servers))
    values.setdefault("mgmt_address", "0.0.0.0")
    graphite = config.get("graphite") or {}
    names: dict[str, Any] = {}
    for key, value in graphite.items():
        if key not in _GRAPHITE_KEYS:
            unknown.append(f"graphite.{key}")
        elif key == "legacyNamespace":
            names["legacy_namespace"] = value is not False
        else:
            names[_GRAPHITE_KEYS[key]] = None if value is None else str(value)
    values["graphite"] = GraphiteNames(**names)
    return replace(StatsdSettings(), **values), unknown


def _histogram(index: int, entry: Any) -> Histogram:
    where = f"histogram[{index}]"
    if not isinstance(entry, dict):
        raise SettingsError(f"{where}: expected an object with metric and bins, got {entry!r}")
    bins: list[float | Literal["inf"]] = []
    for i, b in enumerate(entry.get("bins", [])):
        bins.append("inf" if b == "inf" else _number(f"{where}.bins[{i}]", b))
    return Histogram(str(entry.get("metric", "")), tuple(bins))


def _backend(index: int, name: Any, unknown: list[str]) -> str:
    short = str(name).rstrip("/").rsplit("/", 1)[-1].removesuffix(".js")
    if short in ("graphite", "console"):
        return short
    unknown.append(f"backends[{index}]={name!r}")
    return ""
