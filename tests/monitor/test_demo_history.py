"""The demo's history on real whisper files and a real event store, read back through
the store as the render API reads it: every default range has data, coarse archives
hold what the aggregation method says, the last hour shows deploys and a bad one."""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.aggregator.settings import GraphiteNames, StatsdSettings
from monitor.demo import CALM_ERRORS, ENDPOINTS, PEOPLE, traffic
from monitor.demo_backfill import Written, backfill, backfill_once
from monitor.demo_history import History, schedule
from monitor.store.events import EventStore
from monitor.store.rules import RetentionRule, Rules, StoreSettings
from monitor.store.whisper_store import WhisperStore

#: The eight days take about ten seconds to write on two cores, more on a busy machine.
pytestmark = pytest.mark.timeout(240)

#: A Wednesday, 15:00:05 UTC.
NOW = 1_772_636_405
HOUR, DAY = 3600, 86400

#: What 30 s of the live demo left on disk (``find <data>/whisper -name '*.wsp'``),
#: plus ``checkout.failed`` (rare enough to miss in 30 s), without a request total.
TIMER_STATS = [
    *("count", "count_ps", "lower", "mean", "median", "std", "sum", "sum_squares", "upper"),
    *(f"{stat}_90" for stat in ("count", "mean", "sum", "sum_squares", "upper")),
]
LIVE_NAMES = {
    "stats.gauges.shop.cart.items",
    "stats.gauges.statsd.timestamp_lag",
    "stats.sets.shop.users.count",
    "stats.statsd.graphiteStats.calculationtime",
    "stats.statsd.processing_time",
    "statsd.numStats",
    *(f"stats.timers.shop.request.{e}.{s}" for e in ENDPOINTS for s in TIMER_STATS),
    *(
        f"{prefix}.{key}"
        for prefix in ("stats", "stats_counts")
        for key in (
            *(f"shop.requests.{e}" for e in ENDPOINTS),
            "shop.errors",
            "shop.checkout.ok",
            "shop.checkout.failed",
            "logs.demo.errors",
            "logs.demo.tracebacks",
            "supergrep.lines.demo",
            "supergrep.lines.monitor",
            "statsd.bad_lines_seen",
            "statsd.metrics_received",
            "statsd.packets_received",
        )
    ),
    "deploys.web.production",
    "deploys.api.production",
}


@dataclass
class Written8:
    store: WhisperStore
    events: EventStore
    written: Written
    marker: Path


@pytest.fixture(scope="module")
def eight_days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written8]:
    """Eight days written once (a few seconds) and read by every test below."""
    root = tmp_path_factory.mktemp("history")
    store = WhisperStore(root / "whisper", clock=lambda: NOW)
    store.start()
    events = EventStore(root / "events.sqlite")
    marker = root / "demo" / "history-written"
    written = backfill_once(marker, store, events, 8, now=NOW, rng=random.Random(11))
    assert written is not None
    yield Written8(store, events, written, marker)
    events.close()
    store.stop()


def values(store: WhisperStore, name: str, start: int, end: int) -> tuple[int, list[float | None]]:
    fetched = store.fetch(name, start, end)
    assert fetched is not None, name
    (_, _, step), packed = fetched
    return step, list(packed)


def non_null(series: list[float | None]) -> float:
    return sum(v is not None for v in series) / len(series)


def test_every_default_range_has_data(eight_days: Written8) -> None:
    store = eight_days.store
    for start, end, step in [
        (NOW - HOUR, NOW, 10),
        (NOW - 3 * HOUR, NOW, 10),
        (NOW - 6 * HOUR, NOW, 10),
        (NOW - 7 * DAY, NOW, 60),
        (NOW - 7 * DAY - 6 * HOUR, NOW - 7 * DAY, 600),  # the 6 h view's week-ago overlay
        (NOW - 7 * DAY - HOUR, NOW - 7 * DAY, 600),
        (NOW - 14 * DAY + 6 * HOUR, NOW - 7 * DAY, 600),  # a week-ago 7 d overlay: 1 day
    ]:
        got_step, series = values(store, "stats.shop.requests.home", start, end)
        assert got_step == step
        share = 1 / 7 if end - start > 2 * DAY else 1
        assert non_null(series) > 0.95 * share, (start - NOW, end - NOW)


def test_the_names_are_the_live_demos_and_no_request_total(eight_days: Written8) -> None:
    names = set(eight_days.store.walk())
    assert names == LIVE_NAMES
    assert not any("total" in name for name in names)
    assert eight_days.written.series == len(LIVE_NAMES)
    assert eight_days.written.points == eight_days.store.stats.points_written
    assert eight_days.store.stats.points_dropped == 0


