"""Name sanitizing, checked against the daemon's own function run by node."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.names import JS_WHITESPACE, is_clean, sanitize
from monitor.statsd.testing import Recorder
from tests.conftest import node_binary, require
from tests.node_statsd import STATSD_DIR

# Loads sanitizeKeyName from statsd 0.9.0's own stats.js (not a copy of it) and applies
# it to each JSON string read from stdin.
ORACLE = r"""
const fs = require('fs');
const readline = require('readline');
const src = fs.readFileSync(process.argv[1], 'utf8');
const fn = src.match(/function sanitizeKeyName\(key\) \{[\s\S]*?\n\}/)[0];
const keyNameSanitize = true;
const sanitizeKeyName = eval('(' + fn + ')');
const rl = readline.createInterface({input: process.stdin});
rl.on('line', (line) => {
  process.stdout.write(JSON.stringify(sanitizeKeyName(JSON.parse(line))) + '\n');
});
"""


class Oracle:
    def __init__(self, stats_js: Path) -> None:
        self.proc = subprocess.Popen(
            [node_binary(), "-e", ORACLE, str(stats_js)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def __call__(self, name: str) -> str:
        assert self.proc.stdin
        assert self.proc.stdout
        self.proc.stdin.write(json.dumps(name) + "\n")
        self.proc.stdin.flush()
        return str(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(10)
        assert self.proc.stdout
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def node_sanitize() -> Iterator[Oracle]:
    require("node statsd 0.9.0 (npm install)", (STATSD_DIR / "stats.js").is_file())
    oracle = Oracle(STATSD_DIR / "stats.js")
    yield oracle
    oracle.close()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("checkout.ok", "checkout.ok"),
        ("a b", "a_b"),
        ("a \t\n b", "a_b"),
        ("GET /api/users", "GET_-api-users"),
        ("héllo wörld", "hllo_wrld"),
        ("rate:5|c", "rate5c"),
        ("host=web-1;dc=eu", "host=web-1;dc=eu"),
        ("bom\ufeffhere", "bom_here"),  # JS \s includes U+FEFF
        ("fs\x1cgs", "fsgs"),  # ...but not U+001C, which Python's \s matches
        ("nel\x85x", "nelx"),  # ...nor U+0085
        ("", ""),
    ],
)
def test_examples(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


def test_js_whitespace_set_matches_node(node_sanitize: Oracle) -> None:
    every_char = "".join(chr(c) for c in range(0x3100) if not 0xD800 <= c < 0xE000) + "\ufeff"
    assert node_sanitize(every_char) == sanitize(every_char)
    for ch in JS_WHITESPACE:
        assert node_sanitize(f"a{ch}b") == "a_b"


names = st.text(
    st.one_of(
        st.sampled_from("abcXYZ019._-;=/ :|#@\t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000\ufeff"),
        st.characters(),
    ),
    max_size=40,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names)
def test_sanitize_matches_the_daemon(node_sanitize: Oracle, name: str) -> None:
    expected = node_sanitize(name)
    assert sanitize(name) == expected
    assert is_clean(expected)
    assert sanitize(expected) == expected
    wire = Recorder(strict=False).full_name(name)
    assert wire == (expected if expected.strip(".") else None)
