"""The pure aggregator: lines in, Graphite metrics out (node semantics in test_against_node)."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from monitor.aggregator.aggregator import Aggregator
from monitor.aggregator.settings import StatsdSettings


def flushed(agg: Aggregator, now: float = 1000.0) -> dict[str, float]:
    return dict(agg.flush(now).metrics)


def make(**changes: object) -> Aggregator:
    ticks = iter(range(1_000_000))
    return Aggregator(replace(StatsdSettings(), **changes), clock=lambda: next(ticks) / 1000)


def test_counter_timer_gauge_set() -> None:
    agg = make()
    agg.ingest("c:1|c\nc:2|c|@0.5\nt:3|ms\nt:1|ms\ng:5|g\ng:-2|g\ns:a|s\ns:b|s\ns:a|s")
    out = flushed(agg)
    assert out["stats_counts.c"] == 5
    assert out["stats.c"] == 0.5
    assert out["stats.timers.t.mean"] == 2
    assert out["stats.timers.t.upper_90"] == 3
    assert out["stats.gauges.g"] == 3
    assert out["stats.sets.s.count"] == 2
    assert out["statsd.numStats"] == 7
    assert out["stats_counts.statsd.metrics_received"] == 9
    assert out["stats_counts.statsd.packets_received"] == 1


def test_rates_that_crash_node_are_bad_lines_here() -> None:
    agg = make()
    agg.ingest("a:1|c|@+0.5\nb:1|c|@ 0.5\nc:1|c")
    out = flushed(agg)
    assert out["stats_counts.statsd.bad_lines_seen"] == 2
    assert "stats_counts.a" not in out
    assert out["stats_counts.c"] == 1
    count, example = agg.take_bad_lines()
    assert (count, example) == (2, "b:1|c|@ 0.5")
    assert agg.take_bad_lines() == (0, "")


def test_reset_after_flush_keeps_gauges_and_zeroes_the_rest() -> None:
    agg = make()
    agg.ingest("c:1|c\nt:1|ms\ng:1|g\ns:x|s")
    flushed(agg)
    out = flushed(agg, 1010)
    assert out["stats_counts.c"] == 0
    assert out["stats.timers.t.count"] == 0
    assert "stats.timers.t.mean" not in out
    assert out["stats.gauges.g"] == 1
    assert out["stats.sets.s.count"] == 0
    assert out["stats.gauges.statsd.timestamp_lag"] == 0


def test_timestamp_lag_reports_late_flushes() -> None:
    agg = make()
    flushed(agg, 1000)
    assert flushed(agg, 1013)["stats.gauges.statsd.timestamp_lag"] == 3


def test_memory_is_bounded_by_max_keys() -> None:
    agg = make(max_keys=10)  # 3 internal counters + 7 of ours
    agg.ingest("\n".join(f"k{i}:1|c" for i in range(20)))
    agg.ingest("k0:5|c\ng:1|g\nt:1|ms\ns:a|s")
    out = flushed(agg)
    assert out["stats_counts.k0"] == 6  # existing keys still count
    assert "stats_counts.k7" not in out
    assert out["stats_counts.statsd.keys_dropped"] == 13 + 3


def test_ten_thousand_unique_names_then_delete_idle_frees_them() -> None:
    agg = make(max_keys=1000, delete_idle_stats=True)
    agg.ingest("\n".join(f"u{i}:1|c" for i in range(10_000)))
    assert len(agg.counters) == 1000 + 1  # the bound, plus the keys_dropped counter
    flushed(agg)
    assert len(agg.counters) == 3  # only the internal counters stay


def test_gauge_delete_ttl() -> None:
    agg = make(delete_gauges=True, gauges_max_ttl=2)
    agg.ingest("g:1|g")
    assert "stats.gauges.g" in flushed(agg, 1000)
    assert "stats.gauges.g" in flushed(agg, 1010)
    assert "stats.gauges.g" not in flushed(agg, 1020)


def test_flush_timestamp_rounds_half_up() -> None:
    agg = make()
    assert agg.flush(1000.5).ts == 1001
    assert agg.flush(1010.49).ts == 1010


def test_nan_counter_restarts_at_zero_like_javascript() -> None:
    agg = make()
    agg.ingest("c:0|c|@0")  # 0 * Infinity = NaN
    assert math.isnan(agg.counters["c"])
    agg.ingest("c:2|c")
    assert agg.counters["c"] == 2


@given(st.binary(max_size=300))
def test_any_bytes_never_raise_and_every_line_is_counted(data: bytes) -> None:
    agg = make()
    text = data.decode("utf-8", "replace")
    agg.ingest(text)
    lines = [line for line in text.split("\n") if line]
    assert agg.counters["statsd.metrics_received"] == len(lines)
    flushed(agg)
