"""The carbon line receiver on real TCP and UDP sockets."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from monitor.carbon import BadLine, parse_line
from monitor.store.receiver import CarbonReceiver, CarbonSettings
from monitor.store.whisper_store import WhisperStore
from tests.conftest import until

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("line", "point"),
    [
        ("a.b 1 1800000000", ("a.b", 1.0, NOW)),
        ("a.b  2.5\t1800000000.7", ("a.b", 2.5, NOW)),
        ("a.b 3 -1", ("a.b", 3.0, NOW)),
    ],
)
def test_parse_line(line: str, point: tuple[str, float, int]) -> None:
    assert parse_line(line, NOW) == point


@pytest.mark.parametrize("line", ["a.b 1", "a.b x 1", "a.b nan 1", "a.b 1 y", "a b c d"])
def test_bad_lines(line: str) -> None:
    with pytest.raises(BadLine):
        parse_line(line, NOW)


async def test_tcp_and_udp_lines_reach_the_store(tmp_path: Path) -> None:
    store = WhisperStore(tmp_path, clock=lambda: NOW)
    receiver = CarbonReceiver(CarbonSettings(port=0), store, wall=lambda: NOW)
    await receiver.start()
    try:
        tcp = next((h, p) for kind, h, p in receiver.bound if kind == "tcp")
        udp = next((h, p) for kind, h, p in receiver.bound if kind == "udp")
        _, writer = await asyncio.open_connection(*tcp)
        writer.write(b"tcp.one 1 1800000000\nbroken line\ntcp.tw")
        await writer.drain()
        writer.write(b"o 2 1800000000\nlast.without.newline 3 1800000000")
        await writer.drain()
        writer.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"udp.one 4 1800000000\nudp.bad x 1\n", udp)
        await until(lambda: receiver.stats.lines == 6)
        assert receiver.stats.bad_lines == 2
        assert store.cached("tcp.two") == {NOW: 2.0}
        assert store.cached("last.without.newline") == {NOW: 3.0}
        assert store.cached("udp.one") == {NOW: 4.0}
    finally:
        await receiver.stop()


async def test_port_in_use_names_the_address(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        receiver = CarbonReceiver(CarbonSettings(port=port), WhisperStore(tmp_path))
        with pytest.raises(OSError, match=f"carbon 127.0.0.1:{port}"):
            await receiver.start()


async def test_stop_stores_what_clients_sent_before_it(tmp_path: Path) -> None:
    """Lines still unread in the kernel's buffers when the stack stops are stored, not
    dropped with the connection (Ctrl-C must not lose what was accepted)."""
    store = WhisperStore(tmp_path, clock=lambda: NOW)
    receiver = CarbonReceiver(CarbonSettings(port=0), store, wall=lambda: NOW)
    await receiver.start()
    tcp = next((h, p) for kind, h, p in receiver.bound if kind == "tcp")
    udp = next((h, p) for kind, h, p in receiver.bound if kind == "udp")
    client = socket.create_connection(tcp)
    await until(lambda: len(receiver._connections) == 1)
    # sent without the event loop running: all of it waits in the kernel when stop begins
    lines = [f"tcp.m{i % 10} {i} {NOW - 10 * (i // 10)}\n" for i in range(2000)]
    client.sendall("".join(lines).encode())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(100):
            s.sendto(f"udp.m {i} {NOW - 10 * i}\n".encode(), udp)
    try:
        await receiver.stop()
    finally:
        client.close()
    assert receiver.stats.lines == 2100
    assert len(store.cached("tcp.m7")) == 200
    assert len(store.cached("udp.m")) == 100
