"""Points per second end to end through Debian's carbon-c-relay into 1, 2 and 3
``monitor up`` store nodes on this machine (issue #16).

Method: N nodes (``monitor up`` each, one render worker), the relay in front with the
shipped ``contrib/carbon-c-relay.conf`` cut to N nodes (``carbon_ch``, ``replication``
2 when N > 1, else 1). ``--points`` carbon lines over ``--metrics`` series are pushed
into the relay through one TCP connection; the clock stops when the nodes' status
pages (``counts.points_accepted``) add up to every copy the relay sends. Points/s is
the lines sent divided by that time (copies are not counted twice). The same payload
sent straight to one node, without the relay, is the baseline. ``--rounds`` runs per
set-up; medians. Every process shares this machine's two cores: more nodes here means
more processes on the same cores, so this measures the relay and the nodes' cost, not
how a cluster of machines scales.

    .venv/bin/python bench/cluster.py [--points 400000] [--metrics 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.carbon_relay import (  # noqa: E402
    carbon_relay,
    relay_config,
    send_lines,
    store_counts,
    store_nodes,
)
from tests.node_statsd import free_port  # noqa: E402

#: The relay's options: its defaults (``-b 2500 -q 25000``) send at about 30k points/s
#: here; bigger batches and queues let it keep up with the nodes.
TUNED = ("-w", "2", "-b", "20000", "-q", "200000")


def one_run(nodes: int, points: int, metrics: int, options: tuple[str, ...] | None) -> float:
    """Points/s into ``nodes`` nodes through the relay run with ``options`` (None: no
    relay, straight to the one node)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ports = [free_port(socket.SOCK_STREAM) for _ in range(nodes)]
        with store_nodes(tmp, ports) as started:
            urls = [url for url, _ in started]
            config = tmp / "relay.conf"
            config.write_text(relay_config(ports))
            now = int(time.time()) // 10 * 10 - 3600
            steps = points // metrics
            payload = "".join(
                f"bench.m{i // 100:04d}.n{i % 100:02d} {i} {now - 10 * step}\n"
                for step in range(steps)
                for i in range(metrics)
            )
            copies = steps * metrics * (2 if nodes > 1 else 1)
            with contextlib.ExitStack() as stack:
                port = (
                    stack.enter_context(carbon_relay(config, *options))
                    if options is not None
                    else ports[0]
                )
                send_lines(port, "")  # once it listens
                began = time.perf_counter()
                send_lines(port, payload)
                while sum(store_counts(url)["points_accepted"] for url in urls) < copies:
                    time.sleep(0.05)
                    assert time.perf_counter() - began < 600, "not all points arrived"
                elapsed = time.perf_counter() - began
            return steps * metrics / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=400_000)
    parser.add_argument("--metrics", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| set-up | store nodes | copies per point | points/s (median) | runs |")
    print("|---|---:|---:|---:|---|")
    setups = [
        ("sent straight to the node, no relay", 1, None),
        ("relay with its default options (-w 2)", 1, ("-w", "2")),
        *((f"relay {' '.join(TUNED)}", n, TUNED) for n in (1, 2, 3)),
    ]
    for label, nodes, options in setups:
        rates = [one_run(nodes, args.points, args.metrics, options) for _ in range(args.rounds)]
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        copies = 2 if nodes > 1 else 1
        print(f"| {label} | {nodes} | {copies} | {statistics.median(rates):,.0f} | {runs} |",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
