"""Proxy mode: the Graphite API routes forwarded to a team's real graphite-web.

With ``graphite.upstream = "http://graphite.internal"`` the dashboards and tools talk
to ``monitor up`` exactly as before, and every ``/render``, ``/metrics…``, ``/tags…``,
``/functions…``, ``/events…`` and ``/version`` request goes to the upstream (with
``graphite.upstream_auth`` as its ``Authorization`` header). Its status, content type
and body come back unchanged; an unreachable upstream answers 502 with a JSON error
that names it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

__all__ = ["add_proxy_routes"]

_PATHS = (
    "/render",
    "/render/",
    "/metrics",
    "/metrics/find",
    "/metrics/find/",
    "/metrics/expand",
    "/metrics/index.json",
    "/events/",
    "/events",
    "/events/get_data",
    "/version",
    "/version/",
    "/tags",
    "/tags/{tail:.*}",
    "/functions",
    "/functions/{tail:.*}",
)
_UPSTREAM: web.AppKey[tuple[str, str]] = web.AppKey("graphite_upstream")
_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("graphite_upstream_session")


def add_proxy_routes(
    app: web.Application, upstream: str, auth: str = "", timeout: float = 30.0
) -> None:
    """Forward the Graphite API paths of ``app`` to ``upstream``."""
    app[_UPSTREAM] = (upstream.rstrip("/"), auth)

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[_SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        yield
        await app[_SESSION].close()

    app.cleanup_ctx.append(session)
    for path in _PATHS:
        app.router.add_route("*", path, _forward)


async def _forward(request: web.Request) -> web.Response:
    upstream, auth = request.app[_UPSTREAM]
    headers = {"Authorization": auth} if auth else {}
    if request.content_type:
        headers["Content-Type"] = request.headers.get("Content-Type", "")
    body = await request.read()
    try:
        async with request.app[_SESSION].request(
            request.method,
            upstream + request.path,
            params=request.query,
            data=body or None,
            headers=headers,
        ) as answer:
            payload = await answer.read()
            return web.Response(
                body=payload,
                status=answer.status,
                content_type=answer.content_type,
                charset=answer.charset,
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        return web.json_response(
            {"error": f"upstream Graphite {upstream} unreachable: {exc or type(exc).__name__}"},
            status=502,
        )
