"""The dashboards UI in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from monitor.store.whisper_store import WhisperStore
from tests.conftest import ROOT, UNIT, require_chromium, stop_process
from tests.graphite_web import post_json

EVIL = '<img src=x onerror="window.pwned=1">'

DASHBOARD = {
    "title": "Browser test",
    "time": {"from": "-2h"},
    "deploys": [
        {"name": "web", "color": "#e24d42", "events": ["deploy", "web"]},
        {"name": "metric", "color": "#1f78c1", "metric": "deploys.api.production"},
    ],
    "rows": [
        {
            "title": "Row",
            "panels": [
                {"id": "lines", "title": EVIL, "targets": ["test.web.*.requests"], "width": 12},
                {"id": "bars", "title": "bars", "kind": "bars",
                 "targets": ["test.web.host1.requests"]},
                {"id": "single", "title": "single", "kind": "single",
                 "targets": ["test.web.host1.requests"]},
                {"id": "table", "title": "table", "kind": "table",
                 "targets": ["test.web.*.requests"]},
                {"id": "broken", "title": "broken",
                 "targets": ["divideSeries(test.web.*.requests,test.web.*.requests)"]},
                {"id": "quiet", "title": "no deploys", "targets": ["test.web.host2.requests"],
                 "deploys": False},
                {"id": "twoaxes", "title": "two axes", "unit": "reqps",
                 "targets": ["test.web.host1.requests",
                             {"target": "test.web.host2.requests", "axis": "right",
                              "alias": "host2 on the right"}],
                 "y2": {"unit": "ms", "label": "latency"},
                 "legend": {"values": ["current", "max"]}},
                {"id": "stacked", "title": "stacked", "kind": "stacked",
                 "targets": ["test.web.host1.requests", "test.web.host2.requests"],
                 "legend": {"values": ["max"]}},
            ],
        }
    ],
}  # fmt: skip


VARIABLES = {
    "title": "Variables",
    "time": {"from": "-2h"},
    "variables": [
        {"name": "host", "query": "test.web.*", "multi": True, "all": True, "default": "*"},
        {"name": "box", "tag": "host", "expr": ["name=cpu"], "multi": True},
    ],
    "rows": [{"panels": [
        {"id": "glob", "title": "glob", "targets": ["test.web.$host.requests"]},
        {"id": "tagged", "title": "tagged", "targets": ["seriesByTag('name=cpu','host=~$box')"]},
    ]}],
}  # fmt: skip


@dataclass
class Site:
    url: str
    boards: Path
    events: list[int]
    metric_deploys: list[int]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_chromium()
    data = tmp_path_factory.mktemp("ui")
    now = int(time.time())
    now -= now % 10
    store = WhisperStore(data / "whisper", clock=lambda: now)
    store.start()
    points = []
    for i, ts in enumerate(range(now - 7200, now, 10)):
        points += [("test.web.host1.requests", float(i % 50), ts),
                   ("test.web.host2.requests", float(i % 30 + 5), ts)]  # fmt: skip
    for host in ("web1", "web2", "db1"):  # tagged series, for tag variables
        points += [
            (f"cpu;host={host}", float(i % 7), ts)
            for i, ts in enumerate(range(now - 7200, now, 60))
        ]
    metric_deploys = [now - 5400, now - 1800]
    points += [("deploys.api.production", 1.0, ts) for ts in metric_deploys]
    store.add(points)
    store.stop()
    boards = data / "dashboards"
    boards.mkdir()
    (boards / "test.json").write_text(json.dumps(DASHBOARD))
    (boards / "vars.json").write_text(json.dumps(VARIABLES))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "up", "--data-dir", str(data),
         "--set", f"http.port={port}", "--set", "statsd.port=0", "--set", "statsd.mgmt_port=0",
         "--set", "carbon.port=0", "--set", f"dashboards.dir={boards}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert "is up" in proc.stdout.readline()
    url = f"http://127.0.0.1:{port}"
    events = [now - 3600, now - 600]
    for when in events:
        data = {"who": "alice", "sha": "abc123", "url": "javascript:alert(1)"}
        event = {"what": "deploy web", "tags": ["deploy", "web"], "when": when,
                 "data": json.dumps(data)}  # fmt: skip
        assert post_json(f"{url}/events/", event) == 200
    yield Site(url, boards, events, metric_deploys)
    stop_process(proc)


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Failed requests (the broken panel's 400) are logged as console errors: not ours.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.goto(url)
    page.wait_for_selector("#app[data-state=drawn]", timeout=20_000 * UNIT)
    page.errors = errors
    return page


def test_panels_draw_with_the_right_series(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    panel = page.locator("[data-panel=lines]")
    assert panel.get_attribute("data-state") == "drawn"
    assert panel.get_attribute("data-series") == "2"
    assert panel.locator("canvas").count() == 1
    assert page.locator("[data-panel=bars]").get_attribute("data-series") == "1"
    assert page.locator("[data-panel=single] .single-value").inner_text().strip() != ""
    assert page.locator("[data-panel=table] tr").count() == 3
    page.close()


def test_a_broken_target_shows_its_error_and_the_rest_draws(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    broken = page.locator("[data-panel=broken]")
    assert broken.get_attribute("data-state") == "error"
    assert "must reference exactly 1 series" in broken.locator(".panel-error").inner_text()
    assert page.locator("[data-state=drawn]").count() >= 5
    page.close()


def test_deploy_markers_sit_at_their_times_with_hover_text(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    marks = page.locator("[data-panel=lines] .deploy-mark")
    stamps = sorted(int(marks.nth(i).get_attribute("data-ts") or 0) for i in range(marks.count()))
    assert stamps == sorted(site.events + site.metric_deploys)
    width = page.locator("[data-panel=lines] .u-over").bounding_box()["width"]
    xs = [json.loads(urllib.request.urlopen(
        f"{site.url}/render?target=test.web.host1.requests&from=-2h&format=json&maxDataPoints={int(width)}"
    ).read())[0]["datapoints"][j][1] for j in (0, -1)]  # fmt: skip
    for i in range(marks.count()):
        mark = marks.nth(i)
        ts = int(mark.get_attribute("data-ts") or 0)
        left = float(mark.evaluate("m => parseFloat(m.style.left)"))
        expected = (ts - xs[0]) / (xs[1] - xs[0]) * width
        assert abs(left - expected) < 0.03 * width, (ts, left, expected)
    web_mark = page.locator("[data-panel=lines] .deploy-mark[data-source=web]").first
    web_mark.locator(".deploy-flag").hover()
    card = web_mark.locator(".deploy-card")
    assert "by alice" in card.inner_text()
    assert "sha abc123" in card.inner_text()
    assert card.locator("a").count() == 0  # a javascript: URL is never a link
    assert page.locator("[data-panel=quiet] .deploy-mark").count() == 0
    page.close()


def test_toggles_and_time_range_live_in_the_url(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    page.locator("input[data-source=web]").uncheck()
    page.wait_for_selector("#app[data-state=drawn]")
    page.wait_for_function(
        "document.querySelectorAll('[data-panel=lines] .deploy-mark').length == 2"
    )
    assert "hide=web" in page.url
    page.select_option("#time-range", "-1h")
    assert "from=-1h" in page.url
    again = _open(browser, page.url)
    assert again.locator("#time-range").input_value() == "-1h"
    assert not again.locator("input[data-source=web]").is_checked()
    page.close()
    again.close()


def test_text_from_files_is_text_never_markup(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    assert page.locator("[data-panel=lines] .panel-title").inner_text() == EVIL
    assert page.evaluate("window.pwned") is None
    assert page.errors == []
    page.close()


def test_index_lists_and_filters(site: Site, browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{site.url}/dashboards")
    assert page.locator("#dashboards li").all_inner_texts()[0].startswith("Browser test")
    assert page.locator("#dashboards li").count() == 2
    page.fill("#search", "nothing-like-this")
    assert page.locator("#dashboards li:visible").count() == 0
    page.fill("#search", "browser")
    assert page.locator("#dashboards li:visible").count() == 1
    page.close()


def test_a_changed_file_reloads_the_page(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    changed = json.loads(json.dumps(DASHBOARD))
    changed["rows"][0]["panels"][1]["title"] = "bars, renamed"
    (site.boards / "test.json").write_text(json.dumps(changed))
    try:
        expect(page.locator("[data-panel=bars] .panel-title")).to_have_text(
            "bars, renamed", timeout=15_000 * UNIT
        )
    finally:
        (site.boards / "test.json").write_text(json.dumps(DASHBOARD))
    page.close()


def test_shared_view_has_no_csp_violations(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    assert not any("Content Security Policy" in e for e in page.errors)
    page.close()


def test_drag_zooms_and_back_returns(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    over = page.locator("[data-panel=lines] .u-over").bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.75, y, steps=5)
    page.mouse.up()
    expect(page.locator("#app[data-state=drawn]")).to_have_count(1)
    page.wait_for_url(lambda url: "until=" in url)
    query = dict(p.split("=", 1) for p in page.url.split("?", 1)[1].split("&"))
    span = int(query["until"]) - int(query["from"])
    assert 0.15 * 7200 < span < 0.35 * 7200  # a quarter of the two hours
    page.go_back()
    page.wait_for_url(lambda url: "until=" not in url)
    page.close()


def test_full_size_panel_and_csv_export(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    csv_href = page.locator("[data-panel=bars] a.csv").get_attribute("href") or ""
    body = urllib.request.urlopen(f"{site.url}{csv_href}").read().decode()
    assert body.startswith("test.web.host1.requests,")
    page.locator("[data-panel=bars] a.full").click()
    page.wait_for_url(lambda url: "panel=bars" in url)
    page.wait_for_selector("#app[data-state=drawn]")
    expect(page.locator("article.panel")).to_have_count(1)
    assert page.locator("[data-panel=bars] .u-over").bounding_box()["width"] > 1000
    page.close()


def test_second_axis_and_legend_value_columns(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    panel = page.locator("[data-panel=twoaxes]")
    assert panel.get_attribute("data-axes") == "2"
    assert panel.get_attribute("data-series") == "2"
    table = panel.locator("table.legend-values")
    # the first value column is the value under the cursor, headed by its time
    assert table.locator("th").all_inner_texts() == ["", "", "current", "max"]
    rows = table.locator("tr")
    expect(rows).to_have_count(3)
    assert rows.nth(2).locator("td").first.inner_text() == "host2 on the right"
    assert rows.nth(2).locator("td[data-column=current]").inner_text().endswith(" ms")
    assert rows.nth(1).locator("td[data-column=max]").inner_text().endswith(" req/s")
    # one legend a panel: the table replaces uPlot's own
    assert panel.locator(".u-legend").count() == 0
    assert page.locator("[data-panel=lines]").get_attribute("data-axes") == "1"
    assert page.errors == []
    page.close()


def test_absolute_time_range(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    page.fill("#abs-from", "2020-01-01T10:00")
    page.fill("#abs-until", "2020-01-01T09:00")
    page.click("#abs-apply")
    assert "until=" not in page.url  # refused: until before from
    page.fill("#abs-until", "2020-01-01T12:00")
    page.click("#abs-apply")
    page.wait_for_selector("#app[data-state=drawn]", timeout=20_000 * UNIT)
    query = dict(p.split("=", 1) for p in page.url.split("?", 1)[1].split("&"))
    assert int(query["until"]) - int(query["from"]) == 2 * 3600
    assert page.locator("#abs-from").input_value() == "2020-01-01T10:00"
    assert page.locator("[data-panel=lines]").get_attribute("data-state") == "drawn"
    page.close()


def test_stacked_legend_shows_each_series_own_values(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    rows = page.locator("[data-panel=stacked] table.legend-values tr")
    expect(rows).to_have_count(3)
    # host1 cycles 0..49 and host2 5..34 (averaged to the panel's width): their own
    # maxima, where the stacked line of host2 would reach past 60
    host1 = float(rows.nth(1).locator("td[data-column=max]").inner_text())
    host2 = float(rows.nth(2).locator("td[data-column=max]").inner_text())
    assert 40 < host1 <= 49
    assert 25 < host2 <= 34
    page.close()


def test_variables_from_globs_and_tags_with_several_values(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/vars")
    glob, tagged = page.locator("[data-panel=glob]"), page.locator("[data-panel=tagged]")
    assert glob.get_attribute("data-series") == "2"  # all hosts
    assert tagged.get_attribute("data-series") == "3"  # all boxes
    page.wait_for_selector("#var-box[data-state=filled]")
    options = page.locator("#var-box option").all_inner_texts()
    assert options == ["all", "db1", "web1", "web2"]  # the tag's values, from /tags
    page.locator("#var-box").select_option(["web1", "web2"])
    page.wait_for_selector("#app[data-state=drawn]", timeout=20_000 * UNIT)
    assert "var-box=web1%2Cweb2" in page.url or "var-box=web1,web2" in page.url
    assert page.locator("[data-panel=tagged]").get_attribute("data-series") == "2"
    page.locator("#var-host").select_option(["host2"])
    page.wait_for_selector("#app[data-state=drawn]", timeout=20_000 * UNIT)
    assert page.locator("[data-panel=glob]").get_attribute("data-series") == "1"
    assert page.locator("[data-panel=tagged]").get_attribute("data-series") == "2"  # kept
    page.locator("#var-host").select_option(["host1", "host2"])
    page.wait_for_selector("#app[data-state=drawn]", timeout=20_000 * UNIT)
    assert page.locator("[data-panel=glob]").get_attribute("data-series") == "2"
    shared = browser.new_page()  # the view is in the URL
    shared.goto(page.url)
    shared.wait_for_selector("#app[data-state=drawn]", timeout=20_000 * UNIT)
    assert shared.locator("[data-panel=tagged]").get_attribute("data-series") == "2"
    assert shared.locator("#var-host option:checked").all_inner_texts() == ["host1", "host2"]
    assert page.errors == []
    shared.close()
    page.close()
