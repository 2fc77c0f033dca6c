"""A real ``supergrep agent`` process shipping to a real hub: every line exactly once,
in order per file, across agent kills, hub restarts and rotation while disconnected."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from supergrep.server import host_token
from tests.conftest import UNIT, stop_process
from tests.node_statsd import free_port
from tests.supergrep.hubs import RunningHub, ViewerClient, running_hub


class Writer:
    """Appends numbered lines to a file, remembering what it wrote."""

    def __init__(self, path: Path, tag: str) -> None:
        self.path = path
        self.tag = tag
        self.written: list[str] = []

    def write(self, n: int) -> None:
        start = len(self.written)
        new = [f"{self.tag} line {i:06d} " + "x" * 60 for i in range(start, start + n)]
        with self.path.open("a") as f:
            f.write("".join(line + "\n" for line in new))
        self.written += new


def start_agent(hub_port: int, logs: Path, state: Path, host: str = "h1") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "supergrep.cli", "agent",
            "--hub", f"ws://127.0.0.1:{hub_port}/supergrep/ingest",
            "--stream", f"app={logs}/*.log", "--host", host, "--state", str(state),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.fixture
def agents() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


async def agent_connected(hub: RunningHub, host: str = "h1") -> None:
    """Wait until ``host``'s agent is connected (it opens its files before it connects:
    a fixed sleep was once too short for a slow start, and the lines were missed)."""
    deadline = time.monotonic() + 20 * UNIT
    while not hub.service.agents.get(host):
        assert time.monotonic() < deadline, f"agent {host} never connected"
        await asyncio.sleep(0.05)


async def collect(hub: RunningHub, expected: int, viewer: ViewerClient) -> None:
    await viewer.until(lambda v: len(v.lines()) >= expected, timeout=20 * UNIT)


async def test_agent_ships_every_line_once_across_kills_restarts_and_rotation(
    tmp_path: Path, agents: list[subprocess.Popen[str]]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    writer = Writer(logs / "app.log", "h1")
    writer.write(0)  # the file exists before the agent: it starts at its end
    state = tmp_path / "agent.json"
    hub_state = tmp_path / "hub"
    port = free_port(socket.SOCK_STREAM)
    received: list[dict[str, object]] = []

    async with running_hub({"app": []}, state_dir=hub_state, port=port) as hub:
        agents.append(start_agent(port, logs, state))
        async with ViewerClient.connect(hub.ws) as viewer:
            await viewer.subscribe("app", backfill=10000)
            await viewer.until(lambda v: bool(v.of("subscribed")))
            await agent_connected(hub)  # it opened the file (at its end) before
            for _ in range(5):
                writer.write(200)
                await asyncio.sleep(0.05)
            await collect(hub, 1000, viewer)
            # kill the agent without warning while lines keep coming
            agents[-1].send_signal(signal.SIGKILL)
            agents[-1].wait()
            writer.write(300)
            agents.append(start_agent(port, logs, state))
            writer.write(200)
            await collect(hub, 1500, viewer)
            received += viewer.lines()
    # the hub is down: lines pile up in the files, and the file is rotated
    writer.write(250)
    os.rename(writer.path, logs / "app.log.1")
    writer.write(0)  # a new app.log
    writer.write(150)
    await asyncio.sleep(0.5)
    async with (
        running_hub({"app": []}, state_dir=hub_state, port=port) as hub,
        ViewerClient.connect(hub.ws) as viewer,
    ):
        await viewer.subscribe("app", backfill=10000)
        writer.write(100)
        await collect(hub, 500, viewer)
        await asyncio.sleep(0.5)  # anything sent twice would arrive by now
        received += viewer.lines()
    texts = [str(line["text"]) for line in received]
    assert len(texts) == len(writer.written)  # nothing lost, nothing twice
    assert texts == writer.written  # and in order (one writer, one file at a time)
    assert {line["host"] for line in received} == {"h1"}
    assert {Path(str(line["file"])).name for line in received} == {"app.log", "app.log.1"}


async def test_agent_refused_without_the_token_says_so(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    async with running_hub({"app": []}, token="t0ken", port=port):
        process = start_agent(port, tmp_path, tmp_path / "state.json")
        try:
            await asyncio.sleep(1.5 * UNIT)
        finally:
            process.send_signal(signal.SIGINT)
            out, _ = process.communicate(timeout=10)
        assert "HTTP 401" in out
        assert process.returncode == 0


async def test_agent_ships_lines_written_after_a_copytruncate(
    tmp_path: Path, agents: list[subprocess.Popen[str]]
) -> None:
    """logrotate's copytruncate empties the file in place (same inode): the agent
    starts it over, marked as a reset, and the hub takes it though its offset for the
    file is larger."""
    logs = tmp_path / "logs"
    logs.mkdir()
    writer = Writer(logs / "app.log", "h1")
    writer.write(0)
    port = free_port(socket.SOCK_STREAM)
    async with running_hub({"app": []}, state_dir=tmp_path / "hub", port=port) as hub:
        agents.append(start_agent(port, logs, tmp_path / "agent.json"))
        async with ViewerClient.connect(hub.ws) as viewer:
            await viewer.subscribe("app", backfill=10000)
            await viewer.until(lambda v: bool(v.of("subscribed")))
            await agent_connected(hub)  # it opened the file before
            writer.write(300)
            await collect(hub, 300, viewer)
            os.truncate(writer.path, 0)  # copytruncate: the copy is elsewhere
            await asyncio.sleep(0.3)
            writer.write(50)  # shorter than what was there: offsets below the hub's
            await collect(hub, 350, viewer)
            await asyncio.sleep(0.5)  # anything sent twice would arrive by now
            texts = [str(line["text"]) for line in viewer.lines()]
    assert texts == writer.written


async def test_hub_takes_only_the_bytes_that_follow_what_it_has(tmp_path: Path) -> None:
    """A chunk that overlaps what the hub has (sent twice across a reconnect) or leaves a
    gap is refused, and the ack says where the file stands, so the agent reads again
    from there: nothing twice, nothing skipped."""

    def batch(batch_id: int, start: int, lines: list[str], **extra: object) -> str:
        end = start + sum(len(x) + 1 for x in lines)
        chunk = {"stream": "app", "file": "/a.log", "file_id": "1:2", "start": start,
                 "end": end, "ts": 1.0, "lines": lines, **extra}  # fmt: skip
        return json.dumps({"type": "batch", "id": batch_id, "chunks": [chunk]})

    line = "x" * 9  # 10 bytes with its newline
    async with running_hub({"app": []}) as hub:
        ingest = hub.url.replace("http://", "ws://") + "/supergrep/ingest?host=h&protocol=2"
        async with (
            ViewerClient.connect(hub.ws) as viewer,
            websockets.connect(ingest) as agent,
        ):
            await viewer.subscribe("app", backfill=100)
            assert json.loads(await agent.recv())["type"] == "welcome"
            answers = []
            for message in (
                batch(1, 0, [line] * 3),  # bytes 0-30: taken
                batch(2, 10, [line] * 3),  # 10-40 overlaps: refused
                batch(3, 40, [line] * 2),  # 40-60 leaves a gap: refused
                batch(4, 30, [line] * 2),  # 30-50 follows: taken
                batch(5, 0, ["new"], reset=True),  # truncated in place: starts over
            ):
                await agent.send(message)
                answers.append(json.loads(await agent.recv())["offsets"]["1:2"])
            assert answers == [30, 30, 30, 50, 4]
            await viewer.until(lambda v: len(v.lines()) >= 6)
            await asyncio.sleep(0.2)
            assert [x["text"] for x in viewer.lines()] == [line] * 5 + ["new"]
        # an agent of the first protocol (it never reads again) keeps the older rule:
        # what follows a gap is taken, so its file does not stall
        async with websockets.connect(ingest.replace("&protocol=2", "")) as old:
            assert json.loads(await old.recv())["type"] == "welcome"
            await old.send(batch(6, 20, [line]))
            assert json.loads(await old.recv())["offsets"]["1:2"] == 30


async def test_agents_cannot_flood_the_hub_with_streams_or_huge_lines(tmp_path: Path) -> None:
    """Lines from agents are cut at max_line like lines read here, and an agent can
    create at most supergrep.max_streams streams, with plain names."""

    def batch(batch_id: int, stream: str, lines: list[str]) -> str:
        end = sum(len(x) + 1 for x in lines)
        chunk = {"stream": stream, "file": "/a.log", "file_id": f"{stream}:1", "start": 0,
                 "end": end, "ts": 1.0, "lines": lines}  # fmt: skip
        return json.dumps({"type": "batch", "id": batch_id, "chunks": [chunk]})

    async with running_hub({"app": []}, max_streams=2, max_line=256) as hub:
        ingest = hub.url.replace("http://", "ws://") + "/supergrep/ingest?host=h&protocol=2"
        async with ViewerClient.connect(hub.ws) as viewer, websockets.connect(ingest) as agent:
            await viewer.subscribe("app", backfill=10)
            assert json.loads(await agent.recv())["type"] == "welcome"
            await agent.send(batch(1, "app", ["x" * 100_000, "short"]))
            assert json.loads(await agent.recv())["type"] == "ack"
            await viewer.until(lambda v: len(v.lines()) >= 2)
            big, short = viewer.lines()
            assert len(big["text"]) == 256
            assert big["truncated"] is True
            assert short["text"] == "short"
            errors = {}
            for i, stream in enumerate(["new1", "new2", "new3", "bad name!"], 2):
                await agent.send(batch(i, stream, ["line"]))
                while (answer := json.loads(await agent.recv()))["type"] != "ack":
                    errors[stream] = answer
            assert set(errors) == {"new3", "bad name!"}
            for refused in errors.values():
                assert refused["code"] == "stream_refused"
                assert "at most supergrep.max_streams (2)" in refused["message"]
        assert not hub.service.hub.has_stream("new3")
        assert not hub.service.hub.has_stream("bad name!")


async def test_an_agent_writes_only_its_own_hosts_lines_and_offsets() -> None:
    """With a token, each agent presents its host's own token: one host's token cannot
    send another host's lines or move its offsets, the hub's token is refused from
    agents, and offsets must be offsets."""

    def batch(start: int, end: int) -> str:
        chunk = {"stream": "app", "file": "/a.log", "file_id": "1:2", "start": start,
                 "end": end, "ts": 1.0, "lines": ["x"]}  # fmt: skip
        return json.dumps({"type": "batch", "id": 1, "chunks": [chunk]})

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async with running_hub({"app": []}, token="hub-secret") as hub:
        base = hub.url.replace("http://", "ws://") + "/supergrep/ingest?protocol=2&host="
        own = host_token("hub-secret", "web1")
        async with websockets.connect(base + "web1", additional_headers=auth(own)) as agent:
            assert json.loads(await agent.recv())["offsets"] == {}
            await agent.send(batch(0, 2))
            assert json.loads(await agent.recv())["offsets"] == {"1:2": 2}
            await agent.send(batch(-5, 10**15))  # not an offset: refused, nothing moved
            answer = json.loads(await agent.recv())
            assert answer["type"] == "error"
            assert "'start' and 'end' must be offsets" in answer["message"]
        for host, token, words in (
            ("web2", own, "the token of host 'web2'"),  # web1's token for web2
            ("web1", "hub-secret", "supergrep agent-token web1"),  # the hub's own
            ("web1", "wrong", "the token of host 'web1'"),
        ):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(base + host, additional_headers=auth(token)):
                    pass
            assert refused.value.response.status_code == 401
            assert words in refused.value.response.body.decode()
        # web1's offsets are as web1 left them
        async with websockets.connect(base + "web1", additional_headers=auth(own)) as agent:
            assert json.loads(await agent.recv())["offsets"] == {"1:2": 2}


def test_agent_token_command_prints_the_hosts_token() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "supergrep.cli", "agent-token", "web1", "--token", "hub-secret"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == host_token("hub-secret", "web1")
    assert len(out.strip()) == 64
