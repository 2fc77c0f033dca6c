"""A Graphite cluster on real engines (issue 16): Debian's carbon-c-relay spreads 20,000
metrics over three ``monitor up`` store nodes with ``carbon_ch`` and ``replication 2``;
each series lands exactly where the relay's own test mode (``-t``) says; then one node
stops, and a real graphite-web 1.1.10 front end federating the nodes still reads every
series from its other replica."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

import pytest

from tests.carbon_relay import (
    RELAY,
    carbon_relay,
    relay_config,
    send_lines,
    store_counts,
    store_nodes,
)
from tests.conftest import UNIT, stop_process, wait_until
from tests.graphite_web import get, graphite_front_end
from tests.node_statsd import free_port

COUNT = 20_000
NAMES = [f"cluster.m{i // 100:03d}.n{i % 100:02d}" for i in range(COUNT)]


def placement(config: Path) -> dict[str, set[int]]:
    """name -> the carbon ports the relay sends it to, from ``carbon-c-relay -t``."""
    lines = "".join(f"{name} 1 1\n" for name in NAMES)
    shown = subprocess.run(
        [str(RELAY), "-t", "-f", str(config)], input=lines, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout  # fmt: skip
    where: dict[str, set[int]] = defaultdict(set)
    name = ""
    for line in shown.splitlines():
        line = line.strip()
        if "-> " in line:  # the rule that matched, then "-> name" (same line or next)
            name = line.split("-> ", 1)[1]
        elif name and line.startswith("127.0.0.1:"):
            where[name].add(int(line.rsplit(":", 1)[1]))
    return where


def names_on(url: str) -> set[str]:
    """The node's series, in two finds (one would pass render.max_series)."""
    names = set()
    for half in ("cluster.m0*.*", "cluster.m1*.*"):
        query = urllib.parse.urlencode({"query": half, "format": "completer"})
        status, body = get(f"{url}/metrics/find?{query}")
        assert status == 200, body
        names |= {m["path"] for m in json.loads(body)["metrics"]}
    return names


@pytest.mark.timeout(600)
def test_relay_replicates_over_three_nodes_and_a_front_end_survives_one_down(
    tmp_path: Path,
) -> None:
    carbon = [free_port(socket.SOCK_STREAM) for _ in range(3)]
    with store_nodes(tmp_path, carbon) as nodes:
        config = tmp_path / "relay.conf"  # the shipped one, with the nodes' local ports
        config.write_text(relay_config(carbon))
        now = int(time.time()) // 10 * 10 - 30
        urls = [url for url, _ in nodes]
        with carbon_relay(config) as relay:
            send_lines(relay, "".join(f"{name} {i} {now}\n" for i, name in enumerate(NAMES)))

            def all_written() -> bool:
                seen = [store_counts(url) for url in urls]
                return sum(c["points_written"] for c in seen) >= 2 * COUNT

            wait_until(all_written, 120 * UNIT)
        where = placement(config)
        assert len(where) == COUNT
        assert all(len(ports) == 2 for ports in where.values())
        for url, port in zip(urls, carbon, strict=True):
            expected = {name for name, ports in where.items() if port in ports}
            assert names_on(url) == expected, f"node on carbon port {port}"
            assert len(expected) > COUNT // 2  # each node holds about two thirds

        stop_process(nodes[2][1])  # one node down: every series has another replica
        members_up = [urllib.parse.urlsplit(url).netloc for url in urls]
        with graphite_front_end(tmp_path / "front", members_up) as front:
            seen: dict[str, float] = {}
            for group in range(0, COUNT // 100, 10):  # 10 targets of 100 series a request
                params = [("target", f"cluster.m{g:03d}.*") for g in range(group, group + 10)]
                params += [("format", "json"), ("from", str(now - 60)), ("until", str(now + 60))]
                status, body = get(f"{front}/render?{urllib.parse.urlencode(params)}")
                assert status == 200, body[:500]
                for series in json.loads(body):
                    values = [v for v, ts in series["datapoints"] if ts == now]
                    seen[series["target"]] = values[0] if values else None
        assert len(seen) == COUNT
        wrong = [n for i, n in enumerate(NAMES) if seen.get(n) != float(i)]
        assert not wrong, f"{len(wrong)} series unreadable or wrong, e.g. {wrong[:5]}"
