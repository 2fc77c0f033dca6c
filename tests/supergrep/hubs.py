"""A real hub on a free port, and a websocket viewer client, for the tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import websockets
from aiohttp import web

from monitor.web.app import make_app
from supergrep.server import Supergrep
from supergrep.settings import StreamSettings, SupergrepSettings
from tests.conftest import UNIT


@dataclasses.dataclass
class RunningHub:
    url: str  # http://127.0.0.1:PORT
    service: Supergrep

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://") + "/supergrep/ws"


@contextlib.asynccontextmanager
async def running_hub(
    streams: dict[str, list[str]],
    *,
    token: str = "",
    state_dir: Path | None = None,
    port: int = 0,
    **settings: Any,
) -> AsyncIterator[RunningHub]:
    """A hub tailing ``streams`` (name -> globs), served by ``monitor``'s own app."""
    config = SupergrepSettings(
        streams=types.MappingProxyType(  # type: ignore[arg-type]
            {name: StreamSettings(tuple(paths)) for name, paths in streams.items()}
        ),
        host="testhost",
        **settings,
    )
    service = Supergrep(config, token=token, state_dir=state_dir)
    await service.start()
    runner = web.AppRunner(make_app(list, supergrep=service, token=token))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    host, bound = runner.addresses[0][:2]
    try:
        yield RunningHub(f"http://{host}:{bound}", service)
    finally:
        await runner.cleanup()
        await service.stop()


class ViewerClient:
    """A viewer on a websocket: sends subscriptions, collects what arrives."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection
        self.messages: list[dict[str, Any]] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, **kwargs: Any) -> AsyncIterator[ViewerClient]:
        async with websockets.connect(url, max_size=None, **kwargs) as connection:
            yield cls(connection)

    async def send(self, **message: Any) -> None:
        await self.connection.send(json.dumps(message))

    async def subscribe(self, *streams: str, **options: Any) -> None:
        await self.send(type="subscribe", streams=list(streams), **options)

    def lines(self) -> list[dict[str, Any]]:
        return [x for m in self.messages if m["type"] == "lines" for x in m["lines"]]

    def texts(self) -> list[str]:
        return [x["text"] for x in self.lines()]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def until(
        self, condition: Callable[[ViewerClient], bool], timeout: float = 5 * UNIT
    ) -> None:
        """Receive until ``condition(self)`` holds; fail with what arrived if it does not."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [m["type"] for m in self.messages]
                raise AssertionError(f"timed out; got {kinds} and lines {self.texts()[-5:]}")
            try:
                raw = await asyncio.wait_for(self.connection.recv(), left)
            except TimeoutError:
                continue
            self.messages.append(json.loads(raw))
