"""A render worker: a process that answers Graphite read requests for the web server.

The server's event loop must never run work whose cost a requester chooses, so renders,
finds and tag queries run here, in another process (which also puts the second core
to work). The worker reads the whisper files itself; the points the store has accepted
but not yet written live in the server's memory, so the worker asks the server for
them over its socket, as graphite-web asks carbon-cache over CarbonLink: first which
names have cached points (once per request), then the points of each such name it
reads. A name not in the cache costs no question at all, which is the usual case.

Messages are length-prefixed pickles over a socket pair, between this process and its
parent only (nothing from the network is unpickled):

- server to worker: ``("job", kind, params, arg)``, and ``("cache", value)`` answers;
- worker to server: ``("ask", question, arg)``, and ``("answer", status, type, body)``.

The worker's memory is capped (``render.max_memory_mb``): a request past it gets 503
and the worker stays up. The server stops a worker that takes too long by killing it.
"""

from __future__ import annotations

import logging
import pickle
import resource
import signal
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.render.api import Answer, Backend, Params, answer, error
from monitor.render.limits import RenderSettings
from monitor.store.events import EventStore
from monitor.store.finder import StoreEvents, StoreFinder
from monitor.store.rules import Rules, StoreSettings
from monitor.store.whisper_store import WhisperReader

__all__ = ["WorkerSetup", "read_frame", "send_frame", "serve"]

log = logging.getLogger("monitor.render")

_HEADER = struct.Struct("!I")


def send_frame(sock: socket.socket, message: Any) -> None:
    """Send one message (a pickle with its length in front)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def read_frame(sock: socket.socket) -> Any:
    """Read one message; ``EOFError`` when the other end has closed."""
    (length,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
    return pickle.loads(_read_exactly(sock, length))


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = []
    while count:
        chunk = sock.recv(min(count, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to know, sent once when it starts."""

    root: Path
    store: StoreSettings
    events: Path
    timezone: str
    render: RenderSettings
    jsonp: bool = False


class LinkedStore(WhisperReader):
    """The whisper files, with the server's cache read over the worker's socket."""

    def __init__(self, sock: socket.socket, root: Path, settings: StoreSettings) -> None:
        super().__init__(root, Rules(settings), time.time)
        self.sock = sock
        self._names: set[str] | None = None
        self._tagged: set[str] | None = None

    def new_request(self) -> None:
        """Forget what the cache held for the last request."""
        self._names = self._tagged = None

    def _ask(self, question: str, arg: str = "") -> Any:
        send_frame(self.sock, ("ask", question, arg))
        kind, value = read_frame(self.sock)
        assert kind == "cache", kind
        return value

    def cached_metrics(self) -> set[str]:
        if self._names is None:
            self._names = self._ask("cached_metrics")
        return self._names

    def cached(self, metric: str) -> dict[int, float]:
        if metric not in self.cached_metrics():
            return {}
        points: dict[int, float] = self._ask("cached", metric)
        return points

    def tagged_created(self) -> set[str]:
        if self._tagged is None:
            self._tagged = self._ask("tagged_created")
        return self._tagged


def serve(sock: socket.socket, setup: WorkerSetup) -> None:
    """The worker's life: answer jobs until the server closes the socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    limit = setup.render.max_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    store = LinkedStore(sock, setup.root, setup.store)
    events = EventStore(setup.events)
    backend = Backend(
        StoreFinder(store), StoreEvents(events), ZoneInfo(setup.timezone), setup.render, setup.jsonp
    )
    try:
        while True:
            try:
                message = read_frame(sock)
            except EOFError:
                return
            _, kind, pairs, arg = message
            store.new_request()
            result = _answer(kind, Params(pairs), backend, arg)
            body = result.body if isinstance(result.body, bytes) else result.body.encode()
            send_frame(sock, ("answer", result.status, result.content_type, body))
    finally:
        events.close()


def _answer(kind: str, params: Params, backend: Backend, arg: str) -> Answer:
    try:
        return answer(kind, params, backend, arg)
    except MemoryError:
        pass  # leaving this block frees the frames that hold the memory: answer below
    except RecursionError:
        return error("this request nests too deeply to evaluate")
    except Exception as exc:  # a bug: say so, keep serving
        log.exception("render worker: %s failed", kind)
        return error(f"internal error: {type(exc).__name__}: {exc}", status=500)
    return error(
        "this request needs more memory than a render worker may use"
        f" ({backend.settings.max_memory_mb} MiB: render.max_memory_mb); ask for fewer"
        " series or a shorter range",
        status=503,
    )
