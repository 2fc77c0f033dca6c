"""The dashboards UI: an index, one page per dashboard file, and their specs as JSON.

Files are read from the dashboards directory on every request for a spec, so an edited
file shows on the next load (the page polls ``/api/dashboards/<id>`` and redraws when
the file's version changes). Pages are static HTML shells; ``static/dashboard.js`` draws
the panels with uPlot from the same-origin render API. Titles, descriptions and metric
names are put into the page as text (``html.escape`` here, ``textContent`` in the
script), never as markup.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from monitor.dashboards import Dashboard, load_dashboards

__all__ = ["add_dashboard_routes"]

DIRECTORY: web.AppKey[Path] = web.AppKey("dashboards_dir")

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
<link rel="stylesheet" href="/static/dashboards.css">
</head>
"""


def add_dashboard_routes(app: web.Application, directory: Path) -> None:
    """Serve the dashboards in ``directory``."""
    app[DIRECTORY] = directory
    app.router.add_get("/dashboards", _index)
    app.router.add_get("/dashboards/", _index)
    app.router.add_get("/dashboards/{id}", _page)
    app.router.add_get("/api/dashboards", _list)
    app.router.add_get("/api/dashboards/{id}", _spec)


async def _load(request: web.Request) -> dict[str, Dashboard]:
    found, _ = await asyncio.to_thread(load_dashboards, request.app[DIRECTORY])
    return found


async def _index(request: web.Request) -> web.Response:
    boards = sorted((await _load(request)).values(), key=lambda d: d.title.lower())
    # A time window (from the home page's deploy links) carries over to every dashboard.
    window = {k: request.query[k] for k in ("from", "until") if request.query.get(k)}
    suffix = "?" + urlencode(window) if window else ""
    items = "\n".join(_index_item(d, suffix) for d in boards)
    body = (
        _HEAD.format(title="Dashboards")
        + '<body><header><h1><a href="/">monitor</a> / dashboards</h1></header><main>'
        + '<input id="search" type="search" placeholder="Search dashboards (/)" autofocus>'
        + f'<ul id="dashboards">{items}</ul>'
        + ('<p class="hint">No dashboards yet: add JSON files to the dashboards directory.</p>'
           if not boards else "")
        + '</main><script src="/static/dashboards-index.js"></script></body></html>'
    )  # fmt: skip
    return web.Response(text=body, content_type="text/html")


def _index_item(board: Dashboard, suffix: str = "") -> str:
    tags = board.spec.get("tags", [])
    search = html.escape(f"{board.title} {' '.join(tags)}".lower())
    return (
        f'<li data-search="{search}">'
        f'<a href="/dashboards/{html.escape(board.id + suffix)}">{html.escape(board.title)}</a>'
        f'<span class="tags">{html.escape(", ".join(tags))}</span>'
        f"<p>{html.escape(board.spec.get('description', ''))}</p></li>"
    )


async def _page(request: web.Request) -> web.Response:
    boards = await _load(request)
    ident = request.match_info["id"]
    if ident not in boards:
        raise web.HTTPNotFound(text=f"no dashboard {ident!r}")
    title = html.escape(boards[ident].title)
    body = (
        _HEAD.format(title=title)
        + f'<body><div id="app" data-dashboard="{html.escape(ident)}">'
        + '<p class="loading">Loading…</p></div>'
        + '<script src="/static/vendor/uPlot.iife.min.js"></script>'
        + '<script src="/static/dashboard.js"></script></body></html>'
    )
    return web.Response(text=body, content_type="text/html")


async def _list(request: web.Request) -> web.Response:
    boards = await _load(request)
    return web.json_response(
        [{"id": d.id, "title": d.title, "tags": d.spec.get("tags", [])} for d in boards.values()]
    )


async def _spec(request: web.Request) -> web.Response:
    boards = await _load(request)
    ident = request.match_info["id"]
    if ident not in boards:
        return web.json_response({"error": f"no dashboard {ident!r}"}, status=404)
    board = boards[ident]
    version = int(board.path.stat().st_mtime_ns)
    return web.json_response({"id": board.id, "version": version, "spec": board.spec})
