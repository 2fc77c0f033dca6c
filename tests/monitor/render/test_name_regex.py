"""Regular expressions over series names (``grep``, ``exclude``, ``aliasSub``) come from
URLs: a bad one is a clear error, and one that backtracks without end is cut short."""

from __future__ import annotations

import pytest

from monitor.render.evaluator import InvalidArgument
from monitor.render.functions.filters import NameRegex


def test_search_and_substitute() -> None:
    matcher = NameRegex(r"web\.(host\d)\.requests", "aliasSub")
    assert matcher.search("web.host1.requests")
    assert not matcher.search("web.hostA.requests")
    assert matcher.sub(r"\1 hits", "web.host1.requests") == "host1 hits"


def test_invalid_pattern_names_function_and_pattern() -> None:
    with pytest.raises(InvalidArgument, match=r"grep\(\): invalid regular expression '\(a'"):
        NameRegex("(a", "grep")


def test_invalid_replacement_is_an_argument_error() -> None:
    with pytest.raises(InvalidArgument, match=r"aliasSub\(\): invalid replacement"):
        NameRegex("(a)", "aliasSub").sub(r"\2", "a")


def test_runaway_pattern_is_cut_short() -> None:
    matcher = NameRegex(r"(a|aa)+$", "exclude")  # exponential: never ends unbounded
    with pytest.raises(InvalidArgument, match=r"exclude\(\): the regular expression took over"):
        matcher.search("a" * 60 + "!")


def test_a_huge_counted_repeat_is_refused_before_compiling() -> None:
    with pytest.raises(InvalidArgument, match=r"grep\(\): pattern 'x\{5000000\}' is too big"):
        NameRegex("x{5000000}", "grep")
