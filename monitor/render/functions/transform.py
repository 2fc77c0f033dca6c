"""Transform: change each series on its own (``derivative``, ``summarize``, ``hitcount``…)."""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.render.attime import TimeSyntaxError, parse_offset
from monitor.render.evaluator import Context, InvalidArgument, SeriesList, evaluate, function
from monitor.render.grammar import Node
from monitor.render.series import Value, aggregator


def _seconds(text: str, who: str) -> int:
    try:
        delta = parse_offset(text)
    except TimeSyntaxError as exc:
        raise InvalidArgument(f"{who}(): {exc}") from None
    return abs(int(delta.total_seconds()))


@function("drawAsInfinite", "Graph")
def draw_as_infinite(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Mark series to be drawn as full-height lines where positive (deploy markers)."""
    for s in series_list:
        s.draw_as_infinite = True
        s.tags["drawAsInfinite"] = "1"
        s.name = f"drawAsInfinite({s.name})"
    return series_list


@function("consolidateBy", "Special")
def consolidate_by(ctx: Context, series_list: SeriesList, consolidationFunc: str) -> SeriesList:
    """How to merge points when there are more than pixels (``maxDataPoints``)."""
    if consolidationFunc not in (
        "sum",
        "average",
        "avg",
        "avg_zero",
        "min",
        "max",
        "first",
        "last",
    ):
        raise InvalidArgument(f"consolidateBy(): unknown consolidation {consolidationFunc!r}")
    for s in series_list:
        s.consolidation = consolidationFunc
        s.tags["consolidateBy"] = consolidationFunc
        s.name = s.path_expression = f'consolidateBy({s.name},"{consolidationFunc}")'
    return series_list


@function("cumulative", "Special")
def cumulative(ctx: Context, series_list: SeriesList) -> SeriesList:
    """``consolidateBy(seriesList, 'sum')``: merged points add up (counts stay counts)."""
    return consolidate_by(ctx, series_list, "sum")


@function("setXFilesFactor", "Special", aliases=("xFilesFactor",))
def set_x_files_factor(ctx: Context, series_list: SeriesList, xFilesFactor: float) -> SeriesList:
    """The fraction of a consolidated point's values that must be non-null for it to be
    non-null (``maxDataPoints`` and step changes)."""
    for s in series_list:
        s.xff = xFilesFactor
        s.tags["xFilesFactor"] = xFilesFactor
    return series_list


@function("keepLastValue", "Transform")
def keep_last_value(
    ctx: Context, series_list: SeriesList, limit: float = float("inf")
) -> SeriesList:
    """Fill runs of up to ``limit`` nulls with the last value before them."""
    for s in series_list:
        s.name = s.path_expression = f"keepLastValue({s.name})"
        values = s.values
        last: Value = None
        gap = 0
        for i, v in enumerate(values):
            if v is None:
                gap += 1
                continue
            if 0 < gap <= limit and last is not None:
                values[i - gap : i] = [last] * gap
            gap, last = 0, v
        if 0 < gap <= limit and last is not None:
            values[len(values) - gap :] = [last] * gap
    return series_list


@function("interpolate", "Transform")
def interpolate(ctx: Context, series_list: SeriesList, limit: float = float("inf")) -> SeriesList:
    """Fill runs of up to ``limit`` nulls on a straight line between the values around
    them (a run at either end stays null)."""
    for s in series_list:
        s.name = s.path_expression = f"interpolate({s.name})"
        values = s.values
        last: int | None = None  # index of the last value seen
        for i, v in enumerate(values):
            if v is None:
                continue
            gap = 0 if last is None else i - last - 1
            if last is not None and 0 < gap <= limit:
                before = values[last]
                assert before is not None
                for k in range(1, gap + 1):
                    values[last + k] = before + k * (v - before) / (gap + 1)
            last = i
    return series_list


def _derived(
    series_list: SeriesList, tag: str, step_values: Callable[[list[Value], int], list[Value]]
) -> SeriesList:
    out = []
    for s in series_list:
        s.tags[tag] = "1"
        out.append(
            s.copy(
                name=f"{tag}({s.name})",
                values=step_values(s.values, s.step),
                path_expression=f"{tag}({s.name})",
            )
        )
    return out


def _non_negative_delta(
    value: Value, prev: Value, max_value: float | None, min_value: float | None
) -> tuple[Value, Value]:
    if max_value is not None and value is not None and value > max_value:
        return None, None
    if min_value is not None and value is not None and value < min_value:
        return None, None
    if prev is None or value is None:
        return None, value
    if value >= prev:
        return value - prev, value
    if max_value is not None:
        return max_value + 1 + value - prev - (min_value or 0), value
    if min_value is not None:
        return value - min_value, value
    return None, value


@function("derivative", "Transform")
def derivative(ctx: Context, series_list: SeriesList) -> SeriesList:
    """The change from each point to the next."""

    def deltas(values: list[Value], step: int) -> list[Value]:
        out: list[Value] = []
        prev: Value = None
        for v in values:
            out.append(None if prev is None or v is None else v - prev)
            prev = v
        return out

    return _derived(series_list, "derivative", deltas)


@function("nonNegativeDerivative", "Transform")
def non_negative_derivative(
    ctx: Context,
    series_list: SeriesList,
    maxValue: float | None = None,
    minValue: float | None = None,
) -> SeriesList:
    """The change between points, ignoring decreases (counter resets, or wraps at
    ``maxValue``)."""

    def deltas(values: list[Value], step: int) -> list[Value]:
        out: list[Value] = []
        prev: Value = None
        for v in values:
            delta, prev = _non_negative_delta(v, prev, maxValue, minValue)
            out.append(delta)
        return out

    return _derived(series_list, "nonNegativeDerivative", deltas)


@function("perSecond", "Transform")
def per_second(
    ctx: Context,
    series_list: SeriesList,
    maxValue: float | None = None,
    minValue: float | None = None,
) -> SeriesList:
    """``nonNegativeDerivative`` divided by the step: a counter's rate per second."""

    def rates(values: list[Value], step: int) -> list[Value]:
        out: list[Value] = []
        prev: Value = None
        for v in values:
            delta, prev = _non_negative_delta(v, prev, maxValue, minValue)
            out.append(None if delta is None else round(delta / step, 6))
        return out

    return _derived(series_list, "perSecond", rates)


@function("integral", "Transform")
def integral(ctx: Context, series_list: SeriesList) -> SeriesList:
    """The running total of the values (nulls stay null)."""

    def running(values: list[Value], step: int) -> list[Value]:
        total = 0.0
        out: list[Value] = []
        for v in values:
            if v is None:
                out.append(None)
            else:
                total += v
                out.append(total)
        return out

    return _derived(series_list, "integral", running)


@function("timeShift", "Transform", wants_node=True)
def time_shift(
    ctx: Context,
    series_list: SeriesList,
    timeShift: str,
    resetEnd: bool = True,
    alignDST: bool = False,
    node: Node | None = None,
) -> SeriesList:
    """The same series ``timeShift`` earlier (``"1d"``, ``"-7d"``; no sign means back),
    drawn over the current range: "compare with a week ago"."""
    if not series_list or node is None:
        return []
    shift = timeShift if not timeShift[:1].isdigit() else "-" + timeShift
    try:
        delta = int(parse_offset(shift).total_seconds())
    except TimeSyntaxError as exc:
        raise InvalidArgument(f"timeShift(): {exc}") from None
    first = series_list[0]
    shifted = evaluate(node, ctx.shifted(ctx.start + delta, ctx.end + delta))
    for s in shifted:
        s.tags["timeShift"] = shift
        s.name = f'timeShift({s.name}, "{shift}")'
        s.end = first.end if resetEnd else s.end - s.start + first.start
        s.start = first.start
    return list(shifted)


@function("hitcount", "Transform", wants_node=True)
def hitcount(
    ctx: Context,
    series_list: SeriesList,
    intervalString: str,
    alignToInterval: bool = False,
    node: Node | None = None,
) -> SeriesList:
    """Per-second rates turned into totals per ``intervalString`` bucket (a rate of 2
    over a 10 s step is 20 hits), a step straddling two buckets split between them;
    ``alignToInterval`` starts the buckets on a whole minute, hour or day."""
    interval = _seconds(intervalString, "hitcount")
    if interval <= 0:
        raise InvalidArgument("hitcount(): the interval must be longer than 0 s")
    if alignToInterval and node is not None:
        begin = datetime.fromtimestamp(ctx.start, ctx.tz)
        if interval >= 86400:
            begin = begin.replace(hour=0, minute=0, second=0, microsecond=0)
        elif interval >= 3600:
            begin = begin.replace(minute=0, second=0, microsecond=0)
        elif interval >= 60:
            begin = begin.replace(second=0, microsecond=0)
        series_list = evaluate(node, ctx.shifted(int(begin.timestamp()), ctx.end))
        for s in series_list:
            s.end = s.start + (s.end - s.start) // interval * interval + interval
    out = []
    for s in series_list:
        count = math.ceil((s.end - s.start) / interval)
        ctx.budget.make(count)
        new_start = s.end - count * interval
        buckets: list[list[float]] = [[] for _ in range(count)]
        for i, value in enumerate(s.values):
            if value is None:
                continue
            begins = s.start + i * s.step
            first, first_mod = divmod(begins - new_start, interval)
            last, last_mod = divmod(begins + s.step - new_start, interval)
            if last >= count:
                last, last_mod = count - 1, interval
            if first == last:
                if first >= 0:
                    buckets[first].append(value * (last_mod - first_mod))
                continue
            if first >= 0:
                buckets[first].append(value * (interval - first_mod))
            for j in range(first + 1, last):
                buckets[j].append(value * interval)
            if last_mod > 0:
                buckets[last].append(value * last_mod)
        s.tags["hitcount"] = intervalString
        align = ", true" if alignToInterval else ""
        out.append(
            s.copy(
                name=f'hitcount({s.name}, "{intervalString}"{align})',
                start=new_start,
                step=interval,
                values=[sum(b) if b else None for b in buckets],
            )
        )
    return out


@function("integralByInterval", "Transform")
def integral_by_interval(ctx: Context, series_list: SeriesList, intervalUnit: str) -> SeriesList:
    """The running total of each series, restarting at zero every ``intervalUnit``
    counted from the start of the requested range (nulls keep the total)."""
    interval = _seconds(intervalUnit, "integralByInterval")
    if interval <= 0:
        raise InvalidArgument("integralByInterval(): the interval must be longer than 0 s")
    out = []
    for s in series_list:
        values: list[Value] = []
        total, at = 0.0, s.start
        for value in s.values:
            if (at - ctx.start) // interval != (at - ctx.start - s.step) // interval:
                total = 0.0
            if value is not None:
                total += value
            values.append(total)
            at += s.step
        s.tags["integralByInterval"] = intervalUnit
        name = f"integralByInterval({s.name},'{intervalUnit}')"
        out.append(s.copy(name=name, values=values))
    return out


@function("summarize", "Transform")
def summarize(
    ctx: Context,
    series_list: SeriesList,
    intervalString: str,
    func: str = "sum",
    alignToFrom: bool = False,
) -> SeriesList:
    """Values bucketed into ``intervalString`` intervals by ``func`` (sum by default)."""
    interval = _seconds(intervalString, "summarize")
    if interval <= 0:
        raise InvalidArgument("summarize(): the interval must be positive")
    try:
        combine = aggregator(func)
    except KeyError as exc:
        raise InvalidArgument(f"summarize(): {exc.args[0]}") from None
    out = []
    for s in series_list:
        if alignToFrom:
            new_start, new_end = s.start, s.end
        else:
            new_start = s.start - s.start % interval
            new_end = s.end - s.end % interval + interval
        ctx.budget.make((new_end - new_start) // interval)
        values, aligned_end = _summarize(
            s.values, s.start, s.end, s.step, s.xff, combine, interval, new_start, new_end
        )
        if alignToFrom:
            new_end = aligned_end
        s.tags["summarize"] = intervalString
        s.tags["summarizeFunction"] = func
        name = f'summarize({s.name}, "{intervalString}", "{func}"{", true" if alignToFrom else ""})'
        out.append(
            s.copy(
                name=name,
                start=new_start,
                end=new_end,
                step=interval,
                values=values,
                values_per_point=1,
                path_expression=name,
            )
        )
    return out


@function("smartSummarize", "Transform", wants_node=True)
def smart_summarize(
    ctx: Context,
    series_list: SeriesList,
    intervalString: str,
    func: str = "sum",
    alignTo: str | None = None,
    node: Node | None = None,
) -> SeriesList:
    """``summarize`` with buckets counted from the start of the range, or from the
    start of the ``alignTo`` unit before it (``'hours'``, ``'days'``, ``'weeks3'``: a
    week starting on Wednesday)."""
    interval = _seconds(intervalString, "smartSummarize")
    if interval <= 0:
        raise InvalidArgument("smartSummarize(): the interval must be positive")
    try:
        combine = aggregator(func)
    except KeyError as exc:
        raise InvalidArgument(f"smartSummarize(): {exc.args[0]}") from None
    if isinstance(alignTo, str) and node is not None:
        begin = _aligned(datetime.fromtimestamp(ctx.start, ctx.tz), alignTo)
        series_list = evaluate(node, ctx.shifted(int(begin.timestamp()), ctx.end))
    out = []
    for s in series_list:
        ctx.budget.make((s.end - s.start) // interval + 1)
        values, aligned_end = _summarize(
            s.values, s.start, s.end, s.step, s.xff, combine, interval, s.start, s.end
        )
        s.tags["smartSummarize"] = intervalString
        s.tags["smartSummarizeFunction"] = func
        name = f'smartSummarize({s.name}, "{intervalString}", "{func}")'
        out.append(
            s.copy(name=name, end=aligned_end, step=interval, values=values, values_per_point=1)
        )
    return out


def _aligned(start: datetime, unit: str) -> datetime:
    """The start of the ``unit`` (years … seconds) that holds ``start``."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit.startswith("s"):
        return start.replace(microsecond=0)
    if unit.startswith("min"):
        return start.replace(second=0, microsecond=0)
    if unit.startswith("h"):
        return start.replace(minute=0, second=0, microsecond=0)
    if unit.startswith("d"):
        return day
    if unit.startswith("w"):
        weekday = 1 if unit[-1].isalpha() else int(unit[-1])
        return day - timedelta(days=(start.isoweekday() - weekday) % 7)
    if unit.startswith("mon"):
        return day.replace(day=1)
    if unit.startswith("y"):
        return day.replace(month=1, day=1)
    raise InvalidArgument(f"smartSummarize(): invalid alignTo unit {unit!r}")


@function("compressPeriodicGaps", "Transform")
def compress_periodic_gaps(ctx: Context, series_list: SeriesList) -> SeriesList:
    """A series written less often than its step (a cron job every 5 min into 1 min
    slots) summarized to its real interval, so the graph is a line, not dots."""
    out = []
    for s in series_list:
        s.name = s.path_expression = f"compressPeriodicGaps({s.name})"
        values = s.values
        first = second = 0
        for i, v in enumerate(values):  # graphite-web's scan: a value at 0 does not count
            if v:
                if first > 0:
                    second = i
                    break
                first = i
        guess = second - first
        third = second + guess
        interval = None
        if (
            guess > 1
            and third <= len(values) - 2
            and values[third]
            and values[third - 1] is None
            and values[third + 1] is None
        ):
            interval = guess * s.step
        if interval is None:
            out.append(s)
            continue
        new_start = s.start + first * s.step
        combine = aggregator("last")
        summarized, _ = _summarize(
            values, s.start, s.end, s.step, s.xff, combine, interval, new_start, s.end
        )
        new_end = new_start + interval * (len(summarized) - 1)
        out.append(
            s.copy(
                start=new_start, end=new_end, step=interval, values=summarized, values_per_point=1
            )
        )
    return out


def _summarize(
    values: list[Value],
    start: int,
    end: int,
    step: int,
    xff: float,
    combine: Callable[[list[Value]], Value],
    interval: int,
    new_start: int,
    new_end: int,
) -> tuple[list[Value], int]:
    stamps = list(range(start, end, step))
    n = min(len(stamps), len(values))
    per_interval = interval / step
    out: list[Value] = []
    i = 0
    ts = new_start
    while ts < new_end:
        first = i
        known = 0
        while i < n and stamps[i] < ts + interval:
            if stamps[i] <= ts:
                first = i
            if stamps[i] >= ts and values[i] is not None:
                known += 1
            i += 1
        ok = known > 0 and per_interval > 0 and known / per_interval >= xff
        out.append(combine(values[first:i]) if ok else None)
        ts += interval
    return out, ts


@function("exponentialMovingAverage", "Calculate", wants_node=True)
def exponential_moving_average(
    ctx: Context, series_list: SeriesList, windowSize: int | str, node: Node | None = None
) -> SeriesList:
    """An average that weighs recent points more: seeded with the mean of the first
    window (read from before the range), then ``ema += k * (value - ema)`` with
    ``k = 2 / (window + 1)``; values rounded to 6 places as graphite-web does."""
    if not series_list or node is None:
        return []
    if isinstance(windowSize, int) and windowSize < 0:  # graphite-web: 2 / 0 for -1
        raise InvalidArgument("exponentialMovingAverage(): the window must not be negative")
    if isinstance(windowSize, str):
        preview = _seconds(windowSize, "exponentialMovingAverage")
        constant = 2.0 / (preview + 1)
    else:
        preview = max(s.step for s in series_list) * int(windowSize)
        constant = 2.0 / (int(windowSize) + 1)
    out = []
    for s in evaluate(node, ctx.shifted(ctx.start - preview, ctx.end)):
        if isinstance(windowSize, str):
            label, points = f'exponentialMovingAverage({s.name},"{windowSize}")', preview // s.step
        else:
            label, points = f"exponentialMovingAverage({s.name},{windowSize})", int(windowSize)
        s.tags["exponentialMovingAverage"] = windowSize
        read = s.values
        seed = [v for v in read[:points] if v is not None]
        ema = sum(seed) / len(seed) if seed else 0
        values: list[Value] = [round(ema, 6)]
        for v in read[points:]:
            if v is None:
                values.append(None)
            else:
                ema = constant * v + (1 - constant) * ema
                values.append(round(ema, 6))
        out.append(s.copy(name=label, start=s.start + preview, values=values))
    return out


@function("stdev", "Calculate")
def stdev(
    ctx: Context, series_list: SeriesList, points: int, windowTolerance: float = 0.1
) -> SeriesList:
    """The standard deviation of the last ``points`` values, once at least the
    ``windowTolerance`` fraction of them are non-null (running sums, as graphite-web).
    A window of no points has no deviation (graphite-web fails on it); squares are
    multiplied, so one too large is inf where graphite-web's ``** 2`` fails."""
    if points < 1:
        raise InvalidArgument(f"stdev(): the points must be at least 1, not {points}")
    out = []
    for s in series_list:
        s.tags["stdev"] = points
        read = s.values
        values: list[Value] = []
        known, total, squares = 0, 0.0, 0.0
        for i, new in enumerate(read):
            dropped = read[i - points] if i >= points else None
            if dropped is not None:
                known -= 1
                total -= dropped
                squares -= dropped * dropped
            if new is not None:
                known += 1
                total += new
                squares += new * new
            if known > 0 and known / points >= windowTolerance:
                try:
                    values.append(math.sqrt(known * squares - total * total) / known)
                except ValueError:  # rounding made the variance negative
                    values.append(None)
            else:
                values.append(None)
        out.append(s.copy(name=f"stdev({s.name},{int(points)})", values=values))
    return out


@function("timeSlice", "Transform")
def time_slice(
    ctx: Context, series_list: SeriesList, startSliceAt: str, endSliceAt: str = "now"
) -> SeriesList:
    """Only the values between two times (``from``/``until`` syntax); nulls elsewhere."""
    first = ctx.time(startSliceAt, "timeSlice")
    last = ctx.time(endSliceAt, "timeSlice")
    for s in series_list:
        s.tags["timeSliceStart"] = first
        s.tags["timeSliceEnd"] = last
        s.name = f"timeSlice({s.name}, {first}, {last})"
        at = ctx.start
        values = s.values
        for i, v in enumerate(values):
            if v is not None and not first <= at <= last:
                values[i] = None
            at += s.step
    return series_list


@function("timeStack", "Transform", wants_node=True)
def time_stack(
    ctx: Context,
    series_list: SeriesList,
    timeShiftUnit: str = "1d",
    timeShiftStart: int = 0,
    timeShiftEnd: int = 7,
    node: Node | None = None,
) -> SeriesList:
    """The series again for each shift ``timeShiftStart`` .. ``timeShiftEnd - 1`` units
    back, all drawn over the current range: "this week against each of the last few".
    The shifted copies count against the request's points before they are read: a
    shift that reads nothing (``constantLine``) would otherwise loop unmetered."""
    if not series_list or node is None:
        return []
    shifts = max(0, int(timeShiftEnd) - int(timeShiftStart))
    ctx.budget.make(shifts * sum(s.size for s in series_list))
    unit = "-" + timeShiftUnit if timeShiftUnit[:1].isdigit() else timeShiftUnit
    try:
        delta = int(parse_offset(unit).total_seconds())
    except TimeSyntaxError as exc:
        raise InvalidArgument(f"timeStack(): {exc}") from None
    first = series_list[0]
    out = []
    for shift in range(int(timeShiftStart), int(timeShiftEnd)):
        moved = ctx.shifted(ctx.start + delta * shift, ctx.end + delta * shift)
        for s in evaluate(node, moved):
            s.tags["timeShiftUnit"] = unit
            s.tags["timeShift"] = shift
            s.name = s.path_expression = f"timeShift({s.name}, {unit}, {shift})"
            s.start, s.end = first.start, first.end
            out.append(s)
    return out


@function("movingWindow", "Calculate", wants_node=True)
def moving_window(
    ctx: Context,
    series_list: SeriesList,
    windowSize: int | str,
    func: str = "average",
    xFilesFactor: float | None = None,
    node: Node | None = None,
) -> SeriesList:
    """The ``func`` aggregate of the last ``windowSize`` points (or the last interval,
    ``'5min'``), read from before the range so the first point has a full window;
    named ``moving<Func>`` as graphite-web names it."""
    name = "moving" + func.capitalize()
    try:
        combine = aggregator(func)
    except KeyError as exc:
        raise InvalidArgument(f"movingWindow(): {exc.args[0]}") from None
    if not series_list or node is None:
        return []
    if isinstance(windowSize, str):
        preview = _seconds(windowSize, name)
    else:
        preview = max(s.step for s in series_list) * int(windowSize)
    out = []
    for s in evaluate(node, ctx.shifted(ctx.start - preview, ctx.end)):
        if isinstance(windowSize, str):
            label, points = f'{name}({s.name},"{windowSize}")', preview // s.step
        else:
            label, points = f"{name}({s.name},{windowSize})", int(windowSize)
        s.tags[name] = str(windowSize)
        threshold = s.xff if xFilesFactor is None else xFilesFactor
        values: list[Value] = []
        read = s.values  # once: the loop is per point
        summing = func in ("average", "sum") and points > 0 and threshold <= 1
        for i in range(points + 1, len(read) + 1):
            window = read[i - points : i]
            if summing:  # a window without nulls is summed in C, in the same order
                try:
                    total = sum(typing.cast(list[float], window))
                except TypeError:  # a null in the window: the general way below
                    pass
                else:
                    values.append(total / points if func == "average" else total)
                    continue
            known = [v for v in window if v is not None]
            ok = bool(known) and points > 0 and len(known) / points >= threshold
            values.append(combine(known) if ok else None)
        out.append(
            s.copy(name=label, start=s.start + preview, values=values, path_expression=label)
        )
    return out


def _moving(name: str, func: str) -> None:
    def moving(
        ctx: Context,
        series_list: SeriesList,
        windowSize: int | str,
        xFilesFactor: float | None = None,
        node: Node | None = None,
    ) -> SeriesList:
        return moving_window(ctx, series_list, windowSize, func, xFilesFactor, node)

    moving.__doc__ = f"``{name}(seriesList, windowSize)``: the {func} of the last points."
    function(name, "Calculate", wants_node=True)(moving)


for _name, _func in (
    ("movingAverage", "average"),
    ("movingSum", "sum"),
    ("movingMin", "min"),
    ("movingMax", "max"),
    ("movingMedian", "median"),
):
    _moving(_name, _func)
