"""Sustained ingest rate of our statsd daemon against node statsd 0.9.0, side by side.

Method (issue #3): a paced C sender (``bench/udp_sender.c``, compiled here with ``cc``)
sends counter lines over UDP for ``--seconds`` at each rate of a ladder, to one daemon
at a time, alternating node and ours at every step. Each daemon flushes every second
to a carbon listener in this process; what it counted is the sum of its own
``stats_counts.statsd.metrics_received`` lines. A run loses ``1 - counted / sent``.
The sustained rate is the highest rung at which every repeat lost under 1%. Memory
is the daemon's resident set after the ladder (``VmRSS``).

    .venv/bin/python bench/statsd_ingest.py [--repeats 3] [--seconds 5] [--quick]

Both daemons and the sender share this machine's cores: the figures are comparative.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.node_statsd import STATSD_DIR, CarbonCapture, free_port  # noqa: E402

BUILD = ROOT / "bench" / ".build"
LADDERS = {
    1: [100_000, 150_000, 200_000, 250_000, 300_000, 400_000, 500_000],
    10: [500_000, 750_000, 1_000_000, 1_250_000, 1_500_000, 1_750_000, 2_000_000],
}


def sender() -> Path:
    """Compile the sender once."""
    binary = BUILD / "udp_sender"
    source = ROOT / "bench" / "udp_sender.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        BUILD.mkdir(exist_ok=True)
        subprocess.run(["cc", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


class Daemon:
    """A daemon flushing every second to its own carbon capture."""

    def __init__(self, name: str, tmp: Path) -> None:
        self.name = name
        self.carbon = CarbonCapture()
        self.port = free_port()
        config = {
            "address": "127.0.0.1",
            "port": self.port,
            "mgmt_address": "127.0.0.1",
            "mgmt_port": free_port(socket.SOCK_STREAM),
            "graphiteHost": "127.0.0.1",
            "graphitePort": self.carbon.port,
            "flushInterval": 1000,
        }
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(config))
        if name == "node":
            command = [shutil.which("node") or "node", str(STATSD_DIR / "stats.js"), str(path)]
        else:
            command = [sys.executable, "-m", "monitor.cli", "statsd", "--config", str(path)]
        self.process = subprocess.Popen(
            command,
            cwd=STATSD_DIR if name == "node" else ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "server is up" in line:
                break
        time.sleep(1.5)

    def counted(self) -> int:
        return int(
            sum(
                float(line.split()[1])
                for line in list(self.carbon.lines)
                if line.startswith("stats_counts.statsd.metrics_received ")
            )
        )

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.carbon.close()


def run(daemon: Daemon, binary: Path, rate: int, seconds: float, per: int) -> tuple[float, float]:
    """One paced run; returns the fraction lost and the rate the sender achieved."""
    before = daemon.counted()
    out = subprocess.run(
        [str(binary), str(daemon.port), str(rate), str(seconds), str(per)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sent, elapsed = int(out[3]), float(out[6])
    # Wait for the backlog to be counted: until a flush adds nothing new.
    last, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(1.1)
        now = daemon.counted()
        if now == last:
            break
        last = now
    return 1 - (daemon.counted() - before) / sent, sent / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 repeat of 2 s: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.seconds = 1, 2.0
    binary = sender()
    print(f"{args.repeats} repeats x {args.seconds:g} s per rung; {os.cpu_count()} cores\n")
    print(
        "| metrics per packet | daemon | sustained metrics/s (<1% loss) | worst loss per rung |",
        end="",
    )
    print(" RSS after |")
    print("|---:|---|---:|---|---:|")
    summary: dict[int, tuple[dict[str, int], set[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for per, ladder in LADDERS.items():
            daemons = {name: Daemon(name, Path(tmp)) for name in ("node", "ours")}
            sustained = dict.fromkeys(daemons, 0)
            losses: dict[str, list[str]] = {name: [] for name in daemons}
            alive = set(daemons)
            for rate in ladder:
                for name in [n for n in daemons if n in alive]:
                    runs = [
                        run(daemons[name], binary, rate, args.seconds, per)
                        for _ in range(args.repeats)
                    ]
                    worst = max(loss for loss, _ in runs)
                    achieved = min(a for _, a in runs)
                    slow = achieved < 0.97 * rate
                    losses[name].append(
                        f"{rate // 1000}k: {worst:.1%}" + (" (sender short)" if slow else "")
                    )
                    if worst < 0.01:  # a short sender proves only the rate it reached
                        sustained[name] = int(min(rate, achieved) // 1000 * 1000)
                    else:
                        alive.discard(name)
            for name, daemon in daemons.items():
                top = " (ladder top)" if name in alive else ""
                print(
                    f"| {per} | {name} | {sustained[name]:,}{top} | {', '.join(losses[name])} |"
                    f" {daemon.rss_kb() / 1024:.0f} MB |"
                )
                daemon.stop()
            summary[per] = (sustained, set(alive))
    print()
    for per, (sustained, capped) in summary.items():
        ratio = sustained["ours"] / sustained["node"] if sustained["node"] else float("inf")
        at_least = "at least " if "ours" in capped else ""
        print(f"{per} metric(s) per packet: ours / node = {at_least}{ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
