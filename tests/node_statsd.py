"""Run the reference daemon, Etsy statsd 0.9.0 from npm, beside our code in tests.

``make test`` installs it (``package.json``); these helpers start it on free loopback
ports with its graphite backend pointed at a ``CarbonCapture`` that keeps every line.
"""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, UNIT, node_binary, require, wait_until

STATSD_DIR = ROOT / "node_modules" / "statsd"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port nothing listens on right now (the daemon binds it a moment later)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CarbonCapture:
    """A TCP server that records Graphite plaintext lines (``path value ts``)."""

    def __init__(self, port: int = 0) -> None:
        self.lines: list[str] = []
        #: One entry per connection, once it closed: a statsd flush each.
        self.connections: list[list[str]] = []
        capture = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                lines = []
                for raw in self.rfile:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    lines.append(line)
                    capture.lines.append(line)
                capture.connections.append(lines)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def paths(self) -> set[str]:
        """Every metric path seen so far."""
        return {line.split(" ", 1)[0] for line in list(self.lines)}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NodeStatsd:
    """A running node statsd: send to ``port`` (UDP); flushes land in ``carbon``."""

    def __init__(self, process: subprocess.Popen[str], port: int, carbon: CarbonCapture):
        self.process, self.port, self.carbon = process, port, carbon


def _udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


@contextmanager
def node_statsd(tmp_path: Path, **config: Any) -> Iterator[NodeStatsd]:
    """Start node statsd 0.9.0 with ``config`` over test defaults; stop it afterwards."""
    node = node_binary()
    require("node statsd 0.9.0 (npm install)", (STATSD_DIR / "stats.js").is_file())
    carbon = CarbonCapture()
    port = free_port()
    settings = {
        "port": port,
        "address": "127.0.0.1",
        "mgmt_port": free_port(socket.SOCK_STREAM),
        "mgmt_address": "127.0.0.1",
        "graphiteHost": "127.0.0.1",
        "graphitePort": carbon.port,
        "flushInterval": 300,
        "backends": ["./backends/graphite"],
        **config,
    }
    config_file = tmp_path / "statsd-config.json"
    config_file.write_text(json.dumps(settings))
    process = subprocess.Popen(
        [node, str(STATSD_DIR / "stats.js"), str(config_file)],
        cwd=STATSD_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("server is up" in line for line in output), 15 * UNIT)
        # node logs "server is up" before its UDP socket's (asynchronous) bind is done:
        # datagrams sent in between are dropped, so wait until the port is taken
        wait_until(lambda: _udp_port_taken(port), 15 * UNIT)
        yield NodeStatsd(process, port, carbon)
    finally:
        process.terminate()
        process.wait(10 * UNIT)
        process.stdout.close()
        carbon.close()
