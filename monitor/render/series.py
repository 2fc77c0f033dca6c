"""A Graphite time series and the null-tolerant arithmetic its functions share.

``TimeSeries`` holds ``values`` for the buckets ``start, start+step, …`` below ``end``,
a display ``name``, Graphite ``tags`` (always with ``name``), how to consolidate
(``average`` unless ``consolidateBy`` says otherwise), an ``xff`` (the fraction of
non-null values a consolidated bucket needs) and ``values_per_point`` (set by
consolidation: reading ``points()`` merges that many values into one).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AGGREGATORS", "TimeSeries", "aggregator", "lcm"]

Value = float | None


def _non_null(values: Iterable[Value]) -> list[float]:
    return [v for v in values if v is not None]


def safe_sum(values: Sequence[Value]) -> Value:
    """Sum of the non-null values, or None when there are none."""
    known = _non_null(values)
    return sum(known) if known else None


def safe_avg(values: Sequence[Value]) -> Value:
    """Mean of the non-null values."""
    known = _non_null(values)
    return sum(known) / len(known) if known else None


def safe_diff(values: Sequence[Value]) -> Value:
    """The first non-null value minus the others."""
    known = _non_null(values)
    return known[0] - sum(known[1:]) if known else None


def safe_median(values: Sequence[Value]) -> Value:
    """Median of the non-null values."""
    known = sorted(_non_null(values))
    if not known:
        return None
    mid = len(known) // 2
    return known[mid] if len(known) % 2 else (known[mid - 1] + known[mid]) / 2


def safe_stddev(values: Sequence[Value]) -> Value:
    """Population standard deviation of the non-null values."""
    known = _non_null(values)
    if not known:
        return None
    mean = sum(known) / len(known)
    return math.sqrt(sum((v - mean) ** 2 for v in known) / len(known))


def safe_last(values: Sequence[Value]) -> Value:
    """The last non-null value."""
    for v in reversed(values):
        if v is not None:
            return v
    return None


def safe_multiply(values: Sequence[Value]) -> Value:
    """Product of the values, None if any is null."""
    if not values or any(v is None for v in values):
        return None
    return math.prod(float(v) for v in values if v is not None)


def _count(values: Sequence[Value]) -> Value:
    return float(len(_non_null(values))) or None


def _range(values: Sequence[Value]) -> Value:
    known = _non_null(values)
    return max(known) - min(known) if known else None


#: graphite's aggregation functions by name (``aggregate``, ``summarize``, …).
AGGREGATORS: dict[str, Callable[[Sequence[Value]], Value]] = {
    "sum": safe_sum,
    "total": safe_sum,
    "average": safe_avg,
    "avg": safe_avg,
    "avg_zero": lambda vs: sum(v or 0 for v in vs) / len(vs) if vs else None,
    "median": safe_median,
    "min": lambda vs: min(_non_null(vs), default=None),
    "max": lambda vs: max(_non_null(vs), default=None),
    "diff": safe_diff,
    "stddev": safe_stddev,
    "count": _count,
    "range": _range,
    "rangeOf": _range,
    "multiply": safe_multiply,
    "last": safe_last,
    "current": safe_last,
    "first": lambda vs: next((v for v in vs if v is not None), None),
}


def aggregator(name: str) -> Callable[[Sequence[Value]], Value]:
    """The aggregation function called ``name``; ``KeyError`` lists the valid ones."""
    if name not in AGGREGATORS:
        raise KeyError(f"unknown aggregation function {name!r}; use one of {sorted(AGGREGATORS)}")
    return AGGREGATORS[name]


def _average_chunks(values: list[Value], n: int) -> list[Value]:
    """Averages of consecutive chunks of ``n`` (nulls skipped): the common consolidation.

    Chunks are cut and summed in C (``zip`` over one iterator, ``map(sum, …)``); only a
    chunk holding a null is redone in Python.
    """
    nulls = list(
        itertools.compress(range(len(values)), map(operator.is_, values, itertools.repeat(None)))
    )
    dense = list(values)
    for i in nulls:
        dense[i] = 0.0
    whole = len(values) - len(values) % n
    full = typing.cast(list[float], dense[:whole])
    out: list[Value] = [total / n for total in map(sum, zip(*[iter(full)] * n, strict=True))]
    if whole < len(values):
        out.append(0.0)  # the short last chunk: computed below
    for chunk_index in {i // n for i in nulls} | ({whole // n} if whole < len(values) else set()):
        chunk = values[chunk_index * n : chunk_index * n + n]
        known = [v for v in chunk if v is not None]
        out[chunk_index] = sum(known) / len(known) if known else None
    return out


_CONSOLIDATE = {"sum", "average", "avg", "avg_zero", "max", "min", "first", "last"}


def lcm(a: int, b: int) -> int:
    """Least common multiple of two steps."""
    return a * b // math.gcd(a, b)


@dataclass
class TimeSeries:
    """One series: values from ``start`` in steps of ``step`` up to ``end``."""

    name: str
    start: int
    end: int
    step: int
    values: list[Value]
    tags: dict[str, Any] = field(default_factory=dict)
    consolidation: str = "average"
    xff: float = 0.0
    values_per_point: int = 1
    path_expression: str = ""
    draw_as_infinite: bool = False

    def __post_init__(self) -> None:
        if "name" not in self.tags:
            self.tags = {"name": self.name, **self.tags}
        if not self.path_expression:
            self.path_expression = self.name

    def copy(self, **changes: Any) -> TimeSeries:
        """A new series with ``changes``; values and tags are copied, not shared."""
        changes.setdefault("values", list(self.values))
        changes.setdefault("tags", dict(self.tags))
        return dataclasses.replace(self, **changes)

    def consolidate(self, values_per_point: int) -> None:
        """Read ``values_per_point`` values as one from now on."""
        self.values_per_point = max(1, int(values_per_point))

    def points(self) -> list[Value]:
        """The values as read: consolidated by ``consolidation`` when asked to."""
        n = self.values_per_point
        if n <= 1:
            return list(self.values)
        if self.consolidation not in _CONSOLIDATE:
            raise ValueError(f"Invalid consolidation function: '{self.consolidation}'")
        values = self.values
        if self.consolidation in ("average", "avg") and self.xff <= 0:
            return _average_chunks(values, n)
        combine = AGGREGATORS[self.consolidation]
        out: list[Value] = []
        for i in range(0, len(self.values), n):
            chunk = self.values[i : i + n]
            known = [v for v in chunk if v is not None]
            if self.consolidation == "avg_zero":
                known = [v or 0.0 for v in chunk]
            if known and len([v for v in chunk if v is not None]) / n >= self.xff:
                out.append(combine(known))
            else:
                out.append(None)
        return out

    def datapoints(self) -> list[tuple[Value, int]]:
        """``[(value, timestamp), …]`` as graphite's JSON writes them."""
        stride = self.step * self.values_per_point
        stamps = range(self.start, self.end + 1, stride)
        return list(zip(self.points(), stamps, strict=False))
