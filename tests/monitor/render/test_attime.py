"""from/until parsing, with graphite-web's syntax."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.render.attime import TimeSyntaxError, parse_offset, parse_time

NOW = datetime(2026, 11, 28, 15, 30, 45, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-2h", NOW - timedelta(hours=2)),
        ("-7d", NOW - timedelta(days=7)),
        ("-1week", NOW - timedelta(weeks=1)),
        ("-30min", NOW - timedelta(minutes=30)),
        ("-90s", NOW - timedelta(seconds=90)),
        ("-1mon", NOW - timedelta(days=30)),
        ("-1y", NOW - timedelta(days=365)),
        ("-1d2h", NOW - timedelta(days=1, hours=2)),
        ("now-5min", NOW - timedelta(minutes=5)),
        ("1800000000", datetime.fromtimestamp(1800000000, UTC)),
        ("20261127", datetime(2026, 11, 27, tzinfo=UTC)),
        ("16:00_20261127", datetime(2026, 11, 27, 16, 0, tzinfo=UTC)),
        ("11/27/26", datetime(2026, 11, 27, tzinfo=UTC)),
        ("11/27/2026", datetime(2026, 11, 27, tzinfo=UTC)),
        ("today", datetime(2026, 11, 28, tzinfo=UTC)),
        ("yesterday", datetime(2026, 11, 27, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 11, 29, tzinfo=UTC)),
        ("noon", datetime(2026, 11, 28, 12, tzinfo=UTC)),
        ("noon yesterday", datetime(2026, 11, 27, 12, tzinfo=UTC)),  # "noon+yesterday" in a URL
        ("noonyesterday", datetime(2026, 11, 27, 12, tzinfo=UTC)),
        ("midnight", datetime(2026, 11, 28, tzinfo=UTC)),
        ("teatime", datetime(2026, 11, 28, 16, tzinfo=UTC)),
        ("3am", datetime(2026, 11, 28, 3, tzinfo=UTC)),
        ("11pm_yesterday", datetime(2026, 11, 27, 23, tzinfo=UTC)),
        ("8:30pm", datetime(2026, 11, 28, 20, 30, tzinfo=UTC)),
        ("jan1", datetime(2026, 1, 1, tzinfo=UTC)),
        ("monday", datetime(2026, 11, 23, tzinfo=UTC)),
        ("saturday", datetime(2026, 11, 28, tzinfo=UTC)),
        ("Yesterday -1h", datetime(2026, 11, 26, 23, tzinfo=UTC)),
    ],
)
def test_graphite_time_syntax(text: str, expected: datetime) -> None:
    assert parse_time(text, UTC, NOW) == expected


def test_timezone_applies_to_days() -> None:
    tz = ZoneInfo("America/New_York")
    assert parse_time("today", tz, NOW) == datetime(2026, 11, 28, tzinfo=tz)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage", "Unknown day reference: garbage"),
        ("-5parsecs", "Invalid offset unit 'parsecs'"),
        ("-5m", "Invalid offset unit 'm'"),
        ("feb", "Day of month required after month name"),
        ("13/45/26", "Invalid date"),
        ("noon+yesterday", "Invalid offset"),  # a literal '+' starts an offset, as in graphite
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(TimeSyntaxError, match=message):
        parse_time(text, UTC, NOW)


def test_offsets() -> None:
    assert parse_offset("1d") == timedelta(days=1)
    assert parse_offset("-5min") == timedelta(minutes=-5)
    assert parse_offset("") == timedelta()
