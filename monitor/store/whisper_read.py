"""A faster ``whisper.fetch``: the same answer, built without a Python loop per slot.

``whisper.fetch`` walks the points one by one to drop slots whose stored timestamp is
stale; here each field's bytes are gathered into a native array with strided copies,
the stored timestamps are compared with the expected ones a span at a time, and the
answer is a ``Packed`` sequence (the doubles and the indices of null slots) rather than
a list of Python floats. File headers are cached by path and inode (a header does not
change after ``create``; a file replaced by another, say by ``whisper-resize``, has a
new inode). The archive selection, the clamping to retention and to ``now``, and the
wrap-around read follow whisper 1.1.10 exactly; the tests compare both on real files."""

from __future__ import annotations

import array
import itertools
import operator
import os
import struct
import sys
from typing import Any, BinaryIO

import whisper

from monitor.render.packed import Packed

__all__ = ["fetch"]

_POINT = struct.Struct(">Ld")
Fetched = tuple[tuple[int, int, int], Packed]


#: A native array type of 4-byte unsigned integers (whisper's timestamps), if any.
_STAMP_TYPE = next((t for t in ("I", "L") if array.array(t).itemsize == 4), None)
_expected_cache: dict[tuple[int, int, int], array.array[int]] = {}

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


def _decode(raw: bytes) -> tuple[array.array[int], array.array[float]]:
    """Timestamps and values of packed big-endian (uint32, double) points. The bytes of
    each field are gathered with strided slice copies (C loops) into native arrays,
    instead of unpacking every point into Python objects."""
    n = len(raw) // _POINT.size
    if _STAMP_TYPE is None:  # no 4-byte unsigned array type here: plain struct
        unpacked = struct.unpack(">" + "Ld" * n, raw)
        return array.array("q", unpacked[0::2]), array.array("d", unpacked[1::2])
    stamp_bytes, value_bytes = bytearray(n * 4), bytearray(n * 8)
    for k in range(4):
        stamp_bytes[k::4] = raw[k::12]
    for k in range(8):
        value_bytes[k::8] = raw[4 + k :: 12]
    stamps, values = array.array(_STAMP_TYPE, stamp_bytes), array.array("d", value_bytes)
    if sys.byteorder == "little":
        stamps.byteswap()
        values.byteswap()
    return stamps, values


def _expected(first: int, step: int, count: int) -> array.array[int]:
    """The timestamps a window's slots must carry: the same for every series of a
    query, so built once and compared to each file's in one C comparison."""
    key = (first, step, count)
    found = _expected_cache.get(key)
    if found is None:
        if len(_expected_cache) >= 32:
            _expected_cache.clear()
        found = _expected_cache[key] = array.array(
            _STAMP_TYPE or "q", range(first, first + step * count, step)
        )
    return found


def _stale(stamps: array.array[int], expected: array.array[int]) -> list[int]:
    """Slots whose stored timestamp is not the expected one: they hold stale data.
    Equal spans are skipped with one C comparison each, and spans never written (all
    zero) taken whole; the rest is halved. So a file whose only gaps are at the ends of
    the window, the usual case, costs a few comparisons; spans of 64 slots or fewer are
    compared slot by slot, in C."""
    found: list[int] = []
    spans = [(0, len(stamps))]
    while spans:
        lo, hi = spans.pop()
        if stamps[lo:hi] == expected[lo:hi]:
            continue
        if stamps[lo:hi].tobytes() == bytes(4 * (hi - lo)):  # never written: all stale
            found += range(lo, hi)
        elif hi - lo <= 64:
            found += itertools.compress(
                range(lo, hi), map(operator.ne, stamps[lo:hi], expected[lo:hi])
            )
        else:
            middle = (lo + hi) // 2
            spans += ((middle, hi), (lo, middle))
    return found


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
        return (first, last, step), Packed.empty(count)
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
    stamps, values = _decode(raw)
    stale = _stale(stamps, _expected(first, step, count))
    if len(stale) == count:
        return (first, last, step), Packed.empty(count)
    return (first, last, step), Packed(values, stale)
