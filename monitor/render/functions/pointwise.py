"""Pointwise: functions that change each value on its own (``scale``, ``absolute``,
``pow``, ``log``…), named and tagged as graphite-web 1.1.10 does."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import zip_longest

from monitor.render.evaluator import Context, InvalidArgument, SeriesList, function
from monitor.render.series import Value


def _map(
    series_list: SeriesList, name: str, tag: tuple[str, object] | None, fn: Callable[[Value], Value]
) -> SeriesList:
    for s in series_list:
        if tag is not None:
            s.tags[tag[0]] = str(tag[1])
        s.name = s.path_expression = name.format(s.name)
        s.values = [fn(v) for v in s.values]
    return series_list


@function("scale", "Transform")
def scale(ctx: Context, series_list: SeriesList, factor: float) -> SeriesList:
    """Multiply every value by ``factor``."""
    return _map(
        series_list,
        f"scale({{}},{float(factor):g})",
        ("scale", factor),
        lambda v: None if v is None else float(v) * float(factor),
    )


@function("offset", "Transform")
def offset(ctx: Context, series_list: SeriesList, factor: float) -> SeriesList:
    """Add ``factor`` to every value."""
    return _map(
        series_list,
        f"offset({{}},{float(factor):g})",
        ("offset", factor),
        lambda v: None if v is None else v + factor,
    )


@function("transformNull", "Transform")
def transform_null(
    ctx: Context,
    series_list: SeriesList,
    default: float = 0,
    referenceSeries: SeriesList | None = None,
) -> SeriesList:
    """Replace nulls with ``default`` (with ``referenceSeries``: only where one of those
    series has a value, so a gap everywhere stays a gap)."""
    if not referenceSeries:
        return _map(
            series_list,
            f"transformNull({{}},{float(default):g})",
            ("transformNull", default),
            lambda v: default if v is None else v,
        )
    rows = zip_longest(*(r.values for r in referenceSeries))
    defaults = [default if any(v is not None for v in row) else None for row in rows]
    for s in series_list:
        s.tags["transformNull"] = default
        s.tags["referenceSeries"] = 1
        s.name = s.path_expression = f"transformNull({s.name},{float(default):g},referenceSeries)"
        s.values = [d if v is None else v for v, d in zip_longest(s.values, defaults)]
    return series_list


def power(value: Value, exponent: Value) -> Value:
    """graphite's ``safePow``: None for a null, a domain error or an overflow."""
    if value is None or exponent is None:
        return None
    try:
        return math.pow(value, exponent)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


@function("pow", "Transform")
def pow_(ctx: Context, series_list: SeriesList, factor: float) -> SeriesList:
    """Each value raised to the power ``factor``."""
    return _map(
        series_list, f"pow({{}},{float(factor):g})", ("pow", factor), lambda v: power(v, factor)
    )


@function("squareRoot", "Transform")
def square_root(ctx: Context, series_list: SeriesList) -> SeriesList:
    """The square root of each value (null for a negative one)."""
    return _map(series_list, "squareRoot({})", ("squareRoot", 1), lambda v: power(v, 0.5))


@function("invert", "Transform")
def invert(ctx: Context, series_list: SeriesList) -> SeriesList:
    """1/x for each value (null for zero)."""
    return _map(series_list, "invert({})", ("invert", 1), lambda v: power(v, -1))


@function("absolute", "Transform")
def absolute(ctx: Context, series_list: SeriesList) -> SeriesList:
    """The absolute value of each value."""
    return _map(
        series_list, "absolute({})", ("absolute", 1), lambda v: None if v is None else abs(v)
    )


@function("isNonNull", "Transform")
def is_non_null(ctx: Context, series_list: SeriesList) -> SeriesList:
    """1 where there is a value, 0 where there is none (count live hosts with a sum)."""
    return _map(series_list, "isNonNull({})", ("isNonNull", 1), lambda v: 0 if v is None else 1)


@function("log", "Transform")
def logarithm(ctx: Context, series_list: SeriesList, base: int | float = 10) -> SeriesList:
    """The logarithm of each value in ``base`` (null for zero and below). A base of 1
    or below zero has no logarithms (graphite-web fails dividing by ``log(1)``)."""
    if base <= 0 or base == 1:
        raise InvalidArgument(f"log(): the base must be positive and not 1, not {base:g}")
    out = []
    for s in series_list:
        values = [None if v is None or v <= 0 else math.log(v, base) for v in s.values]
        s.tags["log"] = base
        out.append(s.copy(name=f"log({s.name}, {base})", values=values))
    return out


