"""Graphite's read API as plain functions: a request's parameters in, an answer out.

Everything here costs what the requester asks for (a render over every series, a glob
over the whole tree, tag expressions over every tagged name), so the web server never
runs it on its event loop: it sends the request's kind and parameters to a render
worker (``monitor/web/render_pool.py``), which calls ``answer`` and sends the bytes
back. The answers are graphite-web 1.1.10's; where graphite-web is vague we are
precise: a malformed target, an unknown function, a wrong argument, a bad time or a
request over a ``[render]`` limit is a 400 with a JSON body ``{"error": …}`` (and
``target`` and ``position`` for syntax errors), never a traceback and never a silent
``[]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.render import cluster_format, tags
from monitor.render import functions as _functions  # noqa: F401  (registers them)
from monitor.render.attime import TimeSyntaxError, parse_time
from monitor.render.evaluator import Context, EventSource, Finder, RenderError, evaluate_targets
from monitor.render.grammar import TargetSyntaxError
from monitor.render.limits import Budget, LimitExceeded, RenderSettings
from monitor.render.output import TooLarge, to_csv, to_json, to_raw

__all__ = ["KINDS", "Answer", "Backend", "Params", "answer", "error", "jsonp", "request_timezone"]


@dataclass(frozen=True)
class Answer:
    """What to send: an HTTP status, a content type and the body."""

    status: int
    content_type: str
    #: Text, or its UTF-8 bytes (as workers send it: encoded off the event loop).
    body: str | bytes


class Params:
    """A request's parameters (query and form), in order, a key possibly repeated."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key``."""
        return next((v for k, v in self.pairs if k == key), default)

    def text(self, key: str, default: str = "") -> str:
        """The first value of ``key``, or ``default``."""
        value = self.get(key)
        return default if value is None else value

    def all(self, key: str) -> list[str]:
        """Every value of ``key``, or of ``key[]`` (the form jQuery and PHP send)."""
        return [v for k, v in self.pairs if k == key] or [
            v for k, v in self.pairs if k == key + "[]"
        ]

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.pairs)


class Store(Finder, Protocol):
    """What the answers read: the finder, plus the two questions only the API asks."""

    def interval(self, path: str) -> tuple[float, float]:
        """The span a leaf holds data for (``/metrics/find?format=json``)."""

    def names(self) -> list[str]:
        """Every untagged series name (``/metrics/index.json``)."""


@dataclass(frozen=True)
class Backend:
    """Where answers come from, and the limits they keep to."""

    store: Store
    events: EventSource | None
    timezone: tzinfo
    settings: RenderSettings
    #: Whether ``jsonp=`` is answered (``graphite.jsonp``).
    jsonp: bool = False


def error(message: str, status: int = 400, **extra: Any) -> Answer:
    """A JSON error answer."""
    return Answer(status, "application/json", json.dumps({"error": message, **extra}))


#: A JSONP callback: a JavaScript name, dotted at most (``cb``, ``jQuery123_456``,
#: ``app.graphs.draw``); anything else would let a URL inject script into the answer.
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")


def jsonp(params: Params, body: str, allowed: bool) -> Answer:
    """``body`` as JSON, or wrapped in the ``jsonp`` callback when one is asked for (and
    ``allowed``: JSONP lets any web page read the answer)."""
    callback = params.get("jsonp")
    if callback:
        if not allowed:
            return error(
                "jsonp is turned off: with it, any web page could read this stack's data"
                " (set graphite.jsonp = true to turn it on)"
            )
        if len(callback) > 100 or not _CALLBACK.fullmatch(callback):
            return error(f"jsonp: {callback[:100]!r} is not a JavaScript function name")
        return Answer(200, "text/javascript", f"{callback}({body})")
    return Answer(200, "application/json", body)


