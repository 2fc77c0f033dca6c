"""The dashboards UI: an index, one page per dashboard file, and their specs as JSON.

The directory is rescanned on every request (``Library.refresh``: a stat per file,
rereading only changed ones), so an edited file shows on the next load (the page polls
``/api/dashboards/<id>`` and redraws when the dashboard's version changes). A file
broken while someone watches keeps serving its last good version, with its problems
(file, line, column, message) in the answer so the page shows them in a banner; the
index lists every problem. Pages are static HTML shells; ``static/dashboard.js`` draws
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

from monitor.dashboards import Dashboard, Library, Problem

__all__ = ["add_dashboard_routes"]

LIBRARY: web.AppKey[Library] = web.AppKey("dashboards_library")

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
<link rel="stylesheet" href="/static/dashboards.css">
</head>
"""


def add_dashboard_routes(app: web.Application, directory: Path) -> None:
    """Serve the dashboards in ``directory``."""
    app[LIBRARY] = Library(directory)
    app.router.add_get("/dashboards", _index)
    app.router.add_get("/dashboards/", _index)
    app.router.add_get("/dashboards/{id}", _page)
    app.router.add_get("/api/dashboards", _list)
    app.router.add_get("/api/dashboards/{id}", _spec)


async def _load(request: web.Request) -> dict[str, Dashboard]:
    library = request.app[LIBRARY]
    await asyncio.to_thread(library.refresh)
    return library.dashboards()


def _problem_list(problems: list[Problem]) -> str:
    if not problems:
        return ""
    items = "".join(f'<li class="{p.severity}">{html.escape(str(p))}</li>' for p in problems)
    return f'<ul id="problems" class="problems">{items}</ul>'


async def _index(request: web.Request) -> web.Response:
    found = await _load(request)
    boards = sorted(found.values(), key=lambda d: d.title.lower())
    problems = request.app[LIBRARY].problems()
    # A time window (from the home page's deploy links) carries over to every dashboard.
    window = {k: request.query[k] for k in ("from", "until") if request.query.get(k)}
    suffix = "?" + urlencode(window) if window else ""
    items = "\n".join(_index_item(d, suffix) for d in boards)
    body = (
        _HEAD.format(title="Dashboards")
        + '<body><header><h1><a href="/">monitor</a> / dashboards</h1></header><main>'
        + _problem_list(problems)
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
    if ident not in boards and not _problems_of(request, ident):
        raise web.HTTPNotFound(text=f"no dashboard {ident!r}")
    title = html.escape(boards[ident].title if ident in boards else ident)
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
        problems = [str(p) for p in _problems_of(request, ident)]
        error = f"no dashboard {ident!r}" + (": its file has problems" if problems else "")
        return web.json_response({"error": error, "problems": problems}, status=404)
    board = boards[ident]
    problems = [str(p) for p in request.app[LIBRARY].problems(board.path)]
    return web.json_response(
        {"id": board.id, "version": board.version, "spec": board.spec, "problems": problems}
    )


def _problems_of(request: web.Request, ident: str) -> list[Problem]:
    """Problems of a file named after ``ident`` that serves nothing (never valid yet)."""
    return [p for p in request.app[LIBRARY].problems() if Path(p.file).stem == ident]
