"""The target parser: every construct, and errors with positions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.render.grammar import Call, Literal, Path, TargetSyntaxError, parse_target


def test_paths_with_globs_and_escapes() -> None:
    assert parse_target("a.b-c.*.d?[0-9].{x,y}") == Path("a.b-c.*.d?[0-9].{x,y}", 0)
    assert parse_target(r"a.b\(1\)") == Path("a.b(1)", 0)
    assert parse_target("stats_counts.host=web;dc=eu") == Path("stats_counts.host=web;dc=eu", 0)


def test_calls_literals_and_kwargs() -> None:
    node = parse_target("summarize(sumSeries(a.*, b), '1h', func=\"max\", alignToFrom=true)")
    assert isinstance(node, Call)
    assert node.name == "summarize"
    inner, interval = node.args
    assert isinstance(inner, Call)
    assert inner.args == (Path("a.*", 20), Path("b", 25))
    assert interval == Literal("1h", 29)
    assert dict(node.kwargs) == {"func": Literal("max", 40), "alignToFrom": Literal(True, 59)}


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("-2", -2), ("2.5", 2.5), ("1e3", 1000.0), ("TRUE", True), ("false", False),
     ("None", None), ("inf", float("inf")), ("'a,b'", "a,b"),
     # backslashes stay as written, as graphite-web keeps them (regexes for aliasSub)
     ('"x\\"y"', 'x\\"y'), (r"'a\.b\d'", r"a\.b\d")],
)  # fmt: skip
def test_literals(text: str, value: object) -> None:
    node = parse_target(f"f({text})")
    assert isinstance(node, Call)
    assert node.args[0] == Literal(value, 2)


def test_number_followed_by_text_is_a_path() -> None:
    node = parse_target("f(1h.rate)")
    assert isinstance(node, Call)
    assert node.args[0] == Path("1h.rate", 2)


def test_pipes_pass_the_left_side_first() -> None:
    node = parse_target("a.b | scale(2) | alias('x')")
    assert isinstance(node, Call)
    assert node.name == "alias"
    scale = node.args[0]
    assert isinstance(scale, Call)
    assert scale.args == (Path("a.b", 0), Literal(2, 12))


def test_raw_text_of_calls() -> None:
    node = parse_target("alias(sumSeries(a.*),'x')")
    assert isinstance(node, Call)
    assert node.raw == "alias(sumSeries(a.*),'x')"


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("sumSeries(a.x", 9, "missing ')'"),
        ("a.b)", 3, "unexpected ')'"),
        ("f(a,)", 4, "expected an argument"),
        ("f(x=1, a.b)", 7, "positional argument after a keyword"),
        ("f('abc)", 2, "unterminated string"),
        ("a..b", 0, "empty node"),
        ("a.{b,c", 0, "missing '}'"),
        ("", 0, "empty target"),
        ("f(a b)", 4, "expected ',' or ')'"),
    ],
)
def test_errors_say_where(text: str, position: int, message: str) -> None:
    with pytest.raises(TargetSyntaxError, match=re.escape(message)) as error:
        parse_target(text)
    assert error.value.position == position


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_a_syntax_error(text: str) -> None:
    position = 0
    try:
        parse_target(text)
    except TargetSyntaxError as exc:
        position = exc.position
    assert 0 <= position <= len(text)
