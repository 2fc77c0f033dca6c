"""Alias: rename series (``alias``, ``aliasByNode``, ``aliasByMetric``, ``aliasSub``)."""

from __future__ import annotations

from monitor.render.evaluator import Context, SeriesList, function
from monitor.render.functions.filters import NameRegex
from monitor.render.grammar import Call, Path, TargetSyntaxError, parse_target
from monitor.render.series import TimeSeries


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
