"""What a web page in someone's browser must not be able to do to the stack on their
machine: write across sites, rebind a name to loopback, inject script through JSONP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.config import load_config
from monitor.up import Running, start
from monitor.web.app import loopback_name
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium

PORTS = {"http.port": "0", "statsd.port": "0", "statsd.mgmt_port": "0", "carbon.port": "0"}
EVENT = {"what": "deploy web", "tags": ["deploy", "web"], "data": "{}"}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start(load_config(overrides={**PORTS, "data_dir": str(tmp_path)}))
    yield running
    await running.stop()


async def _events(http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with http.get(f"{url}events/get_data?from=-1h") as answer:
        found: list[dict[str, Any]] = await answer.json()
    return found


async def test_writes_from_another_site_are_refused(stack: Running) -> None:
    url = stack.url
    async with aiohttp.ClientSession() as http:
        for headers in (
            {"Origin": "http://evil.example", "Content-Type": "text/plain"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"},
        ):
            async with http.post(f"{url}events/", data=json.dumps(EVENT), headers=headers) as r:
                assert r.status == 403, headers
                assert "cross-site write refused" in (await r.json())["error"]
        assert await _events(http, url) == []
        # the stack's own pages, and clients that are not browsers, still write
        own = url.rstrip("/")
        for headers in ({"Origin": own, "Sec-Fetch-Site": "same-origin"}, {}):
            async with http.post(f"{url}events/", data=json.dumps(EVENT), headers=headers) as r:
                assert r.status == 200, await r.text()
        assert len(await _events(http, url)) == 2
        # reading is not a write: another site's GET is answered (the browser keeps the
        # answer from that site's script without CORS headers)
        async with http.get(f"{url}version", headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 200


async def test_a_name_rebound_to_loopback_is_refused(stack: Running) -> None:
    port = stack.url.rstrip("/").rsplit(":", 1)[1]
    async with aiohttp.ClientSession() as http:
        for host in ("attacker.example", f"attacker.example:{port}", "10.0.0.1"):
            async with http.get(f"{stack.url}version", headers={"Host": host}) as r:
                assert r.status == 403, host
                assert "not a loopback name" in (await r.json())["error"]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"app.localhost:{port}"):
            async with http.get(f"{stack.url}version", headers={"Host": host}) as r:
                assert r.status == 200, host
    assert loopback_name("[::1]:8080")
    assert loopback_name("127.5.5.5")
    assert not loopback_name("localhost.evil.example")


async def test_jsonp_is_off_unless_turned_on(stack: Running) -> None:
    """With JSONP, any page could read metrics with a script tag: off by default."""
    async with aiohttp.ClientSession() as http:
        for path in (
            "events/get_data?from=-1h&jsonp=cb",
            "render?target=sinFunction('x')&jsonp=cb",  # answered by a worker
            "functions?jsonp=cb",
        ):
            async with http.get(stack.url + path) as r:
                assert r.status == 400, path
                assert "graphite.jsonp = true" in (await r.json())["error"]


async def test_jsonp_callbacks_are_names_only(tmp_path: Path) -> None:
    overrides = {**PORTS, "data_dir": str(tmp_path), "graphite.jsonp": "true"}
    stack = await start(load_config(overrides=overrides))
    async with aiohttp.ClientSession() as http:
        query = "events/get_data?from=-1h&jsonp="
        async with http.get(f"{stack.url}{query}app.graphs.draw_1") as r:
            assert r.status == 200
            assert (await r.text()) == "app.graphs.draw_1([])"
        for evil in ("alert(document.cookie)//", "x;fetch('//e')", "a b", "1abc"):
            async with http.get(f"{stack.url}{query}{evil}") as r:
                assert r.status == 400, evil
                assert "is not a JavaScript function name" in (await r.json())["error"]
        render = "render?target=sinFunction('x')&from=-1min&jsonp=cb"
        async with http.get(stack.url + render) as r:  # answered by a worker
            assert r.status == 200
            assert (await r.text()).startswith('cb([{"target": "x"')
    await stack.stop()


async def test_a_page_on_another_origin_cannot_record_a_deploy(stack: Running) -> None:
    """The attack as it happened: a page elsewhere posts text/plain JSON to the stack."""
    require_chromium()
    from playwright.async_api import async_playwright

    target = stack.url + "events/"
    page_html = (
        "<!doctype html><script>fetch(" + json.dumps(target) + ", {method: 'POST',"
        " mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: "
        + json.dumps(json.dumps(EVENT)) + "}).finally(() => { document.title = 'sent'; });"
        "</script>"
    )  # fmt: skip

    async def attack(_: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    evil = web.Application()
    evil.router.add_get("/", attack)
    runner = web.AppRunner(evil)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()  # another origin: another port
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.wait_for_function("document.title === 'sent'", timeout=10_000)
            await browser.close()
        await asyncio.sleep(0)  # the request has been answered before the title changed
        async with aiohttp.ClientSession() as http:
            assert await _events(http, stack.url) == []
    finally:
        await runner.cleanup()
