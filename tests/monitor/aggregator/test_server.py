"""The daemon's I/O on real sockets: carbon outages, TCP limits, admin port, stopping."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.aggregator.aggregator import Flush
from monitor.aggregator.namespace import Namespace
from monitor.aggregator.server import TCP_LINE_MAX, StatsdServer
from monitor.aggregator.settings import StatsdSettings
from monitor.aggregator.sinks import CarbonSink, ConsoleSink, sinks_for
from tests.conftest import ROOT, UNIT, until
from tests.node_statsd import CarbonCapture, free_port

LOCAL = replace(StatsdSettings(), port=0, mgmt_port=0, flush_interval=60_000)


async def test_udp_tcp_and_flush_to_carbon() -> None:
    carbon = CarbonCapture()
    settings = replace(LOCAL, graphite_host="127.0.0.1", graphite_port=carbon.port)
    server = StatsdServer(settings, sinks_for(settings))
    await server.start()
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"hits:1|c\nlat:5|ms", server.bound.udp[0])
        udp.close()
        _, writer = await asyncio.open_connection(*server.bound.tcp[0])
        writer.write(b"hits:2|c\n")
        await writer.drain()
        writer.close()
        await until(lambda: server.aggregator.counters.get("hits") == 3)
        server.flush()
        await until(lambda: len(carbon.connections) == 1)
        lines = carbon.connections[0]
        assert any(line.startswith("stats_counts.hits 3 ") for line in lines)
        assert any(line.startswith("stats.timers.lat.upper 5 ") for line in lines)
        assert lines[-1].startswith("stats.statsd.graphiteStats.flush_length ")
    finally:
        await server.stop()
        carbon.close()


async def test_carbon_outage_loses_nothing_within_the_buffer() -> None:
    port = free_port(socket.SOCK_STREAM)  # nothing listens yet
    sink = CarbonSink("127.0.0.1", port, Namespace(StatsdSettings()), buffer=3, backoff=(0.05, 0.2))
    task = asyncio.create_task(sink.run())
    try:
        for ts in range(1, 6):
            sink.submit(Flush(ts, [("m", float(ts))]))
        await until(lambda: sink.stats["last_exception"] > 0)
        assert [f.ts for f in sink.queue] == [3, 4, 5]
        assert sink.dropped == 2
        carbon = CarbonCapture(port)  # carbon comes back
        await until(lambda: len(carbon.connections) == 3)
        # The capture's handler threads may finish out of order; the sink sent in order.
        firsts = sorted(conn[0] for conn in carbon.connections)
        assert firsts == ["m 3 3", "m 4 4", "m 5 5"]
        assert not sink.queue
        carbon.close()
    finally:
        task.cancel()


async def test_tcp_line_without_newline_is_capped() -> None:
    server = StatsdServer(LOCAL, [])
    await server.start()
    try:
        _, writer = await asyncio.open_connection(*server.bound.tcp[0])
        writer.write(b"x" * (TCP_LINE_MAX + 10))
        await writer.drain()
        await until(lambda: server.aggregator.bad_lines_total == 1)
        writer.write(b"\nok:1|c\n")
        await writer.drain()
        await until(lambda: server.aggregator.counters.get("ok") == 1)
        writer.close()
    finally:
        await server.stop()


async def test_admin_commands() -> None:
    server = StatsdServer(LOCAL, [ConsoleSink(io.StringIO())])
    await server.start()
    try:
        server.aggregator.ingest("a.b:1|c\na.c:2|c\ng:5|g\nt:1|ms")
        reader, writer = await asyncio.open_connection(*server.bound.mgmt)

        async def ask(command: str) -> str:
            writer.write(command.encode())
            await writer.drain()
            end = b"\n" if command.startswith("health") else b"\n\n"
            return (await reader.readuntil(end)).decode()

        assert await ask("health") == "health: up\n"
        assert await ask("health down") == "health: down\n"
        assert (await ask("gauges")) == "{ g: 5 }\nEND\n\n"
        assert (await ask("timers")) == "{ t: [ 1 ] }\nEND\n\n"
        counters = await ask("counters")
        assert "'a.b': 1" in counters
        assert await ask("delcounters a.* nope") == (
            "deleted: a.b\ndeleted: a.c\nmetric nope not found\nEND\n\n"
        )
        stats = await ask("stats")
        assert stats.startswith("uptime: ")
        assert "messages.bad_lines_seen: 0" in stats
        assert "console.lastFlush: " in stats
        writer.write(b"bogus")
        assert await reader.readline() == b"ERROR\n"
        writer.write(b"quit")
        assert await reader.read() == b""
        writer.close()
    finally:
        await server.stop()


async def test_port_in_use_names_the_listener() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        server = StatsdServer(replace(LOCAL, port=port, tcp=False), [])
        with pytest.raises(OSError, match=f"udp 127.0.0.1:{port}"):
            await server.start()


def spawn_statsd(config: Path) -> subprocess.Popen[str]:
    """``monitor statsd --config config`` in a child process, once it says it is up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "statsd", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert "server is up" in proc.stdout.readline()
    return proc


def test_sigterm_flushes_once_more(tmp_path: Path) -> None:
    carbon = CarbonCapture()
    config = tmp_path / "statsd.json"
    udp_port = free_port()
    config.write_text(
        json.dumps(
            {
                "address": "127.0.0.1",
                "port": udp_port,
                "mgmt_port": free_port(socket.SOCK_STREAM),
                "graphiteHost": "127.0.0.1",
                "graphitePort": carbon.port,
                "flushInterval": 3_600_000,
            }
        )
    )
    proc = spawn_statsd(config)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"last.words:1|c", ("127.0.0.1", udp_port))
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15 * UNIT)
    assert proc.returncode == 0
    assert any(line.startswith("stats_counts.last.words 1 ") for line in carbon.lines)
    carbon.close()


def test_node_config_with_unknown_keys_is_reported_not_fatal(tmp_path: Path) -> None:
    config = tmp_path / "statsd.json"
    config.write_text('{"port": 0, "mgmt_port": 0, "address": "127.0.0.1", "frobnicate": 1}')
    proc = spawn_statsd(config)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15 * UNIT)
    assert proc.returncode == 0
    assert "ignoring unknown node statsd key 'frobnicate'" in err


def test_bad_json_config_says_where(tmp_path: Path) -> None:
    config = tmp_path / "statsd.json"
    config.write_text('{"port": 8125,\n "flushInterval": }')
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "statsd", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"{config}:2:19: not valid JSON" in result.stderr


class StuckSink:
    """A sink whose delivery never finishes: a carbon that accepts and then hangs."""

    name = "stuck"

    def __init__(self) -> None:
        self.submitted: list[Flush] = []

    def submit(self, flush: Flush) -> None:
        self.submitted.append(flush)

    def status(self) -> dict[str, float]:
        return {}

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self, timeout: float) -> None:
        return None


async def test_a_stuck_sink_never_delays_ingest_or_flushes() -> None:
    sink = StuckSink()
    server = StatsdServer(replace(LOCAL, flush_interval=100), [sink])
    await server.start()
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(5):
            udp.sendto(f"n:{i}|c".encode(), server.bound.udp[0])
            await until(lambda i=i: len(sink.submitted) >= i + 1)
        udp.close()
        await until(
            lambda: sum(dict(f.metrics).get("stats_counts.n", 0) for f in sink.submitted) == 10
        )
        stamps = [f.ts for f in sink.submitted]
        assert stamps == sorted(stamps)
    finally:
        await server.stop()
