"""A faster ``whisper.fetch``: the same answer, built without a Python loop per slot.

``whisper.fetch`` walks the points one by one to drop slots whose stored timestamp is
stale; here the timestamps and values are sliced out of one ``struct.unpack`` and
compared to the expected timestamps in a single comprehension, and file headers are
cached by path and inode (a header does not change after ``create``; a file replaced by
another, say by ``whisper-resize``, has a new inode). The archive selection, the clamping
to retention and to ``now``, and the wrap-around read follow whisper 1.1.10 exactly;
the tests compare both on real files.
"""

from __future__ import annotations

import itertools
import operator
import os
import struct
from typing import Any, BinaryIO

import whisper

__all__ = ["fetch"]

_POINT = struct.Struct(">Ld")
Fetched = tuple[tuple[int, int, int], list[float | None]]


_headers: dict[str, tuple[int, dict[str, Any]]] = {}
_HEADERS_MAX = 100_000


def _header(path: str, inode: int) -> dict[str, Any]:
    cached = _headers.get(path)
    if cached is not None and cached[0] == inode:
        return cached[1]
    header: dict[str, Any] = whisper.info(path)
    if len(_headers) >= _HEADERS_MAX:
        _headers.clear()
    _headers[path] = (inode, header)
    return header


def fetch(path: str, start: int, end: int, now: int) -> Fetched | None:
    """``whisper.fetch(path, start, end, now=now)``, faster."""
    with open(path, "rb") as fh:
        return _fetch(fh, _header(path, os.fstat(fh.fileno()).st_ino), start, end, now)


def _fetch(fh: BinaryIO, header: dict[str, Any], start: int, end: int, now: int) -> Fetched | None:
    if start > end:
        raise whisper.InvalidTimeInterval(f"from time {start} is after until time {end}")
    oldest = now - header["maxRetention"]
    if start > now or end < oldest:
        return None
    start, end = max(start, oldest), min(end, now)
    age = now - start
    archive = next((a for a in header["archives"] if a["retention"] >= age), header["archives"][-1])
    step = archive["secondsPerPoint"]
    first = start - start % step + step
    last = end - end % step + step
    if first == last:
        last += step
    count = (last - first) // step
    fh.seek(archive["offset"])
    base, _ = _POINT.unpack(fh.read(_POINT.size))
    if base == 0:
        return (first, last, step), [None] * count
    size, offset = archive["size"], archive["offset"]
    begin = offset + ((first - base) // step * _POINT.size) % size
    stop = offset + ((last - base) // step * _POINT.size) % size
    fh.seek(begin)
    if begin < stop:
        raw = fh.read(stop - begin)
    else:
        raw = fh.read(offset + size - begin)
        fh.seek(offset)
        raw += fh.read(stop - offset)
    unpacked = struct.unpack(">" + "Ld" * (len(raw) // _POINT.size), raw)
    expected = range(first, first + step * count, step)
    stamps, stored = unpacked[0::2], unpacked[1::2]
    values: list[float | None] = list(stored)
    # Slots whose timestamp is not the expected one hold stale data: found in C
    # (map/compress), so only those slots cost a Python step.
    stale = itertools.compress(range(len(values)), map(operator.ne, stamps, expected))
    for i in stale:
        values[i] = None
    return (first, last, step), values
