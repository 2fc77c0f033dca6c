"""Calls per second of ``statsd.incr`` through monitor.statsd against raw pystatsd.

Both send real UDP datagrams to the same listening socket on 127.0.0.1 (bound, never
read: the kernel drops what does not fit, as a busy daemon would). Rounds alternate
between the contenders so machine noise hits both alike; the report gives the median
of the rounds and the ratio. The target (issue #2): our overhead at most 25%. Two
more rows drop the socket send from both sides, to show the pure-Python cost of our
checks and caching.

    .venv/bin/python bench/client_overhead.py [--calls 50000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable

import statsd as pystatsd

from monitor import statsd
from monitor.statsd import Client, NullClient


class _PystatsdNoSend(pystatsd.StatsClient):  # type: ignore[misc]
    """pystatsd building lines but not sending them: its pure-Python cost."""

    def _send(self, data: str) -> None:
        pass


def rate(call: Callable[[str], None], calls: int) -> float:
    """Calls per second of ``call`` over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        call("checkout.ok")
    return calls / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]

    raw = pystatsd.StatsClient("127.0.0.1", port)
    ours = Client("127.0.0.1", port)
    os.environ.update(STATSD_HOST="127.0.0.1", STATSD_PORT=str(port))
    contenders: dict[str, Callable[[str], None]] = {
        "pystatsd StatsClient.incr (raw)": raw.incr,
        "monitor.statsd.incr (module level)": statsd.incr,
        "monitor.statsd.Client.incr": ours.incr,
        "line building only: pystatsd": _PystatsdNoSend("127.0.0.1", port).incr,
        "line building only: monitor NullClient": NullClient().incr,
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for call in contenders.values():  # warm up: caches, first socket
        rate(call, 1000)
    for _ in range(args.rounds):
        for name, call in contenders.items():
            results[name].append(rate(call, args.calls))

    print(
        f"{args.rounds} rounds x {args.calls} calls, median; Python {platform.python_version()},"
        f" {platform.machine()}, {os.cpu_count()} cores\n"
    )
    print("| client | calls/s (median) | time per call vs pystatsd |")
    print("|---|---:|---:|")
    names = list(results)
    for name in names:
        base_name = names[3] if name.startswith("line building") else names[0]
        base = statistics.median(results[base_name])
        median = statistics.median(results[name])
        print(f"| {name} | {median:,.0f} | {base / median:.2f}x |")
    assert ours.stats.dropped == 0, ours.stats
    raw.close()
    ours.close()
    sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
