"""Writes the demo shop's history into a running stack, once: the edge of ``demo_history``.

``monitor up --demo`` calls ``backfill_once`` off the event loop while the shop's live
traffic starts (the history ends where it begins). The points go through the same
``WhisperStore.add`` as statsd's flushes (so each new file gets the store's rules), a
batch at a time: each waits until the previous one is on disk, which keeps the cache
far below ``max_pending`` and each whisper ``update_many`` short, and puts the points
closest to a retention boundary on disk first (``History.batches``). The deploys go to
``EventStore.add`` directly, not through the HTTP API, so that past deploys do not
become supergrep banners. A marker file under the data directory, written after
success, keeps a restart from writing the past again.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from monitor.aggregator.settings import StatsdSettings
from monitor.demo_history import DAY, History
from monitor.store.events import EventStore
from monitor.store.whisper_store import WhisperStore

__all__ = ["Written", "backfill", "backfill_once", "wanted"]


@dataclass(frozen=True)
class Written:
    """What ``backfill`` wrote, for the log."""

    points: int
    series: int
    deploys: int
    seconds: float


def backfill(
    store: WhisperStore,
    events: EventStore,
    now: float,
    days: float,
    rng: random.Random,
    *,
    statsd: StatsdSettings | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 300.0,
) -> Written | None:
    """Write ``days`` of the shop's history before ``now`` into the running ``store``
    (points) and ``events`` (deploys); None if ``cancel`` was set or the store's writer
    stopped keeping up for ``timeout`` seconds (nothing of the deploys is written then).

    A batch is added once the previous one is on disk, in parts of at most half the
    cache (each once the part before it is on disk): the cache stays within its bound
    and each whisper ``update_many`` gets one batch's points of a series. Should the
    cache be full all the same (``add`` accepts fewer), the rest follows once the
    writer has caught up."""
    started = time.monotonic()
    history = History(now - days * DAY, now, now, store.rules.for_metric, rng, statsd)
    names: set[str] = set()
    waiting: set[str] = set()  # the names of the points last added
    points = 0
    size = max(1, store.max_pending // 2)
    for batch in history.batches():
        for i in range(0, len(batch), size):
            part = batch[i : i + size]
            if not _written(store, waiting, cancel, timeout):
                return None
            waiting = {name for name, _, _ in part}
            names |= waiting
            while part:
                part = part[store.add(part) :]
                if part and not _written(store, waiting, cancel, timeout, pause=0.05):
                    return None
        points += len(batch)
    if not _written(store, waiting, cancel, timeout):
        return None
    for past in history.deploys:
        d = past.deploy
        events.add(float(int(d.when)), d.title, d.tags, d.data)
    return Written(points, len(names), len(history.deploys), time.monotonic() - started)


def _written(
    store: WhisperStore,
    names: set[str],
    cancel: threading.Event | None,
    timeout: float,
    pause: float = 0.0,
) -> bool:
    """Wait until none of ``names`` has points in the store's cache (and ``pause``
    seconds at least); False on ``cancel`` or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    if cancel is not None and cancel.wait(pause):
        return False
    if cancel is None and pause:
        time.sleep(pause)
    while names & store.cached_metrics():
        if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return not (cancel is not None and cancel.is_set())


def wanted(marker: Path, days: float) -> bool:
    """Whether to write the history: some days asked for, and not written before."""
    return days > 0 and not marker.exists()


def backfill_once(
    marker: Path,
    store: WhisperStore,
    events: EventStore,
    days: float,
    *,
    now: float | None = None,
    rng: random.Random | None = None,
    statsd: StatsdSettings | None = None,
    cancel: threading.Event | None = None,
) -> Written | None:
    """``backfill`` unless ``days`` is 0 or ``marker`` says it was done; the marker is
    written after success only, so an interrupted first start tries again."""
    if not wanted(marker, days):
        return None
    written = backfill(
        store,
        events,
        time.time() if now is None else now,
        days,
        rng or random.Random(),
        statsd=statsd,
        cancel=cancel,
    )
    if written is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(
            f"{days:g} days of demo history: {written.points} points in {written.series}"
            f" series, {written.deploys} deploys, {written.seconds:.1f} s\n",
            encoding="utf-8",
        )
    return written
