"""JavaScript number parsing and formatting, checked against node itself."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.aggregator.jsnumber import format_number, is_number, parse_number, round_half_up
from tests.conftest import node_binary

ORACLE = r"""
const readline = require('readline');
const rl = readline.createInterface({input: process.stdin});
rl.on('line', (line) => {
  const [kind, arg] = JSON.parse(line);
  let out;
  if (kind === 'parse') { const n = Number(arg); out = isNaN(n) ? null : String(n); }
  else if (kind === 'valid') { out = Boolean(arg && !isNaN(arg)); }
  else { out = String(arg === 'inf' ? Infinity : arg === '-inf' ? -Infinity : arg); }
  process.stdout.write(JSON.stringify(out) + '\n');
});
"""


class Node:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [node_binary(), "-e", ORACLE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def ask(self, kind: str, arg: object) -> object:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([kind, arg]) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    oracle = Node()
    yield oracle
    oracle.close()


TRICKY = [
    "0x10", "0b11", "0o17", "1e3", "+5", ".5", "5.", " 7 ", " ", "Infinity", "-Infinity",
    "1e400", "nan", "inf", "infinity", "1_000", "\u0661\u0662", "\uff15", "-0x10", "1e",
    "e5", "\ufeff5", "\x1c5", "0x", "+.5e-3", "00012", "1e+5", "", "-", "+", ".", "1..2",
    "\u00a05\u3000", "0X1F", "1 2", "--1", "0.1e-400",
]  # fmt: skip


@pytest.mark.parametrize("text", TRICKY)
def test_parse_matches_node_on_tricky_strings(node: Node, text: str) -> None:
    expected = node.ask("parse", text)
    got = parse_number(text)
    assert (None if got is None else format_number(got)) == expected
    assert is_number(text) == node.ask("valid", text)


number_text = st.one_of(
    st.text(st.sampled_from("0123456789+-.eExXbBoO abcf_\t\u00a0\ufeff"), max_size=12),
    st.floats(allow_nan=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=number_text)
def test_parse_matches_node(node: Node, text: str) -> None:
    got = parse_number(text)
    assert (None if got is None else format_number(got)) == node.ask("parse", text)


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=st.floats(allow_nan=False))
def test_format_matches_node(node: Node, x: float) -> None:
    arg: object = x if math.isfinite(x) else ("inf" if x > 0 else "-inf")
    assert format_number(x) == node.ask("format", arg)


def test_format_examples() -> None:
    assert format_number(5.0) == "5"
    assert format_number(-0.0) == "0"
    assert format_number(0.00001) == "0.00001"
    assert format_number(1.5e-7) == "1.5e-7"
    assert format_number(1e21) == "1e+21"
    assert format_number(0.1 + 0.2) == "0.30000000000000004"
    assert format_number(math.nan) == "NaN"


def test_math_round_goes_half_up() -> None:
    assert [round_half_up(x) for x in (4.5, 148.5, -2.5, 2.4999)] == [5, 149, -2, 2]
