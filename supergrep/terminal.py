"""``supergrep tail``: the hub's live feed in a terminal.

The same protocol as the browser page, on the ``websockets`` client: subscribe to one
or more streams with include/exclude patterns, print lines as ``host stream | text``
with a stable colour per host (only on a terminal), and show the hub's notices (drops,
gaps, switched-off filters, errors) on stderr. Reconnects and resumes from the last
line seen, so a hub restart or a network blip shows as a notice, not as lost lines.

Control characters in log text (ANSI escapes, carriage returns) are made visible
instead of being sent to the terminal: a log line must not be able to repaint it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any, TextIO

import websockets

__all__ = ["TailOptions", "format_line", "run_tail"]

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


def format_line(line: dict[str, Any], colour: bool) -> str:
    """One line for the terminal, control characters made visible."""
    text = str(line.get("text", "")).translate(_CONTROL)
    host = str(line.get("host", "")).translate(_CONTROL)
    label = f"{host} {line.get('stream', '')}"
    if colour:
        code = COLOURS[zlib.crc32(host.encode()) % len(COLOURS)]
        label = f"\x1b[{code}m{label}\x1b[0m"
    return f"{label} | {text}" + (" [truncated]" if line.get("truncated") else "")


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
    while not stop.is_set():
        try:
            async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
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
                        if kind == "hello":
                            if epoch and message["epoch"] != epoch:
                                last = {}  # a new hub run: its numbers start again
                            epoch = message["epoch"]
                        elif kind == "lines":
                            for line in message["lines"]:
                                last[line["stream"]] = line["seq"]
                                print(format_line(line, options.colour), file=out)
                            out.flush()
                        elif kind == "error":
                            print(f"supergrep: {message['message']}", file=err)
                            if message.get("code") in ("bad_filter", "unknown_stream"):
                                return 2
                        elif kind in ("dropped", "gap", "filter_off"):
                            print(f"supergrep: {_describe(message)}", file=err)
                finally:
                    reading.cancel()
                    stopping.cancel()
        except websockets.InvalidStatus as exc:
            print(f"supergrep: {url}: refused: HTTP {exc.response.status_code}", file=err)
            return 2
        except (OSError, websockets.WebSocketException) as exc:
            print(f"supergrep: {url}: {exc}; reconnecting in {delay:.1f} s", file=err)
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
