"""node statsd 0.9.0's own ``proxy.js`` (consistent hashing by key, health checks on the
admin port) in front of three ``monitor statsd`` daemons: what the three flush together
is what one daemon flushes for the same traffic, counters, timers' percentiles, sets and
gauges alike, and when one daemon stops the proxy moves its keys to the others."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, UNIT, node_binary, require, stop_process, wait_until
from tests.monitor.aggregator.daemons import TIME_DEPENDENT, Daemon, same_value
from tests.node_statsd import STATSD_DIR, free_port

PROXY = STATSD_DIR / "proxy.js"
KEYS = 60


def traffic(tag: str) -> list[bytes]:
    """Packets over ``KEYS`` keys of each type, several values per key."""
    packets = []
    for i in range(KEYS):
        packets.append(f"{tag}.hits.k{i}:{i + 1}|c\n{tag}.hits.k{i}:2|c|@0.5".encode())
        packets.append(
            "\n".join(f"{tag}.time.k{i}:{(i * 7 + j * 13) % 100}|ms" for j in range(9)).encode()
        )
        packets.append(f"{tag}.users.k{i}:u{i % 5}|s\n{tag}.users.k{i}:u{i % 3}|s".encode())
        packets.append(f"{tag}.queue.k{i}:{i}|g\n{tag}.queue.k{i}:+3|g".encode())
    return packets


def user_paths(flush: dict[str, str], tag: str) -> dict[str, str]:
    """The flush's lines for the test's keys (not the daemon's own statistics)."""
    return {
        p: v
        for p, v in flush.items()
        if f".{tag}." in f".{p}" and not any(t in p for t in TIME_DEPENDENT)
    }


class Proxy:
    def __init__(self, tmp: Path, daemons: list[Daemon]) -> None:
        self.port = free_port()
        self.mgmt_port = free_port(socket.SOCK_STREAM)
        # The shipped config, pointed at the local daemons. Its checkInterval is also
        # how long a health check waits for its answer: on a loaded 2-core box 300 ms
        # once took every daemon out of the ring.
        config = json.loads((ROOT / "contrib" / "statsd-proxy.json").read_text())
        config["nodes"] = [
            {"host": "127.0.0.1", "port": d.port, "adminport": d.mgmt_port} for d in daemons
        ]
        config.update(host="127.0.0.1", port=self.port, mgmt_port=self.mgmt_port)
        path = tmp / "proxy-config.js"
        path.write_text(json.dumps(config))
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [node_binary(), str(PROXY), str(path)], cwd=STATSD_DIR,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(lambda: any("server is up" in line for line in self.output), 15 * UNIT)

    def ring(self) -> list[str]:
        """The nodes in the proxy's hash ring now (its admin ``status`` command); none
        while its admin port is not listening yet (node logs "server is up" first)."""
        try:
            conn = socket.create_connection(("127.0.0.1", self.mgmt_port), timeout=5)
        except ConnectionRefusedError:
            return []
        with conn:
            conn.sendall(b"status\r\n")
            answer = b""
            while b"nodes:" not in answer or not answer.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.decode().split("nodes:", 1)[1].split()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Proxy, list[Daemon], Daemon]]:
    require("node statsd 0.9.0's proxy.js and hashring (npm install)", PROXY.is_file()
            and (ROOT / "node_modules" / "hashring").is_dir())  # fmt: skip
    ours = [sys.executable, "-m", "monitor.cli", "statsd", "--config"]
    daemons = [Daemon(f"node{i}", ours, ROOT, {}, tmp_path) for i in range(3)]
    single = Daemon("single", ours, ROOT, {}, tmp_path)
    proxy = None
    try:
        for daemon in [*daemons, single]:
            daemon.wait_ready()
        proxy = Proxy(tmp_path, daemons)
        yield proxy, daemons, single
    finally:
        if proxy is not None:
            stop_process(proxy.process)
        for daemon in [*daemons, single]:
            if daemon.process.poll() is None:
                daemon.stop()


def send_in_one_second(proxy: Proxy, single: Daemon, packets: list[bytes]) -> int:
    """Send ``packets`` to the proxy and to the single daemon early in a second; the
    stamp of the flush they land in."""
    while not 0.05 < time.time() % 1 < 0.3:
        time.sleep(0.01)
    ts = math.floor(time.time()) + 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for packet in packets:
            udp.sendto(packet, ("127.0.0.1", proxy.port))
            udp.sendto(packet, ("127.0.0.1", single.port))
    assert time.time() < ts - 0.3, "sending took too long to fit in one flush"
    return ts


def flushes(daemons: list[Daemon], ts: int) -> list[dict[str, str]]:
    for daemon in daemons:
        wait_until(lambda d=daemon: d.flush_at(ts) is not None, 10 * UNIT)
    return [daemon.flush_at(ts) or {} for daemon in daemons]


def assert_same(parts: list[dict[str, str]], whole: dict[str, str]) -> None:
    union: dict[str, str] = {}
    for part in parts:
        assert not set(part) & set(union), "a key was flushed by two daemons"
        union.update(part)
    assert sorted(union) == sorted(whole)
    diffs = [
        f"{p}: split {union[p]}, single {v}"
        for p, v in whole.items()
        if not same_value(union[p], v)
    ]
    assert not diffs, "\n".join(diffs)


@pytest.mark.timeout(120)
def test_three_daemons_behind_proxy_js_flush_what_one_daemon_flushes(
    cluster: tuple[Proxy, list[Daemon], Daemon],
) -> None:
    proxy, daemons, single = cluster
    wait_until(lambda: len(proxy.ring()) == 3, 10 * UNIT)
    ts = send_in_one_second(proxy, single, traffic("a"))
    parts = [user_paths(f, "a") for f in flushes(daemons, ts)]
    whole = user_paths(flushes([single], ts)[0], "a")
    assert len(whole) == KEYS * (2 + 1 + 1 + 14)  # counters 2, sets 1, gauges 1, timers 14
    assert all(len(part) > len(whole) // 10 for part in parts), [len(p) for p in parts]
    assert_same(parts, whole)

    # One daemon stops: after a health check the proxy sends its keys to the others.
    daemons[2].stop()
    wait_until(lambda: len(proxy.ring()) == 2, 10 * UNIT)
    assert f"127.0.0.1:{daemons[2].port}" not in proxy.ring()
    ts = send_in_one_second(proxy, single, traffic("b"))
    parts = [user_paths(f, "b") for f in flushes(daemons[:2], ts)]
    assert_same(parts, user_paths(flushes([single], ts)[0], "b"))
