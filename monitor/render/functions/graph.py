"""Graph: how a series is drawn (``color``, ``dashed``, ``secondYAxis``, ``stacked``…).

graphite-web keeps these for its PNG renderer; in JSON they leave the values alone and,
for some, rename and tag the series, as here, so dashboards written for a real Graphite
render unchanged. ``stacked`` is the exception: it returns running totals.
"""

from __future__ import annotations

from monitor.render.evaluator import Context, InvalidArgument, SeriesList, function
from monitor.render.series import Value


@function("color", "Graph")
def color(ctx: Context, series_list: SeriesList, theColor: str) -> SeriesList:
    """Draw in ``theColor`` (no change in JSON)."""
    return series_list


@function("alpha", "Graph")
def alpha(ctx: Context, series_list: SeriesList, alpha: float) -> SeriesList:
    """Draw with opacity ``alpha`` (no change in JSON)."""
    return series_list


@function("lineWidth", "Graph")
def line_width(ctx: Context, series_list: SeriesList, width: float) -> SeriesList:
    """Draw ``width`` pixels wide (no change in JSON)."""
    return series_list


@function("dashed", "Graph")
def dashed(ctx: Context, series_list: SeriesList, dashLength: float = 5) -> SeriesList:
    """Draw dashed."""
    for s in series_list:
        s.tags["dashed"] = dashLength
        s.name = f"dashed({s.name}, {dashLength:g})"
    return series_list


@function("secondYAxis", "Graph")
def second_y_axis(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Draw against the right-hand axis."""
    for s in series_list:
        s.tags["secondYAxis"] = 1
        s.name = f"secondYAxis({s.name})"
    return series_list


@function("stacked", "Graph")
def stacked(ctx: Context, series_list: SeriesList, stackName: str = "__DEFAULT__") -> SeriesList:
    """Each series as the running total of the series before it (in this target and in
    earlier targets of the request with the same ``stackName``); nulls stay null."""
    totals = ctx.stacks.setdefault(stackName, [])
    out = []
    for s in series_list:
        values: list[Value] = []
        for i, v in enumerate(s.values):
            if len(totals) <= i:
                totals.append(0)
            if v is None:
                values.append(None)
            else:
                totals[i] += v
                values.append(totals[i])
        name = s.name
        if stackName == "__DEFAULT__":
            s.tags["stacked"] = stackName
            name = f"stacked({s.name})"
        out.append(s.copy(name=name, values=values))
    return out


@function("areaBetween", "Graph")
def area_between(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Shade between exactly two series (lower, then upper): both take the upper's
    tags and one name."""
    if len(series_list) != 2:
        raise InvalidArgument(f"areaBetween(): needs exactly 2 series, got {len(series_list)}")
    lower, upper = series_list
    upper.tags["areaBetween"] = 1
    lower.tags = upper.tags
    lower.name = upper.name = f"areaBetween({upper.path_expression})"
    return series_list
