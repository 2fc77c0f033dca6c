"""The aiohttp application factory: home page, status API, static files.

Later parts add their routes here (Graphite's render/find/events API, dashboards,
supergrep under ``/supergrep``). Every response carries a strict
Content-Security-Policy: pages load scripts and styles from this origin only and
never run inline code, because log lines and metric names shown on them are
attacker-controlled text.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from monitor import __version__
from monitor.web.dashboards_ui import add_dashboard_routes
from monitor.web.graphite_api import GRAPHITE, Graphite, add_routes
from monitor.web.proxy import add_proxy_routes
from monitor.web.status import PartStatus, StatusSource
from supergrep.server import Supergrep, add_supergrep_routes

__all__ = ["STATUS", "make_app"]

STATIC_DIR = Path(__file__).parent / "static"
STATUS: web.AppKey[StatusSource] = web.AppKey("status")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def loopback_name(host: str) -> bool:
    """Whether ``host`` (a Host header: name or address, maybe with a port) names this
    machine's loopback: ``localhost``, ``*.localhost``, 127.0.0.0/8 or ``[::1]``."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _browser_guard(token: str) -> Middleware:
    """What a web page in someone's browser must not do to a stack on their machine.

    * Without a token the stack is on loopback only, and it answers only requests whose
      ``Host`` names loopback: a page on ``attacker.example`` whose name is rebound to
      127.0.0.1 (DNS rebinding) is refused, on every route and websocket.
    * A write (any method but GET, HEAD, OPTIONS) is refused when the browser says it
      comes from another site or origin (``Sec-Fetch-Site``, ``Origin``): a
      ``text/plain`` form post from another page cannot record a deploy. Clients that
      are not browsers (curl, scripts, ``monitor deploy``, Grafana's server) send
      neither header and are not affected.
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not token and not loopback_name(request.host):
            return web.json_response(
                {
                    "error": f"Host {request.host!r} is not a loopback name: without"
                    " http.token this stack answers only to localhost and 127.0.0.1"
                    " (a page whose name was pointed here, DNS rebinding, is refused)"
                },
                status=403,
            )
        if request.method not in _SAFE_METHODS:
            site = request.headers.get("Sec-Fetch-Site")
            origin = request.headers.get("Origin")
            foreign_origin = origin is not None and (
                urlsplit(origin).netloc.lower() != request.host.lower()
            )
            if site not in (None, "same-origin", "none") or foreign_origin:
                return web.json_response(
                    {
                        "error": f"cross-site write refused (Origin {origin!r},"
                        f" Sec-Fetch-Site {site!r}): writes come from this stack's own"
                        " pages or from clients that are not browsers"
                    },
                    status=403,
                )
        return await handler(request)

    return guard


def _token_check(token: str) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.method not in ("GET", "HEAD", "OPTIONS"):
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {token}".encode()
            # header bytes that are not UTF-8 arrive as surrogates: compared, never a 500
            if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
                return web.json_response(
                    {"error": "this write needs the token: Authorization: Bearer <token>"},
                    status=401,
                )
        return await handler(request)

    return check


def make_app(
    status: StatusSource,
    graphite: Graphite | None = None,
    *,
    upstream: str = "",
    upstream_auth: str = "",
    token: str = "",
    dashboards: Path | None = None,
    supergrep: Supergrep | None = None,
) -> web.Application:
    """Build the application.

    ``status`` reports the parts on the home page; ``graphite`` serves the Graphite API
    from the embedded store, or ``upstream`` forwards it to a real graphite-web. With a
    ``token``, every write (any method but GET and HEAD) needs ``Authorization: Bearer``.
    """
    app = web.Application(
        middlewares=[_security_headers, _browser_guard(token), _token_check(token)]
    )
    app[STATUS] = status
    if upstream:
        add_proxy_routes(app, upstream, upstream_auth)
    elif graphite is not None:
        add_routes(app, graphite)
    if dashboards is not None:
        add_dashboard_routes(app, dashboards)
    if supergrep is not None:
        add_supergrep_routes(app, supergrep)
    app.router.add_get("/", _home)
    app.router.add_get("/status.json", _status_json)
    app.router.add_static("/static/", STATIC_DIR)
    # Browsers ask for /favicon.ico whatever the page says: answer with the same icon.
    app.router.add_get("/favicon.ico", _favicon)
    return app


async def _favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


async def _status_json(request: web.Request) -> web.Response:
    parts = request.app[STATUS]()
    return web.json_response({"version": __version__, "parts": [part.to_json() for part in parts]})


async def _home(request: web.Request) -> web.Response:
    rows = "\n".join(_row(part) for part in request.app[STATUS]())
    deploys = await _recent_deploys(request)
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>monitor</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header><h1>monitor</h1><p>statsd, Graphite and supergrep in one install
 &middot; version {html.escape(__version__)}</p></header>
<main>
<h2>Parts</h2>
<table class="parts">
<thead><tr><th>part</th><th>state</th><th>detail</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="hint">Machine-readable: <a href="/status.json">/status.json</a></p>
{deploys}
</main>
</body>
</html>
"""
    return web.Response(text=body, content_type="text/html")


async def _recent_deploys(request: web.Request) -> str:
    """The last deploys (events tagged ``deploy``), each linking to the dashboards at
    the hour around it and to the live logs: Deployinator's "links to logwatcher and
    dashboards"."""
    if GRAPHITE not in request.app:
        return ""
    events = request.app[GRAPHITE].events
    found = await asyncio.to_thread(events.query, time.time() - 7 * 86400, time.time(), ["deploy"])
    if not found:
        return (
            '<h2>Recent deploys</h2><p class="hint">None in the last week. Record one with'
            " <code>monitor deploy --stack web --env production --sha …</code></p>"
        )
    rows = []
    for event in found[-10:][::-1]:
        data = _event_data(event.data)
        when = datetime.fromtimestamp(event.when).strftime("%Y-%m-%d %H:%M:%S")
        span = urlencode({"from": int(event.when - 1800), "until": int(event.when + 1800)})
        around = html.escape(f"/dashboards?{span}")
        details = " ".join(
            f"{key} {html.escape(str(data[key]))}" for key in ("who", "sha") if data.get(key)
        )
        rows.append(
            f"<tr><td>{html.escape(when)}</td><td>{html.escape(event.what)}</td>"
            f'<td>{details}</td><td><a href="{around}">dashboards</a> &middot; '
            f'<a href="/supergrep">live logs</a></td></tr>'
        )
    return (
        '<h2>Recent deploys</h2><table class="deploys"><thead><tr><th>when</th>'
        "<th>what</th><th>who, sha</th><th>around it</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _event_data(data: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _row(part: PartStatus) -> str:
    name = html.escape(part.name)
    if part.url:
        name = f'<a href="{html.escape(part.url, quote=True)}">{name}</a>'
    state = html.escape(part.state)
    css = state.replace(" ", "-")
    return (
        f'<tr><td>{name}</td><td class="state {css}">{state}</td>'
        f"<td>{html.escape(part.detail)}</td></tr>"
    )
