"""``monitor up``: start-up time, idle CPU and memory (issue #8).

Method: ``monitor up`` is started as a process on free ports (HTTP, statsd UDP/TCP and
admin, carbon TCP/UDP), without the demo, in a fresh data directory; the clock runs
from ``Popen`` until every port answers (TCP connects; the HTTP status page returns
200). Then the stack sits idle for ``--idle`` seconds (statsd flushing its own metrics
every 10 s, the hub watching its own log) and the process's CPU time over that window
(from /proc, all threads) gives the idle CPU as a share of one core; resident memory is
read at the end. ``--runs`` repetitions; medians.

    .venv/bin/python bench/up.py [--runs 5] [--idle 30]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def one_run(idle: float) -> tuple[float, float, float]:
    http, statsd, admin, carbon = free_port(), free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as data:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/monitor"), "up", "--data-dir", data,
             "--set", f"http.port={http}", "--set", f"statsd.port={statsd}",
             "--set", f"statsd.mgmt_port={admin}", "--set", f"carbon.port={carbon}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while not all(answers(p) for p in (http, statsd, admin, carbon)):
                time.sleep(0.005)
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/", timeout=5) as page:
                assert page.status == 200
            ready = time.perf_counter() - started
            time.sleep(2)  # let start-up work settle
            before, at = cpu_seconds(process.pid), time.perf_counter()
            time.sleep(idle)
            cpu = (cpu_seconds(process.pid) - before) / (time.perf_counter() - at)
            memory = rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    return ready, cpu * 100, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    results = [one_run(args.idle) for _ in range(args.runs)]
    for ready, cpu, memory in results:
        print(f"ready in {ready:.2f} s; idle CPU {cpu:.2f}% of a core; RSS {memory:.0f} MB")
    print(
        f"\nmedians of {args.runs}: ready in {statistics.median(r[0] for r in results):.2f} s,"
        f" idle CPU {statistics.median(r[1] for r in results):.2f}% of a core,"
        f" RSS {statistics.median(r[2] for r in results):.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
