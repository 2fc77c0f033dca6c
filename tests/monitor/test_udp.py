"""UDP read by a draining thread: a burst arrives whole, and what the kernel drops
anyway is counted."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from monitor.store.receiver import CarbonReceiver, CarbonSettings
from monitor.store.whisper_store import WhisperStore
from monitor.udp import kernel_drops
from tests.conftest import UNIT, require, stop_process, until
from tests.node_statsd import free_port

#: Debian's carbon-c-relay (``make test`` installs it).
RELAY = Path("/usr/bin/carbon-c-relay")


def test_kernel_drops_are_read_for_the_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
        slow.bind(("127.0.0.1", 0))
        assert kernel_drops(slow) == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(500):
                sender.sendto(b"x" * 100, slow.getsockname())
        assert kernel_drops(slow) > 0


async def test_a_10000_metric_udp_burst_arrives_whole(tmp_path: Path) -> None:
    """One datagram per metric, sent as fast as one socket can (as carbon-c-relay
    sends over UDP): 84-92 % were lost at the socket when the event loop read it."""
    now = int(time.time())
    store = WhisperStore(tmp_path)
    receiver = CarbonReceiver(CarbonSettings(port=0, tcp=False), store)
    await receiver.start()
    try:
        udp = next((h, p) for kind, h, p in receiver.bound if kind == "udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(10_000):
                sender.sendto(f"burst.m{i % 500}.n{i // 500} {i} {now}\n".encode(), udp)
        await until(lambda: receiver.stats.lines == 10_000)
        assert receiver.udp_drops() == 0
        assert len(store.cached_metrics()) == 10_000
    finally:
        await receiver.stop()


async def test_a_10000_metric_burst_through_carbon_c_relay_over_udp_arrives_whole(
    tmp_path: Path,
) -> None:
    """The real relay, forwarding to our carbon port over UDP (one datagram per
    metric), a burst of 10,000 metrics sent to it at once over TCP: all arrive, and the
    kernel dropped none."""
    require("Debian's carbon-c-relay (make test installs it)", RELAY.exists())
    now = int(time.time())
    store = WhisperStore(tmp_path / "store")
    receiver = CarbonReceiver(CarbonSettings(port=0, tcp=False), store)
    await receiver.start()
    relay_port = free_port(socket.SOCK_STREAM)
    try:
        _, host, port = next(b for b in receiver.bound if b[0] == "udp")
        config = tmp_path / "relay.conf"
        config.write_text(
            f"cluster ours forward {host}:{port} proto udp ;\nmatch * send to ours stop ;\n"
        )
        relay = subprocess.Popen(
            [str(RELAY), "-f", str(config), "-p", str(relay_port), "-s", "-w", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            lines = "".join(f"relay.m{i % 500}.n{i // 500} {i} {now}\n" for i in range(10_000))
            deadline = time.monotonic() + 10 * UNIT
            while True:  # until the relay listens
                try:
                    with socket.create_connection(("127.0.0.1", relay_port)) as conn:
                        conn.sendall(lines.encode())
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "carbon-c-relay did not start"
                    time.sleep(0.05)
            try:
                await until(lambda: receiver.stats.lines >= 10_000, timeout=20 * UNIT)
            except TimeoutError:
                drops = receiver.udp_drops()
                raise AssertionError(
                    f"{receiver.stats.lines} of 10,000 arrived, {drops} dropped by the kernel"
                ) from None
        finally:
            stop_process(relay)
        assert receiver.stats.lines == 10_000
        assert receiver.stats.bad_lines == 0
        assert receiver.udp_drops() == 0
        assert len(store.cached_metrics()) == 10_000
    finally:
        await receiver.stop()
