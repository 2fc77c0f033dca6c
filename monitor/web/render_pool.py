"""The render workers, seen from the web server's event loop.

``RenderPool.ask`` sends a Graphite read request (its kind and parameters) to an idle
worker process (``render_worker.py``) and waits for the answer, serving the worker's
questions about the store's cache meanwhile. The loop only moves bytes, so statsd,
carbon, supergrep and every other request go on while a render computes, and two
workers use both cores of a small box.

Every request is bounded in time (``render.timeout``, waiting for a worker included):
past it the worker is killed, so it does not go on computing, a fresh one takes its
place, and the answer is 503 naming the setting. At most ``render.max_queue`` requests
wait for a worker; more are refused at once. A worker that dies (killed by the system,
a bug) costs its request a 503 and is replaced.

Workers come from a fork server that has imported the render engine once, so starting
one (at start, or after a kill) takes milliseconds, not the half second of importing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import socket
import struct
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from monitor.render.api import Answer, error
from monitor.store.whisper_store import WhisperReader
from monitor.web.render_worker import WorkerSetup, serve

__all__ = ["PoolStats", "RenderPool"]

log = logging.getLogger("monitor.render")

_HEADER = struct.Struct("!I")
#: Workers one request may try (a worker killed while idle is found out only when it
#: does not answer).
ATTEMPTS = 3


@dataclass
class PoolStats:
    """Counts since start, for the status page."""

    answered: int = 0
    timed_out: int = 0
    refused: int = 0
    died: int = 0
    restarted: int = 0


class _Worker:
    """One worker process and the loop's end of its socket."""

    def __init__(
        self, process: BaseProcess, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.process = process
        self.reader = reader
        self.writer = writer

    async def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self.writer.write(_HEADER.pack(len(data)) + data)
        await self.writer.drain()

    async def receive(self) -> Any:
        (length,) = _HEADER.unpack(await self.reader.readexactly(_HEADER.size))
        return pickle.loads(await self.reader.readexactly(length))

    async def run(
        self, job: tuple[str, str, list[tuple[str, str]], str], cache: WhisperReader
    ) -> Answer:
        await self.send(job)
        while True:
            message = await self.receive()
            if message[0] == "answer":
                _, status, content_type, body = message
                return Answer(status, content_type, body)
            _, question, arg = message
            if question == "cached_metrics":
                value: Any = cache.cached_metrics()
            elif question == "cached":
                value = cache.cached(arg)
            else:
                value = cache.tagged_created()
            await self.send(("cache", value))

    def kill(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()


class RenderPool:
    """Worker processes answering ``monitor.render.api`` requests, with deadlines."""

    def __init__(self, setup: WorkerSetup, cache: WhisperReader) -> None:
        self.setup = setup
        self.settings = setup.render
        self.cache = cache
        self.size = self.settings.workers or max(1, min(4, os.cpu_count() or 1))
        self.stats = PoolStats()
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._busy: set[_Worker] = set()
        self._waiting = 0
        self._spawning: set[asyncio.Task[None]] = set()
        self._stopped = False
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["monitor.web.render_worker"])

    async def start(self) -> None:
        """Start the workers (requests wait for the first one to be ready)."""
        for _ in range(self.size):
            self._respawn()

    async def stop(self) -> None:
        """Stop every worker, whatever it is doing (they only read)."""
        self._stopped = True
        await asyncio.gather(*self._spawning, return_exceptions=True)  # they see _stopped
        workers, self._all = self._all, set()
        for worker in workers:
            worker.kill()
        await asyncio.gather(
            *(w.writer.wait_closed() for w in workers),
            *(asyncio.to_thread(w.process.join, 5) for w in workers),
            return_exceptions=True,
        )

    def counts(self) -> dict[str, float]:
        """The numbers of ``describe``, by name."""
        s = self.stats
        return {"workers": len(self._all), "busy": len(self._busy), "waiting": self._waiting,
                "answered": s.answered, "timed_out": s.timed_out, "refused": s.refused,
                "workers_died": s.died}  # fmt: skip

    def describe(self) -> str:
        """The status page's line."""
        s = self.stats
        return (
            f"{len(self._all)} of {self.size} worker processes ({len(self._busy)} busy,"
            f" {self._waiting} waiting); {s.answered:,} answered, {s.timed_out:,} stopped"
            f" at render.timeout ({self.settings.timeout:g} s), {s.refused:,} refused"
            f" (render.max_queue), {s.died:,} workers died"
        )

    def pids(self) -> dict[int, bool]:
        """Each worker's process id, and whether it is computing an answer now."""
        return {w.process.pid or 0: w in self._busy for w in self._all}

    async def ask(self, kind: str, pairs: list[tuple[str, str]], arg: str = "") -> Answer:
        """The answer to one request, or a 503 saying which limit it hit. A worker that
        dies under a request (found dead when given it, or killed by the system) costs
        the request a retry on another, up to ``ATTEMPTS`` tries: every request here
        only reads."""
        deadline = asyncio.get_running_loop().time() + self.settings.timeout
        if self._idle.empty() and self._waiting >= self.settings.max_queue:
            self.stats.refused += 1
            return error(
                f"too many requests wait for a render worker ({self._waiting}: the limit is"
                " render.max_queue); try again",
                status=503,
            )
        attempt = 0
        while True:
            self._waiting += 1
            try:
                async with asyncio.timeout_at(deadline):
                    worker = await self._idle.get()
            except TimeoutError:
                self.stats.timed_out += 1
                return self._too_slow("waiting for a render worker")
            finally:
                self._waiting -= 1
            if not worker.process.is_alive():  # died while idle: found out now
                self.stats.died += 1
                self._replace(worker)
                continue
            attempt += 1
            self._busy.add(worker)
            try:
                async with asyncio.timeout_at(deadline):
                    answer = await worker.run(("job", kind, pairs, arg), self.cache)
            except TimeoutError:
                self.stats.timed_out += 1
                self._replace(worker)
                return self._too_slow("computing the answer")
            except (EOFError, asyncio.IncompleteReadError, ConnectionError) as exc:
                self.stats.died += 1
                log.warning("render worker %s died (%r) under: %s", worker.process.pid, exc, kind)
                self._replace(worker)
                if attempt < ATTEMPTS:  # perhaps dead before it got the job: retry
                    continue
                return error(f"render workers stopped {ATTEMPTS} times while answering", status=503)
            except BaseException:  # cancelled with its request: the worker may be mid-answer
                self._replace(worker)
                raise
            self._busy.discard(worker)
            self.stats.answered += 1
            self._idle.put_nowait(worker)
            return answer

    def _too_slow(self, doing: str) -> Answer:
        return error(
            f"this request took longer than {self.settings.timeout:g} s ({doing}; the limit is"
            " render.timeout): ask for fewer series or a shorter range",
            status=503,
        )

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._all.discard(worker)
        self._busy.discard(worker)
        self.stats.restarted += 1
        asyncio.get_running_loop().run_in_executor(None, worker.process.join, 5)
        self._respawn()

    def _respawn(self) -> None:
        if self._stopped:
            return
        task = asyncio.create_task(self._spawn())
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)

    async def _spawn(self) -> None:
        while not self._stopped:
            try:
                process, ours = await asyncio.to_thread(self._start_process)
            except OSError as exc:
                log.error("cannot start a render worker: %s; trying again in 5 s", exc)
                await asyncio.sleep(5)
                continue
            reader, writer = await asyncio.open_unix_connection(sock=ours)
            worker = _Worker(process, reader, writer)
            if self._stopped:
                worker.kill()
                await writer.wait_closed()
                return
            self._all.add(worker)
            self._idle.put_nowait(worker)
            return

    def _start_process(self) -> tuple[BaseProcess, socket.socket]:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=serve, args=(theirs, self.setup), name="monitor-render", daemon=True
        )
        try:
            process.start()
        finally:
            theirs.close()
        return process, ours
