"""Filter and sort: choose among series (``highestCurrent``, ``limit``, ``exclude``…) or
among their values (``removeBelowValue``, ``removeAbovePercentile``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

import regex

from monitor import patterns
from monitor.render.evaluator import Context, InvalidArgument, SeriesList, evaluate, function
from monitor.render.grammar import parse_target
from monitor.render.series import TimeSeries, Value, aggregator

#: Seconds one regular expression may spend on one series name: patterns come from
#: URLs, and one that backtracks forever must fail its request, not hold a worker.
REGEX_TIMEOUT = 0.05


class NameRegex:
    """A user's regular expression over series names, with a time limit per use."""

    def __init__(self, pattern: str, who: str) -> None:
        self.who = who
        try:
            patterns.check(pattern)
        except patterns.PatternTooBig as exc:
            raise InvalidArgument(f"{who}(): {exc}") from None
        try:
            self.compiled = regex.compile(pattern)
        except regex.error as exc:
            raise InvalidArgument(
                f"{who}(): invalid regular expression {pattern!r}: {exc}"
            ) from None

    def search(self, name: str) -> bool:
        """Whether the pattern occurs in ``name``."""
        try:
            return self.compiled.search(name, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            raise self._too_slow() from None

    def sub(self, replace: str, name: str) -> str:
        """``name`` with every match replaced by ``replace`` (``\\1`` for groups)."""
        try:
            return str(self.compiled.sub(replace, name, timeout=REGEX_TIMEOUT))
        except TimeoutError:
            raise self._too_slow() from None
        except (regex.error, IndexError) as exc:
            raise InvalidArgument(f"{self.who}(): invalid replacement {replace!r}: {exc}") from None

    def _too_slow(self) -> InvalidArgument:
        return InvalidArgument(
            f"{self.who}(): the regular expression took over {REGEX_TIMEOUT * 1000:g} ms"
            " on one series name; simplify it"
        )


def _key(func: str) -> Callable[[TimeSeries], float]:
    """graphite's ``keyFunc``: a series' aggregate, nulls sorting lowest."""
    combine = aggregator(func)

    def key(s: TimeSeries) -> float:
        value = combine(s.points())
        return float("-inf") if value is None else value

    return key


def _aggregator(func: str, who: str) -> Callable[[Sequence[Value]], Value]:
    try:
        return aggregator(func)
    except KeyError as exc:
        raise InvalidArgument(f"{who}(): {exc.args[0]}") from None


@function("highest", "Filter Series")
def highest(ctx: Context, series_list: SeriesList, n: int = 1, func: str = "average") -> SeriesList:
    """The ``n`` series whose ``func`` aggregate is highest."""
    _aggregator(func, "highest")
    return sorted(series_list, key=_key(func), reverse=True)[: int(n)]


@function("lowest", "Filter Series")
def lowest(ctx: Context, series_list: SeriesList, n: int = 1, func: str = "average") -> SeriesList:
    """The ``n`` series whose ``func`` aggregate is lowest."""
    _aggregator(func, "lowest")
    return sorted(series_list, key=_key(func))[: int(n)]


def _ranked(name: str, func: str, high: bool) -> None:
    def ranked(ctx: Context, series_list: SeriesList, n: int = 1) -> SeriesList:
        return (highest if high else lowest)(ctx, series_list, n, func)

    ranked.__doc__ = f"The ``n`` series with the {'highest' if high else 'lowest'} {func}."
    function(name, "Filter Series")(ranked)


for _name, _func, _high in (
    ("highestCurrent", "current", True),
    ("highestAverage", "average", True),
    ("highestMax", "max", True),
    ("lowestCurrent", "current", False),
    ("lowestAverage", "average", False),
):
    _ranked(_name, _func, _high)

#: graphite's ``operatorFuncs``: note that ``<`` and ``<=`` let a series without data
#: through, and the others do not.
_OPERATORS: dict[str, Callable[[Value, float], bool]] = {
    "=": lambda v, t: v is not None and v == t,
    "!=": lambda v, t: v is None or v != t,
    ">": lambda v, t: v is not None and v > t,
    ">=": lambda v, t: v is not None and v >= t,
    "<": lambda v, t: v is None or v < t,
    "<=": lambda v, t: v is None or v <= t,
}


@function("filterSeries", "Filter Series")
def filter_series(
    ctx: Context, series_list: SeriesList, func: str, operator: str, threshold: float
) -> SeriesList:
    """The series whose ``func`` aggregate compares to ``threshold`` as ``operator`` says."""
    combine = _aggregator(func, "filterSeries")
    if operator not in _OPERATORS:
        raise InvalidArgument(
            f"filterSeries(): unsupported operator {operator!r}; use one of {sorted(_OPERATORS)}"
        )
    test = _OPERATORS[operator]
    return [s for s in series_list if test(combine(s.points()), threshold)]


def _filtered(name: str, func: str, operator: str) -> None:
    def filtered(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
        return filter_series(ctx, series_list, func, operator, n)

    filtered.__doc__ = f"The series whose {func} is {operator} ``n``."
    function(name, "Filter Series")(filtered)


for _name, _func, _operator in (
    ("currentAbove", "last", ">"),
    ("currentBelow", "last", "<="),
    ("averageAbove", "average", ">"),
    ("averageBelow", "average", "<="),
    ("maximumAbove", "max", ">"),
    ("maximumBelow", "max", "<="),
    ("minimumAbove", "min", ">"),
    ("minimumBelow", "min", "<="),
):
    _filtered(_name, _func, _operator)


def percentile(values: Iterable[Value], n: float, interpolate: bool = False) -> Value:
    """graphite's ``_getPercentile``: the nearest-rank ``n``th percentile of the non-null
    values (linearly interpolated between ranks when asked; the 100th interpolated is the
    largest value, where graphite-web fails looking for a rank after the last)."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    fractional = n / 100.0 * (len(ordered) + 1)
    rank = int(fractional)
    fraction = fractional - rank
    if not interpolate:
        rank += math.ceil(fraction)
    if rank == 0:
        result = ordered[0]
    elif rank - 1 == len(ordered):
        result = ordered[-1]
    else:
        result = ordered[rank - 1]
    if interpolate and rank < len(ordered):
        result = result + fraction * (ordered[rank] - result)
    return result


def check_percent(n: float, who: str) -> None:
    """A percentile's ``n`` is in (0, 100]: past 100 there is no rank to take
    (graphite-web fails with an IndexError, or an OverflowError for inf)."""
    if not n or n <= 0:
        raise InvalidArgument(f"{who}(): the percent must be greater than 0")
    if n > 100:
        raise InvalidArgument(f"{who}(): the percent must be at most 100")


def _band(n: float, who: str) -> float:
    """The upper percentile of a band from ``100-n`` to ``n`` (``n`` below 50 is read as
    ``100-n``); outside 0 to 100 one end would have no rank (graphite-web fails)."""
    if not 0 <= n <= 100:
        raise InvalidArgument(f"{who}(): the percent must be between 0 and 100")
    return 100 - n if n < 50 else n


@function("nPercentile", "Calculate")
def n_percentile(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
    """A flat line at each series' ``n``th percentile."""
    check_percent(n, "nPercentile")
    out = []
    for s in series_list:
        value = percentile(s.values, n)
        if value is None:
            continue
        count = int((s.end - s.start) / s.step)
        line = s.copy(name=f"nPercentile({s.name}, {n:g})", values=[value] * count)
        line.tags["nPercentile"] = n
        out.append(line)
    return out


def _remove(
    series_list: SeriesList,
    label: str,
    n: float,
    limit: Callable[[TimeSeries], Value],
    keep: Callable[[float, float], bool],
) -> SeriesList:
    for s in series_list:
        s.name = s.path_expression = f"{label}({s.name}, {n:g})"
        bound = limit(s)
        if bound is None:
            continue
        if label.endswith("Percentile"):  # graphite-web's nPercentile tags the series
            s.tags["nPercentile"] = n
        s.values = [v if v is not None and keep(v, bound) else None for v in s.values]
    return series_list


def _at_most(value: float, bound: float) -> bool:
    return value <= bound


def _at_least(value: float, bound: float) -> bool:
    return value >= bound


@function("removeAboveValue", "Filter Data")
def remove_above_value(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
    """Nulls where a value is above ``n``."""
    return _remove(series_list, "removeAboveValue", n, lambda s: n, _at_most)


@function("removeBelowValue", "Filter Data")
def remove_below_value(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
    """Nulls where a value is below ``n``."""
    return _remove(series_list, "removeBelowValue", n, lambda s: n, _at_least)


@function("removeAbovePercentile", "Filter Data")
def remove_above_percentile(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
    """Nulls where a value is above the series' ``n``th percentile."""
    check_percent(n, "removeAbovePercentile")
    return _remove(
        series_list, "removeAbovePercentile", n, lambda s: percentile(s.values, n), _at_most
    )


@function("removeBelowPercentile", "Filter Data")
def remove_below_percentile(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
    """Nulls where a value is below the series' ``n``th percentile."""
    check_percent(n, "removeBelowPercentile")
    return _remove(
        series_list, "removeBelowPercentile", n, lambda s: percentile(s.values, n), _at_least
    )


@function("removeEmptySeries", "Filter Series")
def remove_empty_series(
    ctx: Context, series_list: SeriesList, xFilesFactor: float | None = None
) -> SeriesList:
    """The series with data (at least the ``xFilesFactor`` fraction of points non-null)."""
    xff = xFilesFactor or 0

    def kept(s: TimeSeries) -> bool:
        known = sum(v is not None for v in s.values)
        return bool(known) and known / s.size >= xff

    return [s for s in series_list if kept(s)]


@function("unique", "Filter Series")
def unique(ctx: Context, *series_lists: SeriesList) -> SeriesList:
    """The series with a name not seen before in the list."""
    seen: set[str] = set()
    out = []
    for s in (s for series_list in series_lists for s in series_list):
        if s.name not in seen:
            seen.add(s.name)
            out.append(s)
    return out


@function("mostDeviant", "Filter Series")
def most_deviant(ctx: Context, series_list: SeriesList, n: int) -> SeriesList:
    """The ``n`` series whose values vary the most (population variance; squares
    multiplied, so one too large is inf where graphite-web's ``** 2`` fails)."""
    scored = []
    for s in series_list:
        known = [v for v in s.values if v is not None]
        if not known or not s.size:
            continue
        mean = sum(known) / len(known)
        scored.append((sum((v - mean) * (v - mean) for v in known) / s.size, s))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [s for _, s in scored][: int(n)]


@function("fallbackSeries", "Special")
def fallback_series(ctx: Context, series_list: SeriesList, fallback: SeriesList) -> SeriesList:
    """``series_list``, or ``fallback`` when it is empty."""
    return series_list or fallback


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


@function("sortBy", "Sorting")
def sort_by(
    ctx: Context, series_list: SeriesList, func: str = "average", reverse: bool = False
) -> SeriesList:
    """Series in ascending order of their ``func`` aggregate (``reverse``: descending)."""
    _aggregator(func, "sortBy")
    return sorted(series_list, key=_key(func), reverse=reverse)


@function("sortByTotal", "Sorting")
def sort_by_total(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Series by their sum, largest first."""
    return sort_by(ctx, series_list, "sum", reverse=True)


@function("sortByMaxima", "Sorting")
def sort_by_maxima(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Series by their maximum, largest first."""
    return sorted(series_list, key=_key("max"), reverse=True)


@function("sortByMinima", "Sorting")
def sort_by_minima(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Series with a positive maximum, by their minimum, smallest first."""
    positive = [s for s in series_list if (aggregator("max")(s.values) or 0) > 0]
    return sorted(positive, key=_key("min"))


@function("exclude", "Filter Series")
def exclude(ctx: Context, series_list: SeriesList, pattern: str) -> SeriesList:
    """Series whose name does not match the regular expression."""
    matcher = NameRegex(pattern, "exclude")
    return [s for s in series_list if not matcher.search(s.name)]


@function("grep", "Filter Series")
def grep(ctx: Context, series_list: SeriesList, pattern: str) -> SeriesList:
    """Series whose name matches the regular expression."""
    matcher = NameRegex(pattern, "grep")
    return [s for s in series_list if matcher.search(s.name)]


def _outside(value: Value, low: Value, high: Value) -> bool:
    """Not strictly between the two percentiles (a null is never between)."""
    if value is None or low is None or high is None:
        return True
    return not low < value < high


@function("removeBetweenPercentile", "Filter Series")
def remove_between_percentile(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
    """The series that at some point leave the band between the ``100-n``th and the
    ``n``th percentile of all the series at that point: the outliers."""
    n = _band(n, "removeBetweenPercentile")
    columns = list(zip(*(s.values for s in series_list), strict=False))
    lows = [percentile(column, 100 - n) for column in columns]
    highs = [percentile(column, n) for column in columns]
    return [
        s
        for s in series_list
        if any(_outside(v, lows[i], highs[i]) for i, v in enumerate(s.values[: len(columns)]))
    ]


@function("averageOutsidePercentile", "Filter Series")
def average_outside_percentile(ctx: Context, series_list: SeriesList, n: float) -> SeriesList:
    """The series whose average lies outside the band between the ``100-n``th and the
    ``n``th percentile of all the series' averages."""
    average = aggregator("average")
    averages = [average(s.values) for s in series_list]
    n = _band(n, "averageOutsidePercentile")
    low, high = percentile(averages, 100 - n), percentile(averages, n)
    return [s for s, a in zip(series_list, averages, strict=True) if _outside(a, low, high)]


@function("useSeriesAbove", "Filter Series")
def use_series_above(
    ctx: Context, series_list: SeriesList, value: float, search: str, replace: str
) -> SeriesList:
    """For each series whose maximum is above ``value``, the series named by replacing
    ``search`` with ``replace`` in its name (plot latency only where requests are)."""
    matcher = NameRegex(search, "useSeriesAbove")
    wanted = []
    for s in series_list:
        known = [v for v in s.values if v is not None]
        if known and max(known) > value:
            wanted.append(matcher.sub(replace, s.name))
    if not wanted:
        return []
    found = evaluate(parse_target(f"group({','.join(wanted)})"), ctx)
    return [s for s in found if s.size]
