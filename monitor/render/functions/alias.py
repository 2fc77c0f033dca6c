"""Alias: rename series (``alias``, ``aliasByNode``, ``aliasByMetric``, ``aliasSub``)."""

from __future__ import annotations

import math
from collections.abc import Callable

from monitor.render.evaluator import Context, InvalidArgument, SeriesList, evaluate, function
from monitor.render.functions.filters import NameRegex
from monitor.render.grammar import Call, Path, TargetSyntaxError, parse_target
from monitor.render.series import AGGREGATORS, TimeSeries
from monitor.render.units import SYSTEMS, format_units


def first_path(name: str) -> str | None:
    """The first path expression inside a function-wrapped series name."""
    try:
        node = parse_target(name)
    except TargetSyntaxError:
        return None
    while isinstance(node, Call) and node.args:
        node = node.args[0]
    return node.text if isinstance(node, Path) else None


def node_value(series: TimeSeries, n: int | str, path: str | None) -> str:
    """Node ``n`` of the series' path (negative counts from the end), or tag ``n``."""
    if isinstance(n, int):
        nodes = (path or series.name).split(";", 2)[0].split(".")
        try:
            return nodes[n]
        except IndexError:
            pass
    return str(series.tags.get(str(n), ""))


def node_key(series: TimeSeries, nodes: tuple[int | str, ...]) -> str:
    """graphite's ``aggKey``: the chosen nodes dot-joined, read from the inner path when
    the name is a function call."""
    path = first_path(series.name) if series.name.endswith(")") else None
    return ".".join(node_value(series, n, path) for n in nodes)


@function("alias", "Alias")
def alias(ctx: Context, series_list: SeriesList, newName: str) -> SeriesList:
    """Name every series ``newName``."""
    for s in series_list:
        s.name = newName
    return series_list


@function("aliasByNode", "Alias", aliases=("aliasByTags",))
def alias_by_node(ctx: Context, series_list: SeriesList, *nodes: int | str) -> SeriesList:
    """Name each series by some of its nodes (or tags), dot-joined (``aliasByTags`` is
    the same function, named for tags)."""
    for s in series_list:
        s.name = node_key(s, nodes)
    return series_list


@function("aliasByMetric", "Alias")
def alias_by_metric(ctx: Context, series_list: SeriesList) -> SeriesList:
    """Name each series by its last node, read between the innermost parentheses."""
    for s in series_list:
        right = s.name.find(")")
        inner = s.name[s.name.rfind("(") + 1 : right if right >= 0 else len(s.name)]
        s.name = inner.split(".")[-1].split(",", 1)[0]
    return series_list


@function("aliasSub", "Alias")
def alias_sub(ctx: Context, series_list: SeriesList, search: str, replace: str) -> SeriesList:
    """Rename each series with a regular expression substitution (``\\1`` for groups)."""
    matcher = NameRegex(search, "aliasSub")
    for s in series_list:
        s.name = matcher.sub(replace, s.name)
    return series_list


def _case(
    series_list: SeriesList, positions: tuple[int, ...], change: Callable[[str], str]
) -> SeriesList:
    for s in series_list:
        if not positions:
            s.name = change(s.name)
            continue
        chars = list(s.name)
        for i in positions:
            if -len(chars) <= i < len(chars):
                chars[i] = change(chars[i])
        s.name = "".join(chars)
    return series_list


@function("upper", "Alias")
def upper(ctx: Context, series_list: SeriesList, *pos: int) -> SeriesList:
    """Names in upper case (only the characters at ``pos``, when given)."""
    return _case(series_list, pos, str.upper)


@function("lower", "Alias")
def lower(ctx: Context, series_list: SeriesList, *pos: int) -> SeriesList:
    """Names in lower case (only the characters at ``pos``, when given)."""
    return _case(series_list, pos, str.lower)


