"""The supergrep hub on aiohttp: tails the configured files, takes agents' lines, and
serves viewers over websockets.

Routes (mounted by ``monitor up`` and ``supergrep serve``):

- ``GET /supergrep``: the live log page (``monitor/web/static/supergrep.js``);
- ``GET /supergrep/ws``: a viewer (browser or ``supergrep tail``), protocol v1;
- ``GET /supergrep/ingest``: an agent shipping another host's lines;
- ``GET /supergrep/streams``: the streams, their rates, files and problems, as JSON.

This module only moves bytes: tailing is ``supergrep.tail``, numbering, rings, filters
and fan-out are ``supergrep.hub``, and messages are parsed by ``supergrep.protocol``.
Each viewer has a sender task that drains its bounded queue in batches; a viewer that
reads slowly only ever makes its own queue overflow (drop notices), never the hub wait.

The ``Hub`` lives on a thread of its own (``Supergrep.in_hub``): viewers' regexes are
matched there, compiled there, and lines are encoded there, so the event loop, which
also serves HTTP, statsd and carbon in ``monitor up``, never waits for a pattern. The
``regex`` module lets go of the GIL while it matches, so a slow pattern runs on the
second core. Matching is still bounded by the filters' budgets (``supergrep.filters``);
the thread keeps one viewer's bad pattern from stopping everything else meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from supergrep.filters import FilterError, FilterSpec, Matcher, SharedBudget
from supergrep.hub import Hub, UnknownStream, Viewer
from supergrep.protocol import (
    AGENT_PROTOCOL,
    VERSION,
    Auth,
    ProtocolError,
    parse_agent,
    parse_viewer,
)
from supergrep.settings import SupergrepSettings, WatchSettings
from supergrep.tail import StreamTail, Watcher

__all__ = ["SUPERGREP", "Supergrep", "add_supergrep_routes"]

#: A stream name an agent may create.
_STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

log = logging.getLogger(__name__)

SUPERGREP: web.AppKey[Supergrep] = web.AppKey("supergrep")
AUTH_WAIT = 5.0
#: Viewer sockets that may wait for their token at once (with a token set).
MAX_UNAUTHENTICATED = 64
READ_TURN = 2 << 20

T = TypeVar("T")


@dataclass
class Stats:
    """Counters for the status page."""

    lines: int = 0
    agent_lines: int = 0
    duplicates: int = 0
    rejected: int = 0


class Supergrep:
    """The hub service: tails, agents' offsets, viewers."""

    def __init__(
        self, settings: SupergrepSettings, *, token: str = "", state_dir: Path | None = None
    ) -> None:
        self.settings = settings
        self.token = token
        self.stats = Stats()
        #: All viewers' patterns together may take half of the loop's time, at most.
        shared = SharedBudget()
        #: Touched only on ``_hub_thread`` (through ``in_hub`` and ``_in_hub_later``).
        self.hub = Hub(
            settings.streams,
            ring=settings.ring,
            matcher=lambda spec: Matcher(spec, timeout=settings.regex_timeout, shared=shared),
        )
        self._hub_thread = concurrent.futures.ThreadPoolExecutor(1, "supergrep-hub")
        #: The streams agents may send to without creating one (the loop's own copy).
        self.stream_names = set(settings.streams)
        self.tails = {
            name: StreamTail(
                stream.paths,
                max_line=settings.max_line,
                backfill_bytes=settings.backfill_bytes,
                linger=settings.linger,
            )
            for name, stream in settings.streams.items()
        }
        self.state_file = state_dir / "agents.json" if state_dir is not None else None
        #: host -> file id -> offset acknowledged (what the hub already has).
        self.agent_offsets: dict[str, dict[str, int]] = self._load_offsets()
        self.agents: Counter[str] = Counter()  # host -> connections
        #: Where watch counts go, as statsd text (``monitor up`` feeds its daemon).
        self.metrics: Callable[[str], None] | None = None
        self._counts: Counter[str] = Counter()
        self._watches = [
            (w.stream, _watch_matcher(i, w), w.metric) for i, w in enumerate(settings.watch)
        ]
        self.clients: Counter[str] = Counter()  # client address -> viewer connections
        self.unauthenticated = 0  # viewer sockets yet to send their token
        self._watcher = Watcher(self._changed)
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: asyncio.Task[None] | None = None
        self._read_wanted = False
        self._rescan_wanted = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sockets: set[web.WebSocketResponse] = set()  # open viewers and agents

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Open the files, start watching, start the periodic jobs."""
        self._loop = asyncio.get_running_loop()
        self._watcher.start(self._loop)
        await self._rescan()
        self._tasks = [
            asyncio.create_task(self._every(1.0, self._periodic)),
            asyncio.create_task(self._every(self.settings.heartbeat, self._heartbeat)),
        ]

    async def stop(self) -> None:
        """Stop the jobs and close the files."""
        tasks = [*self._tasks, *([self._reader] if self._reader is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watcher.close()
        for tail in self.tails.values():
            tail.close()
        # A match under way ends within its budget; nothing waits for it here.
        self._hub_thread.shutdown(wait=False, cancel_futures=True)

    async def in_hub(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call(*args, **kwargs)`` on the hub's thread, awaited."""
        job = functools.partial(call, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._hub_thread, job)

    def _in_hub_later(self, call: Callable[..., object], *args: Any) -> None:
        """``call(*args)`` on the hub's thread, not awaited (after what is queued there
        already, so in order); a failure is logged."""

        def logged() -> None:
            try:
                call(*args)
            except Exception:
                log.exception("supergrep: %s failed", getattr(call, "__name__", call))

        with contextlib.suppress(RuntimeError):  # shut down: nobody to tell
            self._hub_thread.submit(logged)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None] | None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                done = job()
                if done is not None:
                    await done
            except Exception:  # a bug in one round must not stop the hub
                log.exception("supergrep: periodic job failed")

    async def _periodic(self) -> None:
        self._changed(False)  # look for new and rotated files, in the reader's turn
        counts = await self.in_hub(self._tick)
        if counts and self.metrics is not None:
            self.metrics("\n".join(f"{name}:{n}|c" for name, n in counts.items()))

    def _tick(self) -> Counter[str]:
        """On the hub's thread: update the rates, and take the counts made since."""
        self.hub.tick()
        counts, self._counts = self._counts, Counter()
        return counts

    async def publish(
        self,
        stream: str,
        host: str,
        file: str,
        texts: Sequence[str],
        truncated: Sequence[bool] | None = None,
        ts: float | None = None,
    ) -> None:
        """Lines read here or by an agent: to the hub, and counted by the watches.
        Returns once they are in the hub (so a reader waits while the hub is busy)."""
        await self.in_hub(self._publish_in_hub, stream, host, file, texts, truncated, ts)

    def _publish_in_hub(
        self,
        stream: str,
        host: str,
        file: str,
        texts: Sequence[str],
        truncated: Sequence[bool] | None,
        ts: float | None,
    ) -> None:
        self.hub.add_stream(stream)  # an agent's new stream (allowed on the loop)
        lines = self.hub.publish(stream, host, file, texts, truncated, ts)
        if not lines or self.metrics is None:
            return
        if self.settings.line_metrics:
            self._counts[f"supergrep.lines.{stream}"] += len(lines)
        for watched, matcher, metric in self._watches:
            if watched == stream:
                matched = len(matcher.select(lines))
                if matched:
                    self._counts[metric] += matched
                for off in matcher.take_switched():
                    log.warning("supergrep: watch %s: pattern switched off: %s", metric, off.reason)

    def _heartbeat(self) -> None:
        self._in_hub_later(self._announce_heartbeat)

    def _announce_heartbeat(self) -> None:
        self.hub.announce({"type": "heartbeat", "streams": self.hub.stream_info()})

    # -- tailing -------------------------------------------------------------------------

    def _changed(self, modified_only: bool) -> None:
        """Files changed (or, not ``modified_only``, may have been made, moved or
        deleted): the one reader task reads them, so a file's lines stay in order."""
        self._rescan_wanted |= not modified_only
        self._read_wanted = True
        if (self._reader is None or self._reader.done()) and self._loop is not None:
            self._reader = self._loop.create_task(self._read())

    async def _read(self) -> None:
        """Read what was appended, at most ``READ_TURN`` bytes per stream per turn: a
        burst of megabytes never holds the event loop. A turn is read while the hub
        publishes the one before (both let go of the GIL for part of it: 40 % more lines
        a second than one after the other), and no further: reading waits while the hub
        is busy, and the files are the buffer."""
        publishing: asyncio.Future[None] | None = None
        try:
            while self._read_wanted:
                self._read_wanted = False
                if self._rescan_wanted:
                    if publishing is not None:
                        await publishing  # a file's lines stay in order
                        publishing = None
                    await self._rescan()
                for name, tail in self.tails.items():
                    before = tail.bytes_read
                    chunks = tail.read(READ_TURN)
                    self._read_wanted |= tail.bytes_read - before >= READ_TURN
                    if publishing is not None:
                        await publishing
                    publishing = asyncio.ensure_future(self._publish(name, chunks))
            if publishing is not None:
                await publishing
        except Exception:  # a bug in one turn must not stop the reading for good
            log.exception("supergrep: reading the files failed")
        finally:
            if publishing is not None and not publishing.done():
                publishing.cancel()  # stopping

    async def _rescan(self) -> None:
        self._rescan_wanted = False
        self._watcher.forget_missing()
        for name, tail in self.tails.items():
            await self._publish(name, tail.rescan(read=False))
            self._watcher.watch(tail.directories())
        self._changed(True)  # then read, in turns

    async def _publish(self, stream: str, chunks: list[Any]) -> None:
        for chunk in chunks:
            await self.publish(stream, self.settings.host, chunk.path, chunk.texts, chunk.truncated)
            self.stats.lines += len(chunk.texts)

    def announce_deploy(self, when: float, what: str, tags: Sequence[str], data: str) -> None:
        """A deploy was recorded: every viewer gets a banner in its stream, now.

        ``data`` is the event's data; ``monitor deploy`` puts JSON with ``who``, ``sha``
        and ``url`` there, which the banner shows (the page links only http(s) URLs).
        """
        details: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            parsed = json.loads(data) if data else {}
            if isinstance(parsed, dict):
                details = parsed
        self._in_hub_later(
            self.hub.deploy,
            {
                "type": "deploy",
                "when": when,
                "what": what,
                "tags": list(tags),
                **{k: str(details[k]) for k in ("who", "sha", "url") if k in details},
            },
        )

    def stream_allowed(self, name: str) -> bool:
        """Whether an agent may send lines of stream ``name``: a configured or known one,
        or a new one with a plain name while fewer than ``max_streams`` were made so."""
        if name in self.stream_names:
            return True
        created = len(self.stream_names) - len(self.tails)
        return bool(_STREAM_NAME.fullmatch(name)) and created < self.settings.max_streams

    def stream_refusal(self, names: list[str]) -> dict[str, Any]:
        """The error an agent gets for lines of streams it may not create."""
        return {
            "type": "error",
            "code": "stream_refused",
            "message": f"streams {', '.join(repr(n[:64]) for n in names[:5])} refused: a"
            " stream name is 1-64 letters, digits, '.', '_' or '-', and agents may create"
            f" at most supergrep.max_streams ({self.settings.max_streams}) streams",
        }

    def counts(self) -> dict[str, float]:
        """The numbers of ``describe``, by name."""
        return {
            "local_streams": len(self.tails),
            "files": sum(len(t.files()) for t in self.tails.values()),
            "unreadable": sum(len(t.problems) for t in self.tails.values()),
            "agents": sum(self.agents.values()),
            "viewers": self.hub.viewers,
            "lines": self.stats.lines + self.stats.agent_lines,
            "resent_lines_dropped": self.stats.duplicates,
            "bad_agent_batches": self.stats.rejected,
        }

    def describe(self) -> str:
        """One line for the status page."""
        files = sum(len(t.files()) for t in self.tails.values())
        problems = sum(len(t.problems) for t in self.tails.values())
        return (
            f"{len(self.tails)} local streams, {files} files followed"
            + (f", {problems} unreadable" if problems else "")
            + f"; {sum(self.agents.values())} agents, {self.hub.viewers} viewers;"
            f" {self.stats.lines + self.stats.agent_lines} lines read"
            + (f", {self.stats.duplicates} resent lines dropped" if self.stats.duplicates else "")
            + (f", {self.stats.rejected} bad agent batches" if self.stats.rejected else "")
        )

    async def streams_json(self) -> list[dict[str, Any]]:
        """``/supergrep/streams``: each stream with its rate, files and problems."""
        out = []
        for info in await self.in_hub(self.hub.stream_info):
            tail = self.tails.get(info["name"])
            if tail is not None:
                info["files"] = sorted(path for path, _, _ in tail.files())
                info["problems"] = dict(tail.problems)
            out.append(info)
        return out

    # -- agents' offsets ----------------------------------------------------------------

    def _load_offsets(self) -> dict[str, dict[str, int]]:
        if self.state_file is None or not self.state_file.exists():
            return {}
        try:
            loaded = json.loads(self.state_file.read_text())
            return {str(h): {str(f): int(o) for f, o in v.items()} for h, v in loaded.items()}
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("supergrep: ignoring %s: %s", self.state_file, exc)
            return {}

    def _save_offsets(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.agent_offsets))
        os.replace(temporary, self.state_file)

    @contextlib.contextmanager
    def open_socket(
        self, ws: web.WebSocketResponse, counts: Counter[str], key: str
    ) -> Iterator[None]:
        """While a viewer's or agent's socket is open: counted under ``key`` (for the
        limits and the status page) and closed at shutdown."""
        counts[key] += 1
        self.sockets.add(ws)
        try:
            yield
        finally:
            self.sockets.discard(ws)
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]

    # -- authentication and origin -------------------------------------------------------

    def authorized(self, request: web.Request) -> bool:
        """True if no token is configured or the request carries it."""
        if not self.token:
            return True
        return _same(request.headers.get("Authorization", ""), f"Bearer {self.token}")

    def agent_refusal(self, request: web.Request, host: str) -> str | None:
        """Why an agent may not send ``host``'s lines, or None if it may: with a token,
        it must present ``host``'s own (or the hub's, with ``shared_agent_token``)."""
        if not self.token:
            return None
        given = request.headers.get("Authorization", "")
        if _same(given, f"Bearer {host_token(self.token, host)}"):
            return None
        if _same(given, f"Bearer {self.token}"):
            if self.settings.shared_agent_token:
                return None
            return (
                f"agents present their host's own token, not the hub's: run `supergrep"
                f" agent-token {host}` where the hub's token is (or set"
                " supergrep.shared_agent_token = true)"
            )
        return f"agents need Authorization: Bearer <the token of host {host!r}>"

    def origin_allowed(self, request: web.Request) -> bool:
        """A browser's handshake must come from this page's origin or an allowed one;
        clients that are not browsers send no ``Origin``."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        if origin in self.settings.allowed_origins:
            return True
        return urlsplit(origin).netloc.lower() == request.host.lower()


def host_token(secret: str, host: str) -> str:
    """The token an agent for ``host`` presents to a hub whose token is ``secret``: an
    HMAC of the host name, so the hub needs no list of hosts, and a host's token (on
    that host's disk) cannot send another host's lines or move its offsets."""
    message = b"supergrep agent for " + host.encode("utf-8", "surrogateescape")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _watch_matcher(index: int, watch: WatchSettings) -> Matcher:
    """The matcher of ``supergrep.watch[index]``; ``ValueError`` says what is wrong."""
    where = f"supergrep.watch[{index}]"
    if not watch.stream or not watch.pattern or not watch.metric:
        raise ValueError(f"{where}: needs stream, pattern and metric")
    try:
        return Matcher(FilterSpec(include=(watch.pattern,), ignore_case=watch.ignore_case))
    except FilterError as exc:
        raise ValueError(f"{where}.pattern: {exc.reason}") from None


def _same(given: str, expected: str) -> bool:
    # a header's bytes that are not UTF-8 arrive as surrogates: compared, not an error
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _client(request: web.Request) -> str:
    peer = request.remote or "?"
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(peer)
        if address.version == 6:  # one client = one /64
            return str(ipaddress.ip_network(f"{peer}/64", strict=False))
    return peer


def add_supergrep_routes(app: web.Application, service: Supergrep) -> None:
    """Mount the hub's routes on ``app``."""
    app[SUPERGREP] = service
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/supergrep", _page)
    app.router.add_get("/supergrep/", _page)
    app.router.add_get("/supergrep/ws", _viewer)
    app.router.add_get("/supergrep/ingest", _agent)
    app.router.add_get("/supergrep/streams", _streams)


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>supergrep</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/supergrep.css">
</head>
<body>
<header class="bar">
  <h1><a href="/">monitor</a> / supergrep</h1>
  <span id="status" class="conn pending" role="status">connecting…</span>
  <form id="token-form" hidden><label>Token <input id="token" type="password"
    autocomplete="off"></label> <button type="submit">Connect</button></form>
