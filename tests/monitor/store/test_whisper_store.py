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


#: One minute of 10 s flushes, repeated over a whole 10-minute bucket; what the
#: coarser archives must hold for each name under the default rules (per minute; a sum
#: is ten times that per 10 minutes).
MINUTE = [4.0, 9.0, 1.0, 6.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("metric", "method", "rolled_up"),
    [
        ("stats_counts.shop.requests.home", "sum", 25.0),
        ("stats.counters.shop.requests.count", "sum", 25.0),
        ("stats.timers.api.count", "sum", 25.0),
        ("stats.timers.api.count_90", "sum", 25.0),
        ("stats.timers.api.sum", "sum", 25.0),
        ("stats.timers.api.sum_90", "sum", 25.0),
        ("stats.timers.api.sum_squares", "sum", 25.0),
        ("deploys.web.production", "sum", 25.0),
        ("stats.timers.api.lower", "min", 1.0),
        ("stats.timers.api.min", "min", 1.0),
        ("stats.timers.api.upper", "max", 9.0),
        ("stats.timers.api.upper_90", "max", 9.0),
        ("stats.timers.api.max", "max", 9.0),
        ("stats.sets.shop.users.count", "max", 9.0),
        ("stats.gauges.queue", "last", 3.0),
        ("stats.shop.requests.home", "average", 25.0 / 6),
        ("stats.timers.api.mean", "average", 25.0 / 6),
        ("stats.timers.api.count_ps", "average", 25.0 / 6),
    ],
)
def test_default_aggregation_keeps_the_meaning_through_roll_up(
    tmp_path: Path, metric: str, method: str, rolled_up: float
) -> None:
    assert Rules(StoreSettings()).for_metric(metric)[1] == method
    bucket = NOW - NOW % 600 - 600  # a whole 10-minute bucket, the latest finished one
    store = WhisperStore(tmp_path, clock=lambda: NOW)
    store.start()
    store.add((metric, MINUTE[i % 6], bucket + 10 * i) for i in range(60))
    store.stop()
    # read back through the 1-minute archive (a range older than the 10 s one's 6 h)
    (first, _, step), values = store.fetch(metric, NOW - 7 * 3600, NOW) or ((0, 0, 0), [])
    assert step == 60
    assert values[(bucket - first) // step] == pytest.approx(rolled_up)
    # and through the 10-minute archive (older than the 1-minute one's 7 days)
    (first, _, step), values = store.fetch(metric, NOW - 8 * 86400, NOW) or ((0, 0, 0), [])
    assert step == 600
    ten_minutes = rolled_up * 10 if method == "sum" else rolled_up
    assert values[(bucket - first) // step] == pytest.approx(ten_minutes)


@pytest.mark.parametrize("metric", ["deploys.api.production", "stats_counts.shop.errors"])
def test_a_single_event_survives_roll_up(tmp_path: Path, metric: str) -> None:
    store = WhisperStore(tmp_path, clock=lambda: NOW)
    store.start()
    when = NOW - NOW % 600 - 600 + 250  # one point in the middle of a 10-minute bucket
    store.add([(metric, 1.0, when)])
    store.stop()
    for since, step in ((NOW - 7 * 3600, 60), (NOW - 8 * 86400, 600)):
        (first, _, got_step), values = store.fetch(metric, since, NOW) or ((0, 0, 0), [])
        assert got_step == step
        assert [v for v in values if v is not None] == [1.0]
        assert values[(when - when % step - first) // step] == 1.0


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


@pytest.mark.parametrize(
    "metric",
    ["", "a..b", ".a", "a.", "a/b", "../etc/passwd", "a\0b", "a." + "n" * 251, "x" * 1025,
     "a." * 600 + "b", "_tagged.abc.def.x", "cpu;host=" + "h" * 300],
)  # fmt: skip
def test_names_that_cannot_be_files_are_rejected(tmp_path: Path, metric: str) -> None:
    with pytest.raises(InvalidPath):
        file_path(tmp_path, metric)


def test_a_huge_name_is_refused_not_cached(store: WhisperStore) -> None:
    huge = "carbon." + "x" * 60_000
    assert store.add([(huge, 1.0, NOW)]) == 0
    assert store.stats.invalid_paths == 1
    assert store.cached_metrics() == set()


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


def test_new_files_are_sparse(store: WhisperStore) -> None:
    """A new series takes the disk its points need, not its 3.3 MB of slots."""
    store.add([("sparse.one", 1.0, NOW - 10)])
    wait_until(lambda: store.stats.points_written == 1)
    stat = (store.root / "sparse" / "one.wsp").stat()
    assert stat.st_size > 3_000_000  # the file is as long as ever (whisper's layout) …
    assert stat.st_blocks * 512 < 100_000  # … but holds only a few blocks
    assert store.disk_usage() == (1, stat.st_blocks * 512)
    assert store.fetch("sparse.one", NOW - 30, NOW) == ((NOW - 20, NOW + 10, 10), [None, 1.0, None])


def test_creates_per_minute_are_capped_and_the_rest_wait_readable(tmp_path: Path) -> None:
    now = [float(NOW)]
    settings = StoreSettings(max_creates_per_minute=2)
    store = WhisperStore(tmp_path, settings, clock=lambda: now[0])
    store.start()
    try:
        store.add([(f"burst.s{i}", float(i), NOW - 10) for i in range(5)])
        wait_until(lambda: store.stats.creates_waiting == 3)
        assert len(list((tmp_path / "burst").glob("*.wsp"))) == 2
        # the waiting series are readable and found, as if written
        for i in range(5):
            assert store.fetch(f"burst.s{i}", NOW - 20, NOW)[1][0] == float(i)  # type: ignore[index]
        on_disk = {f"burst.{p.stem}" for p in (tmp_path / "burst").glob("*.wsp")}
        assert store.cached_metrics() == {f"burst.s{i}" for i in range(5)} - on_disk
        # points for an existing series still go to disk meanwhile
        written = store.stats.points_written
        store.add([("burst.s0", 9.0, NOW)])
        wait_until(lambda: store.stats.points_written == written + 1)
        now[0] += 60  # the next minute: two more
        wait_until(lambda: store.stats.creates_waiting == 1)
        assert len(list((tmp_path / "burst").glob("*.wsp"))) == 4
    finally:
        store.stop()  # the last one is created at stop: nothing accepted is lost
    assert len(list((tmp_path / "burst").glob("*.wsp"))) == 5


def test_below_the_free_disk_minimum_no_series_is_created(tmp_path: Path) -> None:
    first = WhisperStore(tmp_path, StoreSettings(min_free_mb=0), clock=lambda: NOW)
    first.start()
    first.add([("old.series", 1.0, NOW - 20)])
    first.stop()
    full = StoreSettings(min_free_mb=1 << 40)  # more than any disk has free
    store = WhisperStore(tmp_path, full, clock=lambda: NOW)
    store.start()
    try:
        store.add([("old.series", 2.0, NOW - 10), ("new.series", 3.0, NOW - 10)])
        wait_until(lambda: store.stats.points_written == 1 and store.stats.creates_waiting == 1)
        assert store.stats.low_disk
        assert not (tmp_path / "new").exists()
        assert store.fetch("new.series", NOW - 20, NOW)[1][0] == 3.0  # type: ignore[index]
        assert store.cached("old.series") == {}  # existing series keep being written
    finally:
        store.stop()
    assert store.stats.points_dropped == 1  # nowhere to put it at stop: counted
