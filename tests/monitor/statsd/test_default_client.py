"""The module-level API: lazy, configured from the environment, swappable."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from monitor import statsd
from monitor.statsd import Client, InvalidConfig, NullClient, client_from_env
from tests.conftest import UdpListener


def test_importing_opens_no_socket_resolves_nothing_reads_no_environment() -> None:
    probe = textwrap.dedent(
        """
        import os, socket
        calls = []
        real_socket_init = socket.socket.__init__
        def spy_init(self, *a, **k):
            calls.append("socket")
            real_socket_init(self, *a, **k)
        socket.socket.__init__ = spy_init
        socket.getaddrinfo = lambda *a, **k: calls.append("getaddrinfo")
        os.environ["STATSD_PORT"] = "not a port"  # would fail if read at import
        import monitor
        from monitor import statsd
        import monitor.statsd.testing

        @statsd.timer("decorated.at.import")
        def f():
            pass

        print(calls)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"


def test_environment_is_read_on_first_use(
    monkeypatch: pytest.MonkeyPatch, udp: UdpListener
) -> None:
    monkeypatch.setenv("STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("STATSD_PORT", str(udp.port))
    monkeypatch.setenv("STATSD_PREFIX", "shop")
    statsd.incr("checkout.ok")
    statsd.decr("stock")
    statsd.gauge("queue", 3)
    statsd.set("users", "u1")
    statsd.timing("db", 2)
    with statsd.timer("block"):
        pass
    with statsd.pipeline() as pipe:
        pipe.incr("a")
        pipe.incr("b")
    packets = udp.packets(7)
    assert packets[:5] == [
        b"shop.checkout.ok:1|c",
        b"shop.stock:-1|c",
        b"shop.queue:3|g",
        b"shop.users:u1|s",
        b"shop.db:2.000000|ms",
    ]
    assert packets[5].startswith(b"shop.block:")
    assert packets[6] == b"shop.a:1|c\nshop.b:1|c"
    client = statsd.get_client()
    assert isinstance(client, Client)
    assert client.prefix == "shop"


def test_timer_decorated_before_configuration_uses_the_current_client(
    monkeypatch: pytest.MonkeyPatch, udp: UdpListener
) -> None:
    @statsd.timer("late.bound")
    def work() -> int:
        return 1

    monkeypatch.setenv("STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("STATSD_PORT", str(udp.port))
    assert work() == 1
    assert udp.packet().startswith(b"late.bound:")


def test_every_variable_is_honoured(udp: UdpListener) -> None:
    env = {
        "STATSD_HOST": "127.0.0.1",
        "STATSD_PORT": str(udp.port),
        "STATSD_PREFIX": "p",
        "STATSD_MAXUDPSIZE": "20",
        "STATSD_DNS_TTL": "5",
    }
    client = client_from_env(env)
    assert isinstance(client, Client)
    with client.pipeline() as pipe:
        pipe.incr("aaaa")
        pipe.incr("bbbb")
    assert udp.packets(2) == [b"p.aaaa:1|c", b"p.bbbb:1|c"]  # split: 20-byte packets
    client.close()


def test_ipv6(udp: UdpListener) -> None:
    listener = UdpListener("::1")
    client = client_from_env(
        {"STATSD_HOST": "::1", "STATSD_PORT": str(listener.port), "STATSD_IPV6": "1"}
    )
    client.incr("six")
    assert listener.packet() == b"six:1|c"
    client.close()
    listener.close()


def test_disabled_client_sends_nothing_but_still_checks() -> None:
    client = client_from_env({"STATSD_DISABLED": "1", "STATSD_STRICT": "1"})
    assert isinstance(client, NullClient)
    client.incr("fine")
    with pytest.raises(statsd.InvalidMetric):
        client.incr("")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"STATSD_PORT": "eighty"}, "STATSD_PORT"),
        ({"STATSD_PORT": "70000"}, "STATSD_PORT"),
        ({"STATSD_MAXUDPSIZE": "0"}, "STATSD_MAXUDPSIZE"),
        ({"STATSD_IPV6": "maybe"}, "STATSD_IPV6"),
        ({"STATSD_DISABLED": "sure"}, "STATSD_DISABLED"),
    ],
)
def test_bad_variables_are_named(env: dict[str, str], name: str) -> None:
    with pytest.raises(InvalidConfig, match=name):
        client_from_env(env)


def test_bad_variable_disables_sending_with_a_log_line_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STATSD_PORT", "eighty")
    monkeypatch.delenv("STATSD_STRICT", raising=False)
    with caplog.at_level(logging.ERROR, logger="monitor.statsd"):
        statsd.incr("x")
    assert isinstance(statsd.get_client(), NullClient)
    assert "STATSD_PORT" in caplog.text


def test_bad_variable_raises_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_PORT", "eighty")
    monkeypatch.setenv("STATSD_STRICT", "1")
    with pytest.raises(InvalidConfig, match="STATSD_PORT"):
        statsd.incr("x")


def test_set_client_swaps_and_returns_the_previous(udp: UdpListener) -> None:
    mine = Client("127.0.0.1", udp.port)
    assert statsd.set_client(mine) is None
    statsd.incr("mine")
    assert udp.packet() == b"mine:1|c"
    assert statsd.set_client(None) is mine
    mine.close()
