"""The Graphite client and ``monitor deploy``, against our API and the real graphite-web."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import time
from pathlib import Path

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


def deploy_command(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "deploy", *args],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip


def test_monitor_deploy_command(graphite_pair: Servers) -> None:
    where = ["--graphite", graphite_pair.ours, "--carbon", f"127.0.0.1:{graphite_pair.ours_carbon}"]
    ok = deploy_command("--stack", "web", "--env", "production", "--sha", "1234567", *where)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert (
        lines[0]
        == f"recorded: event 'deploy web production 1234567' recorded at {graphite_pair.ours}"
    )
    carbon = f"127.0.0.1:{graphite_pair.ours_carbon}"
    assert lines[1].startswith(f"recorded: metric deploys.web.production sent to carbon {carbon}")
    closed = free_port(socket.SOCK_STREAM)
    started = time.monotonic()
    failed = deploy_command("--stack", "web", "--env", "production", "--timeout", "1",
                            "--graphite", f"http://127.0.0.1:{closed}",
                            "--carbon", f"127.0.0.1:{closed}")  # fmt: skip
    assert failed.returncode == 1
    assert "event not recorded: cannot connect to Graphite" in failed.stderr
    assert "metric deploys.web.production not sent to carbon" in failed.stderr
    assert "recorded:" not in failed.stdout
    assert time.monotonic() - started < 10 * UNIT
    nothing = deploy_command("--stack", "web", "--env", "production", "--graphite", "none",
                             "--carbon", "none")  # fmt: skip
    assert nothing.returncode == 2
    assert "nothing to record" in nothing.stderr


def test_running_a_deploy_again_records_nothing_twice(graphite_pair: Servers) -> None:
    """A pipeline retries after a partial failure: the event got through, the metric did
    not. The retry sends the metric at the event's time and posts no second event; a
    rollback to an earlier sha, or --force, is a deploy of its own."""
    closed = free_port(socket.SOCK_STREAM)
    stack = f"retry{time.monotonic_ns()}"
    first = deploy_command("--stack", stack, "--env", "prod", "--sha", "aaa111",
                           "--graphite", graphite_pair.ours, "--carbon", f"127.0.0.1:{closed}",
                           "--timeout", "1")  # fmt: skip
    assert first.returncode == 1
    assert first.stdout.startswith(f"recorded: event 'deploy {stack} prod aaa111' recorded at")
    assert f"metric deploys.{stack}.prod not sent" in first.stderr
    when = int(first.stderr.rsplit("--when ", 1)[1].rstrip(")\n"))
    carbon = f"127.0.0.1:{graphite_pair.ours_carbon}"
    again = [
        "--stack",
        stack,
        "--env",
        "prod",
        "--graphite",
        graphite_pair.ours,
        "--carbon",
        carbon,
    ]
    retry = deploy_command(*again, "--sha", "aaa111", "--when", str(when))
    assert retry.returncode == 0, retry.stderr
    assert "was already recorded" in retry.stdout
    assert "not posted again" in retry.stdout
    same = deploy_command(*again, "--sha", "aaa111")  # without --when: still the same deploy
    assert "was already recorded" in same.stdout
    with GraphiteClient(graphite_pair.ours) as client:
        assert [e.when for e in client.events(["deploy", stack], from_="-1h")] == [when]

        def metric_at_the_events_time() -> bool:
            series = client.render(f"deploys.{stack}.prod", from_=when - 60, until=when + 60)
            return bool(series) and (1.0, when - when % 10) in series[0].datapoints

        wait_until(metric_at_the_events_time)
        for sha in ("bbb222", "aaa111"):  # a new deploy, then a rollback to the first
            assert "was already" not in deploy_command(*again, "--sha", sha).stdout
        assert "was already" not in deploy_command(*again, "--sha", "aaa111", "--force").stdout
        shas = [e.data for e in client.events(["deploy", stack], from_="-1h")]
        assert [s.count("aaa111") for s in shas] == [1, 0, 1, 1]


def test_monitor_deploy_finds_the_stack_where_monitor_up_is_told_it_is(
    graphite_pair: Servers, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.toml"
    port = graphite_pair.ours.rsplit(":", 1)[1]
    config.write_text(f"[http]\nport = {port}\n[carbon]\nport = {graphite_pair.ours_carbon}\n")
    stack = f"configured{time.monotonic_ns()}"
    env = {
        k: v for k, v in os.environ.items() if k not in ("MONITOR_GRAPHITE_URL", "MONITOR_CARBON")
    }
    env["USER"] = ""  # as in some CI containers: then the login name
    done = deploy_command("--config", str(config), "--stack", stack, "--env", "prod", env=env)
    assert done.returncode == 0, done.stderr
    assert f"recorded at http://127.0.0.1:{port}" in done.stdout
    assert f"sent to carbon 127.0.0.1:{graphite_pair.ours_carbon}" in done.stdout
    with GraphiteClient(graphite_pair.ours) as client:
        (event,) = client.events(["deploy", stack], from_="-1h")
    assert json.loads(event.data)["who"] == pwd.getpwuid(os.getuid()).pw_name


def test_deploy_not_recorded_lists_every_failure() -> None:
    closed = free_port(socket.SOCK_STREAM)
    with pytest.raises(DeployNotRecorded, match=r"event not recorded.*; metric"):
        record(Deploy("a", "b"), f"http://127.0.0.1:{closed}", ("127.0.0.1", closed), timeout=1)
