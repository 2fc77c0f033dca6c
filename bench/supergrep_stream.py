"""Live log streaming: supergrep against frontail 4.9.2, side by side in one run.

Method (issue #6): a writer process appends 120-byte lines to a file at a fixed rate,
each stamped with CLOCK_MONOTONIC at write time. The server under test follows the
file: ``supergrep serve`` (one stream) or frontail (npm, ``--disable-usage-stats``).
Viewers are websocket clients in one node process (``bench/stream_reader.js``: the
``ws`` package for supergrep, socket.io-client 2.3.0 for frontail, as its page uses),
which take the latency of every line on arrival (same clock). Each scenario runs for
``--seconds`` of writing plus a drain, for each server in turn; delivered/s is lines
received divided by the time from the first to the last arrival (at least the writing
time), so a server that falls behind is not credited for draining its backlog. The
server's peak RSS is sampled every 0.5 s. "Undelivered" counts lines written but not
received by the end of the drain, with no drop notice.

Scenarios: one viewer at rising rates (capacity and latency), ten viewers at 5,000/s
each, and (supergrep only: frontail filters in the browser) how fast the hub reads a
burst of two million lines through a 1%-selective regex.

    .venv/bin/python bench/supergrep_stream.py [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LINE = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


WRITER = r"""
import os, sys, time
path, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pad = "x" * 200
seq = 0
with open(path, "a", buffering=1 << 20) as f:
    start = time.monotonic()
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = int((now - start) * rate)
        if due > seq:
            stamp = time.monotonic_ns()
            out = []
            for i in range(seq, due):
                head = f"{i} {stamp} "
                out.append(head + pad[: 119 - len(head)] + "\n")
            f.write("".join(out))
            f.flush()
            seq = due
        time.sleep(0.0005)
print(seq)
"""


class Server:
    def __init__(self, kind: str, log: Path, tmp: Path) -> None:
        self.kind = kind
        self.port = free_port()
        if kind == "supergrep":
            cmd = [
                str(BIN / "supergrep"), "serve", "--stream", f"bench={log}",
                "--set", f"http.port={self.port}", "--set", f"data_dir={tmp / 'data'}",
            ]  # fmt: skip
            self.url = f"ws://127.0.0.1:{self.port}/supergrep/ws"
            self.namespace = ""
        else:
            cmd = [
                "node", str(ROOT / "node_modules/frontail/bin/frontail"), "--disable-usage-stats",
                "-h", "127.0.0.1", "-p", str(self.port), "-n", "1", str(log),
            ]  # fmt: skip
            self.url = f"http://127.0.0.1:{self.port}"
            import hashlib

            self.namespace = hashlib.md5(str(log).encode()).hexdigest()
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def scenario(kind: str, rate: int, viewers: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "bench.log"
        log.write_text("start\n")
        server = Server(kind, log, tmp)
        try:
            drain = 3.0
            reader = subprocess.Popen(
                ["node", str(ROOT / "bench/stream_reader.js"), kind, server.url, str(viewers),
                 str(seconds + drain + 1), server.namespace],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(1.0)  # connected and subscribed
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(log), str(rate), str(seconds)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            peak = 0.0
            while reader.poll() is None:
                peak = max(peak, rss_mb(server.process.pid))
                time.sleep(0.5)
            written = int(writer.communicate()[0])
            results = [json.loads(line) for line in reader.communicate()[0].splitlines()]
        finally:
            server.stop()
    delivered = [r["delivered"] for r in results]
    return {
        "server": kind,
        "rate": rate,
        "viewers": viewers,
        "written": written,
        # lines received over the time they took to arrive: a server that falls behind
        # keeps delivering after the writer stops, and is not credited for the backlog
        "delivered_per_s": statistics.mean(
            r["delivered"] / max(r["span"], seconds) for r in results
        ),
        "lost": written * viewers - sum(delivered) - sum(r["dropped"] for r in results),
        "dropped": sum(r["dropped"] for r in results),
        "p50": statistics.median(r["p50"] or 0 for r in results),
        "p99": max(r["p99"] or 0 for r in results),
        "max": max(r["max"] or 0 for r in results),
        "rss_mb": peak,
    }


def filter_throughput(lines: int = 2_000_000) -> float:
    """Lines per second the hub reads and filters (1% match ERROR) from a burst."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "bench.log"
        log.write_text("")
        server = Server("supergrep", log, tmp)
        status = f"http://127.0.0.1:{server.port}/supergrep/streams"
        try:
            reader = subprocess.Popen(
                [str(BIN / "python"), "-c", FILTER_VIEWER, server.url],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(1.0)
            block = "".join(
                f"{i:08d} {'ERROR' if i % 100 == 0 else 'info '} " + "x" * 104 + "\n"
                for i in range(100_000)
            )
            started = time.monotonic()
            with log.open("a") as f:
                for _ in range(lines // 100_000):
                    f.write(block)
            while True:
                with urllib.request.urlopen(status) as answer:
                    seen = json.load(answer)["streams"][0]["last_seq"]
                if seen >= lines:
                    break
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            reader.terminate()
            reader.communicate()
        finally:
            server.stop()
    return lines / elapsed


FILTER_VIEWER = r"""
import asyncio, json, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "streams": ["bench"], "include": "ERROR"}))
        async for _ in ws:
            pass
asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rates", default="1000,20000,50000,100000")
    args = parser.parse_args()
    plan = [(rate, 1) for rate in map(int, args.rates.split(","))] + [(5000, 10)]
    rows: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for _ in range(args.runs):
        for rate, viewers in plan:
            for kind in ("frontail", "supergrep"):
                result = scenario(kind, rate, viewers, args.seconds)
                rows.setdefault((kind, rate, viewers), []).append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    print(f"\n{args.runs} runs of {args.seconds:.0f} s each; medians\n")
    print("| server | offered/s x viewers | delivered/s per viewer | dropped (noticed) |"
          " undelivered | p50 ms | p99 ms | max ms | peak RSS MB |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (kind, rate, viewers), results in rows.items():

        def med(key: str, results: list[dict[str, Any]] = results) -> float:
            return statistics.median(r[key] for r in results)

        print(
            f"| {kind} | {rate:,} x {viewers} | {med('delivered_per_s'):,.0f} |"
            f" {med('dropped'):,.0f} | {max(0, med('lost')):,.0f} | {med('p50'):.1f} |"
            f" {med('p99'):.1f} | {med('max'):.1f} | {med('rss_mb'):.0f} |"
        )
    rates = [filter_throughput() for _ in range(args.runs)]
    print(
        f"\nhub read + 1%-selective regex: {statistics.median(rates):,.0f} lines/s"
        f" (runs: {', '.join(f'{r:,.0f}' for r in rates)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
