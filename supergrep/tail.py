"""Follow the files of a stream like ``tail -F``, and better.

A ``StreamTail`` owns the files that match a stream's globs. Two calls drive it:

- ``read()`` reads whatever was appended to the open files (the hot path, called on
  every inotify modify event);
- ``rescan()`` globs again and compares each path with the file it has open (called on
  create/move/delete events and once a second as a fallback).

Files are tracked by identity (device, inode), not by name, which is what makes
rotation exact:

- rename + create (logrotate's default): the renamed file keeps its identity, so it is
  read to its end, kept open for ``linger`` seconds in case the writer has not reopened
  yet, then closed; the new file at the old name is read from its first byte;
- copytruncate: the file shrinks below the offset read, so reading restarts at 0;
- delete and re-create: as rename, the open descriptor still reads the old data;
- a renamed file that still matches a glob (``*.log*``) is the same file, never read twice;
- a file or directory that does not exist yet shows up on a later rescan;
- permission denied is reported in ``problems`` and retried on every rescan.

Files present at start are read from near their end (the last ``backfill_bytes``, to
fill the ring); files that appear later are read from their first byte. An agent passes
``resume`` offsets instead. ``Watcher`` wires inotify (``inotify_simple``) to an
asyncio loop, with polling as the fallback.
"""

from __future__ import annotations

import asyncio
import errno
import glob
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from supergrep.lines import Splitter

__all__ = ["Chunk", "FileId", "StreamTail", "Watcher"]

log = logging.getLogger(__name__)

READ_SIZE = 1 << 20


class FileId(NamedTuple):
    """What a file is, whatever its name: (device, inode)."""

    dev: int
    ino: int

    def __str__(self) -> str:
        return f"{self.dev}:{self.ino}"


class Chunk(NamedTuple):
    """Lines read from one file in one go, and the byte offsets they span."""

    path: str
    file_id: FileId
    start: int  # offset of the first byte of the first line
    end: int  # offset just past the last newline consumed
    texts: list[str]
    truncated: list[bool]
    #: The first lines read after the file was truncated in place: reading restarted at
    #: 0, and a receiver keeping offsets must take this as a new beginning.
    reset: bool = False


@dataclass
class _Open:
    path: str
    file_id: FileId
    fd: int
    offset: int  # next byte to read
    splitter: Splitter
    line_start: int  # offset where the held (unfinished) line begins
    gone_since: float | None = None  # when its name stopped matching (renamed/deleted)
    restarted: bool = False  # truncated in place: the next chunk starts over at 0


@dataclass
class StreamTail:
    """The files of one stream. Not thread-safe: one owner calls ``read`` and ``rescan``."""

    patterns: tuple[str, ...]
    max_line: int = 16384
    backfill_bytes: int = 65536
    linger: float = 10.0
    #: Where to start reading files already known (an agent's acknowledged offsets).
    resume: dict[FileId, int] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    #: Whether a file that is gone (and fully read up to the given offset) may be closed;
    #: an agent keeps it open until the hub has acknowledged everything in it.
    closable: Callable[[FileId, int], bool] = lambda file_id, offset: True
    #: Path -> why it cannot be read right now (permission denied, …).
    problems: dict[str, str] = field(default_factory=dict)
    #: Bytes read so far (all files), for callers that pace their reading.
    bytes_read: int = 0
    _files: dict[FileId, _Open] = field(default_factory=dict)
    _started: bool = False

    # -- what is followed -----------------------------------------------------------

    def files(self) -> list[tuple[str, FileId, int]]:
        """``(path, identity, offset read)`` of every open file."""
        return [(f.path, f.file_id, f.line_start) for f in self._files.values()]

    def directories(self) -> set[str]:
        """Existing directories the globs look into (for inotify watches)."""
        out: set[str] = set()
        for pattern in self.patterns:
            parent = os.path.dirname(pattern) or "."
            out.update(d for d in glob.glob(parent) if os.path.isdir(d))
        return out

    # -- driving ----------------------------------------------------------------------

    def rescan(self, read: bool = True) -> list[Chunk]:
        """Glob again: open new files, notice rotation, truncation and deletion; then
        (unless ``read`` is false) read what was appended."""
        chunks: list[Chunk] = []
        first = not self._started
        self._started = True
        seen: set[FileId] = set()
        for path in sorted({p for pattern in self.patterns for p in glob.glob(pattern)}):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            file_id = FileId(st.st_dev, st.st_ino)
            seen.add(file_id)
            known = self._files.get(file_id)
            if known is not None:
                known.path, known.gone_since = path, None
                continue
            opened = self._open(path, file_id, st.st_size, first)
            if opened is not None:
                self._files[file_id] = opened
        now = self.clock()
        for file_id, f in list(self._files.items()):
            if file_id in seen:
                continue
            if f.gone_since is None:
                f.gone_since = now
                f.path = _current_name(f.fd, f.path)
            if (
                now - f.gone_since >= self.linger
                and os.fstat(f.fd).st_size <= f.offset
                and self.closable(file_id, f.offset)
            ):
                chunks += self._drain(f) + self._finish(f)
        return chunks + self.read() if read else chunks

    def read(self, limit: int | None = None) -> list[Chunk]:
        """What was appended to the open files since the last call: everything, or
        about ``limit`` bytes (whole reads of up to 1 MiB) when given."""
        chunks: list[Chunk] = []
        budget = limit
        for f in list(self._files.values()):
            if budget is not None and budget <= 0:
                break
            read = self._drain(f, budget)
            chunks += read
            if budget is not None:
                budget -= sum(c.end - c.start for c in read) or 1
        return chunks

    def close(self) -> None:
        """Close every file (without reading further)."""
        for f in self._files.values():
            os.close(f.fd)
        self._files.clear()

    def seek(self, offsets: dict[FileId, int]) -> None:
        """Go back to these offsets (an agent replays what the hub has not acknowledged)."""
        for file_id, offset in offsets.items():
            f = self._files.get(file_id)
            if f is not None and offset != f.line_start:
                self._restart(f, offset)

    # -- one file -----------------------------------------------------------------------

    def _open(self, path: str, file_id: FileId, size: int, at_start: bool) -> _Open | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            if self.problems.get(path) != reason:
                log.warning("supergrep: cannot read %s: %s (retrying)", path, reason)
            self.problems[path] = reason
            return None
        self.problems.pop(path, None)
        offset = 0
        skip_partial = False
        if file_id in self.resume:
            offset = min(self.resume[file_id], size)
        elif at_start and size > self.backfill_bytes:
            offset, skip_partial = size - self.backfill_bytes, True
        f = _Open(path, file_id, fd, offset, Splitter(self.max_line), offset)
        if skip_partial:  # start at a line boundary
            data = os.pread(fd, min(self.max_line, size - offset), offset)
            newline = data.find(b"\n")
            f.offset = f.line_start = offset + newline + 1 if newline >= 0 else size
        return f

    def _restart(self, f: _Open, offset: int) -> None:
        f.offset = f.line_start = offset
        f.splitter = Splitter(self.max_line)

    def _drain(self, f: _Open, limit: int | None = None) -> list[Chunk]:
        chunks: list[Chunk] = []
        taken = 0
        while limit is None or taken < limit:
            try:
                data = os.pread(f.fd, READ_SIZE, f.offset)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    break
                log.warning("supergrep: reading %s: %s", f.path, exc)
                break
            if not data:
                if os.fstat(f.fd).st_size < f.offset:  # truncated in place (copytruncate)
                    chunks += self._truncated(f)
                    continue
                break
            start = f.line_start
            taken += len(data)
            self.bytes_read += len(data)
            f.offset += len(data)
            texts, flags = f.splitter.feed(data)
            f.line_start = f.offset - f.splitter.held
            if texts:
                chunk = Chunk(f.path, f.file_id, start, f.line_start, texts, flags, f.restarted)
                chunks.append(chunk)
                f.restarted = False
            if len(data) < READ_SIZE:
                break
        return chunks

    def _truncated(self, f: _Open) -> list[Chunk]:
        texts, flags = f.splitter.flush()
        chunk = [Chunk(f.path, f.file_id, f.line_start, f.offset, texts, flags)] if texts else []
        self._restart(f, 0)
        f.restarted = True
        return chunk

    def _finish(self, f: _Open) -> list[Chunk]:
        """The file is gone for good: its unfinished last line becomes a line."""
        texts, flags = f.splitter.flush()
        os.close(f.fd)
        del self._files[f.file_id]
        if not texts:
            return []
        return [Chunk(f.path, f.file_id, f.line_start, f.offset, texts, flags)]


