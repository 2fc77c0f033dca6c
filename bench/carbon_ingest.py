"""Carbon line receiver throughput: ours (inside ``monitor up``) against carbon-cache 1.1.10.

Method (issue #4): the same plaintext payload (``--points`` lines over ``--metrics``
distinct series, timestamps within the retention) is pushed through one TCP connection
to each receiver as fast as TCP allows; TCP's flow control makes the sender run at the
receiver's parsing speed, so points / (time to deliver everything) is the sustained
ingest rate. Each receiver also writes whisper files in the background, as it would in
production. ``--rounds`` alternating runs per receiver; medians.

carbon-cache is installed into ``.venv-graphite`` on first use (``pip install
carbon==1.1.10``; it is not needed by the tests).

    .venv/bin/python bench/carbon_ingest.py [--points 1000000] [--metrics 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-graphite"

CARBON_CONF = """
[cache]
STORAGE_DIR = {data}/
LOCAL_DATA_DIR = {data}/whisper/
WHITELISTS_DIR = {data}/lists/
CONF_DIR = {data}/conf/
LOG_DIR = {data}/log/
PID_DIR = {data}/
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 100000
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line_port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query_port}
LOG_LISTENER_CONNECTIONS = False
LOG_UPDATES = False
LOG_CREATES = False
CARBON_METRIC_INTERVAL = 0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def payload(points: int, metrics: int, now: int) -> bytes:
    lines = []
    for i in range(points):
        ts = now - 3600 + (i // metrics) * 10 % 3600
        lines.append(f"bench.host{i % metrics // 100:03d}.metric{i % 100:02d} {i % 97} {ts}\n")
    return "".join(lines).encode()


def push(port: int, data: bytes) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)  # the receiver closes after reading everything
    return time.perf_counter() - started


def start_carbon(data: Path) -> tuple[subprocess.Popen[bytes], int]:
    if not (VENV / "bin" / "carbon-cache.py").exists():
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "carbon==1.1.10"], check=True)
    conf = data / "conf"
    conf.mkdir(parents=True)
    for sub in ("whisper", "lists", "log"):
        (data / sub).mkdir()
    port = free_port()
    (conf / "carbon.conf").write_text(
        CARBON_CONF.format(data=data, line_port=port, pickle_port=free_port(),
                           query_port=free_port())
    )  # fmt: skip
    (conf / "storage-schemas.conf").write_text("[default]\npattern = .*\nretentions = 10s:1d\n")
    proc = subprocess.Popen(
        [str(VENV / "bin" / "python"), str(VENV / "bin" / "carbon-cache.py"),
         f"--config={conf / 'carbon.conf'}", f"--pidfile={data / 'carbon.pid'}", "--nodaemon",
         "start"],
        env={**os.environ, "GRAPHITE_ROOT": str(data), "GRAPHITE_CONF_DIR": str(conf)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_port(port)
    return proc, port


def start_ours(data: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "up", "--data-dir", str(data),
         "--set", "http.port=0", "--set", "statsd.port=0", "--set", "statsd.mgmt_port=0",
         "--set", f"carbon.port={port}", "--set", "carbon.udp=false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_port(port)
    return proc, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--metrics", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = payload(args.points, args.metrics, int(time.time()))
    rates: dict[str, list[float]] = {"carbon-cache 1.1.10": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        carbon, carbon_port = start_carbon(Path(tmp) / "carbon")
        ours, ours_port = start_ours(Path(tmp) / "ours")
        try:
            for _ in range(args.rounds):
                rates["carbon-cache 1.1.10"].append(args.points / push(carbon_port, data))
                rates["ours"].append(args.points / push(ours_port, data))
        finally:
            for proc in (carbon, ours):
                proc.terminate()
                proc.wait()
    print(f"{args.rounds} rounds of {args.points:,} lines over {args.metrics:,} series\n")
    print("| receiver | points/s (median) | runs |")
    print("|---|---:|---|")
    for name, values in rates.items():
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| {name} | {statistics.median(values):,.0f} | {runs} |")
    ratio = statistics.median(rates["ours"]) / statistics.median(rates["carbon-cache 1.1.10"])
    print(f"\nours / carbon-cache = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
