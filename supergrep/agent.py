"""``supergrep agent``: ship this host's log lines to a hub, losing none, sending none twice.

The files are the buffer. The agent reads a file from the last offset the hub
acknowledged, sends lines in batches (the websocket compresses them), and keeps at most
``max_inflight`` bytes unacknowledged; past that it stops reading until acks arrive, so
an agent cut off for an hour holds no growing memory and catches up from the files when
the link returns. Acknowledged offsets are saved in ``state`` (a small JSON file), so a
restarted agent resumes where the hub stopped hearing from it.

Exactly once: every batch carries, per file, the byte range its lines span. The hub
keeps the offset it has per (host, file) and takes only a chunk that starts exactly
there (or one marked ``reset``: a file truncated in place starts over); every ack
carries the hub's offsets, and when one is short of what the agent sent (a chunk sent
twice across a reconnect, or one following a refused chunk) the agent reads that file
again from the hub's offset. On (re)connect the hub sends its offsets, and the agent
seeks each file to the larger of its own acknowledged offset and the hub's. A file is
identified by (device, inode), so rotation never makes the agent read a file twice; a
rotated-away file stays open until everything in it is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import websockets

from supergrep.protocol import AGENT_PROTOCOL, VERSION
from supergrep.tail import Chunk, FileId, StreamTail, Watcher

__all__ = ["Agent"]

log = logging.getLogger(__name__)


def _file_id(text: str) -> FileId | None:
    dev, _, ino = text.partition(":")
    return FileId(int(dev), int(ino)) if dev.isdigit() and ino.isdigit() else None


class Agent:
    """Follows ``streams`` (name -> globs) and ships their lines to the hub at ``hub``."""

    def __init__(
        self,
        hub: str,
        streams: Mapping[str, tuple[str, ...]],
        *,
        host: str,
        token: str = "",
        state: Path,
        max_inflight: int = 4 << 20,
        batch_bytes: int = 256 << 10,
        batch_interval: float = 0.05,
        max_line: int = 16384,
        poll: float = 0.5,
        keepalive: float = 10.0,
    ) -> None:
        self.hub = hub
        self.host = host
        self.token = token
        self.state = state
        self.max_inflight = max_inflight
        self.batch_bytes = batch_bytes
        self.batch_interval = batch_interval
        self.poll = poll
        self.keepalive = keepalive
        self.acked: dict[str, int] = self._load()
        resume = {fid: off for key, off in self.acked.items() if (fid := _file_id(key))}
        self.tails = {
            name: StreamTail(
                tuple(patterns),
                max_line=max_line,
                backfill_bytes=0,  # first run: start at the end, as tail -F does
                linger=5.0,
                resume=dict(resume),
                closable=self._acknowledged,
            )
            for name, patterns in streams.items()
        }
        self._inflight: dict[int, list[tuple[str, int, int]]] = {}  # id -> (file, start, end)
        self._inflight_bytes = 0
        self._next_id = 1
        self._wake = asyncio.Event()
        self._saved_at = 0.0
        self._rescanned_at = 0.0
        self._dirty = False

    # -- state ----------------------------------------------------------------------------

    def _load(self) -> dict[str, int]:
        try:
            loaded = json.loads(self.state.read_text())
            return {str(k): int(v) for k, v in loaded["acked"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
            log.warning("ignoring unreadable state %s: %s", self.state, exc)
            return {}

    def save(self) -> None:
        """Write the acknowledged offsets (atomically)."""
        self.state.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state.with_suffix(".tmp")
        temporary.write_text(json.dumps({"version": VERSION, "acked": self.acked}))
        os.replace(temporary, self.state)
        self._saved_at, self._dirty = time.monotonic(), False

    def _acknowledged(self, file_id: FileId, offset: int) -> bool:
        return self.acked.get(str(file_id), 0) >= offset

    # -- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Ship lines until ``stop`` is set, reconnecting with backoff."""
        watcher = Watcher(self._changed)
        watcher.start(asyncio.get_running_loop())
        delay = 0.2
        try:
            for tail in self.tails.values():
                tail.rescan()  # open the files at their resume offsets (or at the end)
                watcher.watch(tail.directories())
            while not stop.is_set():
                try:
                    await self._session(stop, watcher)
                    delay = 0.2
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    log.warning("hub %s: %s; retrying in %.1f s", self.hub, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)
        finally:
            watcher.close()
            for tail in self.tails.values():
                tail.close()
            self.save()

    def _changed(self, modified_only: bool) -> None:
        if not modified_only:  # created, moved, deleted: look at the names again first
            self._rescanned_at = 0.0
        self._wake.set()

    async def _session(self, stop: asyncio.Event, watcher: Watcher) -> None:
        url = f"{self.hub}?{urlencode({'host': self.host, 'protocol': AGENT_PROTOCOL})}"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with websockets.connect(
            url,
            additional_headers=headers,
            max_size=None,
            open_timeout=5,
            ping_interval=self.keepalive,  # a dead link is noticed within 2 x keepalive
            ping_timeout=self.keepalive,
        ) as ws:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if welcome.get("type") != "welcome":
                raise websockets.InvalidMessage(f"expected a welcome, got {welcome!r}")
            for key, offset in welcome.get("offsets", {}).items():
                if isinstance(offset, int) and offset > self.acked.get(key, -1):
                    self.acked[key] = offset
            self._rewind()
            log.info("connected to %s as %s", self.hub, self.host)
            receiver = asyncio.create_task(self._receive(ws))
            stopping = asyncio.create_task(stop.wait())
            try:
                while not stop.is_set() and not receiver.done():
                    await self._send_available(ws, watcher)
                    self._wake.clear()
                    await asyncio.wait(
                        [receiver, stopping, asyncio.create_task(self._wake.wait())],
                        timeout=self.poll,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    await asyncio.sleep(self.batch_interval)  # let a batch gather
                if receiver.done():
                    receiver.result()  # raises why the link ended
            finally:
                receiver.cancel()
                stopping.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException):
                    await receiver

    def _rewind(self) -> None:
        """Back to the acknowledged offsets: what was in flight is read and sent again."""
        self._inflight.clear()
        self._inflight_bytes = 0
        self._rescanned_at = 0.0  # names may have changed while disconnected
        for tail in self.tails.values():
            tail.seek(
                {
                    file_id: self.acked[str(file_id)]
                    for _, file_id, _ in tail.files()
                    if str(file_id) in self.acked
                }
            )

    async def _send_available(self, ws: Any, watcher: Watcher) -> None:
        rescan = time.monotonic() - self._rescanned_at > (0.25 if not watcher.active else 1.0)
        for name, tail in self.tails.items():
            if rescan:
                self._rescanned_at = time.monotonic()
                chunks = tail.rescan(read=False)  # new, rotated, truncated files
                watcher.watch(tail.directories())
                if chunks:
                    await self._send(ws, name, chunks)
            while self._inflight_bytes < self.max_inflight:
                room = min(self.batch_bytes, self.max_inflight - self._inflight_bytes)
                chunks = tail.read(room)
                if not chunks:
                    break
                await self._send(ws, name, chunks)
        if self._dirty and time.monotonic() - self._saved_at > 0.5:
            self.save()

    async def _send(self, ws: Any, stream: str, chunks: list[Chunk]) -> None:
        batch_id = self._next_id
        self._next_id += 1
        now = time.time()
        message = {
            "type": "batch",
            "id": batch_id,
            "chunks": [
                {
                    "stream": stream,
                    "file": c.path,
                    "file_id": str(c.file_id),
                    "start": c.start,
                    "end": c.end,
                    "ts": now,
                    "lines": c.texts,
                    "truncated": [i for i, cut in enumerate(c.truncated) if cut],
                    **({"reset": True} if c.reset else {}),
                }
                for c in chunks
            ],
        }
        self._inflight[batch_id] = [(str(c.file_id), c.start, c.end) for c in chunks]
        self._inflight_bytes += sum(c.end - c.start for c in chunks)
        await ws.send(json.dumps(message, ensure_ascii=False))

    async def _receive(self, ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "error":
                log.warning("hub says: %s", message.get("message"))
                continue
            if message.get("type") != "ack":
                continue
            sent = self._inflight.pop(message["id"], [])
            offsets = {k: v for k, v in message.get("offsets", {}).items() if isinstance(v, int)}
            for key, offset in offsets.items():
                if offset != self.acked.get(key):  # the hub's offset is the truth
                    self.acked[key] = offset
                    self._dirty = True
            for key, _start, end in sent:
                have = offsets.get(key)
                if have is not None and have < end:  # the hub did not take it all
                    self._read_again(key, have)
            self._inflight_bytes = sum(e - s for b in self._inflight.values() for _, s, e in b)
            self._wake.set()

    def _read_again(self, key: str, offset: int) -> None:
        """Go back to ``offset`` in one file: what was sent after it is forgotten (the
        hub refuses it, as it follows a gap) and read and sent again."""
        for batch in self._inflight.values():
            batch[:] = [entry for entry in batch if entry[0] != key]
        for tail in self.tails.values():
            for _, file_id, _ in tail.files():
                if str(file_id) == key:
                    tail.seek({file_id: offset})
