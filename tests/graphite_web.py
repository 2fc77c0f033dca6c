"""A real graphite-web 1.1.10 (``.venv-graphite``, installed by ``make test``) and our
``monitor up``, serving the same whisper files, for side-by-side comparisons.

The data is written once per test session by our store into a temporary data
directory; graphite-web's ``WHISPER_DIR`` points at the same files. Every timestamp is
in the past, and queries give ``from`` and ``until`` as epoch seconds, so both servers
read the same points.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.store.whisper_store import WhisperStore
from tests.conftest import ROOT, UNIT, require, start_monitor_up, stop_process, wait_until

GRAPHITE_VENV = ROOT / ".venv-graphite"

SETTINGS = """
SECRET_KEY = "tests"
STORAGE_DIR = {storage!r}
WHISPER_DIR = {whisper!r}
CARBONLINK_HOSTS = []
TIME_ZONE = "UTC"
LOG_RENDERING_PERFORMANCE = False
LOG_CACHE_PERFORMANCE = False
DEFAULT_CACHE_DURATION = 0
DATABASES = {{"default": {{"NAME": {db!r}, "ENGINE": "django.db.backends.sqlite3"}}}}

# graphite-web 1.1.10's /functions calls inspect.getargspec and formatargspec, both gone
# in Python 3.11: put them back so its function catalogue can be compared with ours.
import inspect as _inspect


def _formatargspec(args, varargs=None, varkw=None, defaults=None):
    defaults = defaults or ()
    first_default = len(args) - len(defaults)
    parts = [
        a if i < first_default else a + "=" + repr(defaults[i - first_default])
        for i, a in enumerate(args)
    ]
    if varargs:
        parts.append("*" + varargs)
    if varkw:
        parts.append("**" + varkw)
    return "(" + ", ".join(parts) + ")"


_inspect.getargspec = lambda f: tuple(_inspect.getfullargspec(f))[:4]
_inspect.formatargspec = _formatargspec
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=30 * UNIT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post_json(url: str, body: object) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30 * UNIT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class Servers:
    """graphite-web and ours over the same data; ``t0``/``t1``: the data's time range."""

    graphite: str
    ours: str
    t0: int
    t1: int
    ours_carbon: int

    def compare(self, **params: Any) -> Any:
        """Render the same request on both; both answer 200 and the same series (values
        to 1e-9 relative). Returns graphite-web's answer."""
        status_g, expected = self.render(self.graphite, **params)
        status_o, actual = self.render(self.ours, **params)
        assert status_g == 200, expected
        assert status_o == 200, actual
        same_render(expected, actual)
        return expected

    def render(self, base: str, **params: Any) -> tuple[int, Any]:
        query = urllib.parse.urlencode(
            {"format": "json", "from": self.t0, "until": self.t1, **params}, doseq=True
        )
        status, body = get(f"{base}/render?{query}")
        try:
            return status, json.loads(body)
        except json.JSONDecodeError:
            return status, body.decode("utf-8", "replace")


#: Tagged series (carbon's ``name;tag=value`` form), in the data and in graphite-web's
#: tag database.
TAGGED = [
    "disk.used;host=web1;dc=east",
    "disk.used;host=web2;dc=east",
    "disk.used;dc=west;host=db1",
    "cpu;host=web1",
    "cpu;host=web2;dc=east;rack=r1",
]


def post_form(url: str, fields: list[tuple[str, str]]) -> tuple[int, Any]:
    """Status and JSON answer of a form POST."""
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        url, body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30 * UNIT) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def write_data(whisper_dir: Path, now: int) -> tuple[int, int]:
    """The shared data set; returns the time range it covers."""
    t1 = now - now % 60 - 600
    t0 = t1 - 3 * 3600
    store = WhisperStore(whisper_dir, clock=lambda: now)
    store.start()
    points = []
    for i, ts in enumerate(range(t0, t1, 10)):
        for host in (1, 2, 3):
            if (i + host) % 17 != 0:  # some gaps
                points.append((f"web.host{host}.requests", float((i * host) % 50 + host), ts))
            points.append((f"web.host{host}.latency", 10.0 + (i % 13) * host / 3, ts))
        counter = i * 7 if i < 500 else (i - 500) * 7  # a counter that resets once
        points.append(("app.checkout.total", float(counter), ts))
        points.append(("stats.gauges.queue", float(i % 9), ts))
        if i % 180 == 0:
            points.append(("deploys.web.production", 1.0, ts))
        for n, name in enumerate(TAGGED):
            if (i + n) % 11:
                points.append((name, float((i * (n + 1)) % 40), ts))
    store.add(points)
    store.stop()
    return t0, t1


