"""Each ``[render]`` limit refuses a request that asks for more, with a 400 naming the
setting, and lets through a request that stays within it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest

from monitor.render.api import Answer, Backend, Params, answer
from monitor.render.limits import RenderSettings
from monitor.store.finder import StoreFinder
from monitor.store.whisper_store import WhisperStore

NOW = int(time.time()) // 60 * 60


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WhisperStore]:
    store = WhisperStore(tmp_path)
    store.start()
    store.add((f"servers.web{i}.cpu", float(i), NOW - 60) for i in range(5))
    yield store
    store.stop()


def ask(store: WhisperStore, kind: str, query: dict[str, str], **limits: int) -> Answer:
    backend = Backend(StoreFinder(store), None, UTC, RenderSettings(**limits))
    pairs = list(query.items())
    return answer(kind, Params([*pairs, ("now", str(NOW))]), backend)


def refused(result: Answer, setting: str) -> str:
    assert result.status == 400, result
    message: str = json.loads(result.body)["error"]
    assert f"render.{setting}" in message
    return message


def test_series_per_request(store: WhisperStore) -> None:
    query = {"target": "servers.*.cpu", "from": "-10min"}
    message = refused(ask(store, "render", query, max_series=4), "max_series")
    assert message.startswith("this request reads too many series (more than 4")
    assert ask(store, "render", query, max_series=5).status == 200
    # two targets count together
    both = {"target": "servers.web[0-2].cpu", "from": "-10min"}
    pairs = [*both.items(), ("target", "servers.web[3-4].cpu")]
    backend = Backend(StoreFinder(store), None, UTC, RenderSettings(max_series=4))
    result = answer("render", Params([*pairs, ("now", str(NOW))]), backend)
    refused(result, "max_series")


def test_points_per_request_before_consolidation(store: WhisperStore) -> None:
    # 5 series x 60 points of 10 s in the last ten minutes
    query = {"target": "servers.*.cpu", "from": "-10min", "maxDataPoints": "1"}
    refused(ask(store, "render", query, max_points=299), "max_points")
    assert ask(store, "render", query, max_points=300).status == 200


@pytest.mark.parametrize(
    "target",
    [
        "sinFunction('x', 1, 1)",  # a point a second for ten years: 315 million
        "summarize(servers.web1.cpu, '1s')",  # a bucket a second
        "hitcount(servers.web1.cpu, '1s')",
        "smartSummarize(servers.web1.cpu, '1s')",
    ],
)
def test_points_made_by_functions_count_before_they_are_made(
    store: WhisperStore, target: str
) -> None:
    result = ask(store, "render", {"target": target, "from": "-10y"}, max_points=1_000_000)
    refused(result, "max_points")


def test_targets_and_their_length(store: WhisperStore) -> None:
    backend = Backend(StoreFinder(store), None, UTC, RenderSettings(max_targets=2))
    three = Params([("target", "servers.web1.cpu")] * 3)
    refused(answer("render", three, backend), "max_targets")
    long = {"target": "sumSeries(" + "servers.web1.cpu," * 100 + "servers.web1.cpu)"}
    refused(ask(store, "render", long, max_target_length=1000), "max_target_length")
    exprs = Params([("expr", "name=cpu")] * 3)
    refused(answer("find_series", exprs, backend), "max_targets")


def test_answer_size(store: WhisperStore) -> None:
    query = {"target": "servers.*.cpu", "from": "-1d", "format": "raw"}
    message = refused(ask(store, "render", query, max_output_bytes=4096), "max_output_bytes")
    assert "maxDataPoints" in message
    assert "more than 4,096 bytes" in message
    consolidated = {**query, "format": "json", "maxDataPoints": "10"}
    assert ask(store, "render", consolidated, max_output_bytes=4096).status == 200


def test_find_counts_what_it_finds(store: WhisperStore) -> None:
    refused(ask(store, "find", {"query": "servers.*.cpu"}, max_series=3), "max_series")
    refused(ask(store, "expand", {"query": "servers.*.cpu"}, max_series=3), "max_series")
    found = ask(store, "find", {"query": "servers.*.cpu", "format": "json"}, max_series=5)
    assert len(json.loads(found.body)) == 5


def test_nodelist_position_out_of_range_is_not_an_error(store: WhisperStore) -> None:
    result = ask(store, "find", {"query": "servers.*", "format": "nodelist", "position": "5"})
    assert (result.status, json.loads(result.body)) == (200, {"nodes": []})
    result = ask(store, "find", {"query": "servers.*", "format": "nodelist", "position": "x"})
    assert result.status == 400
