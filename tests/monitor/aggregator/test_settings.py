"""Reading node statsd's own config, and the [statsd] table of monitor.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.aggregator.settings import (
    Histogram,
    Listener,
    SettingsError,
    StatsdSettings,
    from_node_config,
)
from monitor.config import ConfigError, load_config


def test_node_defaults_listen_like_node() -> None:
    settings, unknown = from_node_config({})
    assert settings.listeners == (Listener("udp", "0.0.0.0", 8125),)
    assert settings.mgmt_address == "0.0.0.0"
    assert unknown == []


def test_node_keys_and_numbers_as_strings() -> None:
    settings, unknown = from_node_config(
        {
            "port": "9125",
            "flushInterval": "2000",
            "percentThreshold": ["95", 99.9],
            "graphiteHost": "carbon.internal",
            "graphitePort": "2013",
            "deleteIdleStats": True,
            "deleteGauges": False,
            "gaugesMaxTTL": 3,
            "histogram": [{"metric": "api", "bins": [10, "100", "inf"]}],
            "graphite": {"legacyNamespace": False, "globalSuffix": "x", "bogus": 1},
            "backends": ["./backends/graphite", "./backends/console", "statsd-librato"],
            "servers": [
                {"server": "./servers/udp", "port": 8125},
                {"server": "./servers/tcp", "address": "127.0.0.1", "port": "8125"},
            ],
            "dumpMessages": True,
            "unknownThing": 5,
        }
    )
    assert settings.flush_interval == 2000
    assert settings.percent_threshold == (95.0, 99.9)
    assert settings.graphite_port == 2013
    assert settings.deletes("counters")
    assert not settings.deletes("gauges")
    assert settings.gauge_ttl == 3
    assert settings.histogram == (Histogram("api", (10.0, 100.0, "inf")),)
    assert not settings.graphite.legacy_namespace
    assert settings.graphite.global_suffix == "x"
    assert settings.backends == ("graphite", "console")
    assert settings.listeners == (
        Listener("udp", "0.0.0.0", 8125),
        Listener("tcp", "127.0.0.1", 8125),
    )
    assert sorted(unknown) == ["backends[2]='statsd-librato'", "graphite.bogus", "unknownThing"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"port": "eighty"}, "servers\\[0\\].port: expected a number"),
        ({"flushInterval": True}, "flushInterval: expected a number"),
        ({"graphiteProtocol": "udp"}, "graphiteProtocol: expected 'text' or 'pickle'"),
        ({"servers": [{"server": "./servers/http"}]}, "servers\\[0\\].server"),
        ({"servers": [{"socket": "/tmp/s"}]}, "unix sockets are not supported"),
    ],
)
def test_bad_node_values_name_the_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        from_node_config(config)


def test_gauges_max_ttl_below_two_means_one() -> None:
    assert from_node_config({"gaugesMaxTTL": 0})[0].gauge_ttl == 1
    assert from_node_config({"gaugesMaxTTL": "5"})[0].gauge_ttl == 1  # node: not an integer


def test_toml_defaults_are_loopback_udp_and_tcp() -> None:
    settings = load_config().statsd
    assert settings.listeners == (Listener("udp"), Listener("tcp"))
    assert settings == StatsdSettings()


def test_toml_table(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(
        """
        [statsd]
        port = 9125
        tcp = false
        percent_threshold = [90, 99]
        graphite_host = "127.0.0.1"
        [statsd.graphite]
        legacy_namespace = false
        global_suffix = "host1"
        [[statsd.histogram]]
        metric = "api"
        bins = [10, 100, "inf"]
        """
    )
    settings = load_config(path).statsd
    assert settings.listeners == (Listener("udp", "127.0.0.1", 9125),)
    assert settings.histogram == (Histogram("api", (10.0, 100.0, "inf")),)
    assert settings.graphite.global_suffix == "host1"


def test_toml_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text('[statsd]\nflush_intervl = 5\n[[statsd.histogram]]\nbins = ["x"]\n')
    with pytest.raises(ConfigError, match=r"statsd\.flush_intervl: unknown key"):
        load_config(path)
    path.write_text('[[statsd.histogram]]\nbins = ["x"]\n')
    with pytest.raises(ConfigError, match=r"statsd.histogram\[0\].bins\[0\]: expected a number"):
        load_config(path)
