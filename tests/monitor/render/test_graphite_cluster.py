"""Our store nodes in a real Graphite cluster: a graphite-web 1.1.10 front end with
``CLUSTER_SERVERS`` pointing at our ``monitor up`` and no data of its own answers find,
expand and render exactly as a graphite-web reading the files itself does (it asks us
with ``local=1&format=pickle``, or ``msgpack``, and merges). Before, it got ``400
Invalid value for 'format': pickle`` and showed empty graphs."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgpack
import pytest

from tests.graphite_web import Servers, get, graphite_front_end, same_render

TARGETS = [
    "web.*.requests",
    "sumSeries(web.*.latency)",
    "aliasByNode(web.host1.*,1)",
    "nonNegativeDerivative(app.checkout.total)",
    "drawAsInfinite(deploys.web.production)",
]


@pytest.fixture(scope="module", params=["pickle", "msgpack"])
def front_end(
    request: pytest.FixtureRequest, graphite_pair: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    member = urlsplit(graphite_pair.ours).netloc
    if request.param == "msgpack":
        member += "?format=msgpack"
    with graphite_front_end(tmp_path_factory.mktemp("front"), [member]) as url:
        yield url


@pytest.mark.timeout(120)
@pytest.mark.parametrize("target", TARGETS)
def test_a_graphite_web_front_end_renders_our_data_as_graphite_web_reads_it(
    front_end: str, graphite_pair: Servers, target: str
) -> None:
    status, answer = graphite_pair.render(front_end, target=target)
    assert status == 200, answer
    assert answer, "the front end found nothing on its member"
    status, direct = graphite_pair.render(graphite_pair.graphite, target=target)
    assert status == 200, direct
    same_render(direct, answer)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("query", ["*", "web.*", "web.host1.*", "web.*.requests", "nothing.*"])
def test_a_graphite_web_front_end_finds_what_graphite_web_finds(
    front_end: str, graphite_pair: Servers, query: str
) -> None:
    def find(base: str, fmt: str) -> object:
        status, body = get(f"{base}/metrics/find/?{urlencode({'query': query, 'format': fmt})}")
        assert status == 200, body
        found = json.loads(body)
        # graphite-web reading the files lists the tag database's hashed directory as a
        # branch; we never show it (tagged series are found with seriesByTag)
        # (nodes of the same name come in no defined order: graphite-web sorts by name)
        if isinstance(found, dict):
            metrics = [m for m in found["metrics"] if m.get("name") != "_tagged"]
            return sorted(metrics, key=lambda m: (m["name"], m.get("path", "")))
        return [node for node in found if node.get("text") != "_tagged"]

    for fmt in ("treejson", "completer"):
        assert find(front_end, fmt) == find(graphite_pair.graphite, fmt)
    status, body = get(f"{front_end}/metrics/expand/?{urlencode({'query': query})}")
    assert status == 200, body
    _, direct = get(f"{graphite_pair.graphite}/metrics/expand/?{urlencode({'query': query})}")
    expected = [name for name in json.loads(direct)["results"] if name != "_tagged"]
    assert json.loads(body)["results"] == expected


@pytest.mark.parametrize("fmt", ["pickle", "msgpack"])
def test_members_answer_in_graphite_webs_own_wire_format(graphite_pair: Servers, fmt: str) -> None:
    """What a RemoteFinder and RemoteReader read, field by field, from us and from
    graphite-web itself (read back here with the standard readers: only plain types)."""

    def ask(base: str, path: str, params: dict[str, object]) -> Any:
        # graphite-web's own pickle holds its IntervalSet class: read its msgpack instead
        wire = fmt if base == graphite_pair.ours else "msgpack"
        status, body = get(f"{base}{path}?{urlencode({**params, 'local': '1', 'format': wire})}")
        assert status == 200, body
        return msgpack.unpackb(body) if wire == "msgpack" else pickle.loads(body)

    theirs, ours = (
        ask(base, "/metrics/find/", {"query": "web.host1.*"})
        for base in (graphite_pair.graphite, graphite_pair.ours)
    )
    assert [(n["path"], n["is_leaf"]) for n in ours] == [(n["path"], n["is_leaf"]) for n in theirs]
    assert all(len(n["intervals"]) == 1 for n in ours)
    render = {"target": "web.host1.requests", "noCache": "1", "from": graphite_pair.t0,
              "until": graphite_pair.t1}  # fmt: skip
    theirs_s, ours_s = (
        ask(base, "/render/", render) for base in (graphite_pair.graphite, graphite_pair.ours)
    )
    keys = ("name", "start", "end", "step", "values", "pathExpression")
    assert [{k: s[k] for k in keys} for s in ours_s] == [{k: s[k] for k in keys} for s in theirs_s]
