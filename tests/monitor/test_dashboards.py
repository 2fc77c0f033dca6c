"""Dashboard files: every example is valid, and each broken file gets its exact message."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.dashboards import (
    Library,
    check_file,
    check_text,
    dashboard_files,
    duplicate_ids,
    live_problems,
    load_dashboards,
)
from monitor.graphite import GraphiteClient as Client
from monitor.jsonpos import JsonSyntaxError, load
from tests.conftest import ROOT
from tests.graphite_web import Servers


def test_every_shipped_dashboard_is_valid() -> None:
    files = dashboard_files([ROOT / "dashboards"])
    assert len(files) >= 3
    for path in files:
        assert check_file(path) == [], path
    found, problems = load_dashboards(ROOT / "dashboards")
    assert problems == []
    assert {"statsd", "app-overview", "deploys"} <= set(found)


GOOD_PANEL = '{"title": "p", "targets": ["a.b"]}'


def board(panel: str = GOOD_PANEL, extra: str = "") -> str:
    return '{\n  "title": "t",' + extra + '\n  "rows": [{"panels": [\n    ' + panel + "\n  ]}]\n}"


BROKEN = [
    ('{"title": "t",', "f.json:1:15: not valid JSON: unexpected end of file"),
    ('{"title": "t" "rows": []}', "f.json:1:15: not valid JSON: expected ',' or '}'"),
    ('{"title": "t", "title": "u"}', "f.json:1:16: not valid JSON: duplicate key 'title'"),
    ('{"rows": [{"panels": [' + GOOD_PANEL + "]}]}", "f.json:1:1: missing required key 'title'"),
    (
        board(extra='\n  "titel": "x",'),
        "f.json:3:3: titel: unknown key 'titel' (did you mean 'title'?)",
    ),
    (
        board('{"title": "p", "targets": ["a.b"], "knd": "lines"}'),
        "f.json:4:40: rows[0].panels[0].knd: unknown key 'knd' (did you mean 'kind'?)",
    ),
    (
        board('{"title": "p", "targets": ["a.b"], "kind": "line"}'),
        "f.json:4:48: rows[0].panels[0].kind: expected one of 'lines', 'area', 'stacked',"
        " 'bars', 'single', 'table', got 'line' (did you mean 'lines'?)",
    ),
    (
        board('{"title": "p", "targets": ["a.b"], "width": "wide"}'),
        "f.json:4:49: rows[0].panels[0].width: expected an integer, got 'wide'",
    ),
    (
        board('{"title": "p", "targets": [{"target": "a.b", "color": "red"}]}'),
        "f.json:4:59: rows[0].panels[0].targets[0].color: expected a colour like '#1f77b4',"
        " got 'red'",
    ),
    (
        board('{"title": "p", "targets": ["sumSeris(a.*)"]}'),
        "f.json:4:33: rows[0].panels[0].targets[0]: unknown function 'sumSeris'"
        " (did you mean 'sumSeries'?)",
    ),
    (
        board('{"title": "p", "targets": ["sumSeries(a.*"]}'),
        "f.json:4:42: rows[0].panels[0].targets[0]: bad target: missing ')' to close sumSeries(",
    ),
    (
        board('{"title": "p", "targets": ["a.$hots.b"]}',
              '\n  "variables": [{"name": "host", "values": ["x"]}],'),
        "f.json:5:35: rows[0].panels[0].targets[0]: undefined variable $hots"
        " (did you mean 'host'?)",
    ),
    (
        board('{"title": "p", "targets": ["a.b"]}', '\n  "variables": [{"name": "v"}],'),
        "f.json:3:17: variables[0]: needs exactly one of 'values' or 'query' or 'tag'",
    ),
    (
        board('{"title": "p", "targets": ["a.b"]}',
              '\n  "variables": [{"name": "v", "tag": "host", "expr": ["name"]}],'),
        "f.json:3:55: variables[0].expr[0]: invalid tag expression 'name': use tag=value,"
        " tag!=value, tag=~regex or tag!=~regex",
    ),
    (
        board('{"title": "p", "targets": ["a"], "deploys": ["wbe"]}',
              '\n  "deploys": [{"name": "web", "events": ["deploy"]}],'),
        "f.json:5:50: rows[0].panels[0].deploys[0]: no deploy source named 'wbe'"
        " (did you mean 'web'?)",
    ),
    (
        board('{"id": "x", "title": "p", "targets": ["a"]},'
              ' {"id": "x", "title": "q", "targets": ["b"]}'),
        "f.json:4:57: rows[0].panels[1].id: panel id 'x' is also used by rows[0].panels[0]",
    ),
    (
        board(extra='\n  "refresh": "often",'),
        "f.json:3:14: refresh: 'often' does not match '^(off|[1-9][0-9]*(s|m|h))$'",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_files_get_exact_messages(text: str, message: str) -> None:
    spec, problems = check_text(text, "f.json")
    assert spec is None
    assert [str(p) for p in problems] == [message]


def test_positions_of_values_and_keys() -> None:
    value, positions = load('{\n  "a": [1, {"b": true}]\n}')
    assert value == {"a": [1, {"b": True}]}
    assert positions[("value", ("a", 1, "b"))] == (2, 18)
    assert positions[("key", ("a",))] == (2, 3)
    with pytest.raises(JsonSyntaxError, match="2:3: unexpected"):
        load("[\n  ?]")


def test_check_command_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(board())
    bad = tmp_path / "bad.json"
    bad.write_text(board('{"title": "p", "targets": ["sumSeris(a)"]}'))
    check = [sys.executable, "-m", "monitor.cli", "dashboards", "check"]
    ok = subprocess.run([*check, str(good)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout
    failed = subprocess.run([*check, str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert failed.returncode == 1
    assert f"{bad}:4:33: rows[0].panels[0].targets[0]: unknown function 'sumSeris'" in failed.stdout
    assert "checked 2 dashboard file(s): 1 problem(s)" in failed.stdout


def test_live_check_asks_graphite(tmp_path: Path, graphite_pair: Servers) -> None:
    path = tmp_path / "live.json"
    path.write_text(board('{"title": "p", "targets": ["web.*.requests", "no.such.metric"]}'))
    problems = live_problems(path, graphite_pair.ours)
    assert [str(p) for p in problems] == [
        f"{path}:4:50: rows[0].panels[0].targets[1]: 'no.such.metric' returns no series"
        f" from {graphite_pair.ours}"
    ]


def test_the_readme_example_dashboard_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Write a dashboard", 1)[1]
    example = section.split("```json", 1)[1].split("```", 1)[0]
    _, problems = check_text(example, "README.md")
    assert problems == []


STACKED_TOTALS = [
    ('["sumSeries(shop.requests.*)", "shop.requests.*"]', "sumSeries() adds series up"),
    ('["alias(sumSeries(a.*),\'all\')", "a.*"]', "sumSeries() adds series up"),
    ('["shop.requests.total", "shop.requests.{home,cart}"]', "its last node 'total' names a total"),
    ('["aggregate(a.*,\'sum\')", "a.b"]', "aggregate() adds series up"),
]


@pytest.mark.parametrize(("targets", "reason"), STACKED_TOTALS)
def test_a_stacked_total_is_warned_about_and_the_file_stays_usable(
    targets: str, reason: str
) -> None:
    spec, problems = check_text(
        board('{"title": "p", "kind": "stacked", "targets": ' + targets + "}"), "f.json"
    )
    assert spec is not None  # a warning leaves the dashboard usable
    assert len(problems) == 1
    assert problems[0].severity == "warning"
    assert str(problems[0]).startswith("f.json:4:")
    assert "rows[0].panels[0].targets[0]: warning: a stacked panel draws this total" in str(
        problems[0]
    )
    assert reason in problems[0].message


@pytest.mark.parametrize(
    "panel",
    [
        '{"title": "p", "kind": "stacked", "targets": ["shop.requests.*"]}',
        '{"title": "p", "kind": "stacked", "targets": ["aggregate(a.*,\'max\')", "b"]}',
        '{"title": "p", "kind": "lines", "targets": ["sumSeries(a.*)", "a.*"]}',
        '{"title": "p", "kind": "stacked", "targets": ["sumSeries(a.*)"]}',
    ],
)
def test_stacks_without_a_total_are_not_warned_about(panel: str) -> None:
    assert check_text(board(panel), "f.json")[1] == []


def test_a_total_returned_by_a_glob_is_warned_about_live(
    tmp_path: Path, graphite_pair: Servers
) -> None:
    path = tmp_path / "live.json"
    path.write_text(board('{"title": "p", "kind": "stacked", "targets": ["web.*.requests"]}'))
    assert live_problems(path, graphite_pair.ours) == []  # web.host1, web.host2: parts only
    # a glob whose answer holds a series named like a total (here renamed to one)
    renamed = "aliasSub(web.*.requests,'web.host1.requests','total')"
    path.write_text(board('{"title": "p", "kind": "stacked", "targets": ["' + renamed + '"]}'))
    assert "total" in [s.target for s in Client(graphite_pair.ours).render(renamed)]
    [problem] = live_problems(path, graphite_pair.ours)
    assert problem.severity == "warning"
    assert "returns 'total' beside the series it adds up" in problem.message


def test_duplicate_ids_across_files_name_both(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    first.write_text(board(extra='\n  "id": "shop",'))
    second = tmp_path / "b.json"
    second.write_text(board(extra='\n  "id": "shop",'))
    third = tmp_path / "shop.json"  # claims "shop" by its file name
    third.write_text(board())
    problems = [str(p) for p in duplicate_ids(dashboard_files([tmp_path]))]
    assert problems == [
        f"{second}:3:9: id: dashboard id 'shop' is already used by {first}: give one of"
        " them another 'id' (this file is not served meanwhile)",
        f"{third}:1:1: id: dashboard id 'shop' is already used by {first}: give one of"
        " them another 'id' (this file is not served meanwhile)",
    ]
    check = [sys.executable, "-m", "monitor.cli", "dashboards", "check", str(tmp_path)]
    run = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert f"is already used by {first}" in run.stdout


def test_the_library_keeps_a_broken_file_s_last_good_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shop.json"
    path.write_text(board())
    library = Library(tmp_path)
    library.refresh()
    good = library.dashboards()["shop"]
    assert library.problems() == []
    path.write_text(board('{"title": "p", "targets": ["sumSeris(a)"]}'))
    os.utime(path, ns=(good.version + 10**9, good.version + 10**9))
    with caplog.at_level(logging.WARNING, logger="monitor.dashboards"):
        library.refresh()
        library.refresh()  # nothing changed since: logged once
    assert library.dashboards()["shop"].spec == good.spec  # still served
    problems = [str(p) for p in library.problems(path)]
    assert problems == [
        f"{path}:4:33: rows[0].panels[0].targets[0]: unknown function 'sumSeris'"
        " (did you mean 'sumSeries'?)"
    ]
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count(f"dashboard {problems[0]}") == 1
    assert any("serving its last good version" in line for line in logged)
    path.write_text("{ not json")  # a syntax error: the same
    os.utime(path, ns=(good.version + 2 * 10**9, good.version + 2 * 10**9))
    library.refresh()
    assert library.dashboards()["shop"].spec == good.spec
    assert "not valid JSON" in str(library.problems(path)[0])
    path.write_text(board(extra='\n  "description": "fixed",'))
    os.utime(path, ns=(good.version + 3 * 10**9, good.version + 3 * 10**9))
    library.refresh()
    assert library.dashboards()["shop"].spec["description"] == "fixed"
    assert library.dashboards()["shop"].version != good.version
    assert library.problems() == []
    path.unlink()
    library.refresh()
    assert library.dashboards() == {}


def test_the_library_gives_a_taken_id_to_the_file_it_knew_first(tmp_path: Path) -> None:
    (tmp_path / "z.json").write_text(board(extra='\n  "id": "shop",'))
    library = Library(tmp_path)
    library.refresh()
    (tmp_path / "a.json").write_text(board(extra='\n  "id": "shop",\n  "description": "copy",'))
    library.refresh()
    assert library.dashboards()["shop"].path == tmp_path / "z.json"  # the older one keeps it
    [problem] = library.problems()
    assert problem.file == str(tmp_path / "a.json")
    assert f"is already used by {tmp_path / 'z.json'}" in problem.message
