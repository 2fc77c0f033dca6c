"""Graphite's HTTP API, answering as graphite-web 1.1.10: render, find, tags, events,
version.

Routes: ``/render`` (GET and form POST), ``/metrics/find``, ``/metrics/expand``,
``/metrics/index.json``, ``/tags`` (list, details, ``findSeries``, ``autoComplete``,
``tagSeries``), ``/functions`` (the catalogue Grafana reads), ``POST /events/``,
``/events/get_data``, ``/version/``.

Reads whose cost the requester chooses (render, find, expand, the index, tag queries)
are answered by the render workers (``render_pool.py``, ``monitor/render/api.py``):
this module only turns HTTP into their parameters and their answers into HTTP. Where
graphite-web is vague we are precise: a malformed target, an unknown function, a
wrong argument, a bad time or a request over a ``[render]`` limit answers HTTP 400
with a JSON body ``{"error": …}``, never a traceback and never a silent ``[]``. Image
formats (png, svg, pdf) are not rendered here: draw with the dashboards or ask for
``format=json``; without ``format`` the answer is JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from monitor.render import tags
from monitor.render.api import Answer, Params, jsonp, request_timezone
from monitor.render.attime import TimeSyntaxError, parse_time
from monitor.render.catalog import catalogue, describe
from monitor.render.evaluator import FUNCTIONS
from monitor.store.events import Event, EventStore
from monitor.web.render_pool import RenderPool

__all__ = ["GRAPHITE", "Graphite", "add_routes"]

VERSION = "1.1.10"


@dataclass(frozen=True)
class Graphite:
    """What the API serves from: the render workers and the event store."""

    pool: RenderPool
    events: EventStore
    timezone: tzinfo = UTC
    #: Called with each event accepted by ``POST /events/`` (``monitor up`` turns
    #: deploys into supergrep banners here).
    on_event: Callable[[Event], None] | None = None
    #: Whether ``jsonp=`` is answered (``graphite.jsonp``; the workers know it too).
    jsonp: bool = False


GRAPHITE: web.AppKey[Graphite] = web.AppKey("graphite")


def add_routes(app: web.Application, graphite: Graphite) -> None:
    """Mount the Graphite API on ``app``."""
    app[GRAPHITE] = graphite
    for path in ("/render", "/render/"):
        app.router.add_route("GET", path, _asks("render"))
        app.router.add_route("POST", path, _asks("render"))
    for path in ("/metrics/find", "/metrics/find/", "/metrics"):
        app.router.add_route("GET", path, _asks("find"))
        app.router.add_route("POST", path, _asks("find"))
    app.router.add_get("/metrics/expand", _asks("expand"))
    app.router.add_get("/metrics/index.json", _asks("index"))
    app.router.add_post("/events/", _post_event)
    app.router.add_post("/events", _post_event)
    app.router.add_get("/events/get_data", _get_events)
    app.router.add_get("/version/", _version)
    app.router.add_get("/version", _version)
    for path, kind in (
        ("/tags/findSeries", "find_series"),
        ("/tags/autoComplete/tags", "complete_tags"),
        ("/tags/autoComplete/values", "complete_values"),
    ):
        app.router.add_route("GET", path, _asks(kind))
        app.router.add_route("POST", path, _asks(kind))
    app.router.add_post("/tags/tagSeries", _tag_series)
    app.router.add_post("/tags/tagMultiSeries", _tag_series)
    app.router.add_post("/tags/delSeries", _del_series)
    app.router.add_get("/functions", _functions_list)
    app.router.add_get("/functions/", _functions_list)
    app.router.add_get("/functions/{name}", _function_details)
    app.router.add_get("/tags", _asks("list_tags"))
    app.router.add_get("/tags/", _asks("list_tags"))
    app.router.add_get("/tags/{tag}", _asks("tag_details"))


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


def _jsonp(request: web.Request, params: Mapping[str, str], body: str) -> web.Response:
    return _reply(jsonp(Params(params.items()), body, request.app[GRAPHITE].jsonp))


def _reply(answer: Answer) -> web.Response:
    body = answer.body if isinstance(answer.body, bytes) else answer.body.encode()
    # No charset on binary answers: graphite-web compares the whole header with
    # "application/x-msgpack" to choose how to read a member's answer.
    text = answer.content_type.startswith("text/") or answer.content_type.endswith("json")
    return web.Response(
        body=body,
        status=answer.status,
        content_type=answer.content_type,
        charset="utf-8" if text else None,
    )


def _asks(kind: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler that has the render workers answer requests of ``kind``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        pool = request.app[GRAPHITE].pool
        arg = request.match_info.get("tag", "")
        return _reply(await pool.ask(kind, list(params.items()), arg))

    return handler


async def _post_event(request: web.Request) -> web.Response:
    graphite = request.app[GRAPHITE]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return _error("request body must be a JSON object (nested at most 1,000 deep)")
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
    tz = request_timezone(Params(params.items()), graphite.timezone)
    now = datetime.now(tz)
    try:
        start = parse_time(params["from"], tz, now).timestamp() if params.get("from") else 0
        end = parse_time(params.get("until") or "now", tz, now).timestamp()
    except TimeSyntaxError as exc:
        return _error(f"Invalid parameters ({exc})")
    tags = params.get("tags", "").split() or None
    union = params.get("set") == "union"
    found = await asyncio.to_thread(graphite.events.query, start, end, tags, union)
    return _jsonp(request, params, json.dumps([e.to_json() for e in found]))


async def _version(request: web.Request) -> web.Response:
    return web.Response(text=VERSION + "\n")


# -- tags: answered by the workers, but for these two ---------------------------------


def _list(params: MultiDictProxy[str], key: str) -> list[str]:
    """``key=a&key=b``, or the ``key[]=…`` form jQuery and PHP send."""
    return params.getall(key, []) or params.getall(key + "[]", [])


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
    return _jsonp(request, params, json.dumps(canonical if multi else canonical[0]))


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
        return _jsonp(request, params, "{}")
    grouped = params.get("grouped", "").lower() in ("1", "true")
    listed = catalogue(params.get("group"), grouped)
    return _jsonp(request, params, _catalogue_json(listed))


async def _function_details(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FUNCTIONS or request.query.get("type") == "pie":
        return _error(f"Function not found: {name}", status=404)
    return _jsonp(request, request.query, _catalogue_json(describe(FUNCTIONS[name])))