def answer(kind: str, params: Params, backend: Backend, arg: str = "") -> Answer:
    """The answer to one request of ``kind`` (a key of ``KINDS``); ``arg`` is the part
    of the URL path some routes take (the tag of ``/tags/<tag>``)."""
    try:
        return KINDS[kind](params, backend, arg)
    except LimitExceeded as exc:
        return error(str(exc))
    except TargetSyntaxError as exc:
        return error(f"bad target: {exc}", target=exc.target, position=exc.position)
    except (RenderError, tags.TagError) as exc:
        return error(str(exc))


# -- render -------------------------------------------------------------------------


def request_timezone(params: Params, default: tzinfo) -> tzinfo:
    """The ``tz`` parameter's zone, or ``default``."""
    name = params.get("tz")
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default  # graphite-web ignores an unknown timezone


def _time_range(params: Params, tz: tzinfo) -> tuple[int, int, int]:
    now = datetime.now(tz)
    if "now" in params:
        now = parse_time(params.text("now"), tz, now)
    until = parse_time(params.text("until"), tz, now) if params.get("until") else now
    start = parse_time(params.get("from") or "-1d", tz, now)
    first, last = sorted((start, until))
    if first == last:
        raise TimeSyntaxError("Invalid empty time range")
    return int(first.timestamp()), int(last.timestamp()), int(now.timestamp())


def _check_targets(targets: list[str], settings: RenderSettings, what: str = "targets") -> None:
    if len(targets) > settings.max_targets:
        raise LimitExceeded(f"too many {what} in one request", settings.max_targets, "max_targets")
    for target in targets:
        if len(target) > settings.max_target_length:
            raise LimitExceeded(
                f"a target of {len(target):,} characters is too long",
                settings.max_target_length,
                "max_target_length",
            )


def _too_large(settings: RenderSettings) -> LimitExceeded:
    return LimitExceeded(
        "the answer is too large",
        settings.max_output_bytes,
        "max_output_bytes",
        "ask for fewer series, a shorter range, or set maxDataPoints",
        " bytes",
    )


def _bounded(text: str, settings: RenderSettings) -> str:
    if len(text) > settings.max_output_bytes:
        raise _too_large(settings)
    return text


def _render(params: Params, backend: Backend, _arg: str) -> Answer:
    targets = params.all("target")
    _check_targets(targets, backend.settings)
    tz = request_timezone(params, backend.timezone)
    fmt = params.text("format", "json")
    if fmt not in ("json", "csv", "raw", *cluster_format.CONTENT_TYPES):
        return error(f"format={fmt} is not supported here; use json, csv, raw, pickle or msgpack")
    max_points = params.text("maxDataPoints")
    if max_points and (not max_points.isdigit() or int(max_points) < 1):
        return error(f"maxDataPoints must be a whole number of 1 or more, not {max_points!r}")
    try:
        start, end, now = _time_range(params, tz)
        xff = float(params.text("xFilesFactor", "0"))
    except (TimeSyntaxError, ValueError) as exc:
        return error(f"Invalid parameters ({exc})")
    template = {k[len("template[") : -1]: v for k, v in params.pairs if k.startswith("template[")}
    budget = Budget.of(backend.settings)
    ctx = Context(
        start, end, now, tz, backend.store, backend.events, xff, template=template, budget=budget
    )
    series = evaluate_targets(targets, ctx)
    limit = backend.settings.max_output_bytes
    try:
        if fmt == "csv":
            return Answer(200, "text/csv", to_csv(series, tz, limit))
        if fmt == "raw":
            return Answer(200, "text/plain", to_raw(series, limit))
        if fmt in cluster_format.CONTENT_TYPES:  # a graphite-web front end's RemoteReader
            packed = cluster_format.dumps(cluster_format.series_info(series), fmt)
            if len(packed) > limit:
                raise TooLarge(limit)
            return Answer(200, cluster_format.CONTENT_TYPES[fmt], packed)
        body = to_json(
            series,
            int(max_points) if max_points else None,
            "noNullPoints" in params,
            bool(params.get("pretty")),
            limit,
        )
    except TooLarge:
        raise _too_large(backend.settings) from None
    return jsonp(params, body, backend.jsonp)


