"""The statsd aggregator: lines in, one flush of Graphite metrics out per interval.

Pure and synchronous: ``ingest(text, packets)`` applies statsd lines to the state the way
node statsd 0.9.0's ``handlePacket`` does, and ``flush(now)`` returns a ``Flush`` of
``(path, value)`` pairs and resets the state the way its ``flushMetrics`` does. The
asyncio layer (``server.py``) only feeds bytes in and hands flushes to sinks.

Where node crashes the daemon (a sample rate such as ``@+0.5`` or ``@ 0.5`` that passes
its validation but not its parser), this counts a bad line instead.

Memory is bounded: at most ``max_keys`` distinct keys (counters, timers, gauges and sets
together) are held; a sample for a new key past that is dropped and counted in the
``<prefixStats>.keys_dropped`` counter, which appears only once something was dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.aggregator.jsnumber import is_number, parse_number, round_half_up
from monitor.aggregator.namespace import Metric, Namespace
from monitor.aggregator.settings import Histogram, StatsdSettings
from monitor.aggregator.timers import TimerData, filter_stats, timer_stats
from monitor.names import JS_WHITESPACE, sanitize

__all__ = ["Aggregator", "Flush"]

_RATE = re.compile(r"@([0-9.]+)")
_SIMPLE_TYPES = frozenset(("c", "ms", "g", "s"))
_KEY_CACHE_SIZE = 100_000
_VALUE_CACHE_SIZE = 4_096


@dataclass(frozen=True)
class Flush:
    """One interval's output: Graphite ``(path, value)`` pairs stamped with ``ts``."""

    ts: int
    metrics: list[Metric]