@function("substr", "Special")
def substr(ctx: Context, series_list: SeriesList, start: int = 0, stop: int = 0) -> SeriesList:
    """Name each series by nodes ``start`` to ``stop`` of the path inside the innermost
    call (``stop`` 0: to the end)."""
    for s in series_list:
        left = s.name.rfind("(") + 1
        right = s.name.find(")")
        inner = s.name[left : right if right >= 0 else len(s.name) + 1]
        nodes = inner.split(".")
        chosen = nodes[int(start) :] if int(stop) == 0 else nodes[int(start) : int(stop)]
        s.name = ".".join(chosen).split(",", 1)[0]
    return series_list


@function("aliasQuery", "Alias")
def alias_query(
    ctx: Context, series_list: SeriesList, search: str, replace: str, newName: str
) -> SeriesList:
    """Name each series after the last value of another: the target made by replacing
    ``search`` with ``replace`` in its name, formatted into ``newName`` (``%d``, ``%s``)."""
    matcher = NameRegex(search, "aliasQuery")
    for s in series_list:
        query = matcher.sub(replace, s.name)
        found = evaluate(parse_target(query), ctx)
        if not found:
            raise InvalidArgument(f"aliasQuery(): no series found with query: {query}")
        current = next((v for v in reversed(found[0].values) if v is not None), None)
        if current is None:
            raise InvalidArgument(f"aliasQuery(): cannot get last value of series: {query}")
        try:
            s.name = newName % current
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"aliasQuery(): cannot format {newName!r}: {exc}") from None
    return series_list


@function("legendValue", "Alias")
def legend_value(ctx: Context, series_list: SeriesList, *valueTypes: str) -> SeriesList:
    """Each series' name followed by aggregates of it (``'avg'``, ``'max'``, ``'last'``…;
    a last ``'si'`` or ``'binary'`` formats them with unit prefixes in columns)."""
    system = None
    if valueTypes and valueTypes[-1] in ("si", "binary"):
        system, valueTypes = valueTypes[-1], valueTypes[:-1]
    for kind in valueTypes:
        combine = AGGREGATORS.get(kind)
        for s in series_list:
            value = combine(s.values) if combine else "(?)"
            if system is None:
                s.name += f" ({kind}: {value})"
                continue
            if isinstance(value, str) or value is None:
                shown = str(value)
            else:
                scaled, prefix = format_units(value, system)
                shown = f"{scaled:.2f}{prefix}"
            s.name = f"{s.name:<20}{kind:<5}{shown:<10}"
    return series_list


def _whole(value: float | None) -> float:
    """What graphite-web measures a ``cactiStyle`` column with: the value made whole (3
    for none), an infinite or NaN one as it is (graphite-web fails on it)."""
    value = value or 3
    return int(value) if math.isfinite(value) else value


@function("cactiStyle", "Special")
def cacti_style(
    ctx: Context, series_list: SeriesList, system: str | None = None, units: str | None = None
) -> SeriesList:
    """Names as aligned legend rows: ``name Current:… Max:… Min:…`` (values with unit
    prefixes for ``system`` 'si' or 'binary', followed by ``units``)."""
    if system and system not in SYSTEMS:  # graphite-web: a KeyError
        known = ", ".join(SYSTEMS)
        raise InvalidArgument(f"cactiStyle(): unknown system {system!r}; use one of {known}")
    if not series_list:
        return series_list

    def fmt(x: float) -> str:
        if system:
            scaled, prefix = format_units(x, system, units)
            return f"{scaled:.2f} {prefix}" if units else f"{scaled:.2f}{prefix}"
        return f"{x:.2f} {units}" if units else f"{x:.2f}"

    stats = [
        (
            next((v for v in reversed(s.values) if v is not None), None),
            max((v for v in s.values if v is not None), default=None),
            min((v for v in s.values if v is not None), default=None),
        )
        for s in series_list
    ]
    name_width = max(len(s.name) for s in series_list)
    widths = [max(len(fmt(_whole(row[k]))) for row in stats) + 3 for k in range(3)]
    for s, row in zip(series_list, stats, strict=True):
        shown = ["nan" if v is None else fmt(float(v)) for v in row]
        current, top, bottom = shown
        s.name = (
            f"{s.name:<{name_width}} Current:{current:<{widths[0]}} Max:{top:<{widths[1]}}"
            f" Min:{bottom:<{widths[2]}} "
        )
    return series_list
