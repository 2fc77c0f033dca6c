"""Metrics on disk as whisper files, with carbon's cache in front of them.

One file per series, ``<root>/a/b/c.wsp`` for ``a.b.c``, created on first write with
the retention and aggregation its name's rules give (``rules.py``); tagged series
(``name;k=v``) go where carbon puts them (``_tagged/<sha256[:3]>/<sha256[3:6]>/…``),
so a real graphite-web can serve the same directory.

Writes never block the caller: ``add`` puts points in an in-memory cache and a writer
thread moves them to disk in batches (one ``update_many`` per series). Reads merge the
cache into what the file holds, so a point is visible as soon as it is accepted, as
carbon's cache makes it. The cache is bounded (``max_pending`` points): past it, new
points are dropped and counted in ``stats``.

New files are sparse (disk is taken as points arrive) and made at most
``max_creates_per_minute`` a minute, and not at all below ``min_free_mb`` of free disk:
the points of series waiting for their file stay in the cache, readable, until it can
be made.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import whisper

from monitor.render.packed import Packed
from monitor.store import whisper_read
from monitor.store.rules import Rules, StoreSettings

__all__ = ["InvalidPath", "StoreStats", "WhisperReader", "WhisperStore", "file_path"]

log = logging.getLogger("monitor.store")

#: A fetched series: (start, end, step) and one value (or None) per step.
Fetched = tuple[tuple[int, int, int], Packed]


class InvalidPath(ValueError):
    """A metric name that cannot be a file under the data directory."""


@dataclass
class StoreStats:
    """Counts since start, for the status page and the store's own metrics."""

    points_accepted: int = 0
    points_written: int = 0
    points_dropped: int = 0
    invalid_paths: int = 0
    write_errors: int = 0
    files_created: int = 0
    #: Series whose files wait to be created (over the create rate, or low on disk).
    creates_waiting: int = 0
    #: Free disk under the data directory at the last look, and whether it is below
    #: ``min_free_mb`` (then no series are created).
    disk_free: int = 0
    low_disk: bool = False
    last_error: str | None = None


def normalize(metric: str) -> str:
    """Carbon's form of a tagged name: ``name;b=2;a=1`` -> ``name;a=1;b=2``."""
    if ";" not in metric:
        return metric
    name, *tags = metric.split(";")
    pairs = sorted(tag.split("=", 1) for tag in tags if "=" in tag)
    return ";".join([name, *(f"{k}={v}" for k, v in pairs)])


#: The longest metric name taken (bytes), and the longest node: a file name is at most
#: 255 bytes on the usual filesystems, ``.wsp`` included.
MAX_NAME = 1024
MAX_NODE = 250


def file_path(root: Path, metric: str) -> Path:
    """Where ``metric``'s whisper file lives; ``InvalidPath`` if it cannot live anywhere.

    Names come from the network, so they are checked before they touch the filesystem:
    no empty node, no ``/``, no NUL, nothing that could climb out of ``root``, nothing
    longer than a file name can be (a 60 KB name used to be accepted into the cache and
    fail at every write).
    """
    if not metric or "/" in metric or "\0" in metric or "\\" in metric:
        raise InvalidPath(f"metric name {metric!r} contains '/', '\\\\' or NUL, or is empty")
    if len(metric.encode("utf-8", "surrogatepass")) > MAX_NAME:
        raise InvalidPath(f"metric name {metric[:60]!r}… is longer than {MAX_NAME} bytes")
    if ";" in metric:
        tagged = normalize(metric)
        digest = hashlib.sha256(tagged.encode()).hexdigest()
        name = tagged.replace(".", "_DOT_")
        if name.startswith(".") or len(name.encode("utf-8", "surrogatepass")) > MAX_NODE:
            raise InvalidPath(f"metric name {metric[:60]!r} cannot be a file name")
        return root / "_tagged" / digest[:3] / digest[3:6] / f"{name}.wsp"
    nodes = metric.split(".")
    if any(node in ("", "..") for node in nodes):
        raise InvalidPath(f"metric name {metric!r} has an empty node")
    if any(len(node.encode("utf-8", "surrogatepass")) > MAX_NODE for node in nodes):
        raise InvalidPath(f"metric name {metric[:60]!r}… has a node over {MAX_NODE} bytes")
    if nodes[0] == "_tagged":  # carbon's tag tree holds files of tagged names only
        raise InvalidPath(f"metric name {metric[:60]!r} is in the reserved _tagged tree")
    return root.joinpath(*nodes[:-1], nodes[-1] + ".wsp")