def test_a_coarse_point_is_the_roll_up_its_method_asks_for(eight_days: Written8) -> None:
    store = eight_days.store
    # minutes through the 1 min archive, from direct points (older than 6 h) and from
    # whisper's own roll-up of 10 s points (the last 6 h): counts add up, rates average
    # (the current minute is not complete: its average has too few points, as live)
    start, end = NOW - 2 * DAY, NOW - 60
    for count, rate in [
        ("stats_counts.shop.requests.home", "stats.shop.requests.home"),
        ("stats.timers.shop.request.search.count", "stats.timers.shop.request.search.count_ps"),
        ("stats_counts.shop.errors", "stats.shop.errors"),
    ]:
        step, counts = values(store, count, start, end)
        _, rates = values(store, rate, start, end)
        assert step == 60
        pairs = [(c, r) for c, r in zip(counts, rates, strict=True) if c is not None]
        assert len(pairs) > 0.99 * 2 * DAY / 60
        assert all(r is not None and c == pytest.approx(60 * r) for c, r in pairs)
    # counts are whole numbers; upper bounds grow and lower bounds shrink with the bucket
    _, minute = values(store, "stats_counts.shop.requests.cart", start, NOW - DAY)
    assert all(c is not None and c == int(c) for c in minute)
    name = "stats.timers.shop.request.home"
    for stat, coarser in [("upper", max), ("lower", min)]:
        _, fine = values(store, f"{name}.{stat}", NOW - 3 * HOUR, NOW - 2 * HOUR)
        _, hour = values(store, f"{name}.{stat}", NOW - 2 * DAY, NOW - DAY)
        fine_mean = sum(v for v in fine if v) / len(fine)
        hour_mean = sum(v for v in hour if v) / len(hour)
        assert coarser(fine_mean, hour_mean) == hour_mean


def test_deploys_are_single_ones_that_survive_the_roll_up(eight_days: Written8) -> None:
    store, events = eight_days.store, eight_days.events
    for stack in ("web", "api"):
        name = f"deploys.{stack}.production"
        fetched = store.fetch(name, NOW - 8 * DAY, NOW)
        assert fetched is not None
        (first, last, step), series = fetched
        assert step == 600
        counted = events.query(first, last - 1, ["deploy", stack])
        assert len(counted) > 20
        assert sum(v for v in series if v) == len(counted)
        _, recent = values(store, name, NOW - HOUR, NOW)
        assert set(recent) == {None, 1.0}


def test_history_deploys_are_stored_like_live_ones(eight_days: Written8) -> None:
    found = eight_days.events.query(NOW - 8 * DAY, NOW, ["deploy"])
    assert len(found) == eight_days.written.deploys
    for event in found:
        data = json.loads(event.data)
        assert set(data) == {"sha", "who", "url"}
        stack = event.tags[1]
        assert event.tags == ("deploy", stack, "production")
        assert event.what == f"deploy {stack} production {data['sha']}"
        assert data["who"] in PEOPLE
        assert event.when == int(event.when)
    stacks = [e.tags[1] for e in found]
    assert all(a != b for a, b in itertools.pairwise(stacks))  # in turn


def test_the_last_hour_has_both_stacks_and_a_bad_deploy(eight_days: Written8) -> None:
    store = eight_days.store
    recent = eight_days.events.query(NOW - HOUR, NOW, ["deploy"])
    assert {e.tags[1] for e in recent} == {"web", "api"}

    def error_rate(start: int, end: int) -> float:
        _, errors = values(store, "stats_counts.shop.errors", start, end)
        requests = [
            values(store, f"stats_counts.shop.requests.{e}", start, end)[1] for e in ENDPOINTS
        ]
        return sum(v or 0 for v in errors) / sum(v or 0 for s in requests for v in s)

    after = [error_rate(int(e.when), int(e.when) + 150) for e in recent]
    assert max(after) > 0.08  # a bad deploy: about 12 %
    assert sorted(after)[0] < 0.02
    assert error_rate(NOW - 6 * HOUR, NOW - 2 * HOUR) < 3 * CALM_ERRORS
    bad = recent[after.index(max(after))]
    for name in ("stats_counts.logs.demo.errors", "stats.timers.shop.request.home.median"):
        _, during = values(store, name, int(bad.when), int(bad.when) + 150)
        _, before = values(store, name, int(bad.when) - 600, int(bad.when) - 60)
        mean = [sum(v or 0 for v in s) / len(s) for s in (during, before)]
        assert mean[0] > 1.4 * mean[1], name


