"""Agents on separate hosts: network namespaces joined to a hub by veth links.

Three namespaces (the hub and two agent hosts), each agent on its own point-to-point
link to the hub, and one link from the test (the root namespace) to the hub for the
viewers. A link is cut while lines are written, then restored; the hub is restarted;
one agent is killed and restarted. Every line must arrive exactly once, in order per
file. Needs root and ``ip`` (CI runs as root).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from supergrep.server import host_token
from tests.conftest import UNIT, require, stop_process
from tests.supergrep.hubs import ViewerClient
from tests.supergrep.test_agent import Writer

TOKEN = "netns-test-token"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Hosts:
    """The namespaces and links; ``ns`` maps a role to its namespace name."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns = {role: f"sg{tag}{role}" for role in ("hub", "a", "b")}
        self.links: dict[str, tuple[str, str]] = {}  # role -> (its side, hub side)
        self.hub_ip = {"root": "10.231.0.2", "a": "10.231.1.1", "b": "10.231.2.1"}
        for name in self.ns.values():
            ip("netns", "add", name)
        self._link("root", 0, None)
        self._link("a", 1, self.ns["a"])
        self._link("b", 2, self.ns["b"])

    def _link(self, role: str, subnet: int, namespace: str | None) -> None:
        here, there = f"sg{os.getpid() % 100000}{role}0", f"sgh{role}"
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", self.ns["hub"])
        ip(
            "-n",
            self.ns["hub"],
            "addr",
            "add",
            f"10.231.{subnet}.{1 if role != 'root' else 2}/24",
            "dev",
            there,
        )
        ip("-n", self.ns["hub"], "link", "set", there, "up")
        ip("-n", self.ns["hub"], "link", "set", "lo", "up")
        address = f"10.231.{subnet}.{2 if role != 'root' else 1}/24"
        if namespace is not None:
            ip("link", "set", here, "netns", namespace)
            ip("-n", namespace, "addr", "add", address, "dev", here)
            ip("-n", namespace, "link", "set", here, "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        else:
            ip("addr", "add", address, "dev", here)
            ip("link", "set", here, "up")
        self.links[role] = (here, there)

    def cut(self, role: str, up: bool) -> None:
        """Take an agent host's link down (or up again), on its side."""
        here, _ = self.links[role]
        ip("-n", self.ns[role], "link", "set", here, "up" if up else "down")

    def run(self, role: str, args: list[str], log: Path) -> subprocess.Popen[str]:
        with log.open("a") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                ["ip", "netns", "exec", self.ns[role], sys.executable, "-m", "supergrep.cli",
                 *args],
                stdout=out, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip

    def remove(self) -> None:
        with_root_link = self.links.get("root")
        if with_root_link is not None:
            subprocess.run(["ip", "link", "del", with_root_link[0]], capture_output=True)
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    require(
        "network namespaces (root and the ip command)",
        os.geteuid() == 0 and shutil.which("ip") is not None,
    )
    made = Hosts()
    try:
        yield made
    finally:
        made.remove()


async def test_two_hosts_every_line_once_across_cut_links_and_restarts(
    tmp_path: Path, hosts: Hosts
) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "hubdata"}"\n'
        f'[http]\nhost = "0.0.0.0"\nport = 8080\ntoken = "{TOKEN}"\n'
        "[supergrep]\nring = 100000\n[supergrep.streams.app]\npaths = []\n"
    )
    writers = {}
    for role in ("a", "b"):
        (tmp_path / role).mkdir()
        writers[role] = Writer(tmp_path / role / "app.log", role)
        writers[role].write(0)
    logs = tmp_path / "process.log"
    processes: list[subprocess.Popen[str]] = []

    def start_hub() -> subprocess.Popen[str]:
        processes.append(hosts.run("hub", ["serve", "--config", str(config)], logs))
        return processes[-1]

    def start_agent(role: str) -> subprocess.Popen[str]:
        args = [
            "agent", "--hub", f"ws://{hosts.hub_ip[role]}:8080/supergrep/ingest",
            "--token", host_token(TOKEN, f"host-{role}"),  # its own: bound to its name
            "--stream", f"app={tmp_path / role}/*.log",
            "--host", f"host-{role}", "--state", str(tmp_path / f"{role}.json"),
            "--keepalive", "1",
        ]  # fmt: skip
        processes.append(hosts.run(role, args, logs))
        return processes[-1]

    viewer_url = f"ws://{hosts.hub_ip['root']}:8080/supergrep/ws"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    received: list[dict[str, object]] = []

    def complete(lines: list[dict[str, object]]) -> bool:
        """Every host's lines have all arrived (counted per host: a duplicate from one
        cannot make up for a line missing from the other)."""
        every = received + lines
        return all(
            sum(1 for x in every if x["host"] == f"host-{role}") >= len(w.written)
            for role, w in writers.items()
        )

    async def watch(until_count: int, during: object = None) -> None:
        """Connect a viewer to the current hub (retrying while it starts), take its whole
        ring, then live lines until ``until_count`` lines arrived in total and every
        host's lines written so far are in."""
        for _ in range(100):
            try:
                async with ViewerClient.connect(viewer_url, additional_headers=headers) as v:
                    await v.subscribe("app", backfill=10000)
                    await v.until(lambda c: bool(c.of("subscribed")))
                    if callable(during):
                        await during()
                    try:
                        await v.until(
                            lambda c: (
                                len(received) + len(c.lines()) >= until_count
                                and complete(c.lines())
                            ),
                            90,  # a loaded CI machine has been seen to need more than 40 s
                        )
                    except AssertionError:  # say which host fell short, and what they said
                        every = received + v.lines()
                        counts = {
                            role: (sum(1 for x in every if x["host"] == f"host-{role}"),
                                   len(w.written))
                            for role, w in writers.items()
                        }  # fmt: skip
                        raise AssertionError(
                            f"(received, written) per host: {counts};"
                            f" processes said: {logs.read_text()[-3000:]}"
                        ) from None
                    await asyncio.sleep(0.5)  # duplicates, if any, would be here by now
                    received.extend(v.lines())
                    return
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError(f"no hub at {viewer_url}; see {logs.read_text()[-2000:]}")

    try:
        hub = start_hub()
        agents = {role: start_agent(role) for role in ("a", "b")}
        await asyncio.sleep(1.5 * UNIT)  # agents open their files at the end

        async def first_phase() -> None:
            for _ in range(5):
                for w in writers.values():
                    w.write(100)
                await asyncio.sleep(0.05)
            hosts.cut("a", up=False)  # host a drops off the network while writing
            for _ in range(10):  # 3 s: longer than the agent's keepalive allows
                writers["a"].write(100)
                writers["b"].write(50)
                await asyncio.sleep(0.3)
            hosts.cut("a", up=True)

        await watch(1000 + 1000 + 500, first_phase)
        # host a noticed the dead link and dialled again
        assert logs.read_text().count("as host-a") >= 2
        # restart the hub; while it is down both hosts keep writing
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(10) == 0
        for w in writers.values():
            w.write(200)
        start_hub()

        async def second_phase() -> None:
            agents["b"].send_signal(signal.SIGKILL)  # and one agent dies hard
            agents["b"].wait()
            writers["b"].write(120)
            start_agent("b")
            writers["a"].write(80)

        await watch(sum(len(w.written) for w in writers.values()), second_phase)
    finally:
        for process in processes:
            if process.poll() is None:
                stop_process(process)
    report = []
    for role, w in writers.items():
        mine = [str(x["text"]) for x in received if x["host"] == f"host-{role}"]
        missing = len(set(w.written) - set(mine))
        twice = len(mine) - len(set(mine))
        if mine != w.written:
            report.append(f"host {role}: {len(mine)} of {len(w.written)} lines,"
                          f" {missing} missing, {twice} twice")  # fmt: skip
    assert not report, "; ".join(report)