</header>
<section class="controls" aria-label="Filters">
  <fieldset id="streams"><legend>Streams</legend></fieldset>
  <div class="filters">
    <label>Include <input id="include" type="search" spellcheck="false"
      placeholder="regex: ERROR|Traceback  (/)"
      title="Show only lines matching this regex (or words, comma-separated); / focuses it"></label>
    <span class="field-error" id="include-error" role="alert"></span>
    <label>Exclude <input id="exclude" type="search" spellcheck="false"
      placeholder="regex to hide (grep -v)"
      title="Hide lines matching this regex, like grep -v"></label>
    <span class="field-error" id="exclude-error" role="alert"></span>
    <label>Highlight <input id="highlight" type="search" spellcheck="false"
      placeholder="regex to mark"
      title="Mark matches without hiding other lines"></label>
    <span class="field-error" id="highlight-error" role="alert"></span>
    <label class="check"><input id="case" type="checkbox"> Match case</label>
  </div>
  <div class="actions">
    <button id="pause" type="button" aria-pressed="false" title="Space">Pause</button>
    <span id="waiting"></span>
    <button id="clear" type="button">Clear</button>
    <label class="check"><input id="wrap" type="checkbox" checked> Wrap</label>
    <label>Keep <input id="keep" type="number" min="100" step="100" value="5000"> lines</label>
  </div>