def _current_name(fd: int, old: str) -> str:
    """Where a renamed file is now (Linux tells through /proc), for the lines' labels."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return old


class Watcher:
    """Calls ``on_change(modified_only)`` when something changes in ``directories``.

    inotify where the kernel has it (events coalesced per loop turn); otherwise nothing
    here and the caller's periodic rescan is the fallback.
    """

    def __init__(self, on_change: Callable[[bool], None]) -> None:
        self.on_change = on_change
        self._inotify: object | None = None
        self._watched: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            import inotify_simple

            self._inotify = inotify_simple.INotify(nonblocking=True)
        except (ImportError, OSError) as exc:  # pragma: no cover - Linux has inotify
            log.warning("supergrep: no inotify (%s); polling files every second", exc)

    @property
    def active(self) -> bool:
        """True when change events come from the kernel (else only polling)."""
        return self._inotify is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen on ``loop``."""
        if self._inotify is not None:
            self._loop = loop
            loop.add_reader(self._fileno(), self._readable)

    def watch(self, directories: Iterable[str]) -> None:
        """Make sure every directory in ``directories`` is watched."""
        if self._inotify is None:
            return
        import inotify_simple

        flags = inotify_simple.flags
        mask = (
            flags.MODIFY
            | flags.CREATE
            | flags.MOVED_TO
            | flags.MOVED_FROM
            | flags.DELETE
            | flags.ATTRIB
            | flags.CLOSE_WRITE
        )
        for directory in directories:
            if directory not in self._watched:
                try:
                    self._watched[directory] = self._inotify.add_watch(directory, mask)  # type: ignore[attr-defined]
                except OSError as exc:
                    log.warning("supergrep: cannot watch %s: %s", directory, exc)
                    self._watched[directory] = -1

    def forget_missing(self) -> None:
        """Drop directories that no longer exist so they are watched again when re-made."""
        for directory in [d for d in self._watched if not os.path.isdir(d)]:
            del self._watched[directory]

    def close(self) -> None:
        """Stop listening."""
        if self._inotify is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._fileno())
            self._inotify.close()  # type: ignore[attr-defined]
            self._inotify = None

    def _fileno(self) -> int:
        return int(self._inotify.fileno())  # type: ignore[union-attr]

    def _readable(self) -> None:
        import inotify_simple

        flags = inotify_simple.flags
        try:
            events = self._inotify.read(timeout=0)  # type: ignore[union-attr]
        except OSError:
            return
        if not events:
            return
        modified_only = all(e.mask & (flags.MODIFY | flags.CLOSE_WRITE) for e in events)
        self.on_change(modified_only)
