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

``--burst`` is the incident (issue #13): ``monitor up`` tails a file that a writer fills
with an error burst at ``--rate`` lines/s, one entry in 40 a six-line Python traceback,
while a deploy is recorded every 5 s (a banner in the stream); the page keeps its
default 5,000 lines. Each line carries the wall-clock time it was written; the page's
instruments note, at the first animation frame after a line is put in the page, how
long ago it was written (file to screen: tail, hub, websocket, page). Every 100 ms the
harness checks that the newest entry is on screen and the page still follows. Reported:
frames per second, the frame interval percentiles and the longest frame, long tasks,
file-to-screen p50/p99, and how many follow checks failed.

    .venv/bin/python bench/supergrep_browser.py --burst [--rate 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

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


BURST_WRITER = r"""
import sys, time
path, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
trace = ["Traceback (most recent call last):",
         '  File "/srv/shop/search.py", line 120, in query',
         "    hits = index.search(q, timeout=2)",
         '  File "/srv/shop/index.py", line 33, in search',
         "    raise SearchTimeout(q)",
         "shop.index.SearchTimeout: lamp"]
n = written = 0
with open(path, "a", buffering=1 << 20) as f:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate)
        out = []
        while written + len(out) < due:
            n += 1
            stamp = time.time_ns()
            if n % 40 == 0:
                out.append(f"ERROR demo-shop unhandled exception in search #{n} t={stamp}")
                out += trace
            else:
                out.append(f"ERROR demo-shop search: upstream returned 503 #{n} t={stamp}")
        if out:
            f.write("".join(line + "\n" for line in out))
            f.flush()
            written += len(out)
        time.sleep(0.002)
print(written)
"""

#: File-to-screen latency: lines carry the time they were written (t=<ns>); at the
#: first animation frame after a line enters the page, how long ago that was.
LATENCY = """() => {
  const pending = [];
  window.bench.latency = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      for (const text of n.querySelectorAll ? n.querySelectorAll(".text") : []) {
        const m = / t=(\\d+)$/.exec(text.textContent);
        if (m) pending.push(Number(m[1]) / 1e6);
      }
    }
  }).observe(document.getElementById("log"), {childList: true, subtree: true});
  const frame = () => {
    const now = performance.timeOrigin + performance.now();
    for (const written of pending.splice(0)) window.bench.latency.push(now - written);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}"""

FOLLOWING = """() => {
  const log = document.getElementById("log");
  const entries = log.querySelectorAll(".entry, .deploy, .notice");
  const last = entries[entries.length - 1];
  if (!last) return true;
  const box = log.getBoundingClientRect();
  const row = (last.querySelector(".line") || last).getBoundingClientRect();
  return row.bottom <= box.bottom + 1 && row.top >= box.top - 1
    && document.getElementById("jump").hidden;
}"""


@contextlib.contextmanager
def instrumented_page(command: list[str], url: str) -> Iterator[Page]:
    """Start the server (``command``, which prints a line once it is up), open ``url``
    in Debian's Chromium with the frame and long-task instruments; stop both after."""
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    server.stdout.readline()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
            page.goto(url)
            page.wait_for_selector("#status.up")
            page.evaluate(INSTRUMENTS)
            yield page
            browser.close()
    finally:
        server.terminate()
        server.wait()


def burst(rate: int, seconds: int) -> None:
    """The incident: an error burst with tracebacks and deploy banners (see above)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "burst.log"
        log.write_text("")
        (tmp / "monitor.toml").write_text(f'[supergrep.streams.burst]\npaths = ["{log}"]\n')
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(ROOT / ".venv/bin/monitor"), "up", "--config", str(tmp / "monitor.toml"),
                   "--data-dir", str(tmp), "--set", f"http.port={port}", "--set", "statsd.port=0",
                   "--set", "statsd.mgmt_port=0", "--set", "carbon.port=0"]  # fmt: skip
        with instrumented_page(command, f"{url}/supergrep?streams=burst") as page:
            page.evaluate(LATENCY)
            writer = subprocess.Popen(
                [sys.executable, "-c", BURST_WRITER, str(log), str(rate), str(seconds)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            checks = failed = deploys = 0
            started = next_deploy = time.monotonic()
            while writer.poll() is None:
                if time.monotonic() >= next_deploy:
                    deploys += 1
                    event = json.dumps({"what": f"deploy web #{deploys}",
                                        "tags": ["deploy", "web"]}).encode()  # fmt: skip
                    request = urllib.request.Request(
                        f"{url}/events/", event, {"Content-Type": "application/json"}
                    )
                    urllib.request.urlopen(request, timeout=10).close()
                    next_deploy += 5
                checks += 1
                failed += not page.evaluate(FOLLOWING)
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            written = int(writer.communicate()[0])
            page.wait_for_timeout(1000)
            result = page.evaluate("() => window.bench")
    frames = result["frames"][10:]
    latency = result["latency"]
    print(f"burst: {rate:,} lines/s for {seconds} s with tracebacks, {deploys} deploy banners:"
          f" {written:,} lines written, {result['drawn']:,} drawn")  # fmt: skip
    print(
        f"frames per second {len(frames) / elapsed:.0f}; frame interval ms: p50"
        f" {percentile(frames, 50):.1f}, p99 {percentile(frames, 99):.1f}, longest"
        f" {max(frames):.1f}"
    )
    long_tasks = result["longTasks"]
    print(f"long tasks (>50 ms): {len(long_tasks)}, longest {max(long_tasks, default=0):.0f} ms")
    print(
        f"file to screen ms: p50 {percentile(latency, 50):.0f}, p99"
        f" {percentile(latency, 99):.0f} ({len(latency):,} lines timed)"
    )
    print(f"follow checks every 100 ms: {checks - failed} of {checks} held")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--burst", action="store_true", help="the incident case (see above)")
    args = parser.parse_args()
    if args.burst:
        burst(args.rate, args.seconds)
        return 0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "flood.log"
        log.write_text("")
        port = free_port()
        command = [str(ROOT / ".venv/bin/supergrep"), "serve", "--stream", f"flood={log}",
                   "--set", f"http.port={port}", "--set", f"data_dir={tmp / 'data'}"]  # fmt: skip
        with instrumented_page(command, f"http://127.0.0.1:{port}/supergrep") as page:
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