</section>
<main id="log" tabindex="0" aria-live="off"></main>
<button id="jump" type="button" hidden>↓ New lines below</button>
<script src="/static/supergrep.js"></script>
</body>
</html>
"""


async def _page(request: web.Request) -> web.Response:
    """The live log page: a static shell; ``static/supergrep.js`` does the rest."""
    return web.Response(text=PAGE, content_type="text/html")


async def _close_sockets(app: web.Application) -> None:
    """Shutdown: say goodbye to every viewer and agent (they reconnect and resume)."""
    sockets = list(app[SUPERGREP].sockets)
    await asyncio.gather(
        *(ws.close(code=1001, message=b"server shutting down") for ws in sockets),
        return_exceptions=True,
    )


async def _streams(request: web.Request) -> web.Response:
    service = request.app[SUPERGREP]
    if not service.authorized(request):
        return web.json_response({"error": "needs Authorization: Bearer <token>"}, status=401)
    return web.json_response({"version": VERSION, "streams": await service.streams_json()})


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _viewer(request: web.Request) -> web.StreamResponse:
    service = request.app[SUPERGREP]
    settings = service.settings
    if not service.origin_allowed(request):
        return _refuse(403, f"origin {request.headers.get('Origin')!r} is not allowed")
    client = _client(request)
    if service.hub.viewers >= settings.max_viewers:
        return _refuse(503, f"too many viewers ({settings.max_viewers})")
    if service.clients[client] >= settings.max_per_client:
        return _refuse(429, f"too many connections from {client} ({settings.max_per_client})")
    if not service.authorized(request) and service.unauthenticated >= MAX_UNAUTHENTICATED:
        # sockets still to send their token are a pool of their own: they cannot take
        # the viewers' places, and cannot grow without bound either
        return _refuse(503, f"too many connections waiting to authenticate ({MAX_UNAUTHENTICATED})")
    # No per-message compression for viewers: it would cost the hub CPU per viewer for
    # every batch, and viewers are usually on the same LAN. Agents' batches are compressed.
    ws = web.WebSocketResponse(max_msg_size=settings.max_message, compress=False)
    await ws.prepare(request)
    with service.open_socket(ws, service.clients, client):
        await _serve_viewer(service, request, ws)
    return ws


async def _serve_viewer(
    service: Supergrep, request: web.Request, ws: web.WebSocketResponse
) -> None:
    settings = service.settings
    authorized = service.authorized(request)
    if not authorized:
        service.unauthenticated += 1
        try:
            msg = await asyncio.wait_for(ws.receive(), AUTH_WAIT)
            request_ = parse_viewer(msg.data) if msg.type == WSMsgType.TEXT else None
        except (TimeoutError, ProtocolError):
            request_ = None
        finally:
            service.unauthenticated -= 1
        if not isinstance(request_, Auth) or not _same(request_.token, service.token):
            await ws.send_json({"type": "error", "code": "unauthorized", "message": "bad token"})
            await ws.close(code=4401, message=b"unauthorized")
            return
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    viewer = Viewer(
        max_lines=settings.viewer_lines,
        max_bytes=settings.viewer_bytes,
        wake=lambda: loop.call_soon_threadsafe(wake.set),  # from the hub's thread
    )
    viewer_id = await service.in_hub(service.hub.connect, viewer)
    sender = asyncio.create_task(_send(ws, viewer, wake, settings))
    try:
        await ws.send_json(
            {
                "type": "hello",
                "version": VERSION,
                "epoch": service.hub.epoch,
                "streams": await service.in_hub(service.hub.stream_info),
            }
        )
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                parsed = parse_viewer(msg.data)
                if isinstance(parsed, Auth):
                    continue
                await service.in_hub(
                    service.hub.subscribe,
                    viewer_id,
                    parsed.streams,
                    parsed.spec,
                    backfill=parsed.backfill,
                    resume=parsed.resume,
                    epoch=parsed.epoch,
                    marker={
                        "type": "subscribed",
                        "id": parsed.id,
                        "streams": list(parsed.streams),
                        "include": list(parsed.spec.include),
                        "exclude": list(parsed.spec.exclude),
                        "ignore_case": parsed.spec.ignore_case,
                    },
                )
            except ProtocolError as exc:
                viewer.notify(exc.to_json())
            except FilterError as exc:
                viewer.notify(
                    {
                        "type": "error",
                        "code": "bad_filter",
                        "field": exc.field,
                        "message": str(exc),
                    }
                )
            except UnknownStream as exc:
                known = ", ".join(sorted(service.stream_names)) or "none"
                viewer.notify(
                    {
                        "type": "error",
                        "code": "unknown_stream",
                        "field": "streams",
                        "message": f"{exc}; the streams here: {known}",
                    }
                )
    finally:
        service._in_hub_later(service.hub.disconnect, viewer_id)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _send(
    ws: web.WebSocketResponse, viewer: Viewer, wake: asyncio.Event, settings: SupergrepSettings
) -> None:
    """Drain the viewer's queue: at most one batch per ``batch_interval`` (a line that
    arrives after a quiet spell goes out at once; under a flood, lines gather into
    batches of up to ``batch_lines``). While a send waits for a slow client, lines pile
    up in the bounded queue (and are dropped past it), never anywhere else."""
    loop = asyncio.get_running_loop()
    last_sent = 0.0
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        while not ws.closed:
            await wake.wait()
            wake.clear()
            pause = last_sent + settings.batch_interval - loop.time()
            if pause > 0 and len(viewer.queue) < settings.batch_lines:
                await asyncio.sleep(pause)
            while viewer.pending and not ws.closed:
                for message in viewer.take(settings.batch_lines):
                    await ws.send_str(message)
            last_sent = loop.time()


async def _agent(request: web.Request) -> web.StreamResponse:
    service = request.app[SUPERGREP]
    if request.headers.get("Origin") is not None:
        return _refuse(403, "agents are not browsers")
    host = request.query.get("host", "")
    if not host or len(host) > 255:
        return _refuse(400, "say which host this is: /supergrep/ingest?host=NAME")
    refusal = service.agent_refusal(request, host)
    if refusal is not None:
        return _refuse(401, refusal)
    ws = web.WebSocketResponse(
        max_msg_size=service.settings.max_message * 16, compress=True, heartbeat=10
    )
    await ws.prepare(request)
    offsets = service.agent_offsets.setdefault(host, {})
    version = request.query.get("protocol", "1")
    strict = int(version) >= AGENT_PROTOCOL if version.isdigit() else False  # protocol.py
    with service.open_socket(ws, service.agents, host):
        await ws.send_json({"type": "welcome", "version": VERSION, "offsets": offsets})
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            try:
                batch = parse_agent(msg.data)
            except ProtocolError as exc:
                service.stats.rejected += 1
                await ws.send_json(exc.to_json())
                continue
            accepted = []
            refused: set[str] = set()
            for chunk in batch.chunks:
                if not service.stream_allowed(chunk.stream):
                    refused.add(chunk.stream)
                    continue
                # Only the bytes that follow what the hub has are taken: a chunk that
                # overlaps (sent twice, across a reconnect) or leaves a gap (after one
                # that was refused) is dropped, and the ack's offset tells the agent
                # where to read again. A reset starts a truncated file over.
                have = offsets.get(chunk.file_id)
                if have is not None and not chunk.reset:
                    if chunk.start < have:
                        service.stats.duplicates += len(chunk.texts)
                        continue
                    if chunk.start > have and strict:
                        continue
                service.stream_names.add(chunk.stream)
                accepted.append(chunk)
                offsets[chunk.file_id] = chunk.end
            if refused:
                service.stats.rejected += 1
                await ws.send_json(service.stream_refusal(sorted(refused)))
            if accepted:
                service._save_offsets()  # before publishing: a crash cannot duplicate
                cap = service.settings.max_line
                for chunk in accepted:
                    texts, cut = chunk.texts, chunk.truncated
                    if any(len(t) > cap for t in texts):  # bounded here as if read here
                        cut = [c or len(t) > cap for t, c in zip(texts, cut, strict=True)]
                        texts = [t[:cap] for t in texts]
                    await service.publish(chunk.stream, host, chunk.file, texts, cut, chunk.ts)
                    service.stats.agent_lines += len(chunk.texts)
            done = {c.file_id: offsets[c.file_id] for c in batch.chunks if c.file_id in offsets}
            await ws.send_json({"type": "ack", "id": batch.id, "offsets": done})
    return ws
