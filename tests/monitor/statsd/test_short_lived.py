"""A program that sends metrics and exits at once (a cron job, a deploy script) loses
none of them once the daemon listens: the README's snippet, run as a process of its
own 50 times, each a moment after a daemon was started (0 to 2 s)."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import stop_process
from tests.node_statsd import free_port

ROOT = Path(__file__).resolve().parents[3]
SENDER = """
from monitor import statsd
for i in range(7):
    statsd.incr(f"shortlived.m{i}")
"""


def counters(admin: int) -> dict[str, str]:
    with socket.create_connection(("127.0.0.1", admin), timeout=5) as s:
        s.sendall(b"counters\n")
        data = b""
        while not data.rstrip().endswith(b"END"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    pairs = (line.strip().rstrip(",").split(": ", 1) for line in data.decode().splitlines())
    return {k.strip("'{ "): v for k, v in (p for p in pairs if len(p) == 2)}


@pytest.mark.timeout(300)
def test_a_program_that_exits_at_once_delivers_all_it_sent(tmp_path: Path) -> None:
    lost = []
    listening_runs = 0
    for run in range(50):
        port, admin = free_port(), free_port(socket.SOCK_STREAM)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "statsd", "--set", f"statsd.port={port}",
             "--set", f"statsd.mgmt_port={admin}", "--set", "statsd.flush_interval=600000"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            time.sleep(2.0 * run / 49)  # 0 to 2 s after the daemon was started
            assert daemon.stdout is not None
            ready = bool(select.select([daemon.stdout], [], [], 0)[0])  # "server is up"
            env = {**os.environ, "STATSD_HOST": "localhost", "STATSD_PORT": str(port)}
            subprocess.run([sys.executable, "-c", SENDER], env=env, check=True, timeout=30)
            if not ready:
                continue  # sent before anyone listened: nothing to hold it to
            if not daemon.stdout.readline().startswith("server is up"):
                # It did not start: only a port that another process took between
                # free_port() and the bind is excused (nothing here holds it to anything).
                assert daemon.stderr is not None
                daemon.wait(timeout=10)
                assert "already in use" in daemon.stderr.read(), "statsd did not start"
                continue
            listening_runs += 1
            deadline = time.monotonic() + 2  # datagrams cross loopback well within this
            seen = counters(admin)
            while len([k for k in seen if k.startswith("shortlived.")]) < 7:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
                seen = counters(admin)
            missing = [i for i in range(7) if seen.get(f"shortlived.m{i}") != "1"]
            if missing:
                lost.append((run, missing))
        finally:
            stop_process(daemon)
    assert listening_runs >= 25  # the daemon starts in well under a second
    assert not lost, f"metrics lost in (run, which): {lost}"
