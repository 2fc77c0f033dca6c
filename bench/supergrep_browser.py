"""The supergrep page under a flood, in headless Chromium (issue #7).

Method: ``supergrep serve`` follows one file; a writer process appends 120-byte lines
at ``--rate`` lines/s (all matching the page's view) for ``--seconds``. The page is
opened in Debian's Chromium through Playwright with the default settings (5,000 lines
kept). Instruments injected into the page (CSP bypassed for them only): a
MutationObserver counting ``.line`` elements added (lines drawn), a
requestAnimationFrame loop recording frame intervals, and a PerformanceObserver for long
tasks (over 50 ms: what a user feels as a frozen page). Every 5 s the JS heap is read
through the DevTools protocol (``Performance.getMetrics``), and the time for a typed
character to show up in the highlight box is measured (responsiveness to typing).

    .venv/bin/python bench/supergrep_browser.py [--rate 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.supergrep_stream import WRITER  # noqa: E402

INSTRUMENTS = """() => {
  window.bench = {drawn: 0, frames: [], longTasks: [], last: performance.now()};
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      if (n.classList.contains("line")) window.bench.drawn += 1;
      else window.bench.drawn += n.querySelectorAll(".line").length;
    }
  }).observe(document.getElementById("log"), {childList: true, subtree: true});
  const tick = (t) => {
    window.bench.frames.push(t - window.bench.last);
    window.bench.last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.bench.longTasks.push(e.duration);
  }).observe({entryTypes: ["longtask"]});
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "flood.log"
        log.write_text("")
        port = free_port()
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/supergrep"), "serve", "--stream", f"flood={log}",
             "--set", f"http.port={port}", "--set", f"data_dir={tmp / 'data'}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert server.stdout is not None
        server.stdout.readline()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
                page.goto(f"http://127.0.0.1:{port}/supergrep")
                page.wait_for_selector("#status.up")
                page.evaluate(INSTRUMENTS)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                writer = subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(log), str(args.rate), str(args.seconds)],
                    stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                samples = []
                typing = []
                started = time.monotonic()
                letters = "abcdefghij"
                while writer.poll() is None:
                    time.sleep(5)
                    metrics = {
                        m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]
                    }
                    drawn = page.evaluate("() => window.bench.drawn")
                    samples.append(
                        (time.monotonic() - started, drawn, metrics["JSHeapUsedSize"] / 2**20)
                    )
                    before = time.perf_counter()
                    page.locator("#highlight").press(letters[len(typing) % len(letters)])
                    page.wait_for_function(
                        "(n) => document.getElementById('highlight').value.length === n",
                        arg=len(typing) + 1,
                    )
                    typing.append((time.perf_counter() - before) * 1000)
                written = int(writer.communicate()[0])
                page.wait_for_timeout(1000)
                result = page.evaluate("() => window.bench")
                nodes = page.locator("#log .line").count()
                browser.close()
        finally:
            server.terminate()
            server.wait()
    frames = result["frames"][10:]
    elapsed = samples[-1][0] if samples else args.seconds
    print(f"offered {args.rate:,} lines/s for {args.seconds} s: {written:,} lines written")
    print(f"lines drawn: {result['drawn']:,} ({result['drawn'] / max(elapsed, 1):,.0f}/s);"
          f" lines on the page at the end: {nodes:,}")  # fmt: skip
    print(
        f"frame interval ms: p50 {percentile(frames, 50):.1f}, p95 {percentile(frames, 95):.1f},"
        f" p99 {percentile(frames, 99):.1f}, max {max(frames):.1f}"
    )
    long_tasks = result["longTasks"]
    print(f"long tasks (>50 ms): {len(long_tasks)}, longest {max(long_tasks, default=0):.0f} ms")
    typed = f"median {statistics.median(typing):.0f}, max {max(typing):.0f}"
    print(f"a typed character shows in ms: {typed}")
    print("JS heap MB over time: " + ", ".join(f"{t:.0f}s {h:.1f}" for t, _, h in samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