# -- finding series -------------------------------------------------------------------


def _find(params: Params, backend: Backend, _arg: str) -> Answer:
    query = params.text("query")
    if not query:
        return error("Missing required parameter 'query'")
    _check_targets([query], backend.settings, "queries")
    fmt = params.text("format", "treejson")
    wildcards = params.get("wildcards") in ("1", "true")
    if fmt == "completer":
        query = query.replace("..", "*.")
        query = query if query.endswith("*") else query + "*"
    if fmt not in ("treejson", "completer", "nodelist", "json", *cluster_format.CONTENT_TYPES):
        return error(f"Invalid value for 'format': {fmt}")
    nodes = backend.store.find(query)
    Budget.of(backend.settings).read(len(nodes), 0)
    nodes.sort(key=lambda node: node[0].rsplit(".", 1)[-1])  # by name, as graphite-web
    out: Any
    if fmt == "treejson":
        out = _tree_json(query, nodes, wildcards)
    elif fmt == "completer":
        metrics: list[dict[str, str]] = [
            {
                "path": path if leaf else path + ".",
                "name": path.rsplit(".", 1)[-1],
                "is_leaf": "1" if leaf else "0",
            }
            for path, leaf in nodes
        ]
        if len(metrics) > 1 and wildcards:
            metrics.append({"name": "*"})
        out = {"metrics": metrics}
    elif fmt in cluster_format.CONTENT_TYPES:  # a graphite-web front end's RemoteFinder
        info = [
            cluster_format.node_info(path, leaf, backend.store.interval(path) if leaf else None)
            for path, leaf in nodes
        ]
        body = cluster_format.dumps(info, fmt)
        if len(body) > backend.settings.max_output_bytes:
            raise _too_large(backend.settings)
        return Answer(200, cluster_format.CONTENT_TYPES[fmt], body)
    elif fmt == "nodelist":
        position = params.text("position", "-1")
        if not position.lstrip("-").isdigit():
            return error(f"position must be a whole number, not {position!r}")
        index = int(position)
        out = {"nodes": sorted({p.split(".")[index] for p, _ in nodes if _has(p, index)})}
    else:
        out = _find_json(backend.store, nodes)
    return jsonp(params, _bounded(json.dumps(out), backend.settings), backend.jsonp)


def _has(path: str, index: int) -> bool:
    count = path.count(".") + 1
    return -count <= index < count


