"""``supergrep tail`` as a user runs it, against a real hub."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from supergrep.terminal import format_deploy, format_line
from tests.conftest import UNIT
from tests.supergrep.hubs import running_hub


def tail(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "supergrep.cli", "tail", "--server", url, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


async def read_lines(process: subprocess.Popen[str], n: int) -> list[str]:
    assert process.stdout is not None
    out = []
    for _ in range(n):
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 10 * UNIT)
        out.append(line.rstrip("\n"))
    return out


def test_control_characters_are_shown_not_obeyed() -> None:
    line = {"host": "web01", "stream": "app", "text": "\x1b[2J\rcleared?\ttab"}
    assert format_line(line, colour=False) == "web01 app | \\x1b[2J\\x0dcleared?\ttab"
    coloured = format_line(line, colour=True)
    assert coloured.startswith("\x1b[")
    assert coloured.endswith("| \\x1b[2J\\x0dcleared?\ttab")


async def test_tail_prints_backfill_then_filtered_live_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"old {i}\n" for i in range(20)))
    async with running_hub({"app": [str(log)]}) as hub:
        process = tail(hub.url, "app", "ERROR|old 19", "-i", "-v", "ignore", "--backfill", "1")
        try:
            assert await read_lines(process, 1) == ["testhost app | old 19"]
            with log.open("a") as f:
                f.write("ok\nerror: disk full\nERROR but ignore me\nlast Error\n")
            assert await read_lines(process, 2) == [
                "testhost app | error: disk full",
                "testhost app | last Error",
            ]
        finally:
            process.send_signal(signal.SIGINT)
            _, err = await asyncio.to_thread(process.communicate, timeout=10)
        assert process.returncode == 0, err


async def test_tail_explains_a_bad_pattern_and_exits_2(tmp_path: Path) -> None:
    async with running_hub({"app": [str(tmp_path / "*.log")]}) as hub:
        process = tail(hub.url, "app", "(unclosed")
        _, err = await asyncio.to_thread(process.communicate, timeout=10)
    assert process.returncode == 2
    assert "invalid regex '(unclosed'" in err


async def test_tail_unknown_stream_exits_2(tmp_path: Path) -> None:
    async with running_hub({"app": [str(tmp_path / "*.log")]}) as hub:
        process = tail(hub.url, "nope")
        _, err = await asyncio.to_thread(process.communicate, timeout=10)
    assert process.returncode == 2
    assert "unknown stream 'nope'; the streams here: app" in err


async def test_tail_shows_deploys_as_banners_where_they_happen(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with running_hub({"app": [str(log)]}) as hub:
        process = tail(hub.url, "app", "--color", "always")
        try:
            with log.open("a") as f:
                f.write("before\n")
            assert (await read_lines(process, 1))[0].endswith("| before")
            data = '{"who": "bob", "sha": "abc123", "url": "https://ci/1"}'
            hub.service.announce_deploy(1796284800.0, "deploy web", ["deploy", "web"], data)
            with log.open("a") as f:
                f.write("after\n")
            banner, after = await read_lines(process, 2)
            assert banner == (
                "\x1b[1;30;43m=== deploy web by bob sha abc123 at 2026-12-03 08:00:00 UTC"
                " https://ci/1 ===\x1b[0m"
            )
            assert after.endswith("| after")
        finally:
            process.send_signal(signal.SIGINT)
            await asyncio.to_thread(process.communicate, timeout=10)
    assert format_deploy({"what": "deploy api\x1b[2J"}, colour=False) == (
        "=== deploy api\\x1b[2J ==="
    )


async def test_tail_says_within_seconds_when_no_hub_answers() -> None:
    with socket.socket() as refused:  # a port nobody listens on
        refused.bind(("127.0.0.1", 0))
        port = refused.getsockname()[1]
    started = time.monotonic()
    process = tail(f"http://127.0.0.1:{port}", "app")
    _, err = await asyncio.to_thread(process.communicate, timeout=20 * UNIT)
    assert process.returncode == 2
    assert f"cannot reach a hub at ws://127.0.0.1:{port}/supergrep/ws" in err
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        process = tail(f"http://127.0.0.1:{silent.getsockname()[1]}", "app", "--timeout", "1")
        _, err = await asyncio.to_thread(process.communicate, timeout=20 * UNIT)
    assert process.returncode == 2
    assert "no answer within 1 s" in err
    assert time.monotonic() - started < 15 * UNIT
