"""Bad input to the Graphite API is a 400 that says what is wrong, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.config import load_config
from monitor.render.grammar import MAX_DEPTH
from monitor.up import Running, start

PORTS = {"http.port": "0", "statsd.port": "0", "statsd.mgmt_port": "0", "carbon.port": "0"}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start(load_config(overrides={**PORTS, "data_dir": str(tmp_path)}))
    running.store.add([("a.b", 1.0, 1_800_000_000)])
    yield running
    await running.stop()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("maxDataPoints=0", "maxDataPoints must be a whole number of 1 or more, not '0'"),
        ("maxDataPoints=-3", "maxDataPoints must be a whole number of 1 or more, not '-3'"),
        ("maxDataPoints=abc", "maxDataPoints must be a whole number of 1 or more"),
        ("from=-100000y", "time '-100000y' is out of range"),
        ("until=99999999999999", "out of range"),
    ],
)
async def test_bad_render_parameters_are_400(stack: Running, query: str, message: str) -> None:
    url = f"{stack.url}render?target=a.b&format=json&{query}"
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        assert answer.status == 400
        assert message in (await answer.json())["error"]


async def test_deep_nesting_is_400_at_its_position(stack: Running) -> None:
    deep = "sumSeries(" * 1000 + "a.b" + ")" * 1000
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{stack.url}render", data={"target": deep}) as answer,
    ):
        assert answer.status == 400
        body = await answer.json()
    assert f"calls nested deeper than {MAX_DEPTH}" in body["error"]
    assert body["position"] == MAX_DEPTH * len("sumSeries(")


@pytest.mark.parametrize("when", ["NaN", "Infinity", "-Infinity", "1e300", "-5", '"soon"'])
async def test_an_event_time_that_is_no_time_is_400(stack: Running, when: str) -> None:
    body = '{"what": "deploy", "tags": ["deploy"], "when": ' + when + "}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{stack.url}events/", data=body) as answer,
    ):
        assert answer.status == 400
        assert '"when" must be a number of seconds' in (await answer.json())["error"]
