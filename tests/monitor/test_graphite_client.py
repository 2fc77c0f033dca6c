"""The Graphite client and ``monitor deploy``, against our API and the real graphite-web."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from monitor.deploys import Deploy, DeployNotRecorded, record
from monitor.graphite import GraphiteClient, GraphiteRequestError, GraphiteUnavailable
from tests.conftest import UNIT, wait_until
from tests.graphite_web import Servers
from tests.node_statsd import free_port


@pytest.fixture(params=["ours", "graphite-web"])
def url(request: pytest.FixtureRequest, graphite_pair: Servers) -> str:
    return graphite_pair.ours if request.param == "ours" else graphite_pair.graphite


def test_render_find_and_events_work_against_both(url: str, graphite_pair: Servers) -> None:
    with GraphiteClient(url) as client:
        series = client.render(
            ["web.host1.requests", "sumSeries(web.*.requests)"],
            from_=graphite_pair.t0,
            until=graphite_pair.t1,
        )
        assert [s.target for s in series] == ["web.host1.requests", "sumSeries(web.*.requests)"]
        assert series[1].tags["aggregatedBy"] == "sum"
        assert len(series[0].values) == len(series[0].timestamps) > 100
        consolidated = client.render("web.host1.requests", graphite_pair.t0, graphite_pair.t1, 10)
        assert len(consolidated[0].values) <= 11
        nodes = client.find("web.*")
        assert [(n.path, n.name, n.is_leaf) for n in nodes][:1] == [("web.host1", "host1", False)]
        tag = f"client-{url[-5:]}-{time.monotonic_ns()}"
        client.post_event("client test", ["clienttest", tag], data="hello")
        events = client.events([tag], from_="-1h")
        assert [(e.what, e.tags, e.data) for e in events] == [
            ("client test", ["clienttest", tag], "hello")
        ]


def test_errors_say_what_the_server_answered(graphite_pair: Servers) -> None:
    with GraphiteClient(graphite_pair.ours) as client, pytest.raises(GraphiteRequestError) as err:
        client.render("sumSeris(web.*)")
    assert err.value.status == 400
    assert "unknown function sumSeris()" in str(err.value)


def test_unreachable_graphite_fails_fast_with_a_clear_message() -> None:
    port = free_port(socket.SOCK_STREAM)  # nothing listens
    started = time.monotonic()
    client = GraphiteClient(f"http://127.0.0.1:{port}", timeout=1, retries=1)
    with client, pytest.raises(GraphiteUnavailable, match="cannot connect to Graphite"):
        client.find("*")
    assert time.monotonic() - started < 5 * UNIT


def test_record_deploy_on_our_stack(graphite_pair: Servers) -> None:
    deploy = Deploy("shop", "staging", sha="abc123def4567890", who="alice", url="https://ci/1")
    record(deploy, graphite_pair.ours, ("127.0.0.1", graphite_pair.ours_carbon))
    with GraphiteClient(graphite_pair.ours) as client:
        events = client.events(["deploy", "shop"], from_="-1h")
        assert events[-1].what == "deploy shop staging abc123def456"
        assert '"who": "alice"' in events[-1].data

        def metric_visible() -> bool:
            series = client.render("deploys.shop.staging", from_="-10min")
            return bool(series) and 1.0 in series[0].values

        wait_until(metric_visible)
        marked = client.render("drawAsInfinite(deploys.shop.staging)", from_="-10min")
        assert marked[0].tags["drawAsInfinite"] == "1"


def test_record_deploy_event_on_graphite_web(graphite_pair: Servers) -> None:
    record(Deploy("api", "prod", sha="f00"), graphite_pair.graphite, None)
    with GraphiteClient(graphite_pair.graphite) as client:
        assert (
            client.events(["deploy", "api", "prod"], from_="-1h")[-1].what == "deploy api prod f00"
        )


def test_monitor_deploy_command(graphite_pair: Servers) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "deploy", "--stack", "web", "--env", "production",
         "--sha", "1234567", "--graphite", graphite_pair.ours,
         "--carbon", f"127.0.0.1:{graphite_pair.ours_carbon}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "recorded: deploy web production 1234567 (deploys.web.production)" in ok.stdout
    closed = free_port(socket.SOCK_STREAM)
    started = time.monotonic()
    failed = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "deploy", "--stack", "web", "--env", "production",
         "--graphite", f"http://127.0.0.1:{closed}", "--carbon", f"127.0.0.1:{closed}",
         "--timeout", "1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "event not recorded: cannot connect to Graphite" in failed.stderr
    assert "metric deploys.web.production not sent to carbon" in failed.stderr
    assert time.monotonic() - started < 10 * UNIT


def test_deploy_not_recorded_lists_every_failure() -> None:
    closed = free_port(socket.SOCK_STREAM)
    with pytest.raises(DeployNotRecorded, match=r"event not recorded.*; metric"):
        record(Deploy("a", "b"), f"http://127.0.0.1:{closed}", ("127.0.0.1", closed), timeout=1)