class WhisperReader:
    """Reads whisper files under ``root`` with the points of a write-behind cache merged
    in. The cache is the subclass's: the store's own (``WhisperStore``), or the store's
    seen from a render worker in another process (``monitor/web/render_worker.py``)."""

    def __init__(self, root: Path, rules: Rules, clock: Callable[[], float]) -> None:
        self.root = root
        self.rules = rules
        self.clock = clock

    def cached(self, metric: str) -> dict[int, float]:
        """Points accepted for ``metric`` and not yet on disk."""
        raise NotImplementedError

    def cached_metrics(self) -> set[str]:
        """Names with points waiting in the cache (a new series before its file exists)."""
        raise NotImplementedError

    def tagged_created(self) -> set[str]:
        """Tagged series whose files the store created since it started."""
        raise NotImplementedError

    def _complain(self, message: str) -> None:
        log.warning("store: %s", message)

    def fetch(self, metric: str, start: int, end: int) -> Fetched | None:
        """Values of ``metric`` between ``start`` and ``end``, cache included, or None."""
        now = int(self.clock())
        try:
            path = file_path(self.root, metric)
        except InvalidPath:
            return None
        cached = self.cached(metric)
        result: Fetched | None = None
        if path.exists():
            try:
                result = whisper_read.fetch(str(path), start, end, now)
            except (OSError, struct.error, whisper.WhisperException) as exc:  # damaged
                self._complain(f"cannot read {metric}: {exc}")
        elif cached:
            archives, _, _ = self.rules.for_metric(metric)
            step = archives[0][0]
            first = start - start % step + step
            last = end - end % step + step
            result = ((first, last, step), Packed.empty((last - first) // step))
        if result is None:
            return None
        (first, last, step), values = result
        for ts, value in cached.items():
            index = (ts - first) // step
            if 0 <= index < len(values):
                values.set(index, value)
        return (first, last, step), values

    def exists(self, metric: str) -> bool:
        """True if the series has a file or cached points."""
        try:
            return file_path(self.root, metric).exists() or bool(self.cached(metric))
        except InvalidPath:
            return False

    def disk_usage(self) -> tuple[int, int]:
        """How many whisper files there are and the disk they take in bytes (blocks
        allocated: a sparse file counts what it holds, not its length; walks the tree:
        callers cache it)."""
        files = size = 0
        for directory, _, names in os.walk(self.root):
            for name in names:
                if name.endswith(".wsp"):
                    files += 1
                    with contextlib.suppress(OSError):
                        size += os.stat(os.path.join(directory, name)).st_blocks * 512
        return files, size

    def walk(self) -> Iterator[str]:
        """Every untagged metric name on disk or in the cache, sorted."""
        names = set()
        for directory, dirs, files in os.walk(self.root):
            rel = Path(directory).relative_to(self.root)
            if rel.parts[:1] == ("_tagged",):
                dirs.clear()
                continue
            for name in files:
                if name.endswith(".wsp"):
                    names.add(".".join([*rel.parts, name[:-4]]))
        names |= {m for m in self.cached_metrics() if ";" not in m}
        yield from sorted(names)


class WhisperStore(WhisperReader):
    """Whisper files under ``root`` with a write-behind cache. Thread-safe."""

    def __init__(
        self,
        root: Path,
        settings: StoreSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = settings or StoreSettings()
        super().__init__(root, Rules(settings), clock)
        self.max_pending = settings.max_pending
        self.settings = settings
        self.stats = StoreStats()
        #: Series over the create rate or short of disk: their points, kept readable.
        self._deferred: dict[str, dict[int, float]] = {}
        self._deferred_count = 0
        self._minute = (-1, 0)  # (minute number, files created in it)
        self._disk_checked = -1e9
        self._pending: dict[str, dict[int, float]] = {}
        self._inflight: dict[str, dict[int, float]] = {}
        self._pending_count = 0
        self._valid: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_log = 0.0
        self._tagged_created: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._writer, name="whisper-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write everything still cached, then stop the writer thread."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- writing ------------------------------------------------------------------

    def add(self, points: Iterable[tuple[str, float, int]]) -> int:
        """Accept points (path, value, timestamp) into the cache; return how many."""
        accepted = dropped = invalid = 0
        example = ""
        with self._lock:
            for metric, value, ts in points:
                if metric not in self._valid and not self._validate(metric):
                    invalid += 1
                    example = metric
                    continue
                if self._pending_count + self._deferred_count >= self.max_pending:
                    dropped += 1
                    continue
                series = self._pending.setdefault(metric, {})
                if ts not in series:
                    self._pending_count += 1
                series[ts] = value
                accepted += 1
            self.stats.points_accepted += accepted
            self.stats.points_dropped += dropped
            self.stats.invalid_paths += invalid
            if accepted:
                self._wake.notify()
        if invalid:
            self._complain(f"invalid metric name {example!r}")
        if dropped:
            self._complain(f"{dropped} point(s) dropped: {self.max_pending} already wait for disk")
        return accepted

    def _validate(self, metric: str) -> bool:
        try:
            file_path(self.root, metric)
        except InvalidPath:
            return False
        if len(self._valid) > 1_000_000:
            self._valid.clear()
        self._valid.add(metric)
        return True

    def _complain(self, message: str) -> None:
        self.stats.last_error = message
        now = time.monotonic()
        if now - self._last_log > 10:
            self._last_log = now
            log.warning("store: %s", message)

    def _writer(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    if self._deferred:  # try their creation again every second
                        self._wake.wait(1.0)
                        break
                    self._wake.wait()
                if not self._pending and not self._deferred and self._stopping:
                    return
                batch, self._pending = self._pending, {}
                self._pending_count = 0
                for metric, older in self._deferred.items():
                    batch[metric] = {**older, **batch.get(metric, {})}
                self._deferred, self._deferred_count = {}, 0
                self._inflight = batch
                stopping = self._stopping
            written = 0
            waiting: dict[str, dict[int, float]] = {}
            for metric, series in batch.items():
                done = self._write(metric, series, stopping)
                if done is None:
                    waiting[metric] = series
                else:
                    written += done
            if waiting and stopping:  # only the disk guard defers at stop: nowhere to go
                lost = sum(len(s) for s in waiting.values())
                self.stats.points_dropped += lost
                self._complain(f"{lost} point(s) of {len(waiting)} new series lost at stop:"
                               " the disk is below store.min_free_mb")  # fmt: skip
                waiting = {}
            with self._lock:
                self._inflight = {}
                self._deferred = waiting
                self._deferred_count = sum(len(s) for s in waiting.values())
                self.stats.creates_waiting = len(waiting)
                self.stats.points_written += written

    def _may_create(self, stopping: bool) -> bool:
        """Whether a new file may be made now: within the create rate (not enforced at
        stop) and with ``min_free_mb`` free (looked at every few seconds)."""
        now = time.monotonic()
        if now - self._disk_checked > 5:
            self._disk_checked = now
            try:
                self.stats.disk_free = shutil.disk_usage(self.root).free
            except OSError:
                self.stats.disk_free = 0
            low = self.stats.disk_free < self.settings.min_free_mb * 2**20
            if low and not self.stats.low_disk:
                log.error(
                    "store: %.0f MiB free under %s, below store.min_free_mb (%d):"
                    " no new series are created until there is more",
                    self.stats.disk_free / 2**20,
                    self.root,
                    self.settings.min_free_mb,
                )
            self.stats.low_disk = low
        if self.stats.low_disk:
            return False
        minute, created = self._minute
        if int(self.clock() // 60) != minute:
            minute, created = int(self.clock() // 60), 0
        if created >= self.settings.max_creates_per_minute and not stopping:
            return False
        self._minute = (minute, created + 1)
        return True

    def _write(self, metric: str, series: dict[int, float], stopping: bool = False) -> int | None:
        """Write ``series``' points; None if its file does not exist and may not be
        created now (the caller keeps the points for later)."""
        try:
            path = file_path(self.root, metric)
            if not path.exists():
                if not self._may_create(stopping):
                    return None
                archives, method, xff = self.rules.for_metric(metric)
                path.parent.mkdir(parents=True, exist_ok=True)
                # made whole under another name, then renamed: a reader never sees a
                # file whose header is still being written
                making = path.with_name(f".creating-{os.getpid()}")
                whisper.create(
                    str(making),
                    archives,
                    xFilesFactor=xff,
                    aggregationMethod=method,
                    sparse=self.settings.sparse,
                )
                os.replace(making, path)
                self.stats.files_created += 1
                if ";" in metric:
                    with self._lock:
                        self._tagged_created.add(normalize(metric))
            whisper.update_many(str(path), sorted(series.items()), now=int(self.clock()))
            return len(series)
        except (OSError, InvalidPath, whisper.WhisperException) as exc:
            self.stats.write_errors += 1
            self._complain(f"cannot write {metric}: {exc}")
            return 0

    # -- the cache, for reading -----------------------------------------------------

    def cached(self, metric: str) -> dict[int, float]:
        """Points accepted for ``metric`` and not yet on disk."""
        with self._lock:
            merged = dict(self._deferred.get(metric, {}))
            merged.update(self._inflight.get(metric, {}))
            merged.update(self._pending.get(metric, {}))
        return merged

    def tagged_created(self) -> set[str]:
        """Tagged series whose files this store created since it started (the finder's
        tag index adds them to its last scan of ``_tagged``: a new one is found at once)."""
        with self._lock:
            return set(self._tagged_created)

    def cached_metrics(self) -> set[str]:
        """Names with points waiting in the cache (a new series before its file exists)."""
        with self._lock:
            return set(self._inflight) | set(self._pending) | set(self._deferred)
