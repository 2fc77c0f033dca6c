"""Graphite's carbon wire formats, as pure functions: plaintext lines and pickle batches.

Plaintext is ``path value timestamp\\n`` with values written as JavaScript writes them
(``5``, not ``5.0``), so our lines match node statsd's byte for byte. Pickle is carbon's
``[(path, (timestamp, value)), ...]`` behind a 4-byte big-endian length.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterable

from monitor.aggregator.jsnumber import format_number

__all__ = ["Point", "pickled", "plaintext"]

#: One carbon datapoint: path, value, timestamp in seconds.
Point = tuple[str, float, int]


def plaintext(points: Iterable[Point]) -> bytes:
    """Carbon's line protocol."""
    return "".join(f"{path} {format_number(value)} {ts}\n" for path, value, ts in points).encode()


def pickled(points: Iterable[Point]) -> bytes:
    """Carbon's pickle protocol."""
    body = pickle.dumps([(path, (ts, float(value))) for path, value, ts in points], protocol=2)
    return struct.pack("!L", len(body)) + body
