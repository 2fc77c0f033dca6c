"""Combine: several series into fewer (``sumSeries``, ``groupByNode``, ``divideSeries``…)."""

from __future__ import annotations

import functools
import itertools
import operator
import typing
from collections.abc import Callable, Sequence
from itertools import zip_longest
from typing import Any

from monitor.render.evaluator import (
    FUNCTIONS,
    Context,
    InvalidArgument,
    SeriesList,
    call_function,
    evaluate,
    function,
)
from monitor.render.functions.alias import node_key
from monitor.render.functions.filters import check_percent, percentile
from monitor.render.functions.pointwise import power
from monitor.render.grammar import parse_target
from monitor.render.packed import Packed
from monitor.render.series import TimeSeries, Value, aggregator, lcm
from monitor.render.tags import tags_of


def path_expressions(series_list: SeriesList) -> str:
    """graphite's ``formatPathExpressions``: the distinct path expressions, comma-joined."""
    seen: list[str] = []
    for s in series_list:
        if s.path_expression not in seen:
            seen.append(s.path_expression)
    return ",".join(seen)


def normalize(series_list: SeriesList) -> tuple[int, int, int]:
    """Bring series to a common step (consolidating), return (start, end, step)."""
    step = functools.reduce(lcm, (s.step for s in series_list))
    for s in series_list:
        s.consolidate(step // s.step)
    start = min(s.start for s in series_list)
    end = max(s.end for s in series_list)
    end -= (end - start) % step
    return start, end, step


def aggregate(
    ctx: Context, series_list: SeriesList, func: str, xff: float | None = None
) -> SeriesList:
    """Combine ``series_list`` point by point with the aggregation ``func``."""
    short = func.removesuffix("Series")
    try:
        combine = aggregator(short)
    except KeyError as exc:
        raise InvalidArgument(f"aggregate(): {exc.args[0]}") from None
    if not series_list:
        return []
    start, end, step = normalize(series_list)
    threshold = ctx.xff if xff is None else xff
    name = f"{short}Series({path_expressions(series_list)})"
    columns = [s.readings() for s in series_list]
    if short in ("sum", "average", "avg") and len({len(c) for c in columns}) == 1:
        values = _fast_sum_rows(columns, short != "sum", threshold, combine)
    else:
        values = [_combine_row(row, threshold, combine) for row in zip_longest(*columns)]
    tags = dict(series_list[0].tags)
    for s in series_list[1:]:
        tags = {k: v for k, v in tags.items() if s.tags.get(k) == v}
    tags.setdefault("name", name)
    tags["aggregatedBy"] = short
    return [TimeSeries(name, start, end, step, values, tags=tags, xff=threshold)]


def _combine_row(
    row: tuple[Value, ...], threshold: float, combine: Callable[[list[Value]], Value]
) -> Value:
    known = [v for v in row if v is not None]
    ok = bool(known) and len(known) / len(row) >= threshold
    return combine(list(row)) if ok else None


def _fast_sum_rows(
    columns: list[Sequence[Value]],
    average: bool,
    threshold: float,
    combine: Callable[[list[Value]], Value],
) -> list[Value]:
    """Row sums (or means) with the work in C: nulls are found with ``map``/``compress``
    (or known already, in packed values), zeroed in copies, every row summed by
    ``map(sum, zip(...))``, and only the rows that held a null are redone the careful
    way."""
    if all(isinstance(c, Packed) and len(c.nulls) == len(c) for c in columns):
        return [None] * len(columns[0])  # nothing stored there (a timeShift before data)
    holes: set[int] = set()
    dense: list[Sequence[float]] = []
    for column in columns:
        if isinstance(column, Packed):  # its null slots' rows are redone below
            holes.update(column.nulls)
            dense.append(column.data)
            continue
        nulls = list(
            itertools.compress(
                range(len(column)), map(operator.is_, column, itertools.repeat(None))
            )
        )
        if nulls:
            column = list(column)
            for i in nulls:
                column[i] = 0.0
            holes.update(nulls)
        dense.append(typing.cast(Sequence[float], column))
    n = len(columns)
    values: list[Value] = (
        [t / n for t in map(sum, zip(*dense, strict=True))]
        if average
        else list(map(sum, zip(*dense, strict=True)))
    )
    if len(holes) > len(values) // 16:  # many rows to redo: index lists, not packed values
        columns = [c.tolist() if isinstance(c, Packed) else c for c in columns]
    for i in holes:
        values[i] = _combine_row(tuple(c[i] for c in columns), threshold, combine)
    return values


def _flatten(series_lists: tuple[SeriesList, ...]) -> SeriesList:
    return [s for series_list in series_lists for s in series_list]


@function("aggregate", "Combine")
def aggregate_(
    ctx: Context, series_list: SeriesList, func: str, xFilesFactor: float | None = None
) -> SeriesList:
    """``aggregate(seriesList, "sum")``: any aggregation function by name."""
    return aggregate(ctx, series_list, func, xFilesFactor)


def _simple(name: str, func: str) -> None:
    def combined(ctx: Context, *series_lists: SeriesList) -> SeriesList:
        return aggregate(ctx, _flatten(series_lists), func)

    combined.__doc__ = f"``{name}(*seriesLists)``: the {func} at each point."
    aliases = {"sumSeries": ("sum",), "averageSeries": ("avg",)}.get(name, ())
    function(name, "Combine", aliases=aliases)(combined)


for _name, _func in (
    ("sumSeries", "sum"),
    ("averageSeries", "average"),
    ("maxSeries", "max"),
    ("minSeries", "min"),
    ("diffSeries", "diff"),
    ("multiplySeries", "multiply"),
    ("stddevSeries", "stddev"),
    ("rangeOfSeries", "rangeOf"),
    ("countSeries", "count"),
):
    _simple(_name, _func)


@function("divideSeries", "Combine")
def divide_series(
    ctx: Context, dividendSeriesList: SeriesList, divisorSeries: SeriesList
) -> SeriesList:
    """Each dividend divided by the one divisor series (nulls and zero give null)."""
    if not divisorSeries:
        for s in dividendSeriesList:
            s.name = s.path_expression = f"divideSeries({s.name},MISSING)"
            s.values = [None] * len(s.values)
        return dividendSeriesList
    if len(divisorSeries) > 1:
        raise InvalidArgument(
            "divideSeries second argument must reference exactly 1 series"
            f" (got {len(divisorSeries)})"
        )
    results = []
    for dividend in dividendSeriesList:
        both = [dividend, divisorSeries[0]]
        start, end, step = normalize(both)
        name = f"divideSeries({dividend.name},{divisorSeries[0].name})"
        values = [
            _divide(a, b) for a, b in zip_longest(dividend.points(), divisorSeries[0].points())
        ]
        results.append(TimeSeries(name, start, end, step, values, xff=ctx.xff))
    return results


@function("asPercent", "Combine", aliases=("pct",))
def as_percent(
    ctx: Context,
    series_list: SeriesList,
    total: float | SeriesList | None = None,
    *nodes: int | str,
) -> SeriesList:
    """Each series as a percentage of ``total``: a number, one series, as many series
    (paired by name), or by default their sum; with ``nodes``, of the total of the
    series (or of the ``total`` series) sharing those nodes."""
    if not series_list:
        return []
    if nodes:
        return _percent_by_nodes(ctx, series_list, total, nodes)
    if isinstance(total, list) and len(total) not in (1, len(series_list)):
        raise InvalidArgument("asPercent(): total must be one series or as many as seriesList")
    start, end, step = normalize(list(series_list) + (total if isinstance(total, list) else []))
    if isinstance(total, list) and len(total) == len(series_list):
        by_name = sorted(series_list, key=lambda x: x.name)
        totals = sorted(total, key=lambda x: x.name)
        return [_percent(ctx, p, w) for p, w in zip(by_name, totals, strict=True)]
    if total is None:
        total_values = aggregate(ctx, list(series_list), "sum")[0].points()
        label = f"sumSeries({path_expressions(series_list)})"
    elif isinstance(total, list):
        total_values = total[0].points() if total else []
        label = total[0].name if total else "MISSING"
    else:
        total_values = [float(total)] * max(len(s.points()) for s in series_list)
        label = f"{total:g}" if isinstance(total, float) else str(total)
    results = []
    for s in series_list:
        values = [_share(v, t) for v, t in zip_longest(s.points(), total_values)]
        name = f"asPercent({s.name},{label})"
        results.append(TimeSeries(name, start, end, step, values, xff=ctx.xff))
    return results


def _share(part: Value, whole: Value) -> Value:
    return None if part is None or whole is None or whole == 0 else part / whole * 100


def _percent(ctx: Context, part: TimeSeries, whole: TimeSeries) -> TimeSeries:
    """``part`` as a percentage of ``whole``, point by point."""
    start, end, step = normalize([part, whole])
    values = [_share(v, t) for v, t in zip_longest(part.points(), whole.points())]
    return TimeSeries(f"asPercent({part.name},{whole.name})", start, end, step, values, xff=ctx.xff)


def _percent_by_nodes(
    ctx: Context, series_list: SeriesList, total: object, nodes: tuple[int | str, ...]
) -> SeriesList:
    """``asPercent(seriesList, total, *nodes)``: series and totals matched by ``nodes``."""
    if total is not None and not isinstance(total, list):
        raise InvalidArgument("asPercent(): with nodes, total must be None or a series list")
    keys: list[str] = []
    parts: dict[str, SeriesList] = {}
    for s in series_list:
        key = node_key(s, nodes)
        if key not in parts:
            keys.append(key)
        parts.setdefault(key, []).append(s)
    wholes: dict[str, SeriesList] = {}
    for s in total if isinstance(total, list) else []:
        key = node_key(s, nodes)
        if key not in keys:
            keys.append(key)
        wholes.setdefault(key, []).append(s)
    sums: dict[str, TimeSeries] = {}
    for key, group in (wholes if isinstance(total, list) else parts).items():
        if len(group) == 1:
            sums[key] = group[0]
            continue
        start, end, step = normalize(group)
        values = [_sum(row) for row in zip_longest(*(s.points() for s in group))]
        name = f"sumSeries({path_expressions(group)})"
        sums[key] = TimeSeries(name, start, end, step, values, xff=ctx.xff)
    results = []
    for key in keys:
        if key not in parts:
            whole = sums[key]
            results.append(_nothing(ctx, f"asPercent(MISSING,{whole.name})", whole))
            continue
        for part in parts[key]:
            if key not in sums:
                results.append(_nothing(ctx, f"asPercent({part.name},MISSING)", part))
            else:
                results.append(_percent(ctx, part, sums[key]))
    return results


def _nothing(ctx: Context, name: str, like: TimeSeries) -> TimeSeries:
    """A series of nulls over ``like``'s range: the answer for a side that is missing."""
    return TimeSeries(name, like.start, like.end, like.step, [None] * like.size, xff=ctx.xff)


def _sum(row: tuple[Value, ...]) -> Value:
    known = [v for v in row if v is not None]
    return sum(known) if known else None


@function("group", "Combine")
def group(ctx: Context, *series_lists: SeriesList) -> SeriesList:
    """All the series, as one list."""
    return _flatten(series_lists)


@function("groupByNode", "Combine")
def group_by_node(
    ctx: Context,
    series_list: SeriesList,
    nodeNum: int | str,
    callback: str = "average",
) -> SeriesList:
    """Aggregate series sharing the same node (or tag) ``nodeNum``; named by it."""
    return _group(ctx, series_list, callback, (nodeNum,))


@function("groupByNodes", "Combine")
def group_by_nodes(
    ctx: Context, series_list: SeriesList, callback: str, *nodes: int | str
) -> SeriesList:
    """Aggregate series sharing the same nodes; named by them, dot-joined."""
    return _group(ctx, series_list, callback, nodes)


def _group(
    ctx: Context, series_list: SeriesList, callback: str, nodes: tuple[int | str, ...]
) -> SeriesList:
    groups: dict[str, SeriesList] = {}
    for s in series_list:
        groups.setdefault(node_key(s, nodes), []).append(s)
    out = []
    for key, members in groups.items():
        combined = aggregate(ctx, members, callback)[0]
        combined.name = key
        out.append(combined)
    return out


@function("groupByTags", "Combine")
def group_by_tags(ctx: Context, series_list: SeriesList, callback: str, *tags: str) -> SeriesList:
    """Aggregate series sharing the values of ``tags``; each result is a tagged name
    (``name;tag=value…``): the common ``name`` tag when all share one, else the
    callback's name, unless ``name`` is among the tags."""
    if not tags:
        raise InvalidArgument("groupByTags(): no tags specified")
    names = {s.tags.get("name", s.name) for s in series_list}
    common = next(iter(names)) if len(names) == 1 else callback
    groups: dict[str, SeriesList] = {}
    for s in series_list:
        pairs = sorted(f"{t}={s.tags.get(t, '')}" for t in tags if t != "name")
        head = s.tags.get("name", s.name) if "name" in tags else common
        groups.setdefault(";".join([head, *pairs]), []).append(s)
    out = []
    for key, members in groups.items():
        combined = aggregate(ctx, members, callback)[0]
        combined.name = combined.path_expression = key
        combined.tags = tags_of(key)
        out.append(combined)
    return out


@function("aggregateWithWildcards", "Combine")
def aggregate_with_wildcards(
    ctx: Context, series_list: SeriesList, func: str, *position: int
) -> SeriesList:
    """Aggregate with ``func`` the series that are equal once the nodes at ``position``
    are removed; each result is named by the remaining nodes."""
    groups: dict[str, SeriesList] = {}
    for s in series_list:
        key = ".".join(n for i, n in enumerate(s.name.split(".")) if i not in position)
        groups.setdefault(key, []).append(s)
    out = []
    for key, members in groups.items():
        combined = aggregate(ctx, members, func)[0]
        combined.name = key
        out.append(combined)
    return out


def _with_wildcards(name: str, func: str) -> None:
    def combined(ctx: Context, series_list: SeriesList, *position: int) -> SeriesList:
        return aggregate_with_wildcards(ctx, series_list, func, *position)

    combined.__doc__ = f"The {func} of series equal once the nodes at ``position`` are removed."
    function(name, "Combine")(combined)


for _name, _func in (
    ("sumSeriesWithWildcards", "sum"),
    ("averageSeriesWithWildcards", "average"),
    ("multiplySeriesWithWildcards", "multiply"),
):
    _with_wildcards(_name, _func)


@function("percentileOfSeries", "Combine")
def percentile_of_series(
    ctx: Context, series_list: SeriesList, n: float, interpolate: bool = False
) -> SeriesList:
    """The ``n``th percentile of the series' values at each point."""
    check_percent(n, "percentileOfSeries")
    if not series_list:
        return []
    name = f"percentileOfSeries({series_list[0].path_expression},{n:g})"
    start, end, step = normalize(series_list)
    rows = zip_longest(*(s.points() for s in series_list))
    values = [percentile(row, n, interpolate) for row in rows]
    return [TimeSeries(name, start, end, step, values, xff=ctx.xff)]


@function("powSeries", "Combine")
def pow_series(ctx: Context, *series_lists: SeriesList) -> SeriesList:
    """The first series raised to the second, that to the third, … at each point."""
    series_list = _flatten(series_lists)
    if not series_list:
        return []
    start, end, step = normalize(series_list)
    name = f"powSeries({','.join(s.name for s in series_list)})"
    values: list[Value] = []
    for row in zip_longest(*(s.points() for s in series_list)):
        result = row[0]
        for element in row[1:]:
            result = power(result, element)
        values.append(result)
    return [TimeSeries(name, start, end, step, values, xff=ctx.xff)]


@function("aggregateSeriesLists", "Combine")
def aggregate_series_lists(
    ctx: Context,
    seriesListFirstPos: SeriesList,
    seriesListSecondPos: SeriesList,
    func: str,
    xFilesFactor: float | None = None,
) -> SeriesList:
    """Pair the two lists' series in order and aggregate each pair with ``func``."""
    if len(seriesListFirstPos) != len(seriesListSecondPos):
        raise InvalidArgument(
            "aggregateSeriesLists(): both series lists must have the same length"
            f" (got {len(seriesListFirstPos)} and {len(seriesListSecondPos)})"
        )
    out = []
    for first, second in zip(seriesListFirstPos, seriesListSecondPos, strict=True):
        names = f"{first.name},{second.name}"
        result = aggregate(ctx, [first, second], func, xFilesFactor)[0]
        result.name = result.name[: result.name.find("Series(")] + f"Series({names})"
        out.append(result)
    return out


def _series_lists(name: str, func: str) -> None:
    def paired(
        ctx: Context, seriesListFirstPos: SeriesList, seriesListSecondPos: SeriesList
    ) -> SeriesList:
        return aggregate_series_lists(ctx, seriesListFirstPos, seriesListSecondPos, func)

    paired.__doc__ = f"The {func} of the two lists' series, paired in order."
    function(name, "Combine")(paired)


for _name, _func in (
    ("sumSeriesLists", "sum"),
    ("diffSeriesLists", "diff"),
    ("multiplySeriesLists", "multiply"),
):
    _series_lists(_name, _func)


def _divide(a: Value, b: Value) -> Value:
    """graphite's ``safeDiv``: null for a null or a zero divisor."""
    return None if a is None or not b else a / b


@function("divideSeriesLists", "Combine")
def divide_series_lists(
    ctx: Context, dividendSeriesList: SeriesList, divisorSeriesList: SeriesList
) -> SeriesList:
    """Each dividend divided by the divisor in the same position."""
    if len(dividendSeriesList) != len(divisorSeriesList):
        raise InvalidArgument(
            "divideSeriesLists(): both series lists must have the same length"
            f" (got {len(dividendSeriesList)} and {len(divisorSeriesList)})"
        )
    out = []
    for dividend, divisor in zip(dividendSeriesList, divisorSeriesList, strict=True):
        start, end, step = normalize([dividend, divisor])
        values = [_divide(a, b) for a, b in zip_longest(dividend.points(), divisor.points())]
        name = f"divideSeries({dividend.name},{divisor.name})"
        out.append(TimeSeries(name, start, end, step, values, xff=ctx.xff))
    return out


@function("weightedAverage", "Combine")
def weighted_average(
    ctx: Context, seriesListAvg: SeriesList, seriesListWeight: SeriesList, *nodes: int | str
) -> SeriesList:
    """The average of ``seriesListAvg`` weighted by ``seriesListWeight`` at each point,
    series paired by their ``nodes`` (latency weighted by request count)."""
    if len(seriesListAvg) != len(seriesListWeight):
        raise InvalidArgument(
            "weightedAverage(): seriesListAvg and seriesListWeight must have as many series"
            f" (got {len(seriesListAvg)} and {len(seriesListWeight)})"
        )
    pairs: dict[str, dict[str, TimeSeries]] = {}
    for average, weight in zip(seriesListAvg, seriesListWeight, strict=True):
        pairs.setdefault(node_key(average, nodes), {})["avg"] = average
        pairs.setdefault(node_key(weight, nodes), {})["weight"] = weight
    products = []
    for pair in pairs.values():
        if "avg" not in pair or "weight" not in pair:
            continue
        average, weight = pair["avg"], pair["weight"]
        values = [
            None if a is None or w is None else float(a) * float(w)
            for a, w in zip_longest(average.values, weight.values)
        ]
        name = f"product({weight.name},{average.name})"
        products.append(
            TimeSeries(name, average.start, average.end, average.step, values, xff=ctx.xff)
        )
    if not products:
        return []
    total = aggregate(ctx, products, "sum")[0]
    weights = aggregate(ctx, list(seriesListWeight), "sum")[0]
    values = [_divide(p, w) for p, w in zip_longest(total.values, weights.values)]
    name = "weightedAverage({}, {}, {})".format(
        ",".join(sorted({s.path_expression for s in seriesListAvg})),
        ",".join(sorted({s.path_expression for s in seriesListWeight})),
        ",".join(map(str, nodes)),
    )
    return [TimeSeries(name, total.start, total.end, total.step, values, xff=ctx.xff)]


@function("mapSeries", "Combine", aliases=("map",))
def map_series(ctx: Context, series_list: SeriesList, *mapNodes: int | str) -> list[SeriesList]:
    """The series split into lists by their ``mapNodes`` (the input of ``reduceSeries``)."""
    groups: dict[str, SeriesList] = {}
    for s in series_list:
        groups.setdefault(node_key(s, mapNodes), []).append(s)
    return list(groups.values())


@function("reduceSeries", "Combine", aliases=("reduce",))
def reduce_series(
    ctx: Context,
    seriesLists: list[Any],
    reduceFunction: str,
    reduceNode: int,
    *reduceMatchers: str,
) -> SeriesList:
    """For each list (from ``mapSeries``), call ``reduceFunction`` on the series whose
    node ``reduceNode`` is each of ``reduceMatchers``, in that order
    (``asPercent`` of ``used`` and ``total``); named ``<prefix>.reduce.<function>``.
    The function's arguments are checked as a target's, and one that makes no series
    is refused (graphite-web fails on both)."""
    target = FUNCTIONS.get(reduceFunction)
    if target is None:
        raise InvalidArgument(f"reduceSeries(): unknown function {reduceFunction!r}")
    lists = seriesLists if all(isinstance(x, list) for x in seriesLists) else [seriesLists]
    groups: dict[str, list[TimeSeries | None]] = {}
    for series in (s for group in lists for s in group):
        nodes = series.name.split(".")
        if not -len(nodes) <= reduceNode < len(nodes) or nodes[reduceNode] not in reduceMatchers:
            continue
        key = ".".join(nodes[:reduceNode]) + ".reduce." + reduceFunction
        slots = groups.setdefault(key, [None] * len(reduceMatchers))
        slots[reduceMatchers.index(nodes[reduceNode])] = series
    out = []
    for key, slots in groups.items():
        try:
            made = call_function(target, ctx, *[[s] if s is not None else [] for s in slots])
        except InvalidArgument as exc:
            raise InvalidArgument(f"reduceSeries(): {exc}") from None
        if not made or not isinstance(made[0], TimeSeries):
            raise InvalidArgument(f"reduceSeries(): {reduceFunction}() made no series for {key}")
        result = made[0]
        result.name = key
        out.append(result)
    return out


@function("applyByNode", "Combine")
def apply_by_node(
    ctx: Context,
    series_list: SeriesList,
    nodeNum: int,
    templateFunction: str,
    newName: str | None = None,
) -> SeriesList:
    """For each distinct path prefix up to node ``nodeNum``, evaluate ``templateFunction``
    with ``%`` replaced by the prefix (``divideSeries(%.used, %.total)``); results are
    named ``newName`` with the same replacement, when given."""
    prefixes = sorted({".".join(s.name.split(".")[: nodeNum + 1]) for s in series_list})
    last = series_list[-1] if series_list else None
    out = []
    for prefix in prefixes:
        for result in evaluate(parse_target(templateFunction.replace("%", prefix)), ctx):
            if newName:
                result.name = newName.replace("%", prefix)
            result.path_expression = prefix
            if last is not None:
                result.start, result.end = last.start, last.end
            out.append(result)
    return out
