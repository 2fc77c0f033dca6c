"""Renders run in worker processes: the event loop stays free, a request past
``render.timeout`` is stopped (its worker killed, not left computing), waiting is
bounded, and the points the store has not yet written are still seen."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.config import load_config
from monitor.up import Running, start
from monitor.web.render_pool import RenderPool

PORTS = {"http.port": "0", "statsd.port": "0", "statsd.mgmt_port": "0", "carbon.port": "0"}
#: A render that computes for minutes: a moving median over 10,000 points, for each of
#: 43,200 points.
SLOW = "render?target=movingMedian(sinFunction('x',1,60),10000)&from=-30d&format=json"


async def started(tmp_path: Path, **settings: str) -> Running:
    overrides = {**PORTS, "data_dir": str(tmp_path), **settings}
    return await start(load_config(overrides=overrides))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Running]:
    running = await started(tmp_path, **{"render.timeout": "2", "render.workers": "2"})
    yield running
    await running.stop()


async def until_ready(pool: RenderPool) -> None:
    for _ in range(100):
        if len(pool.pids()) == pool.size:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{pool.size} workers not started in 5 s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with http.get(url) as answer:
        return answer.status, await answer.json(content_type=None)


async def test_points_not_yet_on_disk_are_rendered_by_the_workers(tmp_path: Path) -> None:
    running = await started(tmp_path)
    try:
        # the writer thread is stopped: what is added stays in the store's cache
        await asyncio.to_thread(running.store.stop)
        now = int(time.time())
        running.store.add([("fresh.series", 42.0, now - 5), ("fresh.other", 1.0, now - 5)])
        async with aiohttp.ClientSession() as http:
            status, body = await get(http, f"{running.url}render?target=fresh.*&from=-1min")
            assert status == 200
            assert isinstance(body, list)
            assert [s["target"] for s in body] == ["fresh.other", "fresh.series"]
            values = [v for v, _ in body[1]["datapoints"] if v is not None]
            assert values == [42.0]
            status, found = await get(http, f"{running.url}metrics/find?query=fresh.*")
            assert {n["id"] for n in found} == {"fresh.series", "fresh.other"}  # type: ignore[union-attr]
        assert not (tmp_path / "whisper" / "fresh").exists()  # really only in the cache
    finally:
        running.store.start()
        await running.stop()


async def test_a_render_past_its_deadline_is_stopped_and_the_loop_never_waits(
    stack: Running,
) -> None:
    pool = stack.pool
    await until_ready(pool)
    async with aiohttp.ClientSession() as http:
        slow = asyncio.create_task(get(http, stack.url + SLOW))
        await asyncio.sleep(0.3)
        busy = [pid for pid, working in pool.pids().items() if working]
        assert len(busy) == 1
        # meanwhile the loop answers at once, and the other worker renders
        waits = []
        for _ in range(10):
            began = time.monotonic()
            status, _ = await get(http, f"{stack.url}render?target=sinFunction('y')&from=-1h")
            waits.append(time.monotonic() - began)
            assert status == 200
            await asyncio.sleep(0.1)
        assert max(waits) < 1.0, waits
        status, body = await slow
        assert status == 503
        assert "render.timeout" in body["error"]  # type: ignore[index]
        # the worker that computed it is gone, not left computing
        for _ in range(50):
            if not alive(busy[0]):
                break
            await asyncio.sleep(0.1)
        assert not alive(busy[0])
        assert pool.stats.timed_out == 1
        # and a fresh worker took its place
        status, _ = await get(http, f"{stack.url}render?target=sinFunction('y')&from=-1h")
        assert status == 200
        await until_ready(pool)
        assert busy[0] not in pool.pids()


async def test_waiting_is_bounded(tmp_path: Path) -> None:
    settings = {"render.timeout": "1.5", "render.workers": "1", "render.max_queue": "1"}
    running = await started(tmp_path, **settings)
    try:
        async with aiohttp.ClientSession() as http:
            first = asyncio.create_task(get(http, running.url + SLOW))
            await asyncio.sleep(0.3)
            second = asyncio.create_task(get(http, running.url + SLOW))
            await asyncio.sleep(0.3)
            status, body = await get(http, running.url + SLOW)  # nobody free, one waiting
            assert status == 503
            assert "render.max_queue" in body["error"]  # type: ignore[index]
            results = await asyncio.gather(first, second)
            assert [s for s, _ in results] == [503, 503]
            assert all("render.timeout" in b["error"] for _, b in results)  # type: ignore[index]
    finally:
        await running.stop()


async def test_a_worker_out_of_memory_answers_503_and_keeps_serving(tmp_path: Path) -> None:
    settings = {"render.workers": "1", "render.max_memory_mb": "256"}
    running = await started(tmp_path, **{**settings, "render.max_points": "1000000000"})
    try:
        await until_ready(running.pool)
        pids = running.pool.pids()
        async with aiohttp.ClientSession() as http:
            # 31 million points of one-second sine: far more than 256 MiB as floats
            hog = "render?target=sinFunction('x',1,1)&from=-1y&format=json&maxDataPoints=10"
            status, body = await get(http, running.url + hog)
            assert status == 503
            assert "render.max_memory_mb" in body["error"]  # type: ignore[index]
            status, _ = await get(http, f"{running.url}render?target=sinFunction('y')&from=-1h")
            assert status == 200
        assert running.pool.pids().keys() == pids.keys()
    finally:
        await running.stop()


async def test_a_worker_that_dies_is_replaced(stack: Running) -> None:
    pool = stack.pool
    await until_ready(pool)
    victims = set(pool.pids())
    for pid in victims:
        os.kill(pid, 9)
    async with aiohttp.ClientSession() as http:
        for _ in range(4):  # each request finding a dead worker is retried on another
            status, _ = await get(http, f"{stack.url}render?target=sinFunction('y')&from=-1h")
            assert status == 200
    assert pool.stats.died >= 1
    await until_ready(pool)
    assert not set(pool.pids()) & victims
