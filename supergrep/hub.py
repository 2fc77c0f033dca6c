"""The hub's core: numbered streams, a ring per stream, and fan-out to viewers.

Pure code (no asyncio, no sockets). Lines are published per stream in batches; each
gets the stream's next sequence number and goes into the stream's ring (the last
``ring`` lines, for backfill and resume). Every viewer subscribes to some streams with
a ``FilterSpec``; viewers with the same spec share one ``Matcher``, so a line is
matched once per distinct filter, however many viewers use it.

Stack traces stay whole: every line carries its group (``traces.py``), and a filter
shows a group when any of its lines matches (``Matcher.select``).

A viewer is a bounded queue. Publishing never waits for a viewer: when a viewer's queue
is full (it reads too slowly), new lines for it are counted as dropped, per stream, and
it receives a drop notice with the counts when it catches up. Memory per viewer is
bounded by ``max_lines`` and ``max_bytes``.

The hub is not thread-safe and is meant to be owned by one thread (the server runs it
on a thread of its own, so that matching never holds the event loop); only a
``Viewer`` is shared, between the hub's thread, which fills it, and the sender, which
empties it, and it locks for that.

``epoch`` names this run of the hub: sequence numbers are only comparable within one
epoch, so a viewer resuming with another epoch's numbers is told about the gap instead
of being sent duplicates.
"""

from __future__ import annotations

import bisect
import itertools
import json
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from supergrep.filters import FilterSpec, Matcher
from supergrep.lines import Line, encode_lines, encode_run
from supergrep.traces import TraceGrouper

__all__ = ["Hub", "UnknownStream", "Viewer"]


class UnknownStream(KeyError):
    """A viewer asked for a stream the configuration does not name."""

    def __str__(self) -> str:
        return f"unknown stream {self.args[0]!r}"


