"""The dashboards UI in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
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


NUMBERS = {
    "title": "Numbers",
    "time": {"from": "-2h"},
    "deploys": [{"name": "metric", "color": "#1f78c1", "metric": "deploys.api.production"},
                {"name": "web", "color": "#e24d42", "events": ["deploy", "web"]}],
    "rows": [{"panels": [
        {"id": "stack", "title": "stacked", "kind": "stacked", "targets": ["test.web.*.requests"]},
        {"id": "stack-table", "title": "stacked, table legend", "kind": "stacked",
         "targets": ["test.web.*.requests"],
         "legend": {"values": ["current", "min", "max", "avg"]}},
        {"id": "plain", "title": "lines", "targets": ["test.web.*.requests"]},
        {"id": "compare", "title": "compare", "compare": "1h",
         "targets": [{"target": "test.web.host1.requests", "alias": "host1"}]},
        {"id": "table", "title": "table", "kind": "table",
         "targets": ["test.web.*.requests", "test.old.requests"]},
        {"id": "single", "title": "single", "kind": "single",
         "targets": ["test.web.host1.requests"]},
        {"id": "hour", "title": "in the last hour", "kind": "single", "time": {"from": "-1h"},
         "targets": ["summarize(test.web.host1.requests,'1h','sum',true)"]},
        {"id": "inf", "title": "drawAsInfinite", "deploys": False,
         "targets": ["drawAsInfinite(deploys.api.production)"]},
        {"id": "perday", "title": "per day", "kind": "bars",
         "targets": ["summarize(deploys.api.production,'1d','sum')"]},
        {"id": "zero", "title": "all zero", "targets": ["test.zero"]},
        {"id": "weekago", "title": "compare with a coarser archive", "compare": "7d",
         "targets": [{"target": "test.week.requests", "alias": "week"}]},
    ]}],
}  # fmt: skip


@dataclass
class Site:
    url: str
    boards: Path
    events: list[int]
    metric_deploys: list[int]
    data: Path
    long_ago: int


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
    # three days back: a deploy (metric and event) that a 7-day view must still show,
    # and a series with no point in the last two hours
    long_ago = now - 3 * 86400
    points += [("deploys.api.production", 1.0, long_ago), ("test.old.requests", 5.0, long_ago)]
    points += [("test.zero", 0.0, ts) for ts in range(now - 7200, now, 10)]
    # now at 10 s, a week ago at 10 min (the week-old points live in the coarse archive)
    points += [("test.week.requests", 5.0, ts) for ts in range(now - 7200, now, 10)]
    week = now - 7 * 86400
    points += [("test.week.requests", float(i), ts)
               for i, ts in enumerate(range(week - 7200 - week % 600, week, 600))]  # fmt: skip
    store.add(points)
    store.stop()
    boards = data / "dashboards"
    boards.mkdir()
    (boards / "test.json").write_text(json.dumps(DASHBOARD))
    (boards / "vars.json").write_text(json.dumps(VARIABLES))
    (boards / "numbers.json").write_text(json.dumps(NUMBERS))
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
    for when in [*events, long_ago]:
        details = {"who": "alice", "sha": "abc123", "url": "javascript:alert(1)"}
        event = {"what": "deploy web", "tags": ["deploy", "web"], "when": when,
                 "data": json.dumps(details)}  # fmt: skip
        assert post_json(f"{url}/events/", event) == 200
    yield Site(url, boards, events, metric_deploys, data, long_ago)
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
    assert page.locator("#dashboards li").count() == 3
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


# -- the numbers a person reads, against the render API for the same range ----------


def _api(site: Site, target: str, query: str) -> list[dict[str, Any]]:
    url = f"{site.url}/render?format=json&{query}&target={urllib.parse.quote(target)}"
    answer: list[dict[str, Any]] = json.loads(urllib.request.urlopen(url).read())
    return answer


def _number(text: str) -> tuple[float, float]:
    """A number as shown ("1,234.5 req/s") and half its last shown digit (its rounding)."""
    match = re.search(r"-?[\d,]+(\.\d+)?", text)
    assert match, text
    digits = match[0].replace(",", "")
    places = len(match[1]) - 1 if match[1] else 0
    return float(digits), 0.5 * 10**-places + 1e-9


def _reads(text: str, value: float | None) -> bool:
    if value is None:
        return text == "\u2013"  # the dash shown for no value
    shown, rounding = _number(text)
    return abs(shown - value) <= rounding


def _values(api: list[dict[str, Any]], name: str) -> list[float]:
    """The known values of the series ``name`` in a render answer."""
    series = next(s for s in api if s["target"] == name)
    return [v for v, _ in series["datapoints"] if v is not None]


def _window(site: Site) -> tuple[int, int]:
    """A fixed range (the page and the API then consolidate the same points)."""
    now = int(time.time())
    return now - 5400, now - 600


def test_hover_legend_table_and_single_stat_read_the_api_numbers(site: Site, browser: Any) -> None:
    start, end = _window(site)
    page = _open(browser, f"{site.url}/dashboards/numbers?from={start}&until={end}")
    stack = page.locator("[data-panel=stack]")
    over = stack.locator(".u-over").bounding_box()
    page.mouse.move(over["x"] + over["width"] * 0.63, over["y"] + over["height"] / 2)
    expect(stack).not_to_have_attribute("data-cursor", "")
    for key in ("stack", "plain", "stack-table"):  # the cursor is synced across panels
        panel = page.locator(f"[data-panel={key}]")
        ts = int(panel.get_attribute("data-cursor") or 0)
        points = panel.get_attribute("data-points")
        api = _api(site, "test.web.*.requests", f"from={start}&until={end}&maxDataPoints={points}")
        at_cursor = {s["target"]: {t: v for v, t in s["datapoints"]}[ts] for s in api}
        assert len(at_cursor) == 2
        assert None not in at_cursor.values()
        if key == "stack-table":
            shown = {
                row.locator("td").first.inner_text(): row.locator("td.at-cursor").inner_text()
                for row in panel.locator("table.legend-values tr").all()[1:]
            }
        else:
            rows = panel.locator(".u-legend tr.u-series").all()[1:]  # the first is the time
            shown = {r.locator("th").inner_text().strip(): r.locator("td").inner_text()
                     for r in rows}  # fmt: skip
        # each series' own value under the cursor, on the stacked panels too (never the
        # running total the stack is drawn at)
        assert shown.keys() == at_cursor.keys(), (key, shown)
        for name, value in at_cursor.items():
            assert _reads(shown[name], value), (key, name, shown[name], value)
        if key == "stack-table":  # and the table's columns over the range
            for row in panel.locator("table.legend-values tr").all()[1:]:
                name = row.locator("td").first.inner_text()
                values = _values(api, name)
                expected = {"current": values[-1], "min": min(values), "max": max(values),
                            "avg": sum(values) / len(values)}  # fmt: skip
                for column, value in expected.items():
                    text = row.locator(f"td[data-column={column}]").inner_text()
                    assert _reads(text, value), (name, column, text, value)
    # the time under the cursor is written as everywhere else, with its zone
    time_text = stack.locator(".u-legend tr.u-series").first.locator("td").inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", time_text), time_text
    assert page.locator(".zone").inner_text().startswith("times in ")

    table = page.locator("[data-panel=table]")
    points = table.get_attribute("data-points")
    api = _api(site, "test.web.*.requests", f"from={start}&until={end}&maxDataPoints={points}")
    rows = table.locator("tr").all()[1:]
    assert len(rows) == 2  # test.old.requests has no point in the range: no row of dashes
    for row in rows:
        cells = row.locator("td").all_inner_texts()
        values = _values(api, cells[0])
        for text, value in zip(cells[1:], [values[-1], min(values), max(values),
                                           sum(values) / len(values)], strict=True):  # fmt: skip
            assert _reads(text, value), (cells, value)

    # off the plot, the hover legend shows each series' latest value
    page.mouse.move(1, 1)
    expect(stack).to_have_attribute("data-cursor", "")
    points = stack.get_attribute("data-points")
    api = _api(site, "test.web.*.requests", f"from={start}&until={end}&maxDataPoints={points}")
    rows = stack.locator(".u-legend tr.u-series").all()
    assert rows[0].locator("td").inner_text() == "latest"
    for row in rows[1:]:
        name = row.locator("th").inner_text().strip()
        assert _reads(row.locator("td").inner_text(), _values(api, name)[-1]), name

    # a single stat is the latest value as stored, not an average of the last pixels
    single = page.locator("[data-panel=single]")
    api = _api(site, "test.web.host1.requests", f"from={start}&until={end}")
    last = _values(api, "test.web.host1.requests")[-1]
    assert _reads(single.locator(".single-value").inner_text(), last)
    # a panel with its own range says so, and a whole count shows without decimals
    hour = page.locator("[data-panel=hour]")
    assert hour.locator(".own-range").inner_text() == "last 1h"
    hour_text = hour.locator(".single-value").inner_text()
    assert re.fullmatch(r"[\d,]+", hour_text), hour_text
    api = _api(site, "summarize(test.web.host1.requests,'1h','sum',true)", "from=-1h")
    assert abs(_number(hour_text)[0] - api[0]["datapoints"][-1][0]) <= 49 * 2  # a slot or two
    # a compare series is named short
    labels = page.locator("[data-panel=compare] .u-legend tr.u-series th").all_inner_texts()
    assert [label.strip() for label in labels[1:]] == ["host1", "host1 1h ago"]
    assert page.errors == []
    page.close()


def test_draw_as_infinite_bars_and_axes(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/numbers")
    inf = page.locator("[data-panel=inf]")
    marks = inf.locator(".deploy-mark")
    expect(marks).to_have_count(2)
    stamps = sorted(int(marks.nth(i).get_attribute("data-ts") or 0) for i in range(2))
    for stamp, deploy in zip(stamps, site.metric_deploys, strict=True):
        assert abs(stamp - deploy) <= 60  # the consolidated slot that holds it
    height = marks.first.bounding_box()["height"]
    assert height >= inf.locator(".u-over").bounding_box()["height"] - 2  # full height
    # an all-zero series still gets a y axis with ticks
    assert page.locator("[data-panel=zero]").get_attribute("data-yticks")
    page.close()
    # a day's bars at a one-hour range: the axis is that hour, the ticks whole numbers
    page = _open(browser, f"{site.url}/dashboards/numbers?from=-1h")
    bars = page.locator("[data-panel=perday]")
    low, high = (float(x) for x in (bars.get_attribute("data-xrange") or "").split(","))
    now = time.time()
    assert now - 3600 - 60 <= low <= now - 3600 + 60
    assert now - 60 <= high <= now + 60
    ticks = (bars.get_attribute("data-yticks") or "").split("|")
    assert ticks
    assert all(re.fullmatch(r"\d+", t) for t in ticks), ticks
    assert len(set(ticks)) == len(ticks), ticks
    page.close()


def test_a_deploy_three_days_back_shows_in_a_seven_day_view(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/numbers?from=-7d")
    marks = page.locator("[data-panel=plain] .deploy-mark")
    by_source: dict[str, list[int]] = {}
    for i in range(marks.count()):
        mark = marks.nth(i)
        by_source.setdefault(mark.get_attribute("data-source") or "", []).append(
            int(mark.get_attribute("data-ts") or 0)
        )
    # the event, exactly; the metric, in the consolidated slot that holds it (it must
    # survive the roll-up into the 1-minute archive that a 7-day range reads)
    assert site.long_ago in by_source["web"]
    assert any(abs(ts - site.long_ago) <= 1800 for ts in by_source["metric"])
    inf = page.locator("[data-panel=inf] .deploy-mark")
    assert inf.count() >= 2
    page.close()


def test_a_file_broken_while_open_keeps_its_last_version_with_a_banner(
    site: Site, browser: Any
) -> None:
    page = _open(browser, f"{site.url}/dashboards/test")
    path = site.boards / "test.json"
    good = path.read_text()
    try:
        path.write_text('{"title": "Browser test",\n  "rows": [')
        banner = page.locator("#problems")
        expect(banner).to_be_visible(timeout=15_000 * UNIT)
        assert f"{path}:2:12: not valid JSON" in banner.inner_text()
        # the last good version stays drawn
        assert page.locator("[data-panel=lines]").get_attribute("data-series") == "2"
        index = browser.new_page()
        index.goto(f"{site.url}/dashboards")
        assert "Browser test" in index.locator("#dashboards").inner_text()  # still listed
        assert f"{path}:2:12: not valid JSON" in index.locator("#problems").inner_text()
        index.close()
        log = (site.data / "monitor.log").read_text()
        assert f"dashboard {path}:2:12: not valid JSON" in log
        # a bad target in a parsing file: the same, the error named with its position
        broken = json.loads(good)
        broken["rows"][0]["panels"][1]["targets"] = ["sumSeris(test.web.*.requests)"]
        path.write_text(json.dumps(broken, indent=1))
        expect(banner).to_contain_text("unknown function 'sumSeris'", timeout=15_000 * UNIT)
    finally:
        path.write_text(good)
    expect(page.locator("#problems")).to_be_hidden(timeout=15_000 * UNIT)
    page.close()


def test_a_second_file_with_a_taken_id_is_refused_visibly(site: Site, browser: Any) -> None:
    impostor = site.boards / "zz-copy.json"
    copy = json.loads(json.dumps(NUMBERS))
    copy.update(id="test", title="Impostor")
    impostor.write_text(json.dumps(copy))
    try:
        page = browser.new_page()
        page.goto(f"{site.url}/dashboards")
        problems = page.locator("#problems").inner_text()
        where = re.escape(f"{impostor}:1:") + r"\d+: id: dashboard id 'test' is already used by"
        assert re.search(where, problems), problems
        assert str(site.boards / "test.json") in problems
        assert "Impostor" not in page.locator("#dashboards").inner_text()
        page.close()
        spec = json.loads(urllib.request.urlopen(f"{site.url}/api/dashboards/test").read())
        assert spec["spec"]["title"] == "Browser test"
    finally:
        impostor.unlink()


def test_a_compare_overlay_from_a_coarser_archive_is_drawn(site: Site, browser: Any) -> None:
    page = _open(browser, f"{site.url}/dashboards/numbers")
    panel = page.locator("[data-panel=weekago]")
    panel.scroll_into_view_if_needed()
    api = _api(site, "timeShift(test.week.requests,'7d')", "from=-2h")
    points = api[0]["datapoints"]
    for share in (0.3, 0.55, 0.8):  # anywhere, not only where the timestamps coincide
        over = panel.locator(".u-over").bounding_box()
        page.mouse.move(over["x"] + over["width"] * share, over["y"] + over["height"] / 2)
        expect(panel).not_to_have_attribute("data-cursor", "")
        ts = int(panel.get_attribute("data-cursor") or 0)
        held = [v for v, t in points if t <= ts][-1]  # the 10-minute point covering ts
        rows = panel.locator(".u-legend tr.u-series").all()[1:]
        shown = {r.locator("th").inner_text().strip(): r.locator("td").inner_text() for r in rows}
        assert shown["week"] == "5"
        assert _reads(shown["week 7d ago"], held), (share, shown, held)
    page.close()
