"""The demo shop: real UDP to a listener, a real log file."""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path

from monitor.demo import ENDPOINTS, Shop, traffic
from monitor.deploys import Deploy
from monitor.statsd import Client
from tests.conftest import UdpListener


def test_the_shop_sends_its_metrics_and_writes_its_log(udp: UdpListener, tmp_path: Path) -> None:
    log = io.StringIO()
    client = Client(udp.host, udp.port)
    shop = Shop(client, log, random.Random(7), rate=200.0, clock=lambda: 1000.0)
    made = shop.tick(1.0)
    client.close()
    assert made > 100
    received = [udp.packet()]
    with contextlib.suppress(TimeoutError):  # the pipeline sends many packets
        while True:
            received.append(udp.recv(timeout=0.5)[0])
    names = {line.split(":")[0] for p in received for line in p.decode().splitlines()}
    assert "shop.users" in names
    # a counter per endpoint and no total: ``stats.shop.requests.*`` matches endpoints only
    assert {n for n in names if n.startswith("shop.requests.")} == {
        f"shop.requests.{e}" for e in ENDPOINTS
    }
    assert any(name.startswith("shop.request.") for name in names)  # timers per endpoint
    lines = log.getvalue().splitlines()
    assert len([line for line in lines if '"GET ' in line]) == made


def test_a_bad_deploy_raises_the_error_rate_for_a_minute() -> None:
    now = [1000.0]
    log = io.StringIO()
    client = Client("127.0.0.1", 9)  # the discard port: only the log matters here
    shop = Shop(client, log, random.Random(1), rate=500.0, clock=lambda: now[0])
    shop.tick(2.0)
    before = log.getvalue().count("ERROR")
    shop.deployed(Deploy("web", "production", "abc123", "alice", ""), bad=True)
    assert "deploy of web abc123 by alice" in log.getvalue()
    log.truncate(0)
    log.seek(0)
    shop.tick(2.0)
    during = log.getvalue().count("ERROR")
    assert during > 5 * max(before, 1)
    now[0] += 61
    log.truncate(0)
    log.seek(0)
    shop.tick(2.0)
    assert log.getvalue().count("ERROR") < during / 3
    client.close()


def test_a_traceback_goes_through_the_failing_endpoints_own_code() -> None:
    log = io.StringIO()
    client = Client("127.0.0.1", 9)  # the discard port: only the log matters here
    shop = Shop(client, log, random.Random(3), rate=3000.0, clock=lambda: 1000.0)
    shop.bad_until = 2000.0  # a bad deploy: plenty of errors
    shop.tick(2.0)
    client.close()
    lines = log.getvalue().splitlines()
    first_frame: dict[str, set[str]] = {}
    for i, line in enumerate(lines):
        if line.startswith("ERROR demo-shop unhandled exception in "):
            endpoint = line.rsplit(" ", 1)[1]
            assert lines[i + 1] == "Traceback (most recent call last):"
            first_frame.setdefault(endpoint, set()).add(lines[i + 2].strip())
    assert set(first_frame) == set(ENDPOINTS)
    assert first_frame["search"] == {'File "/srv/shop/search.py", line 64, in query'}
    assert first_frame["cart"] == {'File "/srv/shop/cart.py", line 72, in add_item'}
    assert first_frame["checkout"] == {'File "/srv/shop/checkout.py", line 88, in pay'}
    assert all(f"/{endpoint}.py" in next(iter(frames)) for endpoint, frames in first_frame.items())


def test_the_live_shop_follows_the_daily_curve_of_its_history() -> None:
    wednesday = 1_796_774_400  # 2026-12-09 00:00 UTC
    assert traffic(wednesday + 16 * 3600) > 3 * traffic(wednesday + 4 * 3600)
    assert traffic(wednesday + 3 * 86400 + 16 * 3600) < traffic(wednesday + 16 * 3600)  # Sat
    client = Client("127.0.0.1", 9)
    counts = []
    for hour in (4, 16):
        shop = Shop(
            client, io.StringIO(), random.Random(3), clock=lambda h=hour: wednesday + h * 3600
        )
        counts.append(sum(shop.tick(10.0) for _ in range(20)))
    client.close()
    assert counts[1] > 3 * counts[0]