@dataclass
class Viewer:
    """One subscriber's bounded queue of lines and notices waiting to be sent.

    The queue holds batches (lists of lines already encoded as JSON) rather than single
    lines, so queueing and sending cost per batch, not per line. Every method may be
    called from any thread.
    """

    max_lines: int = 20000
    max_bytes: int = 8 << 20
    #: Called (with no argument, from the thread that queued) when something is queued
    #: and the sender has taken everything since the last call: to wake the sender.
    wake: Callable[[], object] = lambda: None
    queue: deque[list[str] | _Dropped | _Notice] = field(default_factory=deque)
    queued_lines: int = 0
    queued_bytes: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    notices: list[dict[str, Any]] = field(default_factory=list)
    streams: tuple[str, ...] = ()
    spec: FilterSpec = field(default_factory=FilterSpec)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _woken: bool = False  # wake() called, and take() not called since

    def _wake(self) -> None:
        """Wake the sender once per ``take`` (the lock is held)."""
        if not self._woken:
            self._woken = True
            self.wake()

    def offer(self, lines: Sequence[Line], encoded: list[str] | None = None) -> None:
        """Queue ``lines`` (``encoded``: their JSON, if already made). What does not fit
        is counted as dropped, and the count is reported in order: after the lines
        queued before the drop."""
        if not lines:
            return
        if encoded is None:
            encoded = encode_lines(lines)
        with self._lock:
            self._offer(lines, encoded)

    def _offer(self, lines: Sequence[Line], encoded: list[str]) -> None:
        room = self.max_lines - self.queued_lines
        sizes = list(itertools.accumulate(map(len, encoded)))
        fits = min(room, bisect.bisect_right(sizes, self.max_bytes - self.queued_bytes))
        if fits > 0:
            if self.dropped:  # the lines before these were dropped
                self.queue.append(_Dropped(self.dropped))
                self.dropped = Counter()
            self.queue.append(encoded if fits == len(encoded) else encoded[:fits])
            self.queued_lines += fits
            self.queued_bytes += sizes[fits - 1]
        if fits < len(lines):
            self.dropped.update(line.stream for line in lines[max(fits, 0) :])
        self._wake()

    def discard_lines(self) -> None:
        """Forget the lines (and drop counts) queued so far; notices stay."""
        with self._lock:
            self.queue = deque(item for item in self.queue if isinstance(item, _Notice))
            self.queued_lines = self.queued_bytes = 0
            self.dropped = Counter()

    #: Notices waiting at most; past it they are dropped and counted (a viewer that
    #: sends bad messages without reading the answers must not grow the hub).
    max_notices: int = 100
    notices_dropped: int = 0

    def notify(self, message: dict[str, Any]) -> None:
        """Queue a notice (error, switched-off filter, gap, deploy…): sent before lines.
        Past ``max_notices`` waiting, notices are dropped and counted, and the viewer is
        told how many when it reads again."""
        with self._lock:
            if len(self.notices) >= self.max_notices:
                self.notices_dropped += 1
                return
            self.notices.append(message)
            self._wake()

    def place(self, message: dict[str, Any]) -> None:
        """Queue a notice in line with the lines: sent after those queued before it (a
        deploy banner replayed at its place in a backfill)."""
        with self._lock:
            self.queue.append(_Notice(message))
            self._wake()

    def take(self, limit: int) -> list[str]:
        """The next messages to send, as JSON text, in order: notices, then up to
        ``limit`` lines in ``lines`` messages, with ``dropped`` messages where lines
        were dropped."""
        with self._lock:
            self._woken = False
            return self._take(limit)

    def _take(self, limit: int) -> list[str]:
        messages = [_encode(notice) for notice in self.notices]
        self.notices = []
        if self.notices_dropped:
            messages.append(_encode({"type": "notices_dropped", "count": self.notices_dropped}))
            self.notices_dropped = 0
        batch: list[str] = []
        queue = self.queue
        while queue and len(batch) < limit:
            item = queue.popleft()
            if isinstance(item, _Dropped | _Notice):
                if batch:
                    messages.append(self._lines(batch))
                    batch = []
                messages.append(_encode(item.message()))
                continue
            want = limit - len(batch)
            if len(item) > want:
                queue.appendleft(item[want:])
                item = item[:want]
            batch += item
        if batch:
            messages.append(self._lines(batch))
        if not queue and self.dropped:
            messages.append(_encode(_Dropped(self.dropped).message()))
            self.dropped = Counter()
        return messages

    def _lines(self, batch: list[str]) -> str:
        self.queued_lines -= len(batch)
        self.queued_bytes -= sum(map(len, batch))
        return '{"type":"lines","lines":[' + ",".join(batch) + "]}"

    @property
    def pending(self) -> bool:
        """True when something waits to be sent."""
        return bool(self.queue or self.notices or self.dropped)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class _Dropped:
    """A place in a viewer's queue where lines were dropped."""

    counts: Counter[str]

    def message(self) -> dict[str, Any]:
        return {"type": "dropped", "count": sum(self.counts.values()), "streams": dict(self.counts)}


@dataclass(frozen=True)
class _Notice:
    """A notice kept in its place among a viewer's queued lines."""

    notice: dict[str, Any]

    def message(self) -> dict[str, Any]:
        return self.notice


@dataclass
class _Stream:
    name: str
    ring: deque[Line]
    next_seq: int = 1
    counted: int = 0  # lines published, for the rate
    rate: float = 0.0  # lines per second, smoothed
    hosts: set[str] = field(default_factory=set)


@dataclass
class _Group:
    matcher: Matcher
    viewers: dict[str, set[int]] = field(default_factory=dict)  # stream -> viewer ids


