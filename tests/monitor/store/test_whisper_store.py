"""The whisper store on real files in a temp dir: rules, cache, writer, names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import whisper

from monitor.store.rules import AggregationRule, RetentionRule, Rules, StoreSettings
from monitor.store.whisper_store import InvalidPath, WhisperStore, file_path
from tests.conftest import wait_until

NOW = 1_800_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WhisperStore]:
    s = WhisperStore(tmp_path / "whisper", clock=lambda: NOW)
    s.start()
    yield s
    s.stop()


def test_points_are_readable_at_once_and_reach_disk(store: WhisperStore) -> None:
    store.add([("stats_counts.hits", 3.0, NOW - 20), ("stats_counts.hits", 4.0, NOW - 10)])
    fetched = store.fetch("stats_counts.hits", NOW - 60, NOW)
    assert fetched == ((NOW - 50, NOW + 10, 10), [None, None, None, 3.0, 4.0, None])
    wait_until(lambda: store.stats.points_written == 2)
    path = store.root / "stats_counts" / "hits.wsp"
    info = whisper.info(str(path))
    assert info["aggregationMethod"] == "sum"
    assert [a["secondsPerPoint"] for a in info["archives"]] == [10, 60, 600]
    assert store.cached("stats_counts.hits") == {}
    assert store.fetch("stats_counts.hits", NOW - 60, NOW) == fetched


@pytest.mark.parametrize(
    ("metric", "method"),
    [
        ("stats.timers.api.lower", "min"),
        ("stats.timers.api.upper_90", "max"),
        ("stats.timers.api.count", "sum"),
        ("stats.gauges.queue", "last"),
        ("stats.api.rate", "average"),
    ],
)
def test_default_aggregation_suits_statsd(metric: str, method: str) -> None:
    assert Rules(StoreSettings()).for_metric(metric)[1] == method


def test_first_matching_rule_wins() -> None:
    rules = Rules(
        StoreSettings(
            retentions=(RetentionRule("fast", "^fast\\.", "1s:1h"), RetentionRule()),
            aggregation=(AggregationRule("m", "^fast\\.", "max", 0.0),),
        )
    )
    assert rules.for_metric("fast.x") == ([(1, 3600)], "max", 0.0)
    assert rules.for_metric("slow.x")[0] == [(10, 2160), (60, 10080), (600, 262800)]


def test_bad_rules_name_the_rule() -> None:
    with pytest.raises(ValueError, match=r"store.retentions\[0\] \(bad\)"):
        Rules(StoreSettings(retentions=(RetentionRule("bad", ".*", "10s:banana"),)))
    with pytest.raises(ValueError, match=r"store.aggregation\[0\] \(re\)"):
        Rules(StoreSettings(aggregation=(AggregationRule("re", "(", "sum", 0),)))


@pytest.mark.parametrize("metric", ["", "a..b", ".a", "a.", "a/b", "../etc/passwd", "a\0b"])
def test_names_that_cannot_be_files_are_rejected(tmp_path: Path, metric: str) -> None:
    with pytest.raises(InvalidPath):
        file_path(tmp_path, metric)


def test_invalid_names_are_counted_not_written(store: WhisperStore) -> None:
    assert store.add([("../escape", 1.0, NOW), ("ok.metric", 1.0, NOW)]) == 1
    assert store.stats.invalid_paths == 1
    wait_until(lambda: store.stats.points_written == 1)
    assert not (store.root.parent / "escape.wsp").exists()


def test_tagged_series_go_where_carbon_puts_them(tmp_path: Path) -> None:
    path = file_path(tmp_path, "cpu.load;host=a;dc=eu")
    assert path.parts[-4] == "_tagged"
    assert path.name == "cpu_DOT_load;dc=eu;host=a.wsp"


def test_cache_is_bounded(tmp_path: Path) -> None:
    store = WhisperStore(tmp_path, StoreSettings(max_pending=1000), clock=lambda: NOW)
    accepted = store.add((f"m{i}", 1.0, NOW) for i in range(1500))  # writer not started
    assert accepted == 1000
    assert store.stats.points_dropped == 500


def test_stop_writes_what_is_cached(tmp_path: Path) -> None:
    store = WhisperStore(tmp_path, clock=lambda: NOW)
    store.start()
    store.add([(f"series.{i}", float(i), NOW - 10) for i in range(200)])
    store.stop()
    assert store.stats.points_written == 200
    assert len(list(store.walk())) == 200


def test_walk_lists_disk_and_cache(store: WhisperStore) -> None:
    store.add([("a.b.c", 1.0, NOW), ("a.d", 1.0, NOW)])
    assert list(store.walk()) == ["a.b.c", "a.d"]
