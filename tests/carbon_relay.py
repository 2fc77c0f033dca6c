"""Debian's carbon-c-relay (``make test`` installs it), run by the tests that put it in
front of our carbon receivers."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT, UNIT, require, start_monitor_up, stop_process
from tests.node_statsd import free_port

RELAY = Path("/usr/bin/carbon-c-relay")


@contextlib.contextmanager
def carbon_relay(config: Path, *options: str) -> Iterator[int]:
    """The relay on ``config``, with no statistics of its own in the stream (``-s``),
    one worker unless ``options`` say otherwise; yields the TCP port it listens on."""
    require("Debian's carbon-c-relay (make test installs it)", RELAY.exists())
    port = free_port(socket.SOCK_STREAM)
    process = subprocess.Popen(
        [str(RELAY), "-f", str(config), "-p", str(port), "-s", *(options or ("-w", "1"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield port
    finally:
        stop_process(process)


def send_lines(port: int, lines: str) -> None:
    """Send carbon lines to the relay once it listens (it starts in a moment)."""
    deadline = time.monotonic() + 10 * UNIT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(lines.encode())
            return
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "carbon-c-relay did not start"
            time.sleep(0.05)


def relay_config(ports: list[int]) -> str:
    """The shipped ``contrib/carbon-c-relay.conf``, for store nodes whose carbon
    listens on these local ports (two copies of each metric from two nodes on)."""
    text = (ROOT / "contrib" / "carbon-c-relay.conf").read_text()
    members = "\n".join(f"        127.0.0.1:{port}={'abc'[i]}" for i, port in enumerate(ports))
    text = re.sub(r"(?m)^        10\.0\.0\.\d:2003=\w\n", "", text)
    replication = 2 if len(ports) > 1 else 1
    return text.replace(
        "carbon_ch replication 2", f"carbon_ch replication {replication}\n{members}"
    )


@contextlib.contextmanager
def store_nodes(
    data: Path, carbon_ports: list[int]
) -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    """A ``monitor up`` store node per carbon port (one render worker, no creation
    cap): their URLs and processes."""
    started: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        for i, port in enumerate(carbon_ports):
            started.append(start_monitor_up(
                data / f"node{i}", "http.port=0", "statsd.port=0", "statsd.mgmt_port=0",
                f"carbon.port={port}", "carbon.udp=false", "render.workers=1",
                "store.max_creates_per_minute=1000000", "supergrep.line_metrics=false",
            ))  # fmt: skip
        yield started
    finally:
        for _, process in started:
            stop_process(process)


def store_counts(url: str) -> dict[str, float]:
    """The store's numbers on a node's ``/status.json``."""
    with urllib.request.urlopen(f"{url}/status.json", timeout=30 * UNIT) as answer:
        parts = json.load(answer)["parts"]
    return dict(next(p["counts"] for p in parts if p["name"] == "Graphite store"))
