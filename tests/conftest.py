"""Shared test helpers: real sockets on port 0, and the rule that CI never skips."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from monitor import statsd

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"
#: One scalable unit for every wait in the suite (raise it on a slow machine).
UNIT = float(os.environ.get("TEST_TIME_UNIT", "1.0"))


class _OwnGroup(subprocess.Popen[Any]):
    """Every process a test starts leads a session of its own, and killing it kills
    all it started: a daemon that a killed wrapper left behind (a timed-out Etsy run
    once left ``monitor statsd`` holding 8125, and every later test needing it failed)
    or render workers outliving a killed ``monitor up`` cannot pile up in a CI run."""

    started: ClassVar[set[int]] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "process_group" not in kwargs:
            kwargs.setdefault("start_new_session", True)
        super().__init__(*args, **kwargs)
        if kwargs.get("start_new_session"):
            _OwnGroup.started.add(self.pid)

    def kill(self) -> None:
        """SIGKILL the whole group (``subprocess.run`` does this on a timeout)."""
        if self.pid in _OwnGroup.started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        super().kill()


subprocess.Popen = _OwnGroup  # type: ignore[misc]


def _running_groups() -> dict[int, str]:
    """Process group -> one of its running processes ("pid command"); zombies (orphans
    that pid 1 has not reaped, in a container) do not count."""
    groups: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if state != "Z" and int(group) not in groups:
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                groups[int(group)] = f"{stat.parent.name} {command[:120].decode(errors='replace')}"
    return groups


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Whatever a test left running is ended with the run, and named."""
    running = _running_groups()
    left = [running[pgid] for pgid in sorted(_OwnGroup.started) if pgid in running]
    for pgid in _OwnGroup.started & running.keys():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    if left:
        print("\nconftest: killed processes that tests left running:", *left, sep="\n  ")


#: Debian's Chromium, driven by Playwright for the page tests (no browser download).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def require_chromium() -> None:
    """Chromium must be there (``make test`` installs it)."""
    require("Debian's chromium (make test installs it)", Path(CHROMIUM).exists())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (sync Playwright)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def require(what: str, available: bool) -> None:
    """Skip when a tool is missing on a developer's machine; fail in CI, where nothing skips."""
    if available:
        return
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message}, and CI must run every test (make test installs it)")
    pytest.skip(message)


def node_binary() -> str:
    """The ``node`` executable, or skip/fail through ``require``."""
    node = shutil.which("node")
    require("node", node is not None)
    assert node is not None
    return node


def wait_until(condition: Callable[[], bool], timeout: float = 10 * UNIT) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (generous: it
    returns as soon as the condition holds, and a loaded 2-core machine is slow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f}s")
        time.sleep(0.005)


async def until(condition: Callable[[], bool], timeout: float = 5 * UNIT) -> None:
    """``wait_until`` for async tests: poll without blocking the event loop."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def taken_by(port: int, kind: str) -> str | None:
    """Who holds ``port`` (``kind`` "tcp" or "udp") on 127.0.0.1, as "pid N: command",
    or None when it is free: a test that needs a fixed port says whom to stop."""
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, sock_type) as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return None
        except OSError:
            pass
    inodes = set()
    for table in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                pid = fd_dir.parent.name
                command = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                return f"pid {pid}: {command.decode(errors='replace').strip()[:200]}"
    return "a process this user cannot see"


def stop_process(process: subprocess.Popen[str], timeout: float = 10 * UNIT) -> None:
    """Terminate a child (kill it and its group if it will not stop), kill whatever of
    its group outlived it, and close its pipes."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.pid in _OwnGroup.started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def start_monitor_up(data: Path, *settings: str) -> tuple[str, subprocess.Popen[str]]:
    """``monitor up`` as a process of its own on ``data``, each of ``settings`` passed
    as ``--set``; its URL (no final slash) once it says it is up. Its log goes to
    ``data/stderr.log``: a pipe nobody reads would stop it once full."""
    data.mkdir(parents=True, exist_ok=True)
    with (data / "stderr.log").open("w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "up", "--data-dir", str(data),
             *(arg for setting in settings for arg in ("--set", setting))],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "is up" in first, (first, (data / "stderr.log").read_text()[-2000:])
    return proc.stdout.readline().split()[0].rstrip("/"), proc


class UdpListener:
    """A real UDP socket on an ephemeral port that collects datagrams."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, 0))
        self.host = host
        self.port: int = self.sock.getsockname()[1]

    def recv(self, timeout: float = 5 * UNIT) -> tuple[bytes, tuple[str, int]]:
        """The next datagram and its sender's address."""
        self.sock.settimeout(timeout)
        data, addr = self.sock.recvfrom(65535)
        return data, addr

    def packets(self, n: int, timeout: float = 5 * UNIT) -> list[bytes]:
        """The next ``n`` datagrams."""
        return [self.recv(timeout)[0] for _ in range(n)]

    def packet(self) -> bytes:
        """The next datagram."""
        return self.recv()[0]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def udp() -> Iterator[UdpListener]:
    """A UDP listener on 127.0.0.1, port 0."""
    listener = UdpListener()
    yield listener
    listener.close()


@pytest.fixture(autouse=True)
def _fresh_default_client() -> Iterator[None]:
    """Every test starts and ends without a default statsd client."""
    statsd.set_client(None)
    yield
    previous = statsd.set_client(None)
    if previous is not None:
        previous.close()


@pytest.fixture(scope="session")
def graphite_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real graphite-web and our ``monitor up`` over the same whisper files."""
    from tests.graphite_web import servers

    yield from servers(tmp_path_factory.mktemp("graphite"))
