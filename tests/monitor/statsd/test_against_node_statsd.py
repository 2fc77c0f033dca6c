"""What our client sends is what Etsy statsd 0.9.0 writes to Graphite, name for name."""

from __future__ import annotations

import random
from pathlib import Path

from monitor.statsd import Client
from tests.conftest import wait_until
from tests.node_statsd import node_statsd

NAMES = [
    "checkout.ok",
    "GET /api/v1/users 200",
    "a  b\tc",
    "tabs\tand\nnewlines",
    "unicode.héllo.wörld",
    "colon:in:name",
    "pipe|in|name",
    "hash#tag",
    "host=web-1;dc=eu",
    "bom\ufeffhere",
    "nbsp\xa0here",
    "slash/and\\backslash",
    "emoji.🚀.launch",
]


def _random_names(n: int) -> list[str]:
    rng = random.Random(2026)
    alphabet = "abcxyz019._-;=/ \t\u3000é:|#@!"
    names = ("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))) for _ in range(n))
    return [name for name in names if name.strip(" \t\u3000.;=/:|#@!é")]


def test_counter_names_reach_graphite_exactly_as_our_client_writes_them(tmp_path: Path) -> None:
    names = NAMES + _random_names(200)
    with node_statsd(tmp_path) as daemon:
        client = Client("127.0.0.1", daemon.port, maxudpsize=1400)
        wire_names = set()
        with client.pipeline() as pipe:
            for name in names:
                pipe.incr(name)
                wire_names.add(client.full_name(name))
        client.close()
        expected = {f"stats_counts.{name}" for name in wire_names}

        def all_flushed() -> bool:
            return expected <= daemon.carbon.paths()

        wait_until(all_flushed)
        received = {p for p in daemon.carbon.paths() if p.startswith("stats_counts.")}
        assert (
            received
            - {"stats_counts.statsd.metrics_received"}
            - {
                "stats_counts.statsd.packets_received",
                "stats_counts.statsd.bad_lines_seen",
            }
            == expected
        )
        assert "stats_counts.statsd.bad_lines_seen" in received
        bad = [ln for ln in daemon.carbon.lines if ln.startswith("stats_counts.statsd.bad_lines")]
        assert bad[0].split()[1] == "0"
