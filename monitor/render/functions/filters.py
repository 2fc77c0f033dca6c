"""Filter and sort: choose among series (``highestCurrent``, ``limit``, ``exclude``…)."""

from __future__ import annotations

import re

from monitor.render.evaluator import Context, InvalidArgument, SeriesList, function
from monitor.render.series import TimeSeries, aggregator


def _regex(pattern: str, who: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidArgument(f"{who}(): invalid regular expression {pattern!r}: {exc}") from None


def _highest(series_list: SeriesList, n: int, func: str) -> SeriesList:
    combine = aggregator(func)

    def key(s: TimeSeries) -> float:
        value = combine(s.points())
        return float("-inf") if value is None else value

    return sorted(series_list, key=key, reverse=True)[: int(n)]


@function("highestCurrent", "Filter Series")
def highest_current(ctx: Context, series_list: SeriesList, n: int = 1) -> SeriesList:
    """The ``n`` series whose last value is highest."""
    return _highest(series_list, n, "current")


@function("highestAverage", "Filter Series")
def highest_average(ctx: Context, series_list: SeriesList, n: int = 1) -> SeriesList:
    """The ``n`` series with the highest average."""
    return _highest(series_list, n, "average")


@function("highestMax", "Filter Series")
def highest_max(ctx: Context, series_list: SeriesList, n: int = 1) -> SeriesList:
    """The ``n`` series with the highest maximum."""
    return _highest(series_list, n, "max")


@function("limit", "Filter Series")
def limit(ctx: Context, series_list: SeriesList, n: int) -> SeriesList:
    """The first ``n`` series."""
    return series_list[:n]


@function("sortByName", "Sorting")
def sort_by_name(
    ctx: Context, series_list: SeriesList, natural: bool = False, reverse: bool = False
) -> SeriesList:
    """Series sorted by name (``natural``: numbers by value, ``web2`` before ``web10``)."""
    if natural:
        return sorted(
            series_list,
            reverse=reverse,
            key=lambda s: re.sub(r"\d+", lambda m: f"{int(m[0]):010}", s.name),
        )
    return sorted(series_list, key=lambda s: s.name, reverse=reverse)


@function("exclude", "Filter Series")
def exclude(ctx: Context, series_list: SeriesList, pattern: str) -> SeriesList:
    """Series whose name does not match the regular expression."""
    regex = _regex(pattern, "exclude")
    return [s for s in series_list if not regex.search(s.name)]


@function("grep", "Filter Series")
def grep(ctx: Context, series_list: SeriesList, pattern: str) -> SeriesList:
    """Series whose name matches the regular expression."""
    regex = _regex(pattern, "grep")
    return [s for s in series_list if regex.search(s.name)]
