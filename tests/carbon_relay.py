"""Debian's carbon-c-relay (``make test`` installs it), run by the tests that put it in
front of our carbon receivers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import UNIT, require, stop_process
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
