"""Values as storage reads them: C doubles, turned into Python floats only when needed.

A week of 10 s data is 60,480 values a series, and a dashboard asks for hundreds of
series to draw some 800 points of each. Making (and freeing) a Python float for every
value only to average most of them away cost more than anything else in a request, so
the store answers with ``Packed``: an ``array('d')`` and the indices of its null slots
(a chunk without nulls is summed in one C loop). ``TimeSeries`` turns it into a list
the first time a function touches ``values``; consolidation for output and the
series-summing functions read it as it is. The arithmetic is the list's (the same
values added in the same order), so the answers are the same to the last bit.
"""

from __future__ import annotations

import array
import bisect
import typing
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

__all__ = ["Packed"]

Value = float | None


class Packed(Sequence[Value]):
    """A read-only sequence of floats and nulls over an ``array('d')``."""

    __slots__ = ("data", "nulls")

    def __init__(self, data: array.array[float], nulls: Iterable[int] = ()) -> None:
        self.data = data
        #: Sorted indices of the null slots (whatever their doubles hold is not read).
        self.nulls = sorted(nulls)

    @classmethod
    def empty(cls, count: int) -> Packed:
        """``count`` nulls."""
        return cls(array.array("d", bytes(8 * count)), range(count))

    def __len__(self) -> int:
        return len(self.data)

    @overload
    def __getitem__(self, index: int) -> Value: ...
    @overload
    def __getitem__(self, index: slice) -> list[Value]: ...
    def __getitem__(self, index: int | slice) -> Value | list[Value]:
        if isinstance(index, slice):
            start, stop, stride = index.indices(len(self.data))
            if stride != 1:
                return self.tolist()[index]
            out: list[Value] = list(self.data[start:stop].tolist())
            lo, hi = bisect.bisect_left(self.nulls, start), bisect.bisect_left(self.nulls, stop)
            for i in self.nulls[lo:hi]:
                out[i - start] = None
            return out
        value = self.data[index]
        index %= len(self.data)
        at = bisect.bisect_left(self.nulls, index)
        return None if at < len(self.nulls) and self.nulls[at] == index else value

    def __iter__(self) -> Iterator[Value]:
        return iter(self.tolist())

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same values (a list, as ``whisper.fetch`` gives)."""
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return self.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Packed({self.tolist()!r})"

    def tolist(self) -> list[Value]:
        """The values as a list, None for nulls."""
        out = typing.cast(list[Value], self.data.tolist())
        for i in self.nulls:
            out[i] = None
        return out

    def set(self, index: int, value: float) -> None:
        """Put a value in a slot (the store's cache over what the file holds)."""
        self.data[index] = value
        at = bisect.bisect_left(self.nulls, index)
        if at < len(self.nulls) and self.nulls[at] == index:
            del self.nulls[at]

    def drop_first(self, count: int) -> None:
        """Forget the first ``count`` slots."""
        if count > 0:
            del self.data[:count]
            self.nulls = [i - count for i in self.nulls[bisect.bisect_left(self.nulls, count) :]]

    def averages(self, n: int) -> list[Value]:
        """Averages of consecutive chunks of ``n``, nulls skipped (None for a chunk of
        nulls): graphite's average consolidation. A chunk without nulls is summed in C
        as it is; one holding a null (known from ``nulls``) is redone value by value."""
        data, out = self.data, list[Value]()
        append = out.append
        redo = {i // n for i in self.nulls}
        nulls = set(self.nulls) if redo else set()
        for chunk, i in enumerate(range(0, len(data), n)):
            values = data[i : i + n]
            if chunk not in redo:
                append(sum(values) / len(values))
                continue
            known = [v for j, v in enumerate(values, i) if j not in nulls]
            append(sum(known) / len(known) if known else None)
        return out
