"""``Packed`` answers exactly as the list of floats and Nones it stands for."""

from __future__ import annotations

import array
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.render.packed import Packed
from monitor.render.series import TimeSeries, _average_chunks

Value = float | None

values_lists = st.lists(
    st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.floats(-1e6, 1e6),
    ),
    max_size=300,
)


def pack(values: list[Value]) -> Packed:
    data = array.array("d", [0.0 if v is None else v for v in values])
    return Packed(data, [i for i, v in enumerate(values) if v is None])


def same(a: list[Value], b: list[Value]) -> bool:
    """Equal to the last bit, NaN equal to NaN."""
    return len(a) == len(b) and all(
        x is y is None
        or (x is not None and y is not None and (x == y or (math.isnan(x) and math.isnan(y))))
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=400, deadline=None)
@given(values=values_lists, n=st.integers(1, 40))
def test_averages_are_the_lists(values: list[Value], n: int) -> None:
    assert same(pack(values).averages(n), _average_chunks(values, n))


@settings(max_examples=300, deadline=None)
@given(values=values_lists, lo=st.integers(-20, 320), hi=st.integers(-20, 320))
def test_reading_like_a_list(values: list[Value], lo: int, hi: int) -> None:
    packed = pack(values)
    assert same(packed.tolist(), values)
    assert same(packed[lo:hi], values[lo:hi])
    assert same(packed[::2], values[::2])
    assert len(packed) == len(values)
    for i in (lo, hi, -1):
        if -len(values) <= i < len(values):
            assert same([packed[i]], [values[i]])


@settings(max_examples=300, deadline=None)
@given(
    values=values_lists,
    drop=st.integers(-3, 320),
    puts=st.lists(st.tuples(st.integers(0, 299), st.floats(-1e6, 1e6)), max_size=10),
)
def test_set_and_drop_first(values: list[Value], drop: int, puts: list[tuple[int, float]]) -> None:
    packed = pack(values)
    for index, value in puts:
        if index < len(values):
            packed.set(index, value)
            values[index] = value
    packed.drop_first(drop)
    del values[: max(0, drop)]
    assert same(packed.tolist(), values)


@settings(max_examples=200, deadline=None)
@given(
    values=values_lists,
    n=st.integers(1, 40),
    how=st.sampled_from(["average", "sum", "max", "min", "first", "last", "avg_zero"]),
)
def test_series_consolidate_the_same_packed_or_not(values: list[Value], n: int, how: str) -> None:
    """Output consolidation reads packed values without unpacking; the answer is the one
    the unpacked list gives, and a function reading ``values`` sees the list."""
    plain = TimeSeries("a", 0, 10 * len(values), 10, list(values), consolidation=how)
    packed = TimeSeries.read("a", 0, 10 * len(values), 10, pack(values), consolidation=how)
    assert packed.size == len(values)
    plain.consolidate(n)
    packed.consolidate(n)
    assert same(packed.points(), plain.points())
    assert same(packed.values, values)
    assert isinstance(packed.values, list)
