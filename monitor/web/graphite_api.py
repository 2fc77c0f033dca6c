"""Graphite's HTTP API, answering as graphite-web 1.1.10: render, find, tags, events,
version.

Routes: ``/render`` (GET and form POST), ``/metrics/find``, ``/metrics/expand``,
``/metrics/index.json``, ``/tags`` (list, details, ``findSeries``, ``autoComplete``,
``tagSeries``), ``/functions`` (the catalogue Grafana reads), ``POST /events/``,
``/events/get_data``, ``/version/``.

Where graphite-web is vague we are precise: a malformed target, an unknown function, a
wrong argument or a bad time answers HTTP 400 with a JSON body ``{"error": …}`` (and
``target`` and ``position`` for syntax errors), never a traceback and never a silent
``[]``. Image formats (png, svg, pdf) are not rendered here: draw with the dashboards
or ask for ``format=json``; without ``format`` the answer is JSON.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from monitor.render import functions as _functions  # noqa: F401  (registers them)
from monitor.render import tags
from monitor.render.attime import TimeSyntaxError, parse_time
from monitor.render.catalog import catalogue, describe
from monitor.render.evaluator import FUNCTIONS, Context, RenderError, evaluate_targets
from monitor.render.grammar import TargetSyntaxError
from monitor.render.output import to_csv, to_json, to_raw
from monitor.store.events import Event, EventStore
from monitor.store.finder import StoreEvents, StoreFinder

__all__ = ["GRAPHITE", "Graphite", "add_routes"]

VERSION = "1.1.10"


@dataclass(frozen=True)
class Graphite:
    """What the API serves from: the store's finder and the event store."""

    finder: StoreFinder
    events: EventStore
    timezone: tzinfo = UTC
    #: Called with each event accepted by ``POST /events/`` (``monitor up`` turns
    #: deploys into supergrep banners here).
    on_event: Callable[[Event], None] | None = None


GRAPHITE: web.AppKey[Graphite] = web.AppKey("graphite")


def add_routes(app: web.Application, graphite: Graphite) -> None:
    """Mount the Graphite API on ``app``."""
    app[GRAPHITE] = graphite
    app.router.add_route("GET", "/render", _render)
    app.router.add_route("POST", "/render", _render)
    app.router.add_route("GET", "/render/", _render)
    app.router.add_route("POST", "/render/", _render)
    for path in ("/metrics/find", "/metrics/find/", "/metrics"):
        app.router.add_route("GET", path, _find)
        app.router.add_route("POST", path, _find)
    app.router.add_get("/metrics/expand", _expand)
    app.router.add_get("/metrics/index.json", _index)
    app.router.add_post("/events/", _post_event)
    app.router.add_post("/events", _post_event)
    app.router.add_get("/events/get_data", _get_events)
    app.router.add_get("/version/", _version)
    app.router.add_get("/version", _version)
    for path, handler in (
        ("/tags/findSeries", _find_series),
        ("/tags/autoComplete/tags", _complete_tags),
        ("/tags/autoComplete/values", _complete_values),
    ):
        app.router.add_route("GET", path, handler)
        app.router.add_route("POST", path, handler)
    app.router.add_post("/tags/tagSeries", _tag_series)
    app.router.add_post("/tags/tagMultiSeries", _tag_series)
    app.router.add_post("/tags/delSeries", _del_series)
    app.router.add_get("/functions", _functions_list)
    app.router.add_get("/functions/", _functions_list)
    app.router.add_get("/functions/{name}", _function_details)
    app.router.add_get("/tags", _list_tags)
    app.router.add_get("/tags/", _list_tags)
    app.router.add_get("/tags/{tag}", _tag_details)


