"""Proxy mode in front of a real graphite-web, and the write token."""

from __future__ import annotations

import json
import socket
import urllib.parse
from pathlib import Path

import aiohttp
import pytest

from monitor.config import load_config
from monitor.up import StartupError, start
from tests.graphite_web import Servers, get
from tests.node_statsd import free_port

PORTS = {"http.port": "0", "statsd.port": "0", "statsd.mgmt_port": "0", "carbon.port": "0"}


async def test_proxy_forwards_to_graphite_web(tmp_path: Path, graphite_pair: Servers) -> None:
    config = load_config(
        overrides={**PORTS, "data_dir": str(tmp_path), "graphite.upstream": graphite_pair.graphite}
    )
    running = await start(config)
    try:
        query = urllib.parse.urlencode(
            {"target": "sumSeries(web.*.requests)", "format": "json",
             "from": graphite_pair.t0, "until": graphite_pair.t1}
        )  # fmt: skip
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}render?{query}") as answer:
                proxied = await answer.json()
            async with http.get(f"{running.url}metrics/find?query=web.*") as answer:
                found = await answer.json()
            async with http.get(f"{running.url}tags/findSeries?expr=name=cpu") as answer:
                tagged = await answer.json()
        assert proxied == json.loads(get(f"{graphite_pair.graphite}/render?{query}")[1])
        assert [node["id"] for node in found] == ["web.host1", "web.host2", "web.host3"]
        assert tagged == ["cpu;dc=east;host=web2;rack=r1", "cpu;host=web1"]  # from upstream
    finally:
        await running.stop()


async def test_unreachable_upstream_is_a_502_naming_it(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    config = load_config(overrides={**PORTS, "data_dir": str(tmp_path), "graphite.upstream": dead})
    running = await start(config)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{running.url}render?target=a") as r:
            assert r.status == 502
            assert dead in (await r.json())["error"]
    finally:
        await running.stop()


async def test_non_loopback_needs_a_token(tmp_path: Path) -> None:
    config = load_config(overrides={**PORTS, "data_dir": str(tmp_path), "http.host": "0.0.0.0"})
    with pytest.raises(StartupError, match=r"set http\.token"):
        await start(config)


async def test_writes_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    config = load_config(overrides={**PORTS, "data_dir": str(tmp_path), "http.token": "s3cret"})
    running = await start(config)
    event = {"what": "deploy", "tags": ["deploy"]}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{running.url}events/", json=event) as answer:
                assert answer.status == 401
            headers = {"Authorization": "Bearer wrong"}
            async with http.post(f"{running.url}events/", json=event, headers=headers) as answer:
                assert answer.status == 401
            headers = {"Authorization": "Bearer s3cret"}
            async with http.post(f"{running.url}events/", json=event, headers=headers) as answer:
                assert answer.status == 200
            async with http.get(f"{running.url}events/get_data?from=-1h") as answer:
                assert [e["what"] for e in await answer.json()] == ["deploy"]
    finally:
        await running.stop()