class Hub:
    """Streams, their rings, and the viewers subscribed to them."""

    def __init__(
        self,
        streams: Iterable[str],
        *,
        ring: int = 10000,
        clock: Callable[[], float] = time.time,
        matcher: Callable[[FilterSpec], Matcher] = Matcher,
    ) -> None:
        self.epoch = secrets.token_hex(4)
        self.clock = clock
        self.ring = ring
        self._new_matcher = matcher
        self._streams: dict[str, _Stream] = {}
        for name in streams:
            self.add_stream(name)
        self._viewers: dict[int, Viewer] = {}
        self._groups: dict[FilterSpec, _Group] = {}
        self._ids = itertools.count(1)
        self._rate_at = clock()
        #: Recent deploys (when the hub heard of them, the banner), so a viewer who
        #: arrives later sees them in its backfill.
        self._deploys: deque[tuple[float, dict[str, Any]]] = deque(maxlen=50)
        self._traces = TraceGrouper()

    # -- streams --------------------------------------------------------------------

    def add_stream(self, name: str) -> None:
        """Make ``name`` a stream (idempotent)."""
        if name not in self._streams:
            self._streams[name] = _Stream(name, deque(maxlen=self.ring))

    def has_stream(self, name: str) -> bool:
        """Whether ``name`` is a stream."""
        return name in self._streams

    def streams_count(self) -> int:
        """How many streams there are."""
        return len(self._streams)

    def stream_info(self) -> list[dict[str, Any]]:
        """Each stream's name, rate (lines/s), last sequence number and hosts seen."""
        return [
            {
                "name": s.name,
                "rate": round(s.rate, 1),
                "last_seq": s.next_seq - 1,
                "hosts": sorted(s.hosts),
            }
            for s in sorted(self._streams.values(), key=lambda s: s.name)
        ]

    def tick(self) -> None:
        """Update the streams' rates (call about once a second)."""
        now = self.clock()
        elapsed = max(now - self._rate_at, 1e-3)
        self._rate_at = now
        for s in self._streams.values():
            current = s.counted / elapsed
            s.rate = current if s.rate == 0 else 0.5 * s.rate + 0.5 * current
            s.counted = 0

    def publish(
        self,
        stream: str,
        host: str,
        file: str,
        texts: Sequence[str],
        truncated: Sequence[bool] | None = None,
        ts: float | None = None,
    ) -> list[Line]:
        """Number ``texts`` as the next lines of ``stream`` and fan them out."""
        s = self._streams.get(stream)
        if s is None:
            raise UnknownStream(stream)
        if not texts:
            return []
        when = self.clock() if ts is None else ts
        first = s.next_seq
        s.next_seq += len(texts)
        s.counted += len(texts)
        s.hosts.add(host)
        flags = truncated if truncated is not None else itertools.repeat(False)
        heads = self._traces.heads((stream, host, file), first, texts)
        new = tuple.__new__  # Line(...) without NamedTuple's Python-level __new__
        lines: list[Line] = [
            new(Line, (stream, seq, when, host, file, text, cut, head))
            for seq, text, cut, head in zip(itertools.count(first), texts, flags, heads)
        ]
        s.ring.extend(lines)
        self._fan_out(stream, lines)
        return lines

    def announce(self, message: dict[str, Any]) -> None:
        """Send a notice (a deploy banner, a heartbeat) to every viewer."""
        for viewer in self._viewers.values():
            viewer.notify(message)

    def deploy(self, message: dict[str, Any]) -> None:
        """A deploy banner: to every viewer now, and kept so that later backfills show
        it where it happened among the lines (placed by the hub's clock, like the
        lines' ``ts``: an event's own ``when`` may be rounded to the second)."""
        self._deploys.append((self.clock(), message))
        self.announce(message)

    # -- viewers --------------------------------------------------------------------

    def connect(self, viewer: Viewer) -> int:
        """Register a viewer; returns its id."""
        viewer_id = next(self._ids)
        self._viewers[viewer_id] = viewer
        return viewer_id

    def disconnect(self, viewer_id: int) -> None:
        """Forget a viewer and its subscription."""
        self._unsubscribe(viewer_id)
        self._viewers.pop(viewer_id, None)

    def subscribe(
        self,
        viewer_id: int,
        streams: Sequence[str],
        spec: FilterSpec,
        *,
        backfill: int = 0,
        resume: dict[str, int] | None = None,
        epoch: str = "",
        marker: dict[str, Any] | None = None,
    ) -> None:
        """Replace the viewer's subscription. Raises ``FilterError`` or ``UnknownStream``
        before changing anything. Lines still queued for the old subscription are
        discarded (the old filter chose them), then ``marker`` (the ``subscribed``
        message) is queued, so the viewer knows where the new view starts. Then the
        backfill (the last ``backfill`` matching lines of each stream) or, with
        ``resume`` from this ``epoch``, every line after the last sequence numbers seen,
        with a gap notice where the ring lost some."""
        for name in streams:
            if name not in self._streams:
                raise UnknownStream(name)
        group = self._groups.get(spec)
        matcher = group.matcher if group is not None else self._new_matcher(spec)
        viewer = self._viewers[viewer_id]
        self._unsubscribe(viewer_id)
        viewer.discard_lines()
        if marker is not None:
            viewer.place(marker)
        if spec not in self._groups:
            self._groups[spec] = _Group(matcher)
        for name in streams:
            self._groups[spec].viewers.setdefault(name, set()).add(viewer_id)
        viewer.streams, viewer.spec = tuple(streams), spec
        replay: list[Line] = []
        for name in streams:
            replay += self._replay(viewer, matcher, name, backfill, resume, epoch)
        self._report_switched(self._groups[spec])  # now, not at the next live line
        replay.sort(key=lambda line: (line.ts, line.stream, line.seq))
        # Deploys during the replayed span go between the lines around them.
        banners = [(at, d) for at, d in self._deploys if replay and at >= replay[0].ts]
        times = [line.ts for line in replay] if banners else []
        start = 0
        for at, banner in banners:
            end = bisect.bisect_right(times, at, lo=start)
            viewer.offer(replay[start:end])
            viewer.place(banner)
            start = end
        viewer.offer(replay[start:])

    def _replay(
        self,
        viewer: Viewer,
        matcher: Matcher,
        name: str,
        backfill: int,
        resume: dict[str, int] | None,
        epoch: str,
    ) -> list[Line]:
        ring = self._streams[name].ring
        if resume is not None and name in resume:
            last_seen = resume[name]
            if epoch != self.epoch:
                viewer.notify(
                    {"type": "gap", "stream": name, "reason": "the hub restarted", "from": None}
                )
                return []
            first_held = ring[0].seq if ring else self._streams[name].next_seq
            if last_seen + 1 < first_held:
                viewer.notify(
                    {
                        "type": "gap",
                        "stream": name,
                        "reason": "lines no longer held by the hub",
                        "from": last_seen + 1,
                        "to": first_held - 1,
                    }
                )
            start = max(0, last_seen + 1 - first_held)
            return matcher.select(list(itertools.islice(ring, start, None)), OrderedDict())
        if backfill <= 0:
            return []
        selected: list[Line] = []
        # Walk back from the newest lines until enough match (bounded by the ring), in
        # windows that start where a group starts, so a trace is judged whole.
        end = len(ring)
        while end > 0 and len(selected) < backfill:
            start = max(0, end - max(backfill, 1000))
            if ring[start].group:
                start = max(0, min(start, ring[start].group - ring[0].seq))
            window = list(itertools.islice(ring, start, end))
            selected = matcher.select(window, OrderedDict()) + selected
            end = start
        return selected[-backfill:]

    def _unsubscribe(self, viewer_id: int) -> None:
        viewer = self._viewers.get(viewer_id)
        if viewer is None or not viewer.streams:
            return
        group = self._groups.get(viewer.spec)
        if group is not None:
            for name in viewer.streams:
                ids = group.viewers.get(name)
                if ids is not None:
                    ids.discard(viewer_id)
                    if not ids:
                        del group.viewers[name]
            if not group.viewers:
                del self._groups[viewer.spec]
        viewer.streams = ()

    def _report_switched(self, group: _Group) -> None:
        """Tell every viewer of ``group`` about the patterns its matcher switched off."""
        for off in group.matcher.take_switched():
            notice = {"type": "filter_off", "field": off.field, "pattern": off.pattern,
                      "reason": off.reason}  # fmt: skip
            for viewer_id in {i for ids in group.viewers.values() for i in ids}:
                self._viewers[viewer_id].notify(notice)

    def _fan_out(self, stream: str, lines: list[Line]) -> None:
        encoded: list[str] | None = None  # each line is encoded once, whoever receives it
        first = lines[0].seq
        for group in list(self._groups.values()):
            ids = group.viewers.get(stream)
            if not ids:
                continue
            selected = group.matcher.select(lines)
            self._report_switched(group)
            if not selected:
                continue
            if encoded is None:
                encoded = encode_run(lines)  # one publish: one stream, host, file, time
            if len(selected) == len(lines) and selected[0] is lines[0]:
                mine = encoded
            else:  # a subset, maybe after held lines of a group from earlier batches
                earlier = [x for x in selected if x.seq < first]
                mine = encode_lines(earlier) + [
                    encoded[x.seq - first] for x in selected[len(earlier) :]
                ]
            for viewer_id in ids:
                self._viewers[viewer_id].offer(selected, mine)

    @property
    def viewers(self) -> int:
        """How many viewers are connected."""
        return len(self._viewers)