def _find_json(store: Store, nodes: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """``format=json``: path and leaf flag, and for leaves the span they hold data for."""
    out: list[dict[str, Any]] = []
    for path, leaf in sorted(nodes):
        entry: dict[str, Any] = {"path": path, "is_leaf": leaf}
        if leaf:
            start, end = store.interval(path)
            entry["intervals"] = [{"start": start, "end": end}]
        out.append(entry)
    return out


def _tree_json(query: str, nodes: list[tuple[str, bool]], wildcards: bool) -> list[dict[str, Any]]:
    """graphite-web's tree: ids are the query's base path plus each name, names are
    listed once, branches before leaves, and an optional ``*`` entry first."""
    base = query.rsplit(".", 1)[0] + "." if "." in query else ""
    out = []
    if len(nodes) > 1 and wildcards:
        out.append(_tree_node(base + "*", all(leaf for _, leaf in nodes), "*"))
    seen: set[str] = set()
    branches: list[dict[str, Any]] = []
    leaves: list[dict[str, Any]] = []
    for path, leaf in nodes:
        name = path.rsplit(".", 1)[-1]
        if name in seen:
            continue
        seen.add(name)
        (leaves if leaf else branches).append(_tree_node(base + name, leaf, name))
    return out + branches + leaves


def _tree_node(node_id: str, leaf: bool, text: str) -> dict[str, Any]:
    return {
        "text": text,
        "id": node_id,
        "allowChildren": 0 if leaf else 1,
        "expandable": 0 if leaf else 1,
        "leaf": 1 if leaf else 0,
    }


def _expand(params: Params, backend: Backend, _arg: str) -> Answer:
    queries = params.all("query")
    _check_targets(queries, backend.settings, "queries")
    leaves_only = params.get("leavesOnly") in ("1", "true")
    budget = Budget.of(backend.settings)
    results: set[str] = set()
    for query in queries:
        found = backend.store.find(query)
        budget.read(len(found), 0)
        results.update(path for path, leaf in found if leaf or not leaves_only)
    return jsonp(
        params, _bounded(json.dumps({"results": sorted(results)}), backend.settings), backend.jsonp
    )


def _index(params: Params, backend: Backend, _arg: str) -> Answer:
    return jsonp(
        params, _bounded(json.dumps(backend.store.names()), backend.settings), backend.jsonp
    )


# -- tags: the store's tagged series are the index (see monitor/render/tags.py) -------


def _limit(params: Params, default: int | None) -> int | None:
    text = params.get("limit")
    return int(text) if text and text.isdigit() else default


def _expressions(params: Params, backend: Backend) -> list[str]:
    expressions = params.all("expr")
    _check_targets(expressions, backend.settings, "tag expressions")
    return expressions


def _find_series(params: Params, backend: Backend, _arg: str) -> Answer:
    expressions = _expressions(params, backend)
    if not expressions:
        return error("no tag expressions specified")
    found = tags.find(backend.store.tagged(), expressions)
    return jsonp(params, _bounded(json.dumps(found), backend.settings), backend.jsonp)


def _complete_tags(params: Params, backend: Backend, _arg: str) -> Answer:
    found = tags.auto_complete_tags(
        backend.store.tagged(),
        _expressions(params, backend),
        params.text("tagPrefix"),
        _limit(params, 100) or 100,
    )
    return jsonp(params, json.dumps(found), backend.jsonp)


def _complete_values(params: Params, backend: Backend, _arg: str) -> Answer:
    tag = params.get("tag")
    if not tag:
        return error("no tag specified")
    found = tags.auto_complete_values(
        backend.store.tagged(),
        _expressions(params, backend),
        tag,
        params.text("valuePrefix"),
        _limit(params, 100) or 100,
    )
    return jsonp(params, json.dumps(found), backend.jsonp)


def _list_tags(params: Params, backend: Backend, _arg: str) -> Answer:
    wanted = tags.name_filter(params.get("filter"))
    names = [t for t in sorted(tags.tag_counts(backend.store.tagged())) if tags.passes(wanted, t)]
    listed = [{"tag": t} for t in names[: _limit(params, None)]]
    return jsonp(params, _bounded(json.dumps(listed), backend.settings), backend.jsonp)


def _tag_details(params: Params, backend: Backend, tag: str) -> Answer:
    wanted = tags.name_filter(params.get("filter"))
    counts = tags.tag_counts(backend.store.tagged()).get(tag)
    if counts is None:
        return jsonp(params, "null", backend.jsonp)
    values = [{"value": v, "count": n} for v, n in sorted(counts.items()) if tags.passes(wanted, v)]
    body = json.dumps({"tag": tag, "values": values[: _limit(params, None)]})
    return jsonp(params, _bounded(body, backend.settings), backend.jsonp)


#: Every kind of request a render worker answers, by name.
KINDS: Mapping[str, Callable[[Params, Backend, str], Answer]] = {
    "render": _render,
    "find": _find,
    "expand": _expand,
    "index": _index,
    "find_series": _find_series,
    "complete_tags": _complete_tags,
    "complete_values": _complete_values,
    "list_tags": _list_tags,
    "tag_details": _tag_details,
}
