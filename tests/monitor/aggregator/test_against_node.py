"""Our daemon against Etsy statsd 0.9.0 (npm), metric by metric, on the same packets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.monitor.aggregator.daemons import Pair, daemon_pair

LEGACY_CONFIG = {
    "percentThreshold": [90, 99.9, 99, -10, 50, 100, -100],
    "histogram": [
        {"metric": "hist", "bins": [1, 5.5, 100, "inf"]},
        {"metric": "capped", "bins": [10, 20]},
    ],
}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with daemon_pair(tmp_path_factory.mktemp("legacy"), **LEGACY_CONFIG) as pair:
        yield pair


EVERY_TYPE = [
    b"hits:1|c",
    b"hits:2|c",
    b"hits:1.5|c",
    b"hits:-4|c",
    b"sampled:1|c|@0.1",
    b"sampled:3|c|@0.5",
    b"float.sum:0.1|c\nfloat.sum:0.2|c",
    b"lat:3|ms",
    b"lat:1|ms\nlat:7|ms\nlat:2|ms\nlat:9|ms",
    b"lat:4|ms|@0.25",
    b"one:42|ms",
    b"five:5|ms\nfive:1|ms\nfive:4|ms\nfive:2|ms\nfive:3|ms",  # 90% of 5 = 4.5: Math.round
    b"hist.req:0.5|ms\nhist.req:3|ms\nhist.req:5.5|ms\nhist.req:250|ms",
    b"capped.req:5|ms\ncapped.req:15|ms\ncapped.req:25|ms",
    b"many:" + b"\nmany:".join(f"{i * 7 % 150}|ms".encode() for i in range(150)),
    b"temp:21|g",
    b"temp:+4|g",
    b"temp:-30|g",
    b"fresh.delta:+4|g",
    b"zeroed:0|g\nzeroed:-7|g",
    b"spaced: +5|g",
    b"users:ann|s\nusers:bob|s\nusers:ann|s",
    b"members:1|s\nmembers:1.0|s\nmembers:01|s",
    b"empty.member:|s",
    b"multi:1|c:2|c:3|ms",
    b"tagged:1|c|#env:prod,role:web",
    b"tagged2:5|ms|#a;b:c,d",
    b"graphite.style;env=prod;dc=eu:1|c",
    b"GET /api/v1/users 200:1|c",
    b"h.type:5|h",
    b"  padded name  :1|c",
]


def test_every_metric_type(legacy: Pair) -> None:
    ts = legacy.next_flush(lambda: legacy.send_udp(EVERY_TYPE))
    flushed = legacy.compare(ts)
    assert flushed["stats_counts.hits"] == "0.5"
    assert "stats.timers.hist.req.histogram.bin_5_5" in flushed
    assert flushed["stats.timers.many.lower_top100"] == "0"


MALFORMED = [
    b"",
    b"\n\n\n",
    b"noop",
    b"no.type:5",
    b"empty.type:5|",
    b"bad.type:5|x",
    b"upper.type:5|C",
    b"ms.space:-5|ms ",
    b"neg.ms:-5|ms",
    b"nan.value:nan|c",
    b"inf.value:inf|c",
    b"js.inf:Infinity|c",
    b"huge:1e400|g",
    b"underscore:1_000|c",
    "arabic:\u0661\u0662|c".encode(),
    "fullwidth:\uff15|c".encode(),
    b"hex:0x10|c",
    b"bin:0b11|g",
    b"oct:0o17|ms",
    b"exp:1e3|c",
    b"plus:+5|c",
    b"dot:.5|c\ndot:5.|c",
    b"blank: |c",
    b"padded: 7 |g",
    b"bad.rate:1|c|0.5",
    b"neg.rate:1|c|@-0.5",
    b"empty.rate:1|c|@",
    b"exp.rate:1|c|@1e-1",
    b"hex.rate:1|c|@0x2",
    b"zero.rate:1|c|@0",
    b"zero.rate.timer:5|ms|@0",
    b"extra.fields:1|c|@0.5|ignored|more",
    b"\xff\xfe\xfd:1|c",
    b"bad.utf8.member:\xc3\x28|s",
    b"cr.line:1|c\r",
    b"windows:1|c\r\nwindows:2|c\r\n",
    b"x" * 10_000 + b":1|c",
    b"long.value:" + b"9" * 10_000 + b"|c",
    b":1|c",
    b"a:b:c",
    b"tags.only|#",
    b"tags.empty:1|c|#",
    b"tags.twice:1|c|#a:b|#c:d",
    b"only.colon:",
    b"|c",
]


def test_malformed_corpus(legacy: Pair) -> None:
    ts = legacy.next_flush(lambda: legacy.send_udp(MALFORMED))
    flushed = legacy.compare(ts)
    assert float(flushed["stats_counts.statsd.bad_lines_seen"]) > 10


def test_tcp_server(legacy: Pair) -> None:
    chunks = [
        b"tcp.hits:1|c\ntcp.hi",
        b"ts:2|c\ntcp.lat:5|ms\n",
        "tcp.high:1|c\ntcp.\u00fc:1|c\n".encode(),
        b"tcp.lost.at.close:1|c",
    ]
    ts = legacy.next_flush(lambda: legacy.send_tcp(chunks))
    # Data chunks, and so node's packets_received, depend on TCP segmentation.
    flushed = legacy.compare(ts, ignore=("packets_received",))
    assert flushed["stats_counts.tcp.hits"] == "3"
    assert "stats_counts.tcp.lost.at.close" not in flushed


line_names = st.text(st.sampled_from("abc.-_ /;=:é\t"), min_size=0, max_size=8)
values = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["", " ", "1e3", "0x1f", "+4", "-0", ".5", "abc", "nan", "Infinity"]),
)
types = st.sampled_from(["c", "ms", "g", "s", "h", "", "x", "ms "])
rates = st.sampled_from(["", "|@0.5", "|@1", "|@0.1", "|@2", "|@-1", "|@abc", "|@"])
lines = st.builds(lambda n, v, t, r: f"{n}:{v}|{t}{r}", line_names, values, types, rates)
packets = st.lists(lines, min_size=1, max_size=5).map(lambda ls: "\n".join(ls).encode())


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(packets, min_size=20, max_size=60))
def test_generated_packets(legacy: Pair, batch: list[bytes]) -> None:
    ts = legacy.next_flush(lambda: legacy.send_udp(batch))
    legacy.compare(ts)


def test_non_legacy_names_prefixes_and_suffix(tmp_path: Path) -> None:
    config = {
        "graphite": {
            "legacyNamespace": False,
            "globalPrefix": "pre",
            "prefixCounter": "",
            "prefixTimer": "t",
            "prefixGauge": "gg",
            "prefixSet": "",
            "globalSuffix": "suf",
        },
        "prefixStats": "mystatsd",
        "percentThreshold": 95,
    }
    with daemon_pair(tmp_path, **config) as pair:
        ts = pair.next_flush(lambda: pair.send_udp(EVERY_TYPE + MALFORMED[:6]))
        flushed = pair.compare(ts)
    assert "pre.hits.count.suf" in flushed
    assert "pre.mystatsd.numStats.suf" in flushed
    assert "pre.tagged.rate.suf;env=prod;role=web" in flushed


def test_no_sanitizing_no_counts_and_filtered_timer_stats(tmp_path: Path) -> None:
    config = {
        "keyNameSanitize": False,
        "flush_counts": False,
        "calculatedTimerMetrics": ["count", "upper_percent", "mean", "histogram"],
        "histogram": [{"metric": "", "bins": [5, "inf"]}],
        "graphite": {"legacyNamespace": False, "globalPrefix": ""},
    }
    with daemon_pair(tmp_path, **config) as pair:
        ts = pair.next_flush(lambda: pair.send_udp(EVERY_TYPE))
        pair.compare(ts)


def test_delete_idle_stats_over_flushes(tmp_path: Path) -> None:
    with daemon_pair(tmp_path, deleteIdleStats=True, gaugesMaxTTL=2) as pair:
        first = pair.next_flush(lambda: pair.send_udp(EVERY_TYPE))
        pair.compare(first)
        second = pair.next_flush(lambda: pair.send_udp([b"only.this:1|c"]))
        flushed = pair.compare(second)
        assert "stats_counts.hits" not in flushed
        assert "stats.gauges.temp" in flushed  # gaugesMaxTTL 2: kept one idle flush
        third = pair.next_flush(lambda: None)
        flushed = pair.compare(third)
        assert "stats.gauges.temp" not in flushed


def test_delete_some_kinds_only(tmp_path: Path) -> None:
    config = {"deleteCounters": True, "deleteSets": True, "deleteTimers": False}
    with daemon_pair(tmp_path, **config) as pair:
        pair.compare(
            pair.next_flush(lambda: pair.send_udp([*EVERY_TYPE, b"my.packets_received:1|c"]))
        )
        flushed = pair.compare(pair.next_flush(lambda: None))
        assert flushed["stats_counts.my.packets_received"] == "0"


def _admin(port: int, command: str) -> str:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(command.encode())
        conn.shutdown(socket.SHUT_WR) if command == "quit" else None
        data = b""
        while not data.endswith(b"\n\n") and not data.startswith((b"health", b"ERROR")):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        if data.startswith((b"health", b"ERROR")) and not data.endswith(b"\n"):
            data += conn.recv(65536)
        return data.decode()


def test_admin_console_answers_like_node(tmp_path: Path) -> None:
    from tests.conftest import wait_until

    with daemon_pair(tmp_path, flushInterval=3_600_000) as pair:
        pair.send_udp([b"a.b:1|c\na.c:2|c\ng:5|g\nt:1|ms\nt:2|ms", b"x y:3|c"])
        for daemon in (pair.node, pair.ours):
            wait_until(lambda d=daemon: "x_y" in _admin(d.mgmt_port, "counters"))
        for command in (
            "counters",
            "gauges",
            "timers",
            "health",
            "health down",
            "health",
            "delcounters a.* nope",
            "counters",
            "deltimers t",
            "delgauges g",
            "gauges",
            "help",
            "bogus",
        ):
            node, ours = _admin(pair.node.mgmt_port, command), _admin(pair.ours.mgmt_port, command)
            assert ours == node, command
