"""The render engine's view of the whisper store: ``find`` globs, ``fetch`` values.

``find`` walks the data directory one glob node at a time (never the whole tree), and
adds series that so far exist only in the store's cache, so a brand-new metric shows up
in ``/metrics/find`` as soon as its first point is accepted.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import whisper

from monitor.render.glob import node_matcher, path_matches
from monitor.store.events import EventStore
from monitor.store.whisper_store import Fetched, InvalidPath, WhisperReader, file_path, normalize

__all__ = ["StoreEvents", "StoreFinder"]


#: Seconds between walks of ``_tagged`` for the tag index.
TAGGED_RESCAN = 30.0


class StoreFinder:
    """``monitor.render.evaluator.Finder`` over a whisper store (the store itself, or
    its files and cache as a render worker sees them)."""

    def __init__(self, store: WhisperReader) -> None:
        self.store = store
        self._tagged_files: frozenset[str] | None = None
        self._tagged_at = 0.0

    def find(self, pattern: str) -> list[tuple[str, bool]]:
        """``(path, is_leaf)`` for every branch or leaf matching ``pattern``, sorted."""
        nodes = pattern.split(".")
        found: set[tuple[str, bool]] = set()
        self._walk(self.store.root, [], nodes, found)
        for metric in self.store.cached_metrics():
            parts = metric.split(".")
            if len(parts) >= len(nodes) and path_matches(pattern, ".".join(parts[: len(nodes)])):
                found.add((".".join(parts[: len(nodes)]), len(parts) == len(nodes)))
        return sorted(found)

    def _walk(
        self, directory: Path, prefix: list[str], nodes: list[str], found: set[tuple[str, bool]]
    ) -> None:
        matcher = node_matcher(nodes[0])
        last = len(nodes) == 1
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir():
                name, leaf = entry.name, False
                if not prefix and name == "_tagged":
                    continue
            elif entry.name.endswith(".wsp"):
                name, leaf = entry.name[:-4], True
            else:
                continue
            if not matcher.match(name):
                continue
            if last:
                found.add((".".join([*prefix, name]), leaf))
            elif not leaf:
                self._walk(Path(entry.path), [*prefix, name], nodes[1:], found)

    def tagged(self) -> list[str]:
        """Every tagged series name (``name;tag=value…``) on disk or in the cache: the
        store's files under ``_tagged`` are named after them, so they are the index.
        The directory walk (a quarter of a second for 20,000 series) is redone every
        ``TAGGED_RESCAN`` seconds, for files others add or remove; series this store
        creates meanwhile are known from it."""
        now = time.monotonic()
        if self._tagged_files is None or now - self._tagged_at > TAGGED_RESCAN:
            found: set[str] = set()
            for _directory, _subdirectories, files in os.walk(self.store.root / "_tagged"):
                found.update(f[:-4].replace("_DOT_", ".") for f in files if f.endswith(".wsp"))
            self._tagged_files, self._tagged_at = frozenset(found), now
        names = set(self._tagged_files) | self.store.tagged_created()
        names.update(normalize(m) for m in self.store.cached_metrics() if ";" in m)
        return sorted(names)

    def fetch(self, path: str, start: int, end: int) -> Fetched | None:
        """Values of one series, the store's cache merged in."""
        return self.store.fetch(path, start, end)

    def names(self) -> list[str]:
        """Every untagged series name on disk or in the cache, sorted."""
        return list(self.store.walk())

    def interval(self, path: str) -> tuple[float, float]:
        """The time span a leaf can answer for, as graphite-web's whisper reader gives it
        in ``/metrics/find?format=json``: from now minus the file's longest retention to
        its last write (the file's mtime; now for a series still only in the cache)."""
        now = self.store.clock()
        try:
            file = file_path(self.store.root, path)
            header = whisper.info(str(file))  # None when there is no file (yet)
            if header is None:
                raise FileNotFoundError(file)
            retention = header["maxRetention"]
            return now - retention, max(file.stat().st_mtime, now - retention)
        except (InvalidPath, OSError, struct.error, whisper.WhisperException):
            archives, _, _ = self.store.rules.for_metric(path)
            return now - max(step * points for step, points in archives), now


class StoreEvents:
    """``monitor.render.evaluator.EventSource`` over the SQLite event store."""

    def __init__(self, events: EventStore) -> None:
        self.events = events

    def event_times(self, start: float, end: float, tags: list[str] | None) -> list[float]:
        """When matching events happened (all ``tags`` must be present)."""
        return [e.when for e in self.events.query(start, end, tags)]
