"""Graphite's carbon wire formats, as pure functions: plaintext lines and pickle batches.

The aggregator writes them (``plaintext``, ``pickled``) and the store's receiver reads
them (``parse_line``). Plaintext is ``path value timestamp\\n`` with values written as
JavaScript writes them (``5``, not ``5.0``), so the aggregator's lines match node
statsd's byte for byte. Pickle is carbon's ``[(path, (timestamp, value)), ...]``
behind a 4-byte big-endian length.
"""

from __future__ import annotations

import math
import pickle
import struct
from collections.abc import Iterable

from monitor.aggregator.jsnumber import format_number

__all__ = ["BadLine", "Point", "parse_line", "pickled", "plaintext"]

#: One carbon datapoint: path, value, timestamp in seconds.
Point = tuple[str, float, int]


class BadLine(ValueError):
    """A plaintext line carbon would reject; the message says why."""


def plaintext(points: Iterable[Point]) -> bytes:
    """Carbon's line protocol."""
    return "".join(f"{path} {format_number(value)} {ts}\n" for path, value, ts in points).encode()


def pickled(points: Iterable[Point]) -> bytes:
    """Carbon's pickle protocol."""
    body = pickle.dumps([(path, (ts, float(value))) for path, value, ts in points], protocol=2)
    return struct.pack("!L", len(body)) + body


def parse_line(line: str, now: float) -> Point:
    """One ``path value timestamp`` line, as carbon reads it (``-1`` means now).

    Raises ``BadLine`` for anything else: a wrong field count, a value or timestamp
    that is not a number, or a value that is not finite (carbon drops NaN silently).
    """
    fields = line.split()
    if len(fields) != 3:
        raise BadLine(f"expected 'path value timestamp', got {len(fields)} field(s)")
    path, value_text, ts_text = fields
    try:
        value, stamp = float(value_text), float(ts_text)
    except ValueError:
        raise BadLine(f"value {value_text!r} or timestamp {ts_text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadLine(f"value {value_text!r} is not finite")
    if stamp == -1:
        stamp = now
    if not math.isfinite(stamp) or stamp < 0:
        raise BadLine(f"timestamp {ts_text!r} is not a time")
    return path, value, int(stamp)
