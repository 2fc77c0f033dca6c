"""``supergrep tail``: the hub's live feed in a terminal.

The same protocol as the browser page, on the ``websockets`` client: subscribe to one
or more streams with include/exclude patterns, print lines as ``host stream | text``
with a stable colour per host (only on a terminal), deploys as banners in the stream
where they happened (as on the page), and the hub's notices (drops, gaps, switched-off
filters, errors) on stderr. Reconnects and resumes from the last line seen, so a hub
restart or a network blip shows as a notice, not as lost lines; a hub that cannot be
reached at all, or does not answer, is an error within ``timeout`` seconds.

Control characters in log text (ANSI escapes, carriage returns) are made visible
instead of being sent to the terminal: a log line must not be able to repaint it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, TextIO

import websockets

__all__ = ["TailOptions", "format_deploy", "format_line", "run_tail"]

COLOURS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
_CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c != 9} | {127: "\\x7f"}


@dataclass
class TailOptions:
    """What ``supergrep tail`` was asked for."""

    server: str  # http://host:8080
    streams: list[str]
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    ignore_case: bool = False
    backfill: int = 10
    token: str = ""
    colour: bool = False
    #: Seconds to wait for the hub to accept and greet us.
    timeout: float = 5.0


def format_line(line: dict[str, Any], colour: bool) -> str:
    """One line for the terminal, control characters made visible."""
    text = str(line.get("text", "")).translate(_CONTROL)
    host = str(line.get("host", "")).translate(_CONTROL)
    label = f"{host} {line.get('stream', '')}"
    if colour:
        code = COLOURS[zlib.crc32(host.encode()) % len(COLOURS)]
        label = f"\x1b[{code}m{label}\x1b[0m"
    return f"{label} | {text}" + (" [truncated]" if line.get("truncated") else "")


def format_deploy(message: dict[str, Any], colour: bool) -> str:
    """A deploy banner: what, who, sha, when (UTC) and the link, on one line."""
    when = message.get("when")
    stamp = (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(when)))
        if isinstance(when, int | float)
        else ""
    )
    parts = [str(message.get("what") or "deploy")]
    if message.get("who"):
        parts.append(f"by {message['who']}")
    if message.get("sha"):
        parts.append(f"sha {message['sha']}")
    if stamp:
        parts.append(f"at {stamp}")
    if message.get("url"):
        parts.append(str(message["url"]))
    text = f"=== {' '.join(parts)} ===".translate(_CONTROL)
    return f"\x1b[1;30;43m{text}\x1b[0m" if colour else text


def _ws_url(server: str) -> str:
    base = server.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    elif not base.startswith(("ws://", "wss://")):
        base = "ws://" + base
    return base + "/supergrep/ws"


async def run_tail(
    options: TailOptions,
    stop: asyncio.Event,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Print the feed until ``stop``; returns the exit status (2 for a refused request)."""
    url = _ws_url(options.server)
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    last: dict[str, int] = {}
    epoch = ""
    delay = 0.5
    reached = False  # once the hub has answered, its absence is an outage: reconnect
    while not stop.is_set():
        try:
            async with websockets.connect(
                url, additional_headers=headers, max_size=None, open_timeout=options.timeout
            ) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), options.timeout))
                if hello.get("type") != "hello":
                    raise websockets.InvalidMessage(f"expected hello, got {hello.get('type')!r}")
                if epoch and hello["epoch"] != epoch:
                    last = {}  # a new hub run: its numbers start again
                epoch = hello["epoch"]
                reached = True
                delay = 0.5
                subscribe: dict[str, Any] = {
                    "type": "subscribe",
                    "streams": options.streams,
                    "include": options.include,
                    "exclude": options.exclude,
                    "ignore_case": options.ignore_case,
                }
                if last and epoch:
                    subscribe |= {"resume": last, "epoch": epoch}
                else:
                    subscribe["backfill"] = options.backfill
                await ws.send(json.dumps(subscribe))
                reading = asyncio.ensure_future(ws.recv())
                stopping = asyncio.ensure_future(stop.wait())
                try:
                    while True:
                        done, _ = await asyncio.wait(
                            [reading, stopping], return_when=asyncio.FIRST_COMPLETED
                        )
                        if stopping in done:
                            return 0
                        message = json.loads(reading.result())
                        reading = asyncio.ensure_future(ws.recv())
                        kind = message.get("type")
                        if kind == "lines":
                            for line in message["lines"]:
                                last[line["stream"]] = line["seq"]
                                print(format_line(line, options.colour), file=out)
                            out.flush()
                        elif kind == "error":
                            print(f"supergrep: {message['message']}", file=err)
                            if message.get("code") in ("bad_filter", "unknown_stream"):
                                return 2
                        elif kind == "deploy":
                            print(format_deploy(message, options.colour), file=out)
                            out.flush()
                        elif kind in ("dropped", "gap", "filter_off"):
                            print(f"supergrep: {_describe(message)}", file=err)
                finally:
                    reading.cancel()
                    stopping.cancel()
        except websockets.InvalidStatus as exc:
            print(f"supergrep: {url}: refused: HTTP {exc.response.status_code}", file=err)
            return 2
        except (OSError, websockets.WebSocketException, ValueError) as exc:
            silent = isinstance(exc, TimeoutError) or not str(exc)
            why = f"no answer within {options.timeout:g} s" if silent else str(exc)
            if not reached:
                print(
                    f"supergrep: cannot reach a hub at {url}: {why} (is `monitor up` or"
                    " `supergrep serve` running there? --server or $SUPERGREP_SERVER"
                    " names it)",
                    file=err,
                )
                return 2
            print(f"supergrep: {url}: {why}; reconnecting in {delay:.1f} s", file=err)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 5.0)
    return 0


def _describe(message: dict[str, Any]) -> str:
    kind = message["type"]
    if kind == "dropped":
        streams = ", ".join(f"{n} from {s}" for s, n in message.get("streams", {}).items())
        return f"{message['count']} lines dropped (this terminal was too slow): {streams}"
    if kind == "gap":
        span = f" ({message['from']}..{message['to']})" if message.get("from") else ""
        return f"gap in {message['stream']}{span}: {message['reason']}"
    return f"{message['field']} pattern {message['pattern']!r} switched off: {message['reason']}"
