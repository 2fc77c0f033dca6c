"""monitor.statsd.Client against a real UDP listener on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from monitor.statsd import Client, InvalidMetric
from tests.conftest import UNIT, UdpListener, wait_until


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    """Build clients that are closed when the test ends."""
    made: list[Client] = []

    def make(*args: Any, **kwargs: Any) -> Client:
        made.append(Client(*args, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(udp: UdpListener, make_client: Callable[..., Client]) -> Client:
    return make_client("127.0.0.1", udp.port)


def test_every_call_kind_sends_exact_bytes(client: Client, udp: UdpListener) -> None:
    client.incr("hits")
    client.incr("hits", 5)
    client.decr("hits")
    client.decr("hits", 3)
    client.gauge("temp", 21.5)
    client.gauge("temp", 4, delta=True)
    client.gauge("temp", -7, delta=True)
    client.gauge("queue", -2)  # absolute negative: reset to 0 first, as pystatsd does
    client.set("users", "ann")
    client.set("users", 42)
    client.timing("db", 12)
    client.timing("db", 1.5)
    client.timing("db", timedelta(seconds=0.25))
    assert udp.packets(13) == [
        b"hits:1|c",
        b"hits:5|c",
        b"hits:-1|c",
        b"hits:-3|c",
        b"temp:21.5|g",
        b"temp:+4|g",
        b"temp:-7|g",
        b"queue:0|g\nqueue:-2|g",
        b"users:ann|s",
        b"users:42|s",
        b"db:12.000000|ms",
        b"db:1.500000|ms",
        b"db:250.000000|ms",
    ]


def test_float_counts_and_numpy_like_numbers(client: Client, udp: UdpListener) -> None:
    from fractions import Fraction

    client.incr("a", 0.5)
    client.incr("a", Fraction(3, 2))  # any Real is accepted and sent as a number
    assert udp.packets(2) == [b"a:0.5|c", b"a:1.5|c"]


def test_prefix_is_joined_and_sanitized(udp: UdpListener, make_client: Any) -> None:
    client = make_client("127.0.0.1", udp.port, prefix="my app.")
    client.incr("checkout ok")
    assert udp.packet() == b"my_app.checkout_ok:1|c"


def test_names_are_sanitized_like_the_daemon(client: Client, udp: UdpListener) -> None:
    client.incr("GET /api/v1/users  200!")
    client.incr("host=web-1;dc=eu")
    assert udp.packets(2) == [b"GET_-api-v1-users_200:1|c", b"host=web-1;dc=eu:1|c"]


def test_sample_rates_follow_a_seeded_random(udp: UdpListener, make_client: Any) -> None:
    client = make_client("127.0.0.1", udp.port, random=random.Random(7).random)
    shadow = random.Random(7)
    expected = []
    for i in range(40):
        client.incr(f"c{i}", rate=0.5)
        if shadow.random() <= 0.5:
            expected.append(f"c{i}:1|c|@0.5".encode())
    client.timing("t", 3, rate=0.25)
    if shadow.random() <= 0.25:
        expected.append(b"t:3.000000|ms|@0.25")
    client.incr("end")  # rate 1 is never sampled
    expected.append(b"end:1|c")
    assert 5 < len(expected) < 40
    assert udp.packets(len(expected)) == expected


def test_tiny_rates_are_not_written_in_exponent_form(udp: UdpListener, make_client: Any) -> None:
    client = make_client("127.0.0.1", udp.port, random=lambda: 0.0)
    client.incr("rare", rate=0.00001)
    assert udp.packet() == b"rare:1|c|@0.00001"


def test_pipeline_packs_lines_under_maxudpsize(udp: UdpListener, make_client: Any) -> None:
    client = make_client("127.0.0.1", udp.port, maxudpsize=40)
    names = [f"metric.number.{i}" for i in range(6)]
    with client.pipeline() as pipe:
        for name in names:
            pipe.incr(name)
        pipe.timing("t", 2)
    packets = []
    while sum(p.count(b"\n") + 1 for p in packets) < 7:
        packets.append(udp.packet())
    assert all(len(p) < 40 for p in packets)
    assert len(packets) > 1
    lines = b"\n".join(packets).split(b"\n")
    assert lines == [f"{n}:1|c".encode() for n in names] + [b"t:2.000000|ms"]


def test_pipeline_checks_arguments_like_the_client(client: Client, udp: UdpListener) -> None:
    with client.pipeline() as pipe:
        pipe.incr("good")
        pipe.incr("", 1)
        many: Any = "many"
        pipe.incr("bad.count", many)
    client.incr("after")
    assert udp.packets(2) == [b"good:1|c", b"after:1|c"]
    assert client.stats.invalid == 2


TIMER_LINE = re.compile(rb"^(\w+):(\d+\.\d{6})\|ms$")


def _timed(packet: bytes) -> tuple[str, float]:
    match = TIMER_LINE.match(packet)
    assert match, packet
    return match[1].decode(), float(match[2])


def test_timer_as_context_manager_decorator_and_by_hand(client: Client, udp: UdpListener) -> None:
    with client.timer("block"):
        pass

    @client.timer("decorated")
    def work(x: int) -> int:
        return x * 2

    assert work(21) == 42
    manual = client.timer("manual").start()
    manual.stop()
    names = [_timed(p)[0] for p in udp.packets(3)]
    assert names == ["block", "decorated", "manual"]


def test_timer_on_async_function_measures_the_await(client: Client, udp: UdpListener) -> None:
    @client.timer("slow")
    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    assert asyncio.run(slow()) == "done"
    name, ms = _timed(udp.packet())
    assert name == "slow"
    assert ms >= 45


def test_timer_decorator_is_thread_safe(client: Client, udp: UdpListener) -> None:
    barrier = threading.Barrier(8)

    @client.timer("job")
    def job() -> None:
        barrier.wait(timeout=5 * UNIT)

    threads = [threading.Thread(target=job) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [_timed(p)[0] for p in udp.packets(8)] == ["job"] * 8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.incr(""), "empty once sanitized"),
        (lambda c: c.incr("!!!"), "empty once sanitized"),
        (lambda c: c.incr("..."), "empty once sanitized"),
        (lambda c: c.incr(None), "must be a str"),
        (lambda c: c.incr("x", "many"), "finite number"),
        (lambda c: c.incr("x", True), "finite number"),
        (lambda c: c.decr("x", float("nan")), "finite number"),
        (lambda c: c.gauge("x", float("inf")), "finite number"),
        (lambda c: c.gauge("x", None), "finite number"),
        (lambda c: c.timing("x", -1), "non-negative"),
        (lambda c: c.timing("x", "fast"), "non-negative"),
        (lambda c: c.set("x", "a|b"), "without ':', '|'"),
        (lambda c: c.set("x", ""), "non-empty"),
        (lambda c: c.incr("x", rate=0), "sample rate"),
        (lambda c: c.incr("x", rate=1.5), "sample rate"),
        (lambda c: c.incr("x", rate="0.5"), "sample rate"),
    ],
)
def test_bad_calls_raise_in_strict_mode_and_are_counted_otherwise(
    call: Any, message: str, udp: UdpListener, caplog: pytest.LogCaptureFixture, make_client: Any
) -> None:
    strict = make_client("127.0.0.1", udp.port, strict=True)
    with pytest.raises(InvalidMetric, match=re.escape(message)):
        call(strict)
    lenient = make_client("127.0.0.1", udp.port)
    with caplog.at_level(logging.WARNING, logger="monitor.statsd"):
        call(lenient)
    assert lenient.stats.invalid == 1
    assert message in (lenient.stats.last_error or "")
    assert any(message in r.getMessage() for r in caplog.records)
    lenient.incr("sentinel")  # the bad call sent nothing: the next datagram is this one
    assert udp.packet() == b"sentinel:1|c"


def test_drop_log_is_rate_limited(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="monitor.statsd"):
        for _ in range(100):
            client.incr("")
    assert client.stats.invalid == 100
    assert len(caplog.records) == 1


def test_closed_port_never_raises_and_is_counted(make_client: Any) -> None:
    closed = UdpListener()
    port = closed.port
    closed.close()
    client = make_client("127.0.0.1", port)

    def counted() -> bool:
        client.incr("into.the.void")
        return client.stats.send_errors > 0

    wait_until(counted)
    assert "127.0.0.1" in (client.stats.last_error or "")


def test_unresolvable_host_never_raises_and_is_counted(make_client: Any) -> None:
    client = make_client("no-such-host.invalid", 8125)
    for _ in range(10):
        client.incr("lost")
    wait_until(lambda: client.stats.resolve_errors >= 1)
    assert "no-such-host.invalid" in (client.stats.last_error or "")


def test_host_name_is_resolved_off_the_callers_thread_and_lines_are_kept(
    udp: UdpListener, make_client: Any
) -> None:
    client = make_client("localhost", udp.port)
    for i in range(5):
        client.incr(f"early.{i}")
    assert udp.packets(5) == [f"early.{i}:1|c".encode() for i in range(5)]


def test_held_lines_are_bounded_and_overflow_is_counted(
    monkeypatch: pytest.MonkeyPatch, udp: UdpListener, make_client: Any
) -> None:
    # DNS is the one thing this machine cannot provide on demand: a lookup that
    # blocks until released stands in for a slow resolver.
    from monitor.statsd import _client

    release = threading.Event()
    real = socket.getaddrinfo

    def slow_lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        numeric_only = len(args) > 4 and args[4] & socket.AI_NUMERICHOST
        if host == "slow.example" and not numeric_only:
            release.wait(10 * UNIT)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    monkeypatch.setattr(_client, "PENDING_MAX", 3)
    client = make_client("slow.example", udp.port)
    for i in range(5):
        client.incr(f"m{i}")
    assert client.stats.unresolved == 2
    release.set()
    assert udp.packets(3) == [b"m2:1|c", b"m3:1|c", b"m4:1|c"]


def test_host_is_looked_up_again_after_the_ttl(
    monkeypatch: pytest.MonkeyPatch, make_client: Any
) -> None:
    # The statsd host "moves" from 127.0.0.1 to 127.0.0.2 (both real listeners);
    # only the name lookup is simulated.
    first, second = UdpListener("127.0.0.1"), UdpListener("127.0.0.2")
    second.sock.close()
    second.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    second.sock.bind(("127.0.0.2", first.port))
    where = ["127.0.0.1"]
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real(
            where[0] if host == "statsd.example" and len(a) < 5 else host, *a, **k
        ),
    )
    now = [0.0]
    client = make_client("statsd.example", first.port, dns_ttl=30, clock=lambda: now[0])
    client.incr("before")
    assert first.packet() == b"before:1|c"
    where[0] = "127.0.0.2"
    now[0] = 10.0
    client.incr("within.ttl")
    assert first.packet() == b"within.ttl:1|c"
    now[0] = 31.0
    client.incr("trigger")  # starts the new lookup; this line still goes to the old address
    assert first.packet() == b"trigger:1|c"

    def moved() -> bool:
        client.incr("after")
        second.sock.settimeout(0.05)
        try:
            return second.sock.recv(100) == b"after:1|c"
        except TimeoutError:
            return False

    wait_until(moved)
    client.close()
    first.close()
    second.close()


def test_forked_child_opens_its_own_socket(client: Client, udp: UdpListener) -> None:
    client.incr("parent")
    _, parent_addr = udp.recv()
    pid = os.fork()
    if pid == 0:  # the child: send one line and leave at once
        try:
            client.incr("child")
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    data, child_addr = udp.recv()
    assert data == b"child:1|c"
    assert child_addr != parent_addr
    client.incr("parent.again")
    assert udp.recv() == (b"parent.again:1|c", parent_addr)


def test_constructor_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="port"):
        Client("127.0.0.1", 70000)
    with pytest.raises(ValueError, match="maxudpsize"):
        Client("127.0.0.1", 8125, maxudpsize=0)


def test_non_ascii_set_members_are_sent_as_utf8(client: Client, udp: UdpListener) -> None:
    client.set("visitors", "José")
    assert udp.packet() == "visitors:José|s".encode()


def test_close_then_send_reopens(client: Client, udp: UdpListener) -> None:
    client.incr("a")
    client.close()
    client.incr("b")
    assert udp.packets(2) == [b"a:1|c", b"b:1|c"]
