"""``monitor up --demo``: a small simulated shop, so a newcomer sees the stack move.

It is an application like any other, instrumented with our own ``monitor.statsd``
client over real UDP to the running statsd daemon: requests per endpoint, latencies,
checkouts, errors, cart sizes and users. It writes a realistic log file (access lines,
slow-query warnings, errors, now and then a multi-line Python traceback) that
supergrep streams as ``demo``. Every couple of minutes it records a deploy the way a
deploy script would (``monitor.deploys.record``: a Graphite event and the
``deploys.<stack>.production`` metric), which every dashboard and every supergrep
viewer shows; one deploy in three is bad and raises the error rate for a minute.
An unhandled error prints a traceback through the failing endpoint's own code.

On its first start in a data directory, before the live traffic, ``monitor up`` writes
the shop's past (``demo_history.py``, ``demo.history_days``, 8 days by default) straight
into the store: the same names at every archive's resolution, with a daily and weekly
shape and past deploys, so every default range and the week-ago comparison have data
from the first second. The constants below are shared with it.

Everything it sends is labelled: metrics under ``shop.``, the stream ``demo``, deploys
of the stacks ``web`` and ``api`` by made-up people, and its log lines name
``demo-shop``. Without ``--demo`` none of it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from monitor.deploys import Deploy, DeployNotRecorded, record
from monitor.statsd import Client

__all__ = ["Shop", "run_demo"]

log = logging.getLogger(__name__)

#: endpoint -> (share of requests, median latency in ms)
ENDPOINTS = {
    "home": (0.35, 35.0),
    "search": (0.25, 80.0),
    "product": (0.22, 45.0),
    "cart": (0.12, 60.0),
    "checkout": (0.06, 220.0),
}
PEOPLE = ("alice", "bob", "chen", "dara", "emeka", "farah")
#: Requests per second of the shop on a weekday at its average hour; the rate of any
#: moment follows a daily curve (``traffic``).
RATE = 25.0
#: Weekend traffic, as a share of a weekday's.
WEEKEND = 0.65
#: Share of requests that fail: normally, and for a while after a bad deploy.
CALM_ERRORS = 0.006
BAD_ERRORS = 0.12
#: How much slower every request is after a bad deploy.
BAD_SLOWDOWN = 1.6
#: Latencies are lognormal around the endpoint's median, with this sigma.
LATENCY_SIGMA = 0.5
#: A request this many times its median is logged as slow.
SLOW = 4.0
#: Distinct users (the ``shop.users`` set) and the cart sizes (``shop.cart.items``).
USERS = 2000
CART_ITEMS = range(1, 9)
#: Of failed checkouts, the share logged as a failed payment; of other errors, the
#: share that prints a traceback.
PAYMENT_FAILURES = 0.5
TRACEBACK_SHARE = 0.3
PATHS = {
    "home": "/",
    "search": "/search?q=lamp",
    "product": "/listing/{id}",
    "cart": "/cart",
    "checkout": "/checkout",
}
#: Per endpoint, where an unhandled error fails: a file and a function of that endpoint,
#: then what it depends on.
_FRAMES = {
    "home": [
        '  File "/srv/shop/home.py", line 31, in render',
        "    picks = recommendations.for_user(user, limit=12)",
        '  File "/srv/shop/recommendations.py", line 57, in for_user',
        '    return self.client.get(f"/users/{user.id}/picks", timeout=0.5)',
        "shop.recommendations.Unavailable: recommendation service timed out after 0.5s",
    ],
    "search": [
        '  File "/srv/shop/search.py", line 64, in query',
        '    hits = es.search(index="listings", query=q, size=48)',
        '  File "/srv/shop/es.py", line 112, in search',
        "    raise SearchTimeout(node, self.timeout)",
        "shop.es.SearchTimeout: elasticsearch es-2:9200 did not answer in 2.0s",
    ],
    "product": [
        '  File "/srv/shop/product.py", line 45, in show',
        "    listing = db.fetch_listing(listing_id)",
        '  File "/srv/shop/db.py", line 203, in fetch_listing',
        "    cursor.execute(LISTING_SQL, (listing_id,))",
        "psycopg.errors.QueryCanceled: canceling statement due to statement timeout",
    ],
    "cart": [
        '  File "/srv/shop/cart.py", line 72, in add_item',
        "    self.store.hincrby(self.key, item.sku, quantity)",
        '  File "/srv/shop/cartstore.py", line 38, in hincrby',
        "    return self.redis.hincrby(key, field, amount)",
        "redis.exceptions.ConnectionError: Error 111 connecting to cart-redis:6379",
    ],
    "checkout": [
        '  File "/srv/shop/checkout.py", line 88, in pay',
        "    receipt = gateway.charge(order.total, card)",
        '  File "/srv/shop/gateway.py", line 41, in charge',
        '    raise GatewayTimeout(f"no answer in {self.timeout}s")',
        "shop.gateway.GatewayTimeout: no answer in 3.0s",
    ],
}
#: The multi-line traceback an unhandled error in an endpoint prints (six lines each).
TRACEBACKS = {e: ["Traceback (most recent call last):", *lines] for e, lines in _FRAMES.items()}


_DAY, _HOUR = 86400, 3600


def _weekend(t: float) -> bool:
    return (int(t // _DAY) + 3) % 7 >= 5  # 1970-01-01 was a Thursday; Monday is 0


def weekly(t: float) -> float:
    """The weekday/weekend factor at ``t``, eased over the six hours around midnight."""
    into = (t % _DAY) / _HOUR
    today = WEEKEND if _weekend(t) else 1.0
    if into < 3:
        before = WEEKEND if _weekend(t - _DAY) else 1.0
        return before + (today - before) * (into + 3) / 6
    if into > 21:
        after = WEEKEND if _weekend(t + _DAY) else 1.0
        return today + (after - today) * (into - 21) / 6
    return today


def traffic(t: float) -> float:
    """Requests per second at ``t`` (epoch seconds): quiet at 04:00 UTC, busy at 16:00,
    lower at weekends. The live shop and its history (``demo_history.py``) share it,
    so live data joins the history wherever the clock is."""
    hour = (t % _DAY) / _HOUR
    daily = 0.3 + 1.3 * math.pow((1 - math.cos(2 * math.pi * (hour - 4) / 24)) / 2, 1.5)
    return RATE * daily * weekly(t)


@dataclass
class Shop:
    """The simulation: ``tick(seconds)`` plays that much traffic. Pure apart from the
    client and the log file it is given (both injectable, for tests)."""

    client: Client
    log_file: TextIO
    rng: random.Random
    rate: float | None = None  # requests per second; None: the daily curve (``traffic``)
    clock: Callable[[], float] = time.time
    bad_until: float = 0.0  # a bad deploy raises errors until then

    def tick(self, seconds: float) -> int:
        """Simulate ``seconds`` of traffic; returns how many requests were made."""
        now = self.clock()
        rate = traffic(now) if self.rate is None else self.rate
        count = self._poisson(rate * seconds)
        bad = now < self.bad_until
        error_rate = BAD_ERRORS if bad else CALM_ERRORS
        names = list(ENDPOINTS)
        weights = [share for share, _ in ENDPOINTS.values()]
        lines = []
        with self.client.pipeline() as pipe:
            for _ in range(count):
                endpoint = self.rng.choices(names, weights)[0]
                median = ENDPOINTS[endpoint][1] * (BAD_SLOWDOWN if bad else 1.0)
                ms = self.rng.lognormvariate(math.log(median), LATENCY_SIGMA)
                failed = self.rng.random() < error_rate
                pipe.incr(f"shop.requests.{endpoint}")
                pipe.timing(f"shop.request.{endpoint}", ms)
                pipe.set("shop.users", self.rng.randrange(USERS))
                status = 500 if failed else 200
                if failed:
                    pipe.incr("shop.errors")
                if endpoint == "checkout":
                    pipe.incr("shop.checkout.failed" if failed else "shop.checkout.ok")
                    pipe.gauge("shop.cart.items", self.rng.choice(CART_ITEMS))
                lines.append(self._access(endpoint, status, ms))
                if failed:
                    lines += self._error(endpoint)
                elif ms > median * SLOW:
                    lines.append(f"WARN  demo-shop slow request: {endpoint} took {ms:.0f}ms")
        self.log_file.write("".join(line + "\n" for line in lines))
        self.log_file.flush()
        return count

    def deployed(self, deploy: Deploy, bad: bool) -> None:
        """Note a deploy in the log; a bad one makes errors for the next minute."""
        self.log_file.write(
            f"INFO  demo-shop deploy of {deploy.stack} {deploy.sha} by {deploy.who} finished\n"
        )
        self.log_file.flush()
        if bad:
            self.bad_until = self.clock() + 60

    def _access(self, endpoint: str, status: int, ms: float) -> str:
        ip = f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(256)}"
        path = PATHS[endpoint].format(id=self.rng.randrange(1000, 9999))
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.clock()))
        size = self.rng.randrange(400, 40000)
        return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} {ms:.0f}ms'

    def _error(self, endpoint: str) -> list[str]:
        if endpoint == "checkout" and self.rng.random() < PAYMENT_FAILURES:
            return ["ERROR demo-shop payment failed for order " + str(self.rng.randrange(10**6))]
        if self.rng.random() < TRACEBACK_SHARE:
            return [f"ERROR demo-shop unhandled exception in {endpoint}", *TRACEBACKS[endpoint]]
        return [f"ERROR demo-shop {endpoint}: upstream returned 503"]

    def _poisson(self, mean: float) -> int:
        # Knuth's method is fine for the small means of one tick.
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1


async def run_demo(
    stop: asyncio.Event,
    *,
    statsd: tuple[str, int],
    graphite: str,
    carbon: tuple[str, int],
    log_path: Path,
    deploy_every: float = 120.0,
    first_deploy: float = 20.0,
    token: str = "",
) -> None:
    """Run the shop until ``stop``: traffic every 100 ms, a deploy every ``deploy_every``
    seconds (the first after ``first_deploy``)."""
    rng = random.Random()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    client = Client(statsd[0], statsd[1])
    with log_path.open("a", encoding="utf-8") as log_file, contextlib.closing(client):
        shop = Shop(client, log_file, rng)
        next_deploy = time.monotonic() + first_deploy
        stacks = ("web", "api")
        deploys = 0
        log.info("demo: a simulated shop is sending metrics and logs (stream 'demo')")
        while not stop.is_set():
            shop.tick(0.1)
            if time.monotonic() >= next_deploy:
                next_deploy += deploy_every
                stack = stacks[deploys % 2]
                bad = deploys % 3 == 2
                deploys += 1
                deploy = Deploy(
                    stack,
                    "production",
                    secrets.token_hex(4),
                    rng.choice(PEOPLE),
                    f"https://example.com/demo-shop/{stack}/deploys/{deploys}",
                )
                try:
                    await asyncio.to_thread(record, deploy, graphite, carbon, token=token or None)
                    shop.deployed(deploy, bad)
                except DeployNotRecorded as exc:
                    log.warning("demo: deploy not recorded: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
