"""Users' regexes measured before compiling: a counted repeat cannot cost seconds."""

from __future__ import annotations

import time

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from monitor.patterns import MAX_EXPANDED, PatternTooBig, check, expanded_size


@pytest.mark.parametrize(
    ("pattern", "size"),
    [
        ("abc", 3),
        ("(ab){3}", 6),
        ("a{2,5}", 5),
        ("a{,4}", 4),
        ("a{3,}", 1),
        ("a*b+c?", 3),
        ("(x{1000}){100}", 100_000),
        ("(?:a|bc){10}", 30),
        ("(?P<name>ab){4}", 8),
        ("[a-z{}]{50}", 50),
        ("\\{5}", 3),  # an escaped brace: the literal text {5}
        ("\\p{Lu}{3}", 3),
        ("x{5000000}", 5_000_000),
        ("(?i)ERROR|Traceback", 14),
        ("(?<=a)b{7}", 8),
    ],
)
def test_expanded_size(pattern: str, size: int) -> None:
    assert expanded_size(pattern) == size


def test_a_huge_counted_repeat_is_refused_before_compiling() -> None:
    started = time.perf_counter()
    with pytest.raises(PatternTooBig, match=r"expand to 5,000,000 elements, more than 20,000"):
        check("x{5000000}")
    with pytest.raises(PatternTooBig):
        check("((a{100}){100}){100}")
    assert time.perf_counter() - started < 0.1
    check("x{1000}")  # small repeats are fine


@given(st.text(alphabet="ab(){}|*+?,0123456789[]\\^$.:", max_size=30))
def test_anything_within_the_limit_compiles_quickly(pattern: str) -> None:
    try:
        check(pattern)
    except PatternTooBig:
        return
    try:
        started = time.perf_counter()
        regex.compile(pattern)
    except (regex.error, OverflowError, RecursionError):
        return
    assert time.perf_counter() - started < 0.5, (pattern, expanded_size(pattern), MAX_EXPANDED)
