"""Node statsd 0.9.0 and ours side by side: same config, same packets, flushes compared.

Both daemons align flushes to whole seconds from their start second (node's rule, which
ours follows), so with a 1 s interval both flush at every whole second. A test sends
its packets early in a second and compares the flushes stamped with the next second.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, UNIT, node_binary, require, stop_process, wait_until
from tests.node_statsd import STATSD_DIR, CarbonCapture, free_port

#: Values that depend on timing or on the daemon itself, not on the packets: names only.
TIME_DEPENDENT = (
    ".graphiteStats.",
    ".processing_time",
    ".timestamp_lag",
)


class Daemon:
    """One running daemon (node's or ours) with its own carbon capture."""

    def __init__(self, name: str, command: list[str], cwd: Path, config: dict[str, Any], tmp: Path):
        self.name = name
        self.carbon = CarbonCapture()
        self.port = free_port()
        self.tcp_port = free_port(socket.SOCK_STREAM)
        self.mgmt_port = free_port(socket.SOCK_STREAM)
        settings = {
            "address": "127.0.0.1",
            "port": self.port,
            "mgmt_address": "127.0.0.1",
            "mgmt_port": self.mgmt_port,
            "graphiteHost": "127.0.0.1",
            "graphitePort": self.carbon.port,
            "flushInterval": 1000,
            "servers": [
                {"server": "./servers/udp", "address": "127.0.0.1", "port": self.port},
                {"server": "./servers/tcp", "address": "127.0.0.1", "port": self.tcp_port},
            ],
            **config,
        }
        path = tmp / f"{name}-config.json"
        path.write_text(json.dumps(settings))
        self.output: list[str] = []
        self.process: subprocess.Popen[str] = subprocess.Popen(
            [*command, str(path)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{''.join(self.output)}")
            return any("server is up" in line for line in self.output)

        wait_until(up, 15 * UNIT)

    def flush_at(self, ts: int) -> dict[str, str] | None:
        """path -> value of the flush stamped ``ts``, once its connection has closed."""
        for lines in list(self.carbon.connections):
            if lines and int(lines[0].rsplit(" ", 1)[1]) == ts:
                return {path: value for path, value, _ in (line.split(" ") for line in lines)}
        return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10 * UNIT)
        self.reader.join(5 * UNIT)  # the reader owns stdout until the process ends
        stop_process(self.process)
        self.carbon.close()


class Pair:
    """node statsd and ours, configured alike."""

    def __init__(self, node: Daemon, ours: Daemon) -> None:
        self.node, self.ours = node, ours
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send_udp(self, packets: Sequence[bytes]) -> None:
        for packet in packets:
            for daemon in (self.node, self.ours):
                self.udp.sendto(packet, ("127.0.0.1", daemon.port))

    def send_tcp(self, chunks: Sequence[bytes]) -> None:
        for daemon in (self.node, self.ours):
            with socket.create_connection(("127.0.0.1", daemon.tcp_port)) as conn:
                for chunk in chunks:
                    conn.sendall(chunk)

    def next_flush(self, send: Any) -> int:
        """Call ``send()`` early in a second; return the stamp of the flush that follows."""
        while not 0.05 < time.time() % 1 < 0.5:
            time.sleep(0.01)
        ts = math.floor(time.time()) + 1
        send()
        assert time.time() < ts - 0.2, "sending took too long to fit in one flush"
        for daemon in (self.node, self.ours):
            wait_until(lambda d=daemon: d.flush_at(ts) is not None)
        return ts

    def compare(self, ts: int, ignore: Sequence[str] = ()) -> dict[str, str]:
        """Assert both flushes stamped ``ts`` are the same; return node's."""
        node, ours = self.node.flush_at(ts), self.ours.flush_at(ts)
        assert node is not None, f"node flushed nothing at {ts}"
        assert ours is not None, f"ours flushed nothing at {ts}"
        missing = sorted(set(node) - set(ours))
        extra = sorted(set(ours) - set(node))
        assert (missing, extra) == ([], []), f"names differ: node only {missing}, ours only {extra}"
        diffs = []
        for path, value in node.items():
            if any(t in path for t in (*TIME_DEPENDENT, *ignore)):
                continue
            if not same_value(value, ours[path]):
                diffs.append(f"{path}: node {value}, ours {ours[path]}")
        assert not diffs, "values differ:\n" + "\n".join(diffs)
        return node

    def close(self) -> None:
        self.udp.close()
        self.node.stop()
        self.ours.stop()


def same_value(a: str, b: str) -> bool:
    """Equal as written, or as numbers to 1e-9 relative."""
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0)


@contextmanager
def daemon_pair(tmp_path: Path, **config: Any) -> Iterator[Pair]:
    """Start node statsd 0.9.0 and ``monitor statsd`` with the same node config."""
    node_cmd = [node_binary(), str(STATSD_DIR / "stats.js")]
    require("node statsd 0.9.0 (npm install)", (STATSD_DIR / "stats.js").is_file())
    ours_cmd = [sys.executable, "-m", "monitor.cli", "statsd", "--config"]
    node = Daemon("node", node_cmd, STATSD_DIR, config, tmp_path)
    ours = Daemon("ours", ours_cmd, ROOT, config, tmp_path)
    pair = Pair(node, ours)
    try:
        node.wait_ready()
        ours.wait_ready()
        if int(config.get("flushInterval", 1000)) <= 5000:
            # Both past their first flush, so timestamp_lag (sent from the second flush on)
            # is in both or neither: the daemons may start in different seconds.
            for daemon in (node, ours):
                wait_until(lambda d=daemon: len(d.carbon.connections) >= 1, 15 * UNIT)
        yield pair
    finally:
        pair.close()
