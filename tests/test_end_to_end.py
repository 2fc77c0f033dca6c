"""The whole product as a newcomer runs it: ``monitor up --demo`` as a real process.

Within bounded time: the demo writes its history, then its live statsd metrics reach
``/render``; the demo dashboard draws in headless Chromium with a deploy marker; a
supergrep viewer receives demo log lines and a banner after ``monitor deploy``; a log
watch's metric counts; SIGINT ends it with exit code 0 and the last flush on disk.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import whisper
from playwright.async_api import async_playwright

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, UNIT, require_chromium
from tests.supergrep.hubs import ViewerClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(url: str, target: str, start: str = "-5min") -> list[list[Any]]:
    query = urllib.parse.urlencode({"target": target, "from": start, "format": "json"})
    with urllib.request.urlopen(f"{url}/render?{query}", timeout=5) as answer:
        series = json.load(answer)
    return series[0]["datapoints"] if series else []


async def eventually(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout * UNIT
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


@pytest.mark.timeout(180)
async def test_monitor_up_demo_end_to_end(tmp_path: Path) -> None:
    require_chromium()
    port = free_port()
    statsd_port = free_port()
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "up", "--demo", "--data-dir", str(data),
         "--set", f"http.port={port}", "--set", f"statsd.port={statsd_port}",
         "--set", "statsd.mgmt_port=0", "--set", "carbon.port=0",
         "--set", "statsd.flush_interval=1000",
         "--set", "demo.first_deploy=1", "--set", "demo.deploy_every=600"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        output = process.stdout

        def started() -> str:  # warnings (the 1 s flush is one) come first on this pipe
            seen: list[str] = []
            while len(seen) < 20 and (line := output.readline()):
                seen.append(line)
                if "is up" in line:
                    break
            return "".join(seen)

        assert "is up" in await asyncio.to_thread(started)
        up = time.time()

        # statsd metrics from the demo's own client reach the render API (later than
        # the history the demo writes first, which ends when it starts)
        def requests_counted() -> bool:
            points = render(url, "sumSeries(stats_counts.shop.requests.*)")
            return any(v for v, ts in points if ts > up + 11)

        await eventually(requests_counted, 45, "the demo's request counter in /render")
        # and the history is there: a week of minutes, every range has data at once
        week = render(url, "stats_counts.shop.requests.home", "-7d")
        assert sum(v is not None for v, _ in week) > 0.9 * len(week) > 9000

        # a viewer gets demo log lines, then a banner when someone deploys
        ws = f"ws://127.0.0.1:{port}/supergrep/ws"
        async with ViewerClient.connect(ws) as viewer:
            await viewer.subscribe("demo", backfill=20)
            await viewer.until(lambda v: len(v.lines()) >= 5, timeout=20 * UNIT)
            assert all(line["stream"] == "demo" for line in viewer.lines())
            deploy = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor.cli", "deploy", "--stack", "web", "--env",
                "production", "--sha", "e2e0001", "--who", "tester",
                "--graphite", url, "--carbon", "none", cwd=ROOT,
            )  # fmt: skip
            assert await deploy.wait() == 0
            await viewer.until(
                lambda v: any(d.get("sha") == "e2e0001" for d in v.of("deploy")),
                timeout=10 * UNIT,
            )

        # the log watch counts ERROR lines of the demo stream into a metric
        with (data / "demo" / "shop.log").open("a") as log:
            log.write("ERROR end-to-end test line\n" * 7)

        def watch_counted() -> bool:
            return sum(v or 0 for v, _ in render(url, "stats_counts.logs.demo.errors")) >= 7

        await eventually(watch_counted, 20, "the log watch metric")

        # the demo dashboard draws, with the demo's deploys marked
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"{url}/dashboards/app-overview?from=-15min")
            await page.wait_for_selector("#app[data-state=drawn]", timeout=30_000 * UNIT)
            await page.wait_for_selector(".deploy-mark", state="attached", timeout=30_000 * UNIT)
            drawn = await page.locator("[data-state=drawn]").count()
            assert drawn >= 3
            await browser.close()

        # a gauge set right before Ctrl-C must be on disk after the exit (a gauge, as
        # the 1 s test flushes share 10 s whisper slots: a later counter flush of 0
        # would replace a count, as carbon does)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"e2e.last:5|g", ("127.0.0.1", statsd_port))
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 20) == 0
        out = process.stdout.read()
        assert "Traceback" not in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    last = data / "whisper" / "stats" / "gauges" / "e2e" / "last.wsp"
    # statsd stamps a flush with its time rounded to the second (as node does), so the
    # last flush can sit in the next 10 s slot, past "now": read as if a minute later
    later = int(time.time()) + 60
    (_, _, _), values = whisper.fetch(str(last), later - 180, later, now=later)
    assert 5.0 in values
