"""Special: series found by tags (``seriesByTag``) or not read from the store at all
(``events``, ``constantLine``, ``threshold``, ``identity``)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from monitor.render import tags
from monitor.render.evaluator import Context, InvalidArgument, SeriesList, function, read_series
from monitor.render.grammar import Call
from monitor.render.series import TimeSeries, aggregator


@function("seriesByTag", "Special", wants_call=True)
def series_by_tag(ctx: Context, *tagExpressions: str, call: Call | None = None) -> SeriesList:
    """``seriesByTag('name=cpu', 'host=~web.*')``: the tagged series every expression
    accepts (see ``tags.py``), sorted by name; the call as written is their path
    expression, as graphite-web's store resolves it."""
    try:
        paths = tags.find(ctx.finder.tagged(), tagExpressions)
    except tags.TagError as exc:
        raise InvalidArgument(f"seriesByTag(): {exc}") from None
    return read_series(paths, call.raw if call else "seriesByTag()", ctx)


@function("events", "Special")
def events(ctx: Context, *tags: str) -> SeriesList:
    """Events with all ``tags`` (``"*"``: any) counted per second, for ``drawAsInfinite``:
    a point a second counts against the request's points (``movingAverage(events(),
    '10y')`` would be 315 million)."""
    if ctx.events is None:
        raise InvalidArgument("events(): no event store is configured")
    name = 'events("' + '", "'.join(tags) + '")'
    wanted = None if tags == ("*",) else list(tags)
    start, end = ctx.start, ctx.end
    ctx.budget.make(end - start)
    values: list[float | None] = [None] * (end - start)
    for when in ctx.events.event_times(start, end, wanted):
        index = int(when) - start
        if 0 <= index < len(values):
            values[index] = (values[index] or 0) + 1
    return [TimeSeries(name, start, end, 1, values, consolidation="sum", xff=ctx.xff)]


def _number_text(value: float | None) -> str:
    """How graphite names a line after a number: ``str()`` of what was written."""
    return str(value)


@function("constantLine", "Special")
def constant_line(ctx: Context, value: float | None) -> SeriesList:
    """A horizontal line at ``value`` across the whole time range."""
    step = int((ctx.end - ctx.start) / 2.0)
    series = TimeSeries(
        _number_text(value), ctx.start, ctx.end, max(step, 1), [value] * 3, xff=ctx.xff
    )
    series.path_expression = f"constantLine({_number_text(value)})"
    return [series]


@function("threshold", "Graph")
def threshold(
    ctx: Context, value: float, label: str | None = None, color: str | None = None
) -> SeriesList:
    """A horizontal line at ``value``, named ``label`` (``color`` is for drawing)."""
    series = constant_line(ctx, value)[0]
    if label:
        series.name = label
    return [series]


@function("identity", "Calculate")
def identity(ctx: Context, name: str) -> SeriesList:
    """A series whose value is its own timestamp, every minute (the points count against
    the request's, as ``timeFunction``'s do)."""
    ctx.budget.make(max(0, (ctx.end - ctx.start) // 60))
    values: list[float | None] = list(range(ctx.start, ctx.end, 60))
    series = TimeSeries(name, ctx.start, ctx.end, 60, values, xff=ctx.xff)
    series.path_expression = f'identity("{name}")'
    return [series]


@function("aggregateLine", "Calculate")
def aggregate_line(
    ctx: Context, series_list: SeriesList, func: str = "average", keepStep: bool = False
) -> SeriesList:
    """A horizontal line at each series' ``func`` aggregate (its average by default)."""
    try:
        combine = aggregator(func)
    except KeyError as exc:
        raise InvalidArgument(f"aggregateLine(): {exc.args[0]}") from None
    out = []
    for s in series_list:
        value = combine(s.values)
        name = f"aggregateLine({s.name}, {'None' if value is None else f'{value:g}'})"
        if keepStep:
            line = s.copy(name=name, values=[value] * s.size)
        else:
            line = constant_line(ctx, value)[0]
            line.name = line.path_expression = name
        out.append(line)
    return out


@function("verticalLine", "Graph")
def vertical_line(
    ctx: Context, ts: str, label: str | None = None, color: str | None = None
) -> SeriesList:
    """A line at the time ``ts`` (``from``/``until`` syntax) across the graph."""
    when = ctx.time(ts, "verticalLine")
    if when < ctx.start:
        raise InvalidArgument(f"verticalLine(): timestamp {when} exists before start of range")
    if when > ctx.end:
        raise InvalidArgument(f"verticalLine(): timestamp {when} exists after end of range")
    series = TimeSeries(str(label), when, when, 1, [1.0, 1.0], xff=ctx.xff)
    series.draw_as_infinite = True
    return [series]


def _generated(
    ctx: Context, name: str, step: int, value: Callable[[int, float], float]
) -> SeriesList:
    """A series made up from its own timestamps (and the value before), one point every
    ``step`` seconds."""
    if step <= 0:
        raise InvalidArgument("the step must be at least 1 second")
    ctx.budget.make(max(0, (ctx.end - ctx.start) // int(step)))
    values: list[float | None] = []
    previous = 0.0
    for at in range(ctx.start, ctx.end, int(step)):
        previous = value(at, previous)
        values.append(previous)
    return [TimeSeries(name, ctx.start, ctx.end, int(step), values, xff=ctx.xff)]


@function("timeFunction", "Transform", aliases=("time",))
def time_function(ctx: Context, name: str, step: int = 60) -> SeriesList:
    """A series whose value is its timestamp (a test signal)."""
    return _generated(ctx, name, step, lambda at, _: float(at))


@function("sinFunction", "Transform", aliases=("sin",))
def sin_function(ctx: Context, name: str, amplitude: float = 1, step: int = 60) -> SeriesList:
    """``amplitude * sin(timestamp)`` every ``step`` seconds (a test signal)."""
    return _generated(ctx, name, step, lambda at, _: math.sin(at) * amplitude)


@function("randomWalkFunction", "Special", aliases=("randomWalk",))
def random_walk(ctx: Context, name: str, step: int = 60) -> SeriesList:
    """A random walk from 0 in steps of -0.5 to 0.5 (a test signal)."""
    start = ctx.start
    return _generated(
        ctx, name, step, lambda at, last: 0.0 if at == start else last + random.random() - 0.5
    )
