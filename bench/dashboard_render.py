"""A 20-panel dashboard over 7 days of 10 s data, drawn in headless Chromium.

Method (issue #5): 200 series x 7 days at 10 s are written as whisper files; ``monitor
up`` serves them with a 20-panel dashboard (10 series per panel, maxDataPoints = panel
width). Debian's Chromium (Playwright) loads the page ``--loads`` times after a warm-up
load. Each load is timed by the page itself: from navigation start (the performance
timeline's origin) to the ``dashboard-drawn`` mark the page sets when every panel is
drawn. That time is split into the page's start (HTML, scripts, the dashboard's JSON:
up to the first ``/render`` request), the render API's span (first request sent to last
response received; the 20 requests run concurrently) and the browser's drawing after
the last response. The time Playwright takes to notice (it polls) is shown apart.
Medians.

    .venv/bin/python bench/dashboard_render.py [--loads 5] [--workers N]

``--api-only`` leaves the browser out: the 20 panels' ``/render`` requests are sent at
once, ``--loads`` times, with 1 and then 2 render workers, to show what the second
worker does when no browser shares the two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.store.rules import RetentionRule, StoreSettings  # noqa: E402
from monitor.store.whisper_store import WhisperStore  # noqa: E402
from tests.graphite_web import _free_port  # noqa: E402


def write(whisper: Path, now: int) -> None:
    settings = StoreSettings(
        retentions=(RetentionRule("bench", ".*", "10s:8d"),), max_pending=200_000_000
    )
    store = WhisperStore(whisper, settings, clock=lambda: now)
    store.start()
    start = now - 7 * 86400
    for group in range(20):
        for host in range(10):
            name = f"bench.group{group:02d}.host{host}.value"
            store.add((name, float((i * 7 + host) % 100), ts)
                      for i, ts in enumerate(range(start, now, 10)))  # fmt: skip
    store.stop()


#: The page's own timeline of one load, in ms from navigation start.
TIMELINE = """(() => {
  const drawn = performance.getEntriesByName("dashboard-drawn")[0].startTime;
  const renders = performance.getEntriesByType("resource").filter(e => e.name.includes("/render"));
  const first = Math.min(...renders.map(e => e.startTime));
  const last = Math.max(...renders.map(e => e.responseEnd));
  return {drawn, first, api: last - first, after: drawn - last};
})()"""


def dashboard() -> dict[str, object]:
    panels = [
        {"id": f"p{g}", "title": f"group {g}", "targets": [f"bench.group{g:02d}.*.value"],
         "width": 6}
        for g in range(20)
    ]  # fmt: skip
    return {"title": "bench", "time": {"from": "-7d"}, "rows": [{"panels": panels}]}


def start(data: Path, boards: Path, workers: int) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "up", "--data-dir", str(data),
         "--set", f"http.port={port}", "--set", "statsd.port=0", "--set",
         "statsd.mgmt_port=0", "--set", "carbon.port=0", "--set", f"dashboards.dir={boards}",
         "--set", f"render.workers={workers}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, port


async def api_round(port: int) -> float:
    """The 20 panels' renders sent at once (as the page does); ms until the last answer."""
    urls = [
        f"http://127.0.0.1:{port}/render?target=bench.group{g:02d}.*.value&from=-7d"
        "&format=json&maxDataPoints=600"
        for g in range(20)
    ]
    async with aiohttp.ClientSession() as http:

        async def one(url: str) -> None:
            async with http.get(url) as answer:
                assert answer.status == 200, await answer.text()
                await answer.read()

        began = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return (time.perf_counter() - began) * 1000


def api_only(data: Path, boards: Path, loads: int) -> None:
    for workers in (1, 2):
        proc, port = start(data, boards, workers)
        try:
            asyncio.run(api_round(port))  # warm-up
            times = [asyncio.run(api_round(port)) for _ in range(loads)]
        finally:
            proc.terminate()
            proc.wait()
        print(
            f"render.workers={workers}: 20 panels' renders at once, median"
            f" {statistics.median(times):.0f} ms (runs: {', '.join(f'{t:.0f}' for t in times)})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="render.workers (0: default)")
    parser.add_argument("--api-only", action="store_true", help="no browser: 1 against 2 workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        now = int(time.time())
        started = time.perf_counter()
        write(data / "whisper", now)
        print(f"wrote 200 series x 7 days in {time.perf_counter() - started:.0f} s")
        boards = data / "dashboards"
        boards.mkdir()
        (boards / "bench.json").write_text(json.dumps(dashboard()))
        if args.api_only:
            api_only(data, boards, args.loads)
            return 0
        proc, port = start(data, boards, args.workers)
        rows: list[dict[str, float]] = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--headless", "--no-sandbox", "--disable-gpu"],
                )
                for i in range(args.loads + 1):  # the first load warms caches: dropped
                    page = browser.new_page(viewport={"width": 1600, "height": 1200})
                    began = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}/dashboards/bench")
                    page.wait_for_selector("#app[data-state=drawn]", timeout=120_000)
                    observed = (time.perf_counter() - began) * 1000
                    row = page.evaluate(TIMELINE)
                    if i:
                        rows.append({**row, "observed": observed})
                    else:
                        print(f"warm-up load (dropped): {row['drawn']:.0f} ms in the page")
                    page.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait()
    med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    print(f"\n{args.loads} loads (first dropped), medians, ms:\n")
    print(
        "| navigation to all 20 panels drawn (in page) | page start (to first /render) "
        "| render API span | drawing after last response | as Playwright saw it |"
    )
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {med['drawn']:.0f} | {med['first']:.0f} | {med['api']:.0f} "
        f"| {med['after']:.0f} | {med['observed']:.0f} |"
    )
    print("\nall loads (drawn):", ", ".join(f"{r['drawn']:.0f}" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
