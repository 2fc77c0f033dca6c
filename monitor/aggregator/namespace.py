"""Where each flushed value goes in Graphite: node statsd 0.9.0's graphite backend names.

Legacy layout (node's default): ``stats.K`` (counter rate), ``stats_counts.K`` (count),
``stats.timers.K.S``, ``stats.gauges.K``, ``stats.sets.K.count``, ``statsd.numStats``.
Non-legacy: ``<globalPrefix>.<prefixCounter>.K.rate`` and so on, where an empty prefix
drops its component. ``globalSuffix`` goes after the stat name and Graphite tags
(``;k=v``, carried in the key) go last.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from monitor.aggregator.settings import StatsdSettings
from monitor.aggregator.timers import TimerData
from monitor.names import sanitize

__all__ = ["Namespace"]

Metric = tuple[str, float]


class Namespace:
    """Turns aggregated values into ``(path, value)`` pairs, in node's order."""

    def __init__(self, settings: StatsdSettings) -> None:
        g = settings.graphite
        self.legacy = g.legacy_namespace
        self.suffix = "" if g.global_suffix is None else "." + g.global_suffix
        self.stats_prefix = settings.prefix_stats
        self.flush_counts = settings.flush_counts
        self.sanitize_here = not settings.key_name_sanitize
        if self.legacy:
            self.root, self.counters = ["stats"], ["stats"]
            self.timers, self.gauges, self.sets = (
                ["stats", "timers"],
                ["stats", "gauges"],
                [
                    "stats",
                    "sets",
                ],
            )
        else:
            root = [g.global_prefix] if g.global_prefix != "" else []

            def under(prefix: str) -> list[str]:
                return root + ([prefix] if prefix != "" else [])

            self.root = root
            self.counters = under(g.prefix_counter)
            self.timers = under(g.prefix_timer)
            self.gauges = under(g.prefix_gauge)
            self.sets = under(g.prefix_set)

    def path(self, namespace: list[str], key: str, *stat: str) -> str:
        """node's ``format()``: namespace, name, stat parts, suffix, then the key's tags."""
        name, sep, tags = key.partition(";")
        if self.sanitize_here:
            name = sanitize(name)
        return ".".join([*namespace, name, *stat]) + self.suffix + (sep + tags)

    def metrics(
        self,
        counters: Mapping[str, float],
        interval_s: float,
        timer_data: Mapping[str, TimerData],
        gauges: Mapping[str, float],
        sets: Mapping[str, int],
    ) -> Iterator[Metric]:
        """Every counter, timer, gauge and set line, in node's order."""
        path = self.path
        for key, value in counters.items():
            rate = value / interval_s
            if self.legacy:
                yield path(self.counters, key), rate
                if self.flush_counts:
                    yield path(["stats_counts"], key), value
            else:
                yield path(self.counters, key, "rate"), rate
                if self.flush_counts:
                    yield path(self.counters, key, "count"), value
        for key, data in timer_data.items():
            for stat, number in data.items():
                if isinstance(number, dict):
                    for bin_name, freq in number.items():
                        yield path(self.timers, key, stat, bin_name), freq
                else:
                    yield path(self.timers, key, stat), number
        for key, value in gauges.items():
            yield path(self.gauges, key), value
        for key, size in sets.items():
            yield path(self.sets, key, "count"), size

    def meta(self, num_stats: int, calculation_ms: float, processing_ms: float) -> list[Metric]:
        """``numStats``, the backend's calculation time and ``processing_time``."""
        p, s = self.stats_prefix, self.suffix
        if self.legacy:
            return [
                (f"{p}.numStats{s}", num_stats),
                (f"stats.{p}.graphiteStats.calculationtime{s}", calculation_ms),
                (f"stats.{p}.processing_time{s}", processing_ms),
            ]
        return [
            (self.path(self.root, p, "numStats"), num_stats),
            (self.path(self.root, p, "graphiteStats", "calculationtime"), calculation_ms),
            (self.path(self.root, p, "processing_time"), processing_ms),
        ]

    def backend_stat(self, name: str) -> str:
        """The path of one of the carbon sink's own ``graphiteStats`` values."""
        return ".".join([*self.root, self.stats_prefix]) + f".graphiteStats.{name}{self.suffix}"
