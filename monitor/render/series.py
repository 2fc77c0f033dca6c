"""A Graphite time series and the null-tolerant arithmetic its functions share.

``TimeSeries`` holds ``values`` for the buckets ``start, start+step, …`` below ``end``,
a display ``name``, Graphite ``tags`` (always with ``name``), how to consolidate
(``average`` unless ``consolidateBy`` says otherwise), an ``xff`` (the fraction of
non-null values a consolidated bucket needs) and ``values_per_point`` (set by
consolidation: reading ``points()`` merges that many values into one).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.render.packed import Packed
from monitor.render.tags import tags_of

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
    """Population standard deviation of the non-null values (squares multiplied, as
    graphite-web's are: one too large is inf, where ``** 2`` raises)."""
    known = _non_null(values)
    if not known:
        return None
    mean = sum(known) / len(known)
    return math.sqrt(sum((v - mean) * (v - mean) for v in known) / len(known))


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

    Each chunk is summed in C as it is; a chunk holding a null makes ``sum`` raise, and
    only that chunk is redone without its nulls. No pass over the values looks for
    nulls first, so a dense series costs one C loop per chunk.
    """
    out: list[Value] = []
    append = out.append
    for i in range(0, len(values), n):
        chunk = values[i : i + n]
        try:
            append(sum(typing.cast(list[float], chunk)) / len(chunk))
        except TypeError:  # a null in the chunk
            known = _non_null(chunk)
            append(sum(known) / len(known) if known else None)
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
        if "name" not in self.tags:  # ``cpu;host=a`` carries its tags, as in graphite-web
            named = tags_of(self.name) if ";" in self.name else {"name": self.name}
            self.tags = {**named, **self.tags}
        if not self.path_expression:
            self.path_expression = self.name

    @classmethod
    def read(
        cls, name: str, start: int, end: int, step: int, values: Sequence[Value], **options: Any
    ) -> TimeSeries:
        """A series over values as storage gave them: ``Packed`` values stay packed until
        something reads ``values`` (consolidating for output does not need to)."""
        series = cls(name, start, end, step, [], **options)
        series.__dict__["_values"] = values if isinstance(values, Packed) else list(values)
        return series

    @property
    def size(self) -> int:
        """How many values, without unpacking them."""
        return len(self.__dict__["_values"])

    def drop_first(self, count: int) -> None:
        """Forget the first ``count`` values (the start is the caller's to move)."""
        held = self.__dict__["_values"]
        if isinstance(held, Packed):
            held.drop_first(count)
        else:
            del self.values[: max(0, count)]

    def copy(self, **changes: Any) -> TimeSeries:
        """A new series with ``changes``; values and tags are copied, not shared."""
        if "values" not in changes:  # (not setdefault: that would unpack them anyway)
            changes["values"] = list(self.values)
        if "tags" not in changes:
            changes["tags"] = dict(self.tags)
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
        held: Sequence[Value] = self.__dict__["_values"]  # a list, or still packed
        if self.consolidation in ("average", "avg") and self.xff <= 0:
            if isinstance(held, Packed):
                return held.averages(n)
            return _average_chunks(self.values, n)
        combine = AGGREGATORS[self.consolidation]
        out: list[Value] = []
        for i in range(0, len(held), n):
            chunk = held[i : i + n]
            known = [v for v in chunk if v is not None]
            if self.consolidation == "avg_zero":
                known = [v or 0.0 for v in chunk]
            if known and len([v for v in chunk if v is not None]) / n >= self.xff:
                out.append(combine(known))
            else:
                out.append(None)
        return out

    def readings(self) -> Sequence[Value]:
        """``points()``, but left packed when they are the values as storage read them, for
        callers that can use a ``Packed`` as it is (read it only: it is not a copy)."""
        held = self.__dict__["_values"]
        if self.values_per_point <= 1 and isinstance(held, Packed):
            return held
        return self.points()

    def datapoints(self) -> list[tuple[Value, int]]:
        """``[(value, timestamp), …]`` as graphite's JSON writes them."""
        stride = self.step * self.values_per_point
        stamps = range(self.start, self.end + 1, stride)
        return list(zip(self.points(), stamps, strict=False))


def _values(series: TimeSeries) -> list[Value]:
    held: Sequence[Value] = series.__dict__["_values"]
    if not isinstance(held, list):
        held = series.__dict__["_values"] = (
            held.tolist() if isinstance(held, Packed) else list(held)
        )
    return held


def _set_values(series: TimeSeries, values: list[Value]) -> None:
    series.__dict__["_values"] = values


# ``values`` stays a dataclass field (``__init__``, ``replace``, ``==`` and ``repr`` go
# through it) and becomes a property after the fact, so that a series read from storage
# can hold its values packed until a function first reads them (see ``packed.py``).
setattr(TimeSeries, "values", property(_values, _set_values))  # noqa: B010