@function("offsetToZero", "Transform")
def offset_to_zero(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Each value minus the series' minimum, so the lowest point is zero."""
    for s in series_list:
        minimum = min((v for v in s.values if v is not None), default=None)
        s.tags["offsetToZero"] = minimum
        s.name = s.path_expression = f"offsetToZero({s.name})"
        if minimum is not None:
            s.values = [None if v is None else v - minimum for v in s.values]
    return series_list


@function("minMax", "Transform")
def min_max(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Each value scaled to 0..1 between the series' minimum and maximum."""
    for s in series_list:
        s.name = s.path_expression = f"minMax({s.name})"
        known = [v for v in s.values if v is not None]
        low, high = (min(known), max(known)) if known else (0.0, 0.0)
        span = high - low
        s.values = [
            None if v is None else (float(v - low) / span if span else 0.0) for v in s.values
        ]
    return series_list


@function("changed", "Special")
def changed(ctx: Context, series_list: SeriesList) -> SeriesList:
    """1 where the value differs from the last value seen, else 0 (0 at nulls)."""
    for s in series_list:
        s.name = s.path_expression = f"changed({s.name})"
        out: list[Value] = []
        previous: Value = None
        for v in s.values:
            if previous is None:
                previous = v
                out.append(0)
            elif v is not None and v != previous:
                previous = v
                out.append(1)
            else:
                out.append(0)
        s.values = out
    return series_list


@function("delay", "Transform")
def delay(ctx: Context, series_list: SeriesList, steps: int) -> SeriesList:
    """Values moved ``steps`` points later (earlier if negative), nulls shifted in."""
    out = []
    for s in series_list:
        values = s.values
        pad: list[Value] = [None] * min(abs(steps), len(values))
        moved = values[-steps:] + pad if steps < 0 else pad + values[: max(0, len(values) - steps)]
        s.tags["delay"] = steps
        out.append(s.copy(name=f"delay({s.name},{steps})", values=moved))
    return out


def _guarded(fn: Callable[[float], float]) -> Callable[[Value], Value]:
    """``fn`` with None for a null or a value outside its domain."""

    def apply(value: Value) -> Value:
        if value is None:
            return None
        try:
            return fn(value)
        except (ValueError, OverflowError, ZeroDivisionError):
            return None

    return apply


@function("exp", "Transform")
def exp(ctx: Context, series_list: SeriesList) -> SeriesList:
    """e to the power of each value."""
    return _map(series_list, "exp({})", ("exp", "e"), _guarded(math.exp))


@function("sigmoid", "Transform")
def sigmoid(ctx: Context, series_list: SeriesList) -> SeriesList:
    """1 / (1 + e^-x) of each value."""
    return _map(
        series_list,
        "sigmoid({})",
        ("sigmoid", "sigmoid"),
        _guarded(lambda v: 1 / (1 + math.exp(-v))),
    )


@function("logit", "Transform")
def logit(ctx: Context, series_list: SeriesList) -> SeriesList:
    """log(x / (1 - x)) of each value (null outside 0..1)."""
    return _map(
        series_list, "logit({})", ("logit", "logit"), _guarded(lambda v: math.log(v / (1 - v)))
    )


@function("round", "Transform")
def round_(ctx: Context, series_list: SeriesList, precision: int | None = None) -> SeriesList:
    """Each value rounded to ``precision`` decimal places (to a whole number without)."""
    label = "round({})" if precision is None else f"round({{}},{int(precision):g})"
    places = precision or 0
    return _map(
        series_list, label, ("round", places), lambda v: None if v is None else round(v, places)
    )


@function("scaleToSeconds", "Transform")
def scale_to_seconds(ctx: Context, series_list: SeriesList, seconds: float) -> SeriesList:
    """Values per step turned into values per ``seconds`` (a count per 10 s step, times
    6, is a count per minute), rounded to 6 places. An infinite ``seconds`` has no
    name (graphite-web's ``%d`` of it overflows)."""
    if math.isinf(seconds):
        raise InvalidArgument("scaleToSeconds(): the seconds must be a finite number")
    for s in series_list:
        s.tags["scaleToSeconds"] = seconds
        s.name = s.path_expression = f"scaleToSeconds({s.name},{int(seconds)})"
        factor = seconds / s.step
        s.values = [None if v is None else round(v * factor, 6) for v in s.values]
    return series_list


@function("add", "Transform")
def add(ctx: Context, series_list: SeriesList, constant: float) -> SeriesList:
    """``constant`` added to each value (graphite-web names it with the constant
    truncated to an integer: ``add(x,1)`` for 1.5; an infinite one has no such name,
    and graphite-web's ``%d`` of it overflows)."""
    if math.isinf(constant):
        raise InvalidArgument("add(): the constant must be a finite number")
    return _map(
        series_list,
        f"add({{}},{int(constant)})",
        ("add", constant),
        lambda v: None if v is None else v + constant,
    )