def _error(message: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def _params(request: web.Request) -> MultiDictProxy[str]:
    merged: MultiDict[str] = MultiDict(request.query)
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        for key, value in (await request.post()).items():
            if isinstance(value, str):
                merged.add(key, value)
    return MultiDictProxy(merged)


def _timezone(params: Mapping[str, str], default: tzinfo) -> tzinfo:
    name = params.get("tz")
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default  # graphite-web ignores an unknown timezone


def _time_range(params: Mapping[str, str], tz: tzinfo) -> tuple[int, int, int]:
    now = datetime.now(tz)
    if "now" in params:
        now = parse_time(params["now"], tz, now)
    until = parse_time(params["until"], tz, now) if params.get("until") else now
    start = parse_time(params.get("from") or "-1d", tz, now)
    first, last = sorted((start, until))
    if first == last:
        raise TimeSyntaxError("Invalid empty time range")
    return int(first.timestamp()), int(last.timestamp()), int(now.timestamp())


async def _render(request: web.Request) -> web.StreamResponse:
    graphite = request.app[GRAPHITE]
    params = await _params(request)
    targets = params.getall("target", []) or params.getall("target[]", [])
    tz = _timezone(params, graphite.timezone)
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv", "raw"):
        return _error(f"format={fmt} is not supported here; use json, csv or raw")
    max_points = params.get("maxDataPoints", "")
    if max_points and (not max_points.isdigit() or int(max_points) < 1):
        return _error(f"maxDataPoints must be a whole number of 1 or more, not {max_points!r}")
    try:
        start, end, now = _time_range(params, tz)
        xff = float(params.get("xFilesFactor", "0"))
    except (TimeSyntaxError, ValueError) as exc:
        return _error(f"Invalid parameters ({exc})")
    template = {k[len("template[") : -1]: v for k, v in params.items() if k.startswith("template[")}
    ctx = Context(
        start, end, now, tz, graphite.finder, StoreEvents(graphite.events), xff, template=template
    )
    try:
        series = await asyncio.to_thread(evaluate_targets, targets, ctx)
    except TargetSyntaxError as exc:
        return _error(f"bad target: {exc}", target=exc.target, position=exc.position)
    except RenderError as exc:
        return _error(str(exc))
    if fmt == "csv":
        return web.Response(text=to_csv(series, tz), content_type="text/csv")
    if fmt == "raw":
        return web.Response(text=to_raw(series), content_type="text/plain")
    body = to_json(
        series,
        int(max_points) if max_points else None,
        "noNullPoints" in params,
        bool(params.get("pretty")),
    )
    return _maybe_jsonp(params, body)


#: A JSONP callback: a JavaScript name, dotted at most (``cb``, ``jQuery123_456``,
#: ``app.graphs.draw``); anything else would let a URL inject script into the answer.
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")


def _maybe_jsonp(params: Mapping[str, str], body: str) -> web.Response:
    callback = params.get("jsonp")
    if callback:
        if len(callback) > 100 or not _CALLBACK.fullmatch(callback):
            return _error(f"jsonp: {callback[:100]!r} is not a JavaScript function name")
        return web.Response(text=f"{callback}({body})", content_type="text/javascript")
    return web.Response(text=body, content_type="application/json")


async def _find(request: web.Request) -> web.Response:
    graphite = request.app[GRAPHITE]
    params = await _params(request)
    query = params.get("query", "")
    if not query:
        return _error("Missing required parameter 'query'")
    fmt = params.get("format", "treejson")
    wildcards = params.get("wildcards") in ("1", "true")
    if fmt == "completer":
        query = query.replace("..", "*.")
        query = query if query.endswith("*") else query + "*"
    nodes = await asyncio.to_thread(graphite.finder.find, query)
    nodes.sort(key=lambda node: node[0].rsplit(".", 1)[-1])  # by name, as graphite-web
    if fmt == "treejson":
        return _maybe_jsonp(params, json.dumps(_tree_json(query, nodes, wildcards)))
    if fmt == "completer":
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
        return _maybe_jsonp(params, json.dumps({"metrics": metrics}))
    if fmt == "nodelist":
        position = int(params.get("position", "-1"))
        names = sorted({path.split(".")[position] for path, _ in nodes})
        return _maybe_jsonp(params, json.dumps({"nodes": names}))
    if fmt == "json":
        out = await asyncio.to_thread(_find_json, graphite.finder, nodes)
        return _maybe_jsonp(params, json.dumps(out))
    return _error(f"Invalid value for 'format': {fmt}")


def _find_json(finder: StoreFinder, nodes: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """``format=json``: path and leaf flag, and for leaves the span they hold data for."""
    out: list[dict[str, Any]] = []
    for path, leaf in sorted(nodes):
        entry: dict[str, Any] = {"path": path, "is_leaf": leaf}
        if leaf:
            start, end = finder.interval(path)
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


async def _expand(request: web.Request) -> web.Response:
    graphite = request.app[GRAPHITE]
    params = await _params(request)
    leaves_only = params.get("leavesOnly") in ("1", "true")
    results: set[str] = set()
    for query in params.getall("query", []):
        for path, leaf in await asyncio.to_thread(graphite.finder.find, query):
            if leaf or not leaves_only:
                results.add(path)
    return _maybe_jsonp(params, json.dumps({"results": sorted(results)}))


async def _index(request: web.Request) -> web.Response:
    graphite = request.app[GRAPHITE]
    names = await asyncio.to_thread(lambda: list(graphite.finder.store.walk()))
    return _maybe_jsonp(request.query, json.dumps(names))


async def _post_event(request: web.Request) -> web.Response:
    graphite = request.app[GRAPHITE]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error("request body must be a JSON object")
    if not isinstance(body, dict):
        return _error("request body must be a JSON object")
    tags = body.get("tags", [])
    if isinstance(tags, str):
        tags = tags.split()
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return _error('"tags" must be an array or space-separated string')
    what = body.get("what")
    if not isinstance(what, str) or not what:
        return _error('"what" must be a non-empty string')
    when = body.get("when", time.time())
    if (
        not isinstance(when, int | float)
        or isinstance(when, bool)
        or not 0 <= when < 2**32  # NaN and the infinities fail this too
    ):
        return _error('"when" must be a number of seconds since the epoch (0 to 2^32)')
    data = body.get("data", "")
    data = data if isinstance(data, str) else json.dumps(data)
    event = await asyncio.to_thread(graphite.events.add, float(when), what, tags, data)
    if graphite.on_event is not None:
        graphite.on_event(event)
    return web.Response(status=200, text="")


async def _get_events(request: web.Request) -> web.Response:
    graphite = request.app[GRAPHITE]
    params = request.query
    tz = _timezone(params, graphite.timezone)
    now = datetime.now(tz)
    try:
        start = parse_time(params["from"], tz, now).timestamp() if params.get("from") else 0
        end = parse_time(params.get("until") or "now", tz, now).timestamp()
    except TimeSyntaxError as exc:
        return _error(f"Invalid parameters ({exc})")
    tags = params.get("tags", "").split() or None
    union = params.get("set") == "union"
    found = await asyncio.to_thread(graphite.events.query, start, end, tags, union)
    return _maybe_jsonp(params, json.dumps([e.to_json() for e in found]))


async def _version(request: web.Request) -> web.Response:
    return web.Response(text=VERSION + "\n")


# -- tags: the store's tagged series are the index (see monitor/render/tags.py) -------


def _list(params: MultiDictProxy[str], key: str) -> list[str]:
    """``key=a&key=b``, or the ``key[]=…`` form jQuery and PHP send."""
    return params.getall(key, []) or params.getall(key + "[]", [])


def _limit(params: Mapping[str, str], default: int | None) -> int | None:
    text = params.get("limit")
    return int(text) if text and text.isdigit() else default


async def _tagged(request: web.Request) -> list[str]:
    return await asyncio.to_thread(request.app[GRAPHITE].finder.tagged)


async def _find_series(request: web.Request) -> web.Response:
    params = await _params(request)
    expressions = _list(params, "expr")
    if not expressions:
        return _error("no tag expressions specified")
    try:
        found = tags.find(await _tagged(request), expressions)
    except tags.TagError as exc:
        return _error(str(exc))
    return _maybe_jsonp(params, json.dumps(found))


async def _complete_tags(request: web.Request) -> web.Response:
    params = await _params(request)
    try:
        found = tags.auto_complete_tags(
            await _tagged(request),
            _list(params, "expr"),
            params.get("tagPrefix", ""),
            _limit(params, 100) or 100,
        )
    except tags.TagError as exc:
        return _error(str(exc))
    return _maybe_jsonp(params, json.dumps(found))


async def _complete_values(request: web.Request) -> web.Response:
    params = await _params(request)
    tag = params.get("tag")
    if not tag:
        return _error("no tag specified")
    try:
        found = tags.auto_complete_values(
            await _tagged(request),
            _list(params, "expr"),
            tag,
            params.get("valuePrefix", ""),
            _limit(params, 100) or 100,
        )
    except tags.TagError as exc:
        return _error(str(exc))
    return _maybe_jsonp(params, json.dumps(found))


async def _list_tags(request: web.Request) -> web.Response:
    params = request.query
    try:
        wanted = tags.name_filter(params.get("filter"))
        names = [
            t for t in sorted(tags.tag_counts(await _tagged(request))) if tags.passes(wanted, t)
        ]
    except tags.TagError as exc:
        return _error(str(exc))
    return _maybe_jsonp(params, json.dumps([{"tag": t} for t in names[: _limit(params, None)]]))


async def _tag_details(request: web.Request) -> web.Response:
    params, tag = request.query, request.match_info["tag"]
    try:
        wanted = tags.name_filter(params.get("filter"))
        counts = tags.tag_counts(await _tagged(request)).get(tag)
        values = [
            {"value": v, "count": n}
            for v, n in sorted((counts or {}).items())
            if tags.passes(wanted, v)
        ]
    except tags.TagError as exc:
        return _error(str(exc))
    if counts is None:
        return _maybe_jsonp(params, "null")
    return _maybe_jsonp(params, json.dumps({"tag": tag, "values": values[: _limit(params, None)]}))


async def _tag_series(request: web.Request) -> web.Response:
    """``tagSeries``/``tagMultiSeries``: answer each path's canonical form. Nothing needs
    registering: a tagged series is indexed as soon as points for it are stored."""
    params = await _params(request)
    paths = _list(params, "path")
    if not paths:
        return _error("no path specified")
    try:
        canonical = [tags.format_tags(tags.parse_name(p)) for p in paths]
    except tags.TagError as exc:
        return _error(str(exc))
    multi = request.path.endswith("tagMultiSeries")
    return _maybe_jsonp(params, json.dumps(canonical if multi else canonical[0]))


async def _del_series(request: web.Request) -> web.Response:
    return _error(
        "delSeries is not supported: the tag index is the store's files; a series leaves"
        " it when its whisper file under _tagged/ is deleted",
        status=501,
    )


# -- functions: the catalogue (monitor/render/catalog.py) ---------------------------


def _catalogue_json(value: object) -> str:
    # graphite-web's encoder writes an infinite default (keepLastValue's limit) as 1e9999
    text = json.dumps(value)
    return text.replace("Infinity,", "1e9999,").replace("Infinity}", "1e9999}")


async def _functions_list(request: web.Request) -> web.Response:
    params = request.query
    if params.get("type") == "pie":  # no pie-chart functions: graphs are drawn in the page
        return _maybe_jsonp(params, "{}")
    grouped = params.get("grouped", "").lower() in ("1", "true")
    listed = catalogue(params.get("group"), grouped)
    return _maybe_jsonp(params, _catalogue_json(listed))


async def _function_details(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FUNCTIONS or request.query.get("type") == "pie":
        return _error(f"Function not found: {name}", status=404)
    return _maybe_jsonp(request.query, _catalogue_json(describe(FUNCTIONS[name])))