def test_traffic_has_a_daily_and_weekly_shape_and_joins_the_live_rate(
    eight_days: Written8,
) -> None:
    store = eight_days.store

    def rate(start: int, end: int) -> float:
        total = 0.0
        for e in ENDPOINTS:
            _, series = values(store, f"stats.shop.requests.{e}", start, end)
            known = [v for v in series if v is not None]
            total += sum(known) / len(known)
        return total

    today = NOW - NOW % DAY  # a Wednesday
    night, afternoon = rate(today + 3 * HOUR, today + 5 * HOUR), rate(today + 14 * HOUR, NOW)
    assert afternoon > 2.5 * night
    saturday, tuesday = today - 4 * DAY, today - DAY
    assert rate(saturday + 12 * HOUR, saturday + 18 * HOUR) < 0.8 * rate(
        tuesday + 12 * HOUR, tuesday + 18 * HOUR
    )
    # the last minutes are where the live shop goes on: its own daily curve, no step
    assert rate(NOW - 600, NOW) == pytest.approx(traffic(NOW - 300), rel=0.2)


def test_a_second_start_does_not_write_again(eight_days: Written8) -> None:
    assert eight_days.marker.exists()
    accepted = eight_days.store.stats.points_accepted
    deploys = len(eight_days.events.query(0, NOW))
    again = backfill_once(
        eight_days.marker, eight_days.store, eight_days.events, 8, now=NOW, rng=random.Random(1)
    )
    assert again is None
    assert eight_days.store.stats.points_accepted == accepted
    assert len(eight_days.events.query(0, NOW)) == deploys


def test_a_cancelled_backfill_writes_no_deploys_and_no_marker(tmp_path: Path) -> None:
    store = WhisperStore(tmp_path / "whisper", clock=lambda: NOW)
    store.start()
    events = EventStore(tmp_path / "events.sqlite")
    cancel = threading.Event()
    cancel.set()
    marker = tmp_path / "marker"
    try:
        assert backfill_once(marker, store, events, 1, now=NOW, cancel=cancel) is None
        assert backfill_once(marker, store, events, 0, now=NOW) is None  # 0: turned off
        assert not marker.exists()
        assert events.query(0, NOW) == []
    finally:
        events.close()
        store.stop()


def test_another_retention_and_a_small_cache_still_roll_up_right(tmp_path: Path) -> None:
    settings = StoreSettings(
        retentions=(RetentionRule(retentions="10s:1h,5m:2d"),), max_pending=1000
    )
    store = WhisperStore(tmp_path / "whisper", settings, clock=lambda: NOW)
    store.start()
    events = EventStore(tmp_path / "events.sqlite")
    try:
        written = backfill(store, events, NOW, 1, random.Random(2))
        assert written is not None
        assert store.stats.points_dropped == 0
        assert store.stats.points_written == written.points
        end = NOW - 300  # the current 5 minutes are not complete
        step, counts = values(store, "stats_counts.shop.requests.home", NOW - DAY, end)
        _, rates = values(store, "stats.shop.requests.home", NOW - DAY, end)
        assert step == 300
        pairs = [(c, r) for c, r in zip(counts, rates, strict=True) if c is not None]
        assert len(pairs) > 0.95 * DAY / 300
        assert all(r is not None and c == pytest.approx(300 * r) for c, r in pairs)
    finally:
        events.close()
        store.stop()


def test_names_follow_the_statsd_settings() -> None:
    rules = Rules(StoreSettings())
    statsd = StatsdSettings(
        graphite=GraphiteNames(legacy_namespace=False), percent_threshold=(90.0, 99.0)
    )
    history = History(NOW - HOUR, NOW, NOW, rules.for_metric, random.Random(3), statsd)
    names = {name for batch in history.batches() for name, _, _ in batch}
    assert "stats.counters.shop.requests.home.rate" in names
    assert "stats.counters.shop.requests.home.count" in names
    assert "stats.timers.shop.request.home.upper_99" in names
    assert "stats.gauges.shop.cart.items" in names
    assert not any(name.startswith("stats_counts.") for name in names)


def test_deploys_fall_on_weekday_working_hours_every_half_hour_to_hour() -> None:
    start = NOW - 60 * DAY
    deploys = schedule(start, NOW, random.Random(5))
    regular = [d for d in deploys if d.deploy.when < NOW - HOUR]
    assert len(regular) > 300
    for d in regular:
        when = d.deploy.when
        assert (int(when // DAY) + 3) % 7 < 5  # Monday to Friday
        assert 9 * HOUR <= when % DAY < 18 * HOUR
    gaps = [b.deploy.when - a.deploy.when for a, b in itertools.pairwise(regular)]
    same_day = [g for g in gaps if g < 10 * HOUR]
    assert min(same_day) >= 30 * 60
    assert max(same_day) <= 60 * 60
    bad = sum(1 for d in regular if d.bad_for) / len(regular)
    assert 0.15 < bad < 0.35
    assert all(180 <= d.bad_for <= 360 for d in deploys if d.bad_for)