@dataclass
class _Process:
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        stop_process(self.proc)


def _start_graphite_web(data: Path, cluster: list[str] | None = None) -> tuple[str, _Process]:
    """graphite-web over ``data/whisper``, or, given ``cluster``, a front end with no
    data of its own that asks those members (``CLUSTER_SERVERS``)."""
    require(
        "graphite-web 1.1.10 (make test installs .venv-graphite)",
        (GRAPHITE_VENV / "bin" / "gunicorn").is_file(),
    )
    conf = data / "graphite-conf"
    conf.mkdir()
    storage = data / "graphite-storage"
    (storage / "log" / "webapp").mkdir(parents=True)
    settings = SETTINGS.format(
        storage=str(storage), whisper=str(data / "whisper"), db=str(storage / "graphite.db")
    )
    if cluster is not None:
        (data / "whisper").mkdir(exist_ok=True)
        settings += f"CLUSTER_SERVERS = {cluster!r}\nREMOTE_EXCLUDE_LOCAL = False\n"
        settings += "FIND_CACHE_DURATION = 0\nREMOTE_RETRY_DELAY = 0\n"
    (conf / "monitor_test_settings.py").write_text(settings)
    env = {
        **os.environ,
        "PYTHONPATH": str(conf),
        "GRAPHITE_SETTINGS_MODULE": "monitor_test_settings",
        "DJANGO_SETTINGS_MODULE": "graphite.settings",
    }
    subprocess.run(
        [str(GRAPHITE_VENV / "bin" / "django-admin"), "migrate", "-v0"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    proc = subprocess.Popen(
        [str(GRAPHITE_VENV / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "graphite.wsgi:application"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url), 60 * UNIT)
    if cluster is None:
        # graphite-web finds tagged series through its tag database (carbon registers them)
        status, answer = post_form(f"{url}/tags/tagMultiSeries", [("path", p) for p in TAGGED])
        assert status == 200, answer
    return url, _Process(proc)


@contextlib.contextmanager
def graphite_front_end(data: Path, members: list[str]) -> Iterator[str]:
    """A graphite-web with no data of its own in front of ``members`` (host:port, with
    ``?format=msgpack`` for that format); its URL."""
    data.mkdir(parents=True, exist_ok=True)
    url, process = _start_graphite_web(data, members)
    try:
        yield url
    finally:
        process.stop()


def _answers(url: str) -> bool:
    try:
        return get(f"{url}/version/")[0] == 200
    except OSError:
        return False


def _start_ours(data: Path, carbon_port: int) -> tuple[str, _Process]:
    url, proc = start_monitor_up(
        data, "http.port=0", "statsd.port=0", "statsd.mgmt_port=0",
        f"carbon.port={carbon_port}", "carbon.udp=false",
    )  # fmt: skip
    return url, _Process(proc)


def servers(data: Path) -> Iterator[Servers]:
    """Write the data, start both servers, yield them, stop them."""
    import time

    t0, t1 = write_data(data / "whisper", int(time.time()))
    graphite_url, graphite = _start_graphite_web(data)
    try:
        carbon_port = _free_port()
        ours_url, ours = _start_ours(data, carbon_port)
        try:
            yield Servers(graphite_url, ours_url, t0, t1, carbon_port)
        finally:
            ours.stop()
    finally:
        graphite.stop()


def same_render(expected: Any, actual: Any) -> None:
    """Assert two render JSON answers are equal (values to 1e-9 relative)."""
    assert isinstance(actual, list), actual
    assert [s["target"] for s in actual] == [s["target"] for s in expected]
    for want, got in zip(expected, actual, strict=True):
        assert got["tags"] == want["tags"], want["target"]
        assert [ts for _, ts in got["datapoints"]] == [ts for _, ts in want["datapoints"]], want[
            "target"
        ]
        for (a, ts), (b, _) in zip(want["datapoints"], got["datapoints"], strict=True):
            if a is None or b is None:
                assert a == b, f"{want['target']} at {ts}: graphite {a}, ours {b}"
            else:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (
                    f"{want['target']} at {ts}: graphite {a}, ours {b}"
                )
