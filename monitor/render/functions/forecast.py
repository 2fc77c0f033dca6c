"""Forecast: Holt-Winters seasonal prediction and confidence bands (Brutlag's aberrant
behaviour detection) and the least-squares trend line, as graphite-web 1.1.10
computes them.

"This graph looks funny" as a graph: the forecast learns a level, a trend and a
seasonal pattern (one ``seasonality``, a day by default) from ``bootstrapInterval`` of
history read before the requested range, and the bands are the forecast plus or minus
``delta`` times the learned seasonal deviation. ``holtWintersAberration`` is how far a
series leaves its bands. The smoothing constants are graphite's (alpha = gamma = 0.1,
beta = 0.0035), and so are the names and tags, down to graphite-web sharing one tags
dict between the series it derives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from monitor.render.attime import TimeSyntaxError, parse_offset
from monitor.render.evaluator import Context, InvalidArgument, SeriesList, evaluate, function
from monitor.render.grammar import Node
from monitor.render.series import TimeSeries, Value

ALPHA = GAMMA = 0.1
BETA = 0.0035


def _offset(text: str, who: str) -> int:
    try:
        delta = parse_offset(text)
    except TimeSyntaxError as exc:
        raise InvalidArgument(f"{who}(): {exc}") from None
    return delta.seconds + delta.days * 86400


@dataclass
class Analysis:
    """One pass of Holt-Winters over a series: a prediction and a deviation per point."""

    predictions: list[Value]
    deviations: list[float]


def analyse(values: list[Value], step: int, season_seconds: int, who: str) -> Analysis:
    """Predict each point from the ones before it. A null point breaks the recurrence:
    it predicts nothing for the next point and contributes no season. A season of under
    two steps has no last season to look back to (graphite-web fails indexing it)."""
    season = season_seconds // step
    if season < 2:
        raise InvalidArgument(
            f"{who}(): the seasonality must be at least two steps ({2 * step}s),"
            f" not {season_seconds}s"
        )
    intercepts: list[Value] = []
    slopes: list[float] = []
    seasonals: list[float] = []
    predictions: list[Value] = []
    deviations: list[float] = []

    def back(history: list[float], i: int) -> float:
        return history[i - season] if i - season >= 0 else 0

    next_prediction: Value = None
    for i, actual in enumerate(values):
        if actual is None:
            intercepts.append(None)
            slopes.append(0)
            seasonals.append(0)
            predictions.append(next_prediction)
            deviations.append(0)
            next_prediction = None
            continue
        if i == 0:
            last_intercept: float = actual
            last_slope = 0.0
            prediction: Value = actual
        else:
            known = intercepts[-1]
            last_intercept = actual if known is None else known
            last_slope = slopes[-1]
            prediction = next_prediction
        last_seasonal = back(seasonals, i)
        intercept = ALPHA * (actual - last_seasonal) + (1 - ALPHA) * (last_intercept + last_slope)
        slope = BETA * (intercept - last_intercept) + (1 - BETA) * last_slope
        seasonal = GAMMA * (actual - intercept) + (1 - GAMMA) * last_seasonal
        next_prediction = intercept + slope + back(seasonals, i + 1)
        deviation = GAMMA * math.fabs(actual - (prediction or 0)) + (1 - GAMMA) * back(
            deviations, i
        )
        intercepts.append(intercept)
        slopes.append(slope)
        seasonals.append(seasonal)
        predictions.append(prediction)
        deviations.append(deviation)
    return Analysis(predictions, deviations)


def _with_history(ctx: Context, node: Node | None, bootstrap: int) -> SeriesList:
    """The first argument read again from ``bootstrap`` seconds before the range."""
    if node is None:
        return []
    return list(evaluate(node, ctx.shifted(ctx.start - bootstrap, ctx.end)))


def _tags(series: TimeSeries, *marks: str) -> dict[str, Any]:
    """graphite-web's derived series share their source's tags dict, so each carries
    every mark made on it: reproduced for identical answers."""
    for mark in marks:
        series.tags[mark] = 1
    return series.tags


@function("holtWintersForecast", "Calculate", wants_node=True)
def holt_winters_forecast(
    ctx: Context,
    series_list: SeriesList,
    bootstrapInterval: str = "7d",
    seasonality: str = "1d",
    node: Node | None = None,
) -> SeriesList:
    """What each series was expected to be, learned from ``bootstrapInterval`` before."""
    bootstrap = _offset(bootstrapInterval, "holtWintersForecast")
    season = _offset(seasonality, "holtWintersForecast")
    out = []
    for s in _with_history(ctx, node, bootstrap):
        analysis = analyse(s.values, s.step, season, "holtWintersForecast")
        skip = bootstrap // s.step
        tags = _tags(s, "holtWintersForecast", "holtWintersDeviation")
        out.append(
            TimeSeries(
                f"holtWintersForecast({s.name})",
                s.start + bootstrap,
                s.end,
                s.step,
                analysis.predictions[skip:],
                tags=tags,
                xff=s.xff,
            )
        )
    return out


def _bands(
    ctx: Context, delta: float, bootstrapInterval: str, seasonality: str, node: Node | None
) -> list[tuple[TimeSeries, TimeSeries]]:
    """(lower, upper) for each series."""
    bootstrap = _offset(bootstrapInterval, "holtWintersConfidenceBands")
    season = _offset(seasonality, "holtWintersConfidenceBands")
    out = []
    for s in _with_history(ctx, node, bootstrap):
        analysis = analyse(s.values, s.step, season, "holtWintersConfidenceBands")
        skip = bootstrap // s.step
        upper: list[Value] = []
        lower: list[Value] = []
        for forecast, deviation in zip(
            analysis.predictions[skip:], analysis.deviations[skip:], strict=True
        ):
            if forecast is None:
                upper.append(None)
                lower.append(None)
            else:
                upper.append(forecast + delta * deviation)
                lower.append(forecast - delta * deviation)
        tags = _tags(
            s,
            "holtWintersForecast",
            "holtWintersDeviation",
            "holtWintersConfidenceUpper",
            "holtWintersConfidenceLower",
        )
        start = s.start + bootstrap
        bands = []
        for side, values in (("Lower", lower), ("Upper", upper)):
            name = f"holtWintersConfidence{side}({s.name})"
            band = TimeSeries(name, start, s.end, s.step, values, tags=tags, xff=s.xff)
            band.path_expression = s.path_expression
            bands.append(band)
        out.append((bands[0], bands[1]))
    return out


@function("holtWintersConfidenceBands", "Calculate", wants_node=True)
def holt_winters_confidence_bands(
    ctx: Context,
    series_list: SeriesList,
    delta: float = 3,
    bootstrapInterval: str = "7d",
    seasonality: str = "1d",
    node: Node | None = None,
) -> SeriesList:
    """The forecast minus and plus ``delta`` deviations: the normal range (lower band
    first, then upper, for each series)."""
    return [
        band for pair in _bands(ctx, delta, bootstrapInterval, seasonality, node) for band in pair
    ]


@function("holtWintersAberration", "Calculate", wants_node=True)
def holt_winters_aberration(
    ctx: Context,
    series_list: SeriesList,
    delta: float = 3,
    bootstrapInterval: str = "7d",
    seasonality: str = "1d",
    node: Node | None = None,
) -> SeriesList:
    """How far each series is above its upper band (positive) or below its lower band
    (negative); 0 inside the bands. The bands are those of the series read again with
    the bootstrap history: a series not among them by name (a name or a choice that
    depends on the data, as ``cactiStyle``'s or ``highest``'s) has none, and is refused
    (graphite-web fails looking it up)."""
    bands = {
        upper.name[len("holtWintersConfidenceUpper(") : -1]: (lower, upper)
        for lower, upper in _bands(ctx, delta, bootstrapInterval, seasonality, node)
    }
    out = []
    for s in series_list:
        if s.name not in bands:
            raise InvalidArgument(
                f"holtWintersAberration(): {s.name!r} is not among the series read again"
                f" with {bootstrapInterval} of history, so it has no bands"
            )
        lower, upper = bands[s.name]
        values: list[Value] = []
        for actual, low, high in zip(s.values, lower.values, upper.values, strict=False):
            if actual is None:
                values.append(0)
            elif high is not None and actual > high:
                values.append(actual - high)
            elif low is not None and actual < low:
                values.append(actual - low)
            else:
                values.append(0)
        s.tags["holtWintersAberration"] = 1
        out.append(
            TimeSeries(
                f"holtWintersAberration({s.name})",
                s.start,
                s.end,
                s.step,
                values,
                tags=s.tags,
                xff=s.xff,
            )
        )
    return out


@function("holtWintersConfidenceArea", "Calculate", wants_node=True)
def holt_winters_confidence_area(
    ctx: Context,
    series_list: SeriesList,
    delta: float = 3,
    bootstrapInterval: str = "7d",
    seasonality: str = "1d",
    node: Node | None = None,
) -> SeriesList:
    """The confidence bands as one shaded area (the lower band, then the upper)."""
    out = []
    for lower, upper in _bands(ctx, delta, bootstrapInterval, seasonality, node):
        upper.tags["holtWintersConfidenceArea"] = 1
        for band in (lower, upper):
            band.name = band.path_expression = f"holtWintersConfidenceArea({upper.path_expression})"
            out.append(band)
    return out


@function("linearRegression", "Calculate", wants_node=True)
def linear_regression(
    ctx: Context,
    series_list: SeriesList,
    startSourceAt: str | None = None,
    endSourceAt: str | None = None,
    node: Node | None = None,
) -> SeriesList:
    """The least-squares line through each series (fitted over ``startSourceAt`` ..
    ``endSourceAt``, the requested range by default), drawn over the requested range:
    where a trend is heading."""
    start = ctx.time(startSourceAt, "linearRegression") if startSourceAt else ctx.start
    end = ctx.time(endSourceAt, "linearRegression") if endSourceAt else ctx.end
    sources = evaluate(node, ctx.shifted(int(start), int(end))) if node is not None else []
    out = []
    for source, s in zip(sources, series_list, strict=False):
        fit = _fit(source)
        label = f"{int(start)}, {int(end)}"
        s.tags["linearRegressions"] = label
        if fit is None:
            continue
        factor, offset = fit
        values: list[Value] = [offset + (s.start + i * s.step) * factor for i in range(s.size)]
        name = f"linearRegression({s.name}, {label})"
        line = TimeSeries(name, s.start, s.end, s.step, values, tags=s.tags, xff=s.xff)
        line.path_expression = name
        out.append(line)
    return out


def _fit(series: TimeSeries) -> tuple[float, float] | None:
    """(slope per second, value at time 0) of the least-squares line through the
    series' points, indexed by position; None for fewer than two distinct points."""
    points = [(i, v) for i, v in enumerate(series.values) if v is not None]
    n = len(points)
    sum_i = sum(i for i, _ in points)
    sum_v = sum(v for _, v in points)
    sum_ii = sum(i * i for i, _ in points)
    sum_iv = sum(i * v for i, v in points)
    denominator = float(n * sum_ii - sum_i * sum_i)
    if denominator == 0:
        return None
    factor = (n * sum_iv - sum_i * sum_v) / denominator / series.step
    offset = (sum_ii * sum_v - sum_iv * sum_i) / denominator - factor * series.start
    return factor, offset
