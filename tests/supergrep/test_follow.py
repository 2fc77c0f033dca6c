"""Follow mode during an incident, in real Chromium against ``monitor up``.

The moment supergrep matters is an error burst after a bad deploy: thousands of lines a
second, stack traces, deploy banners, the page trimming to "Keep N lines". The view must
keep following by itself through all of it; only a user scrolling up stops it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT, UNIT, stop_process
from tests.supergrep.test_page import WAIT, _free_port

#: How long the burst lasts, and its rate (the issue's figures).
BURST_SECONDS = 60.0
RATE = 5000

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/srv/shop/search.py", line 120, in query',
    "    hits = index.search(q, timeout=2)",
    '  File "/srv/shop/index.py", line 33, in search',
    "    raise SearchTimeout(q)",
    "shop.index.SearchTimeout: lamp",
]


@dataclass
class Stack:
    url: str
    log: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("follow")
    log = data / "burst.log"
    log.touch()
    config = data / "monitor.toml"
    config.write_text(f"[supergrep.streams.burst]\npaths = [{json.dumps(str(log))}]\n")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "up", "--config", str(config),
         "--data-dir", str(data), "--set", f"http.port={port}", "--set", "statsd.port=0",
         "--set", "statsd.mgmt_port=0", "--set", "carbon.port=0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert "is up" in proc.stdout.readline()
    yield Stack(f"http://127.0.0.1:{port}", log)
    stop_process(proc)


def _deploy(url: str, n: int) -> None:
    data = json.dumps({"who": "alice", "sha": f"abc{n}"})
    body = json.dumps({"what": f"deploy web #{n}", "tags": ["deploy", "web"], "data": data})
    request = urllib.request.Request(
        f"{url}/events/", body.encode(), {"Content-Type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()


def _burst(stack: Stack, stop: threading.Event) -> int:
    """Append error bursts with tracebacks at ``RATE`` lines/s, a deploy every 5 s."""
    written = n = 0
    start = time.monotonic()
    next_deploy = start + 2
    with stack.log.open("a", encoding="utf-8") as f:
        while not stop.is_set() and time.monotonic() - start < BURST_SECONDS:
            lines = []
            while len(lines) < RATE // 10:
                n += 1
                if n % 40 == 0:
                    lines += [f"ERROR demo-shop unhandled exception in search #{n}", *TRACEBACK]
                else:
                    lines.append(f"ERROR demo-shop search: upstream returned 503 #{n}")
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            written += len(lines)
            if time.monotonic() >= next_deploy:
                _deploy(stack.url, n)
                next_deploy += 5
            time.sleep(max(0.0, start + written / RATE - time.monotonic()))
    return written


@contextlib.contextmanager
def bursting(stack: Stack) -> Iterator[None]:
    """An error burst runs in the background for the block."""
    stop = threading.Event()
    writer = threading.Thread(target=_burst, args=(stack, stop))
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()


#: Whether the newest entry is on screen and the page still follows (no "New lines
#: below" button), as a person would see it.
SAMPLE = """() => {
  const log = document.getElementById("log");
  const entries = log.querySelectorAll(".entry, .deploy, .notice");
  const last = entries[entries.length - 1];
  if (!last) return {empty: true};
  const box = log.getBoundingClientRect();
  const row = (last.querySelector(".line") || last).getBoundingClientRect();
  return {
    empty: false,
    visible: row.bottom <= box.bottom + 1 && row.top >= box.top - 1,
    where: [Math.round(row.top), Math.round(row.bottom), Math.round(box.top),
            Math.round(box.bottom), log.scrollTop, log.scrollHeight, log.clientHeight,
            last.className],
    jump: !document.getElementById("jump").hidden,
    lines: log.querySelectorAll(".line").length,
    banners: log.querySelectorAll(".deploy").length,
  };
}"""


def _open(browser: Any, url: str) -> Page:
    page: Page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page.goto(url)
    expect(page.locator("#status")).to_have_text("live", timeout=WAIT)
    return page


@pytest.mark.timeout(240)
def test_follow_holds_through_a_minute_of_error_bursts(stack: Stack, browser: Any) -> None:
    pages = {keep: _open(browser, f"{stack.url}/supergrep?streams=burst&keep={keep}")
             for keep in (500, 5000)}  # fmt: skip
    stop = threading.Event()
    result: list[int] = []
    writer = threading.Thread(target=lambda: result.append(_burst(stack, stop)))
    writer.start()
    failures: dict[int, list[tuple[float, dict[str, Any]]]] = {500: [], 5000: []}
    banners = {500: 0, 5000: 0}
    samples = 0
    started = time.monotonic()
    try:
        while writer.is_alive():
            for keep, page in pages.items():
                state = page.evaluate(SAMPLE)
                banners[keep] = max(banners[keep], state.get("banners", 0))
                if not state["empty"] and (not state["visible"] or state["jump"]):
                    failures[keep].append((round(time.monotonic() - started, 1), state))
            samples += 1
            time.sleep(0.1)
    finally:
        stop.set()
        writer.join()
    assert result[0] >= RATE * BURST_SECONDS * 0.9  # the burst really happened
    assert samples >= 100  # sampled every 100 ms (slower on a loaded machine)
    for keep, page in pages.items():
        assert failures[keep] == [], f"Keep={keep}: stopped following at {failures[keep][:5]}"
        # trimming really happened, and deploy banners came in the stream
        assert page.locator("#log .line").count() <= keep + len(TRACEBACK) + 1
        assert banners[keep] >= 1
        page.close()


#: The line at the top of the log's view, and where it is on screen.
TOP_LINE = """() => {
  const box = document.getElementById("log").getBoundingClientRect();
  const row = document.elementFromPoint(box.left + 200, box.top + 4)?.closest(".line");
  return row ? [row.dataset.key, Math.round(row.getBoundingClientRect().top)] : null;
}"""


@pytest.mark.timeout(120)
def test_only_a_user_scrolling_up_leaves_follow_mode(stack: Stack, browser: Any) -> None:
    page = _open(browser, f"{stack.url}/supergrep?streams=burst&keep=50000")
    with bursting(stack):
        expect(page.locator("#log .line").first).to_be_visible(timeout=WAIT)
        # enough lines to scroll up through (on a loaded machine the first few come alone)
        page.wait_for_function(
            "() => { const log = document.getElementById('log');"
            " return log.scrollHeight > log.clientHeight + 1200; }",
            timeout=WAIT,
        )
        box = page.locator("#log").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(3):  # the user scrolls up to read (again, if a busy page missed it)
            page.mouse.wheel(0, -600)
            with contextlib.suppress(AssertionError):
                expect(page.locator("#jump")).to_be_visible(timeout=WAIT / 2)
                break
        expect(page.locator("#jump")).to_be_visible()
        before = page.evaluate(TOP_LINE)
        assert before is not None
        time.sleep(1 * UNIT)
        # what the user reads stays where it was while lines keep coming
        assert page.evaluate(TOP_LINE) == before
        expect(page.locator("#jump")).to_be_visible()
        page.locator("#jump").click()  # back to the bottom: following again
        expect(page.locator("#jump")).to_be_hidden(timeout=WAIT)
        time.sleep(1 * UNIT)
        assert page.evaluate(SAMPLE)["visible"]
        expect(page.locator("#jump")).to_be_hidden()
    page.close()


ORDER = """() => [...document.querySelectorAll("#log .line")].map((row) => {
  const key = row.dataset.key || "";
  return [row.querySelector(".text").textContent, Number(key.split(":").pop())];
})"""


@pytest.mark.timeout(120)
def test_a_filter_change_replaces_the_view(stack: Stack, browser: Any) -> None:
    page = _open(browser, f"{stack.url}/supergrep?streams=burst&keep=5000")
    with bursting(stack):
        expect(page.locator("#log .line").first).to_be_visible(timeout=WAIT)
        for pattern in ("SearchTimeout", "upstream", "Traceback"):
            page.fill("#include", pattern)
            page.locator("#include").dispatch_event("change")
            time.sleep(1.5 * UNIT)  # lines keep coming under the new filter
            rows = page.evaluate(ORDER)
            assert rows
            # every line shown is of the new view: it matches, or is in a trace that does
            if pattern == "upstream":
                assert all("upstream" in text for text, _ in rows), rows[:5]
            else:
                assert any(pattern in text for text, _ in rows)
                assert all("upstream" not in text for text, _ in rows), [
                    t for t, _ in rows if "upstream" in t
                ][:3]
            # and in order
            seqs = [seq for _, seq in rows]
            assert seqs == sorted(seqs), seqs[:20]
    page.close()
