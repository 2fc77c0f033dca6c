"""UDP read by a draining thread: a burst arrives whole, and what the kernel drops
anyway is counted."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from monitor.store.receiver import CarbonReceiver, CarbonSettings
from monitor.store.whisper_store import WhisperStore
from monitor.udp import kernel_drops
from tests.carbon_relay import carbon_relay, send_lines
from tests.conftest import UNIT, until


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
    now = int(time.time())
    store = WhisperStore(tmp_path / "store")
    receiver = CarbonReceiver(CarbonSettings(port=0, tcp=False), store)
    await receiver.start()
    try:
        _, host, port = next(b for b in receiver.bound if b[0] == "udp")
        config = tmp_path / "relay.conf"
        config.write_text(
            f"cluster ours forward {host}:{port} proto udp ;\nmatch * send to ours stop ;\n"
        )
        with carbon_relay(config) as relay:
            send_lines(
                relay, "".join(f"relay.m{i % 500}.n{i // 500} {i} {now}\n" for i in range(10_000))
            )
            try:
                await until(lambda: receiver.stats.lines >= 10_000, timeout=20 * UNIT)
            except TimeoutError:
                drops = receiver.udp_drops()
                raise AssertionError(
                    f"{receiver.stats.lines} of 10,000 arrived, {drops} dropped by the kernel"
                ) from None
        assert receiver.stats.lines == 10_000
        assert receiver.stats.bad_lines == 0
        assert receiver.udp_drops() == 0
        assert len(store.cached_metrics()) == 10_000
    finally:
        await receiver.stop()