class Aggregator:
    """statsd state for one daemon. Not thread-safe: the caller serializes access."""

    def __init__(
        self,
        settings: StatsdSettings,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.namespace = Namespace(settings)
        self._clock = clock
        p = settings.prefix_stats
        self.bad_lines_key = f"{p}.bad_lines_seen"
        self.packets_key = f"{p}.packets_received"
        self.metrics_key = f"{p}.metrics_received"
        self.lag_key = f"{p}.timestamp_lag"
        self.dropped_key = f"{p}.keys_dropped"
        self.counters: dict[str, float] = {
            self.bad_lines_key: 0,
            self.packets_key: 0,
            self.metrics_key: 0,
        }
        self.timers: dict[str, list[float]] = {}
        self.timer_counters: dict[str, float] = {}
        self.gauges: dict[str, float] = {}
        self.gauges_ttl: dict[str, int] = {}
        self.sets: dict[str, set[str]] = {}
        self.old_ts = 0
        #: For the admin ``stats`` command: bad lines since start, last time a packet came.
        self.bad_lines_total = 0
        self.last_msg_seen = 0.0
        #: Bad lines since ``take_bad_lines``, and the last one, for rate-limited logging.
        self._bad_since = 0
        self._bad_example = ""
        self._keys: dict[str, str] = {}
        self._values: dict[str, float | None] = {}
        self._delete_gauges = settings.deletes("gauges")
        self._gauge_ttl = settings.gauge_ttl
        self._histograms = settings.histogram

    # -- ingest ---------------------------------------------------------------

    def ingest(self, text: str, packets: int = 1, now: float = 0.0) -> None:
        """Apply one packet's text (or several packets joined by ``\\n``)."""
        counters = self.counters
        counters[self.packets_key] = counters.get(self.packets_key, 0) + packets
        received = 0
        for line in text.split("\n"):
            if not line:
                continue
            received += 1
            if "|#" in line:
                bits = line.split("|#")
                parts = bits[0].split(":")
                raw = parts[0]
                if bits[1]:
                    tags = (t.replace(";", "_", 1).replace(":", "=", 1) for t in bits[1].split(","))
                    raw += ";" + ";".join(tags)
            else:
                parts = line.split(":")
                raw = parts[0]
            key = self._keys.get(raw)
            if key is None:
                key = self._key(raw)
            if len(parts) == 1:
                self._segment(key, "1", line)
            else:
                for segment in parts[1:]:
                    self._segment(key, segment, line)
        counters[self.metrics_key] = counters.get(self.metrics_key, 0) + received
        if now:
            self.last_msg_seen = now

    def _key(self, raw: str) -> str:
        key = sanitize(raw) if self.settings.key_name_sanitize else raw
        if len(self._keys) >= _KEY_CACHE_SIZE:
            self._keys.clear()
        self._keys[raw] = key
        return key

    def _number(self, text: str) -> float | None:
        if text in self._values:
            return self._values[text]
        value = parse_number(text) if text else None
        if len(self._values) < _VALUE_CACHE_SIZE:
            self._values[text] = value
        return value

    def bad_line(self, line: str) -> None:
        """Count ``line`` as bad (``statsd.bad_lines_seen``) and keep it for the log."""
        self.counters[self.bad_lines_key] = self.counters.get(self.bad_lines_key, 0) + 1
        self.bad_lines_total += 1
        self._bad_since += 1
        self._bad_example = line

    def _segment(self, key: str, segment: str, line: str) -> None:
        fields = segment.split("|")
        if len(fields) < 2:
            return self.bad_line(line)
        value, kind = fields[0], fields[1]
        inverse = 1.0
        if len(fields) > 2:
            rate_field = fields[2]
            if len(rate_field) < 2 or rate_field[0] != "@" or rate_field[1] == "-":
                return self.bad_line(line)
            if not is_number(rate_field[1:]):
                return self.bad_line(line)
            match = _RATE.match(rate_field)
            if match is None:  # node: TypeError, the daemon exits
                return self.bad_line(line)
            rate = parse_number(match[1])
            if rate is None:
                return self.bad_line(line)
            inverse = 1 / rate if rate else float("inf")
        if kind == "s":
            number = 0.0
        else:
            parsed = self._number(value)
            if parsed is None or (kind == "ms" and parsed < 0):
                return self.bad_line(line)
            number = parsed
        if kind not in _SIMPLE_TYPES:
            kind = kind.strip(JS_WHITESPACE)
        if kind == "ms":
            samples = self.timers.get(key)
            if samples is None:
                if self._full(key):
                    return None
                samples = self.timers[key] = []
                self.timer_counters[key] = 0
            samples.append(number)
            self.timer_counters[key] = self.timer_counters.get(key, 0) + inverse
        elif kind == "g":
            if self._delete_gauges:
                self.gauges_ttl[key] = self._gauge_ttl
            current = self.gauges.get(key)
            if current is None and self._full(key):
                return None
            if current and current == current and value[0] in "+-":
                self.gauges[key] = current + number
            else:
                self.gauges[key] = number
        elif kind == "s":
            members = self.sets.get(key)
            if members is None:
                if self._full(key):
                    return None
                members = self.sets[key] = set()
            member = value or "0"
            if member != "__proto__":  # node keeps members as keys of a plain object
                members.add(member)
        else:
            current = self.counters.get(key)
            if current is None and self._full(key):
                return None
            if not current or current != current:  # JavaScript: undefined, 0 and NaN are falsy
                current = 0
            self.counters[key] = current + number * inverse
        return None

    def _full(self, key: str) -> bool:
        """True (and counted) when a new ``key`` would exceed ``max_keys``."""
        held = len(self.counters) + len(self.timers) + len(self.gauges) + len(self.sets)
        if held < self.settings.max_keys:
            return False
        self.counters[self.dropped_key] = self.counters.get(self.dropped_key, 0) + 1
        return True

    def take_bad_lines(self) -> tuple[int, str]:
        """Bad lines since the last call, and the last of them (for a bounded log)."""
        taken = self._bad_since, self._bad_example
        self._bad_since, self._bad_example = 0, ""
        return taken

    # -- flush ----------------------------------------------------------------

    def flush(self, now: float) -> Flush:
        """Compute this interval's metrics at wall-clock time ``now`` and reset the state."""
        s = self.settings
        ts = round_half_up(now)
        interval_s = s.flush_interval / 1000
        if self.old_ts > 0:
            self.gauges[self.lag_key] = ts - self.old_ts - interval_s
        self.old_ts = ts

        started = self._clock()
        timer_data: dict[str, TimerData] = {}
        for key, samples in self.timers.items():
            data = timer_stats(
                samples,
                self.timer_counters.get(key, 0),
                s.percent_threshold,
                interval_s,
                self._histogram_for(key),
            )
            timer_data[key] = filter_stats(data, s.calculated_timer_metrics)
        processing_ms = round_half_up((self._clock() - started) * 1000)

        started = self._clock()
        sets = {key: len(members) for key, members in self.sets.items()}
        metrics = list(
            self.namespace.metrics(self.counters, interval_s, timer_data, self.gauges, sets)
        )
        num_stats = len(self.counters) + len(timer_data) + len(self.gauges) + len(sets)
        calculation_ms = round_half_up((self._clock() - started) * 1000)
        metrics += self.namespace.meta(num_stats, calculation_ms, processing_ms)
        self._reset()
        return Flush(ts, metrics)

    def _histogram_for(self, key: str) -> Histogram | None:
        for histogram in self._histograms:
            if histogram.metric in key:
                return histogram
        return None

    def _reset(self) -> None:
        s = self.settings
        if s.deletes("counters"):
            internal = ("packets_received", "metrics_received", "bad_lines_seen")
            self.counters = {k: 0 for k in self.counters if any(name in k for name in internal)}
        else:
            self.counters = dict.fromkeys(self.counters, 0)
        if s.deletes("timers"):
            self.timers, self.timer_counters = {}, {}
        else:
            self.timers = {k: [] for k in self.timers}
            self.timer_counters = dict.fromkeys(self.timers, 0)
        self.sets = {} if s.deletes("sets") else {k: set() for k in self.sets}
        if self._delete_gauges:
            for key in list(self.gauges_ttl):
                self.gauges_ttl[key] -= 1
                if self.gauges_ttl[key] < 1:
                    self.gauges.pop(key, None)
                    del self.gauges_ttl[key]
