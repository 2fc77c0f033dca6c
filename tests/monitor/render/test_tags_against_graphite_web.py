"""Tagged series against the real graphite-web 1.1.10: ``seriesByTag`` and the tag
functions in ``/render``, and the ``/tags`` API, over the same whisper files (graphite-web
finds them through its tag database, which the fixture fills as carbon would)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from tests.graphite_web import TAGGED, Servers, get, post_form


@pytest.fixture
def both(graphite_pair: Servers) -> Servers:
    return graphite_pair


TARGETS = [
    "seriesByTag('name=disk.used')",
    "seriesByTag('name=disk.used','dc=east')",
    'seriesByTag("host=~web")',
    "seriesByTag('name=~disk|cpu','dc!=east')",
    "seriesByTag('name=cpu','dc=')",
    "seriesByTag('name=disk.used','host!=~web.*')",
    "seriesByTag('rack=r1')",
    "seriesByTag('name=nothing')",
    "sumSeries(seriesByTag('name=disk.used'))",
    "seriesByTag('name=disk.used')|aliasByTags('host','dc')",
    "aliasByTags(seriesByTag('name=cpu'),'name','host')",
    "groupByTags(seriesByTag('name=disk.used'),'sum','dc')",
    "groupByTags(seriesByTag('name=~disk.used|cpu'),'max','name')",
    "groupByTags(seriesByTag('host=~web'),'average','host')",
    "cpu;host=web1",
    "scale(disk.used;dc=east;host=web1,2)",
]


@pytest.mark.parametrize("target", TARGETS)
def test_render_matches_graphite_web(both: Servers, target: str) -> None:
    both.compare(target=target)


def _both(both: Servers, path: str, **params: Any) -> tuple[Any, Any]:
    query = urllib.parse.urlencode(params, doseq=True)
    status_g, real = get(f"{both.graphite}{path}?{query}")
    status_o, mine = get(f"{both.ours}{path}?{query}")
    assert (status_o, status_g) == (200, 200), (mine, real)
    return json.loads(mine), json.loads(real)


@pytest.mark.parametrize(
    "exprs",
    [["name=disk.used"], ["dc=east"], ["host=~web", "name!=cpu"], ["name=~.+", "rack!="]],
)
def test_find_series_matches(both: Servers, exprs: list[str]) -> None:
    mine, real = _both(both, "/tags/findSeries", expr=exprs)
    assert mine == real


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/tags/autoComplete/tags", {}),
        ("/tags/autoComplete/tags", {"tagPrefix": "h"}),
        ("/tags/autoComplete/tags", {"expr": ["name=cpu"]}),
        ("/tags/autoComplete/values", {"tag": "host"}),
        ("/tags/autoComplete/values", {"tag": "host", "valuePrefix": "web"}),
        ("/tags/autoComplete/values", {"tag": "host", "expr": ["dc=east"]}),
        ("/tags/autoComplete/values", {"tag": "name", "limit": "1"}),
    ],
)
def test_auto_complete_matches(both: Servers, path: str, params: dict[str, Any]) -> None:
    mine, real = _both(both, path, **params)
    assert mine == real


def test_tag_list_and_details_match(both: Servers) -> None:
    """graphite-web adds its database's row ids; everything else is the same."""
    mine, real = _both(both, "/tags")
    assert mine == [{"tag": t["tag"]} for t in real]
    mine, real = _both(both, "/tags", filter="h|r")
    assert mine == [{"tag": t["tag"]} for t in real]
    for tag in ("host", "name", "dc"):
        mine, real = _both(both, f"/tags/{tag}")
        assert mine == {
            "tag": real["tag"],
            "values": [{"value": v["value"], "count": v["count"]} for v in real["values"]],
        }
    mine, real = _both(both, "/tags/host", filter="web")
    assert [v["value"] for v in mine["values"]] == [v["value"] for v in real["values"]]


def test_tag_series_answers_canonical_names(both: Servers) -> None:
    fields = [("path", "cpu;rack=r2;host=web9"), ("path", TAGGED[2])]
    assert post_form(f"{both.ours}/tags/tagMultiSeries", fields) == (
        200,
        ["cpu;host=web9;rack=r2", "disk.used;dc=west;host=db1"],
    )
    assert post_form(f"{both.ours}/tags/tagSeries", fields[:1]) == (200, "cpu;host=web9;rack=r2")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("seriesByTag('dc!=east')", "at least one tag expression must need a value"),
        ("seriesByTag('host')", "invalid tag expression 'host'"),
        ("seriesByTag('host=~(web')", "invalid regular expression in host=~(web"),
        ("seriesByTag('host=~x{5000000}')", "host=~x{5000000}: pattern 'x{5000000}' is too big"),
        ("seriesByTag(web.*.requests)", "seriesByTag()"),
    ],
)
def test_bad_tag_expressions_are_400_with_a_reason(
    both: Servers, target: str, message: str
) -> None:
    status, answer = both.render(both.ours, target=target)
    assert status == 400
    assert message in answer["error"]


def test_tags_api_errors(both: Servers) -> None:
    status, body = get(f"{both.ours}/tags/findSeries")
    assert status == 400
    assert b"no tag expressions" in body
    status, body = get(f"{both.ours}/tags/autoComplete/values")
    assert status == 400
    assert b"no tag specified" in body
    status, answer = post_form(f"{both.ours}/tags/tagSeries", [("path", "cpu;host")])
    assert status == 400
    assert "is not tag=value" in answer
    status, answer = post_form(f"{both.ours}/tags/delSeries", [("path", TAGGED[0])])
    assert status == 501
    assert "not supported" in answer
