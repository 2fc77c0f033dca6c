"""The supergrep page in real headless Chromium against a real hub tailing real files."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT, UNIT, stop_process

WAIT = 10_000 * UNIT  # ms


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hub:
    """``supergrep serve`` as a user starts it, on files in a temp directory."""

    logs: Path
    data: Path
    port: int = field(default_factory=_free_port)
    settings: tuple[str, ...] = ()
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            sys.executable, "-m", "supergrep.cli", "serve",
            "--stream", f"web={self.logs}/web*.log", "--stream", f"app={self.logs}/app.log",
            "--set", f"http.port={self.port}", "--set", f"data_dir={self.data}",
            "--set", "supergrep.host=box1",
        ]  # fmt: skip
        for setting in self.settings:
            args += ["--set", setting]
        self.process = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert "supergrep is up" in self.process.stdout.readline()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def write(self, name: str, *lines: str) -> None:
        with (self.logs / name).open("a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))


@contextlib.contextmanager
def running(tmp: Path, *settings: str) -> Iterator[Hub]:
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    for name in ("web1.log", "app.log"):
        (logs / name).touch()
    hub = Hub(logs, tmp / "data", settings=settings)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running(tmp_path_factory.mktemp("page")) as started:
        yield started


def open_page(browser: Any, url: str, *, bypass_csp: bool = False) -> Page:
    page: Page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=bypass_csp)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    expect(page.locator("#status")).to_have_text("live", timeout=WAIT)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def texts(page: Page) -> list[str]:
    return page.locator("#log .line .text").all_inner_texts()


def test_live_lines_with_labels_and_stream_rates(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep")
    expect(page.locator("#streams label")).to_have_count(2)
    hub.write("web1.log", "GET /checkout 200 12ms")
    row = page.locator("#log .line", has_text="GET /checkout 200").first
    expect(row).to_be_visible(timeout=WAIT)
    assert row.locator(".host").inner_text() == "box1"
    assert row.locator(".stream").inner_text() == "web"
    assert row.locator(".text").get_attribute("title") == str(hub.logs / "web1.log")
    href = row.locator(".time").get_attribute("href") or ""
    assert href.startswith("#line=web:")
    expect(page.locator("#streams label[data-stream=web] .rate")).to_contain_text("/s")
    assert page.errors == []  # type: ignore[attr-defined]
    page.close()


def test_filters_run_on_the_server_and_highlight_in_the_page(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep?streams=web")
    page.fill("#include", "error, timeout")  # words
    page.fill("#exclude", "/healthcheck/")  # a regex
    page.fill("#highlight", "db\\d+")
    page.locator("#highlight").press("Enter")
    page.wait_for_timeout(600)  # the filters are sent after typing stops
    hub.write("web1.log", "ok line", "ERROR talking to db12", "timeout on healthcheck",
              "upstream timeout", "app says error")  # fmt: skip
    hub.write("app.log", "error in the app stream")  # not subscribed
    expect(page.locator("#log .line")).to_have_count(3, timeout=WAIT)
    assert texts(page) == ["ERROR talking to db12", "upstream timeout", "app says error"]
    assert page.locator("#log mark").all_inner_texts() == ["db12"]
    # case: "error" no longer matches "ERROR"; a new filter is a new view (backfilled)
    page.check("#case")
    page.wait_for_timeout(300)
    hub.write("web1.log", "ERROR loud", "error quiet")
    expect(page.locator("#log .line")).to_have_count(3, timeout=WAIT)
    assert texts(page) == ["upstream timeout", "app says error", "error quiet"]
    # the view is in the URL
    query = page.url.split("?", 1)[1]
    for part in ("streams=web", "include=error", "exclude=%2Fhealthcheck%2F", "case=1"):
        assert part in query
    again = open_page(browser, page.url)
    assert again.input_value("#include") == "error, timeout"
    assert again.input_value("#highlight") == "db\\d+"
    assert again.is_checked("#case")
    assert not again.is_checked("#streams label[data-stream=app] input")
    page.close()
    again.close()


def test_an_invalid_regex_is_explained_next_to_its_box(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep")
    page.fill("#include", "(unclosed")
    page.locator("#include").press("Enter")
    expect(page.locator("#include-error")).to_contain_text("invalid regex", timeout=WAIT)
    page.fill("#highlight", "[")
    page.locator("#highlight").press("Enter")
    expect(page.locator("#highlight-error")).to_contain_text("invalid regex")
    page.close()


XSS = [
    "<script>window.pwned=1</script>",
    '<img src=x onerror="window.pwned=1">',
    "javascript:window.pwned=1 and http://example.com/ok?a=<b>",
    "\"'><svg onload=window.pwned=1>",
    "\x1b[31mred\x1b[0m ansi",
    "rtl \u202egnp.exe\u202c end",
    "</div><div onclick=window.pwned=1>x",
]


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "csp-bypassed"])
def test_log_text_is_text_never_markup(hub: Hub, browser: Any, bypass_csp: bool) -> None:
    """Even with the CSP switched off, nothing in a line runs: it is rendered as text."""
    page = open_page(browser, f"{hub.url}/supergrep?streams=app", bypass_csp=bypass_csp)
    marker = f"xss-{bypass_csp}"
    hub.write("app.log", *[f"{marker} {line}" for line in XSS])
    expect(page.locator("#log .line", has_text=marker)).to_have_count(len(XSS), timeout=WAIT)
    shown = [t for t in texts(page) if t.startswith(marker)]
    assert shown == [f"{marker} {line}" for line in XSS]
    links = page.locator("#log .line", has_text=marker).locator("a:not(.time)")
    assert links.count() == 1
    assert links.first.get_attribute("href") == "http://example.com/ok?a="
    assert links.first.get_attribute("rel") == "noopener noreferrer"
    page.locator("#log .line", has_text="onclick").last.click()
    if bypass_csp:  # evaluate needs the CSP off; with it on, nothing could run at all
        assert page.evaluate("() => window.pwned") is None
    assert page.locator("#log script, #log img, #log svg, #log [onclick]").count() == 0
    assert page.errors == []  # type: ignore[attr-defined]
    page.close()


def test_pause_buffers_and_resume_shows_everything_in_order(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep?streams=app&include=pause-test")
    page.locator("#log").click()
    page.keyboard.press(" ")  # space pauses
    expect(page.locator("#pause")).to_have_text("Resume")
    hub.write("app.log", *[f"pause-test {i}" for i in range(50)])
    expect(page.locator("#waiting")).to_have_text("50 waiting", timeout=WAIT)
    assert page.locator("#log .line").count() == 0
    page.click("#pause")
    expect(page.locator("#log .line")).to_have_count(50, timeout=WAIT)
    assert texts(page) == [f"pause-test {i}" for i in range(50)]
    page.close()


def test_a_stack_trace_is_one_entry_that_collapses(tmp_path: Path, browser: Any) -> None:
    with running(tmp_path) as hub:
        check_trace(hub, browser)


def check_trace(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep?streams=app")
    hub.write(
        "app.log",
        "ERROR checkout failed",
        "Traceback (most recent call last):",
        '  File "shop.py", line 10, in pay',
        "    charge(card)",
        "ValueError: card declined",
        "INFO next request",
    )
    expect(page.locator("#log .line")).to_have_count(6, timeout=WAIT)
    entries = page.locator("#log .entry")
    expect(entries).to_have_count(2)
    trace = entries.first
    assert "trace" in (trace.get_attribute("class") or "")
    assert "error" in (trace.get_attribute("class") or "")
    assert trace.locator(".more .line").count() == 4
    trace.locator(".toggle").click()
    expect(trace.locator(".more")).to_be_hidden()
    expect(trace.locator(".toggle")).to_have_text("▸ 4 more lines")
    page.close()


def test_keyboard_slash_focuses_the_filter(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep")
    page.locator("#log").click()
    page.keyboard.press("/")
    expect(page.locator("#include")).to_be_focused()
    page.close()


def test_title_counts_new_lines_while_hidden(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep?streams=app&include=hidden-test",
                     bypass_csp=True)  # fmt: skip
    page.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", {value: true, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    hub.write("app.log", "hidden-test 1", "hidden-test 2", "hidden-test 3")
    expect(page).to_have_title("(3 new) supergrep", timeout=WAIT)
    page.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", {value: false, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    expect(page).to_have_title("supergrep")
    page.close()


def test_permalink_opens_with_the_line_in_context(hub: Hub, browser: Any) -> None:
    page = open_page(browser, f"{hub.url}/supergrep?streams=app&include=perma")
    hub.write("app.log", *[f"perma {i}" for i in range(100)])
    expect(page.locator("#log .line")).to_have_count(100, timeout=WAIT)
    link = page.locator("#log .line", has_text="perma 70").locator(".time")
    href = link.get_attribute("href") or ""
    other = open_page(browser, f"{hub.url}/supergrep?streams=app&include=perma{href}")
    target = other.locator("#log .line.target")
    expect(target).to_have_count(1, timeout=WAIT)
    assert target.locator(".text").inner_text() == "perma 70"
    shown = texts(other)
    assert shown[0] == "perma 20"  # 50 lines of context before it
    page.close()
    other.close()


def test_reconnects_after_the_hub_restarts(tmp_path: Path, browser: Any) -> None:
    with running(tmp_path) as hub:
        page = open_page(browser, f"{hub.url}/supergrep?streams=app")
        hub.write("app.log", "before restart")
        expect(page.locator("#log .line", has_text="before restart")).to_have_count(1, timeout=WAIT)
        hub.stop()
        expect(page.locator("#status")).to_contain_text("retrying", timeout=WAIT)
        hub.start()
        expect(page.locator("#status")).to_have_text("live", timeout=WAIT)
        expect(page.locator("#log .notice.gap")).to_contain_text("hub restarted")
        hub.write("app.log", "after restart")
        expect(page.locator("#log .line", has_text="after restart")).to_have_count(1, timeout=WAIT)
        page.close()


def test_a_flood_shows_drop_notices_and_the_page_stays_bounded(
    tmp_path: Path, browser: Any
) -> None:
    with running(tmp_path, "supergrep.viewer_lines=1000") as hub:
        page = open_page(browser, f"{hub.url}/supergrep?streams=app&keep=2000")
        with (hub.logs / "app.log").open("a") as f:
            f.write("".join(f"flood {i} {'x' * 100}\n" for i in range(200_000)))
        expect(page.locator("#log .notice.drop").first).to_contain_text(
            "lines dropped", timeout=WAIT
        )
        page.wait_for_timeout(1000)
        assert page.locator("#log .line").count() <= 2000
        page.close()


def test_a_deploy_shows_as_a_banner_in_the_stream(tmp_path: Path, browser: Any) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    config = tmp_path / "monitor.toml"
    config.write_text(f'[supergrep.streams.app]\npaths = ["{log}"]\n')
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "up", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "--set", f"http.port={port}",
         "--set", "statsd.port=0", "--set", "statsd.mgmt_port=0", "--set", "carbon.port=0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert "is up" in process.stdout.readline()
        page = open_page(browser, f"http://127.0.0.1:{port}/supergrep?streams=app")
        with log.open("a") as f:
            f.write("a line before the deploy\n")
        expect(page.locator("#log .line")).to_have_count(1, timeout=WAIT)
        deploy = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "deploy", "--stack", "web", "--env", "prod",
             "--sha", "abc123", "--who", '<img src=x onerror="window.pwned=1">',
             "--url", "javascript:window.pwned=1", "--graphite", f"http://127.0.0.1:{port}",
             "--carbon", "none"],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert deploy.returncode == 0, deploy.stderr
        banner = page.locator("#log .deploy")
        expect(banner).to_have_count(1, timeout=WAIT)
        assert "web" in banner.inner_text()
        assert 'by <img src=x onerror="window.pwned=1">' in banner.inner_text()
        assert "sha abc123" in banner.inner_text()
        assert banner.locator("a, img").count() == 0  # a javascript: URL is not linked
        # someone who opens the page later sees the deploy in its place in the backfill
        later = open_page(browser, f"http://127.0.0.1:{port}/supergrep?streams=app")
        expect(later.locator("#log .deploy")).to_have_count(1, timeout=WAIT)
        order = later.locator("#log .line .text, #log .deploy").all_inner_texts()
        assert order[0] == "a line before the deploy"
        assert "web" in order[1]
        page.close()
        later.close()
    finally:
        stop_process(process)
