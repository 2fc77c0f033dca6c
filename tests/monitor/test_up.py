"""``monitor up``: starts on real sockets, serves the status page, stops cleanly."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from monitor.config import Config, load_config
from monitor.up import StartupError, serve, start
from tests.conftest import UNIT
from tests.node_statsd import free_port


def config_for(tmp_path: Path, port: int = 0) -> Config:
    return load_config(
        overrides={
            "http.port": str(port),
            "data_dir": str(tmp_path / "data"),
            "statsd.port": "0",
            "statsd.mgmt_port": "0",
            "carbon.port": "0",
        }
    )


async def test_status_page_lists_the_parts(tmp_path: Path) -> None:
    running = await start(config_for(tmp_path))
    try:
        assert running.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.get(running.url) as page:
                assert page.status == 200
                assert "script-src 'self'" in page.headers["Content-Security-Policy"]
                html = await page.text()
            async with http.get(running.url + "status.json") as status:
                parts = (await status.json())["parts"]
            async with http.get(running.url + "static/style.css") as css:
                assert css.status == 200
        assert "web server" in html
        assert "statsd daemon" in html
        assert {p["name"]: p["state"] for p in parts}["web server"] == "running"
        assert {p["state"] for p in parts} == {"running"}
        assert "supergrep" in {p["name"] for p in parts}
        assert {p["name"]: p["state"] for p in parts}["statsd daemon"] == "running"
        store_row = {p["name"]: p["detail"] for p in parts}["Graphite store"]
        assert "points/s now" in store_row
        assert " series, " in store_row
        assert " MB on disk in " in store_row
        assert (tmp_path / "data").is_dir()
    finally:
        await running.stop()


async def test_status_json_gives_each_parts_numbers_by_name(tmp_path: Path) -> None:
    carbon = free_port(socket.SOCK_STREAM)
    running = await start(dataclasses.replace(
        config_for(tmp_path), carbon=dataclasses.replace(config_for(tmp_path).carbon, port=carbon)
    ))  # fmt: skip
    try:
        with socket.create_connection(("127.0.0.1", carbon)) as conn:
            conn.sendall(
                f"a.b 1 {int(time.time())}\na.c 2 {int(time.time())}\nnot a line\n".encode()
            )
        async with aiohttp.ClientSession() as http:

            async def counts() -> dict[str, dict[str, float]]:
                async with http.get(running.url + "status.json") as status:
                    return {p["name"]: p["counts"] for p in (await status.json())["parts"]}

            deadline = time.monotonic() + 10 * UNIT
            while (await counts())["Graphite store"]["bad_lines"] < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            async with http.get(running.url + "render?target=a.*&format=json") as render:
                assert render.status == 200
            numbers = await counts()
    finally:
        await running.stop()
    store = numbers["Graphite store"]
    assert store["points_accepted"] == 2
    assert store["bad_lines"] == 1
    assert store["udp_kernel_drops"] == 0
    assert store["low_disk"] == 0
    assert store["disk_free_bytes"] > 0
    assert numbers["Graphite API"]["answered"] == 1
    assert numbers["Graphite API"]["workers"] >= 1
    assert numbers["statsd daemon"]["tcp_refused"] == 0
    assert set(numbers["supergrep"]) >= {"viewers", "agents", "lines", "files"}


async def test_every_port_in_use_is_named_with_both_ways_to_change_it(tmp_path: Path) -> None:
    with socket.socket() as busy, socket.socket(type=socket.SOCK_DGRAM) as busy_udp:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        busy_udp.bind(("127.0.0.1", 0))
        udp_port = busy_udp.getsockname()[1]
        overrides = {
            "http.port": str(port), "statsd.port": str(udp_port), "statsd.mgmt_port": "0",
            "carbon.port": "0", "data_dir": str(tmp_path),
        }  # fmt: skip
        with pytest.raises(StartupError) as raised:
            await start(load_config(overrides=overrides))
    lines = str(raised.value).splitlines()
    assert lines[0] == "ports taken by another process (stop it, or choose others):"
    assert lines[1:] == [
        f"  tcp 127.0.0.1:{port} (http.port) is in use: --set http.port=N or MONITOR_HTTP_PORT=N",
        f"  udp 127.0.0.1:{udp_port} (statsd.port) is in use: --set statsd.port=N"
        " or MONITOR_STATSD_PORT=N",
    ]


async def test_unusable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = load_config(
        overrides={"http.port": "0", "data_dir": str(blocker / "sub")}
    )  # never binds
    with pytest.raises(StartupError, match=r"data directory .* is not usable.*--data-dir"):
        await start(config)


async def test_serve_stops_when_asked(tmp_path: Path) -> None:
    stop = asyncio.Event()
    urls: list[str] = []
    task = asyncio.create_task(
        serve(start(config_for(tmp_path)), stop, lambda r: urls.append(r.url))
    )
    while not urls:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5 * UNIT)
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(urls[0], timeout=1)


ANY_PORTS = (
    *("--set", "http.port=0", "--set", "statsd.port=0", "--set", "statsd.mgmt_port=0"),
    *("--set", "carbon.port=0"),
)


def _monitor(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor.cli", *args]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_up_prints_urls_and_stops_cleanly_on_signal(tmp_path: Path, sig: int) -> None:
    proc = subprocess.Popen(
        _monitor("up", "--data-dir", str(tmp_path), *ANY_PORTS),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "is up" in first
    url = proc.stdout.readline().split()[0]
    with urllib.request.urlopen(url + "status.json", timeout=5 * UNIT) as response:
        assert json.load(response)["parts"][0]["state"] == "running"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10 * UNIT)
    assert proc.returncode == 0, err
    assert "stopped" in err


def test_cli_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text("[http]\nprot = 1\n")
    result = subprocess.run(
        _monitor("up"), capture_output=True, text=True, cwd=tmp_path, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "monitor: monitor.toml: http.prot: unknown key (did you mean 'port'?)"
    )


def test_cli_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            _monitor("up", "--data-dir", str(tmp_path), *ANY_PORTS, "--set", f"http.port={port}"),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} (http.port) is in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_config_check(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[http]\nport = 9090\n")
    ok = subprocess.run(
        _monitor("config", "check", "--config", str(good)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0
    assert "valid" in ok.stdout
    env = {**os.environ, "MONITOR_HTTP_PORT": "x"}
    bad = subprocess.run(
        _monitor("config", "check", "--config", str(good)),
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert bad.returncode == 2
    assert "MONITOR_HTTP_PORT" in bad.stderr


def test_supergrep_command_lists_its_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supergrep.cli"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "COMMAND" in result.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "supergrep.cli", "--help"], capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    for command in ("serve", "agent", "tail"):
        assert command in helped.stdout


async def test_statsd_flushes_land_in_the_store(tmp_path: Path) -> None:
    config = load_config(
        overrides={
            "http.port": "0",
            "data_dir": str(tmp_path),
            "statsd.port": "0",
            "statsd.mgmt_port": "0",
            "carbon.port": "0",
            "statsd.flush_interval": "200",
        }
    )
    running = await start(config)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"checkout.ok:3|c", running.statsd.bound.udp[0])
        async with asyncio.timeout(10 * UNIT):
            while not running.store.exists("stats_counts.checkout.ok"):
                await asyncio.sleep(0.05)
    finally:
        await running.stop()
    assert (tmp_path / "whisper" / "stats_counts" / "checkout" / "ok.wsp").is_file()


async def test_home_page_lists_recent_deploys_with_links_around_them(tmp_path: Path) -> None:
    config = load_config(
        overrides={"http.port": "0", "data_dir": str(tmp_path), "statsd.port": "0",
                   "statsd.mgmt_port": "0", "carbon.port": "0"},
    )  # fmt: skip
    running = await start(config)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(running.url) as page:
                assert "None in the last week" in await page.text()
            when = int(time.time()) - 60
            event = {"what": "deploy web production abc123", "tags": ["deploy", "web"],
                     "when": when,
                     "data": json.dumps({"who": "<b>alice</b>", "sha": "abc123"})}  # fmt: skip
            async with http.post(running.url + "events/", json=event) as answer:
                assert answer.status == 200
            async with http.get(running.url) as page:
                html = await page.text()
            async with http.get(
                f"{running.url}dashboards?from={when - 1800}&until={when + 1800}"
            ) as index:
                listing = await index.text()
    finally:
        await running.stop()
    assert "deploy web production abc123" in html
    assert "who &lt;b&gt;alice&lt;/b&gt; sha abc123" in html
    assert f'href="/dashboards?from={when - 1800}&amp;until={when + 1800}"' in html
    assert f"?from={when - 1800}&amp;until={when + 1800}" in listing


async def test_a_flush_finer_than_the_store_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = {"http.port": "0", "data_dir": str(tmp_path), "statsd.port": "0",
                 "statsd.mgmt_port": "0", "carbon.port": "0"}  # fmt: skip
    for interval, warned in (("10000", False), ("1000", True)):
        caplog.clear()
        config = load_config(overrides={**overrides, "statsd.flush_interval": interval})
        running = await start(config)
        await running.stop()
        assert ("replace each other" in caplog.text) is warned
