"""Record what application code sends, for the application's own tests.

::

    from monitor import statsd
    from monitor.statsd.testing import recording

    def test_checkout():
        with recording() as sent:
            checkout()
        sent.assert_incr("checkout.ok")
        sent.assert_timing("db.query")
        assert sent.lines == ["checkout.ok:1|c", "db.query:12.000000|ms"]

With pytest the ``statsd_recorder`` fixture does the same (installed with this
package). The recorder builds lines with the same code as the real client, in strict
mode, so a call that production would drop (an empty name, a count that is not a
number) fails the test with ``InvalidMetric`` instead.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from monitor.statsd import set_client
from monitor.statsd._client import BaseClient

__all__ = ["Recorder", "Sent", "recording"]


@dataclass(frozen=True)
class Sent:
    """One statsd line, split into its fields: ``name:value|kind[|@rate]``."""

    name: str
    value: str
    kind: str
    rate: float = 1.0

    @classmethod
    def parse(cls, line: str) -> Sent:
        """Split a line this package produced (not a general statsd parser)."""
        name, _, rest = line.partition(":")
        value, kind, *extra = rest.split("|")
        rate = float(extra[0][1:]) if extra and extra[0].startswith("@") else 1.0
        return cls(name, value, kind, rate)

    def __str__(self) -> str:
        rate = "" if self.rate == 1 else f"|@{self.rate}"
        return f"{self.name}:{self.value}|{self.kind}{rate}"


class Recorder(BaseClient):
    """A client that keeps every datagram it would have sent, with assertions on them.

    Names in assertions are written as in the code: they are sanitized and prefixed
    like the names sent.
    """

    def __init__(
        self,
        prefix: str | None = None,
        maxudpsize: int = 512,
        *,
        strict: bool = True,
        random: Callable[[], float] = _random.random,
    ) -> None:
        super().__init__(prefix, maxudpsize, strict=strict, random=random)
        #: The datagrams, as they would have left the process.
        self.packets: list[str] = []

    def _send(self, data: str) -> None:
        self.packets.append(data)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        self.packets.clear()

    @property
    def lines(self) -> list[str]:
        """Every line sent, in order (a pipeline's packet holds several)."""
        return [line for packet in self.packets for line in packet.split("\n")]

    @property
    def sent(self) -> list[Sent]:
        """Every line sent, parsed."""
        return [Sent.parse(line) for line in self.lines]

    def of(self, name: str, kind: str | None = None) -> list[Sent]:
        """The lines sent for ``name`` (as written in the code), optionally of one kind."""
        wire = self.full_name(name)
        return [s for s in self.sent if s.name == wire and (kind is None or s.kind == kind)]

    def counter_total(self, name: str) -> float:
        """The sum of the counts sent for ``name``, as called (not scaled by the rate)."""
        return sum(float(s.value) for s in self.of(name, "c"))

    def gauge_value(self, name: str) -> float | None:
        """The gauge's value as the daemon would hold it after these lines."""
        value = None
        for s in self.of(name, "g"):
            signed = s.value[:1] in "+-"
            value = (value or 0.0) + float(s.value) if signed else float(s.value)
        return value

    def assert_incr(self, name: str, count: float | None = None) -> None:
        """Assert ``name`` was incremented; with ``count``, by that much in total."""
        lines = [s for s in self.of(name, "c") if float(s.value) > 0]
        total = sum(float(s.value) for s in lines)
        self._check(bool(lines) and (count is None or total == count), "incr", name, count)

    def assert_decr(self, name: str, count: float | None = None) -> None:
        """Assert ``name`` was decremented; with ``count``, by that much in total."""
        lines = [s for s in self.of(name, "c") if float(s.value) < 0]
        total = -sum(float(s.value) for s in lines)
        self._check(bool(lines) and (count is None or total == count), "decr", name, count)

    def assert_gauge(self, name: str, value: float | None = None) -> None:
        """Assert the gauge ``name`` was sent; with ``value``, that it ends at ``value``."""
        current = self.gauge_value(name)
        ok = current is not None and (value is None or current == value)
        self._check(ok, "gauge", name, value)

    def assert_set(self, name: str, member: object | None = None) -> None:
        """Assert something was added to the set ``name``; with ``member``, that one."""
        members = [s.value for s in self.of(name, "s")]
        ok = bool(members) and (member is None or str(member) in members)
        self._check(ok, "set", name, member)

    def assert_timing(self, name: str, count: int | None = None) -> None:
        """Assert a duration was recorded for ``name``; with ``count``, that many."""
        timings = self.of(name, "ms")
        self._check(
            bool(timings) and (count is None or len(timings) == count), "timing", name, count
        )

    def assert_not_sent(self, name: str) -> None:
        """Assert nothing at all was sent for ``name``."""
        if self.of(name):
            raise AssertionError(f"expected nothing sent for {name!r}, got:\n{self._dump(name)}")

    def _check(self, ok: bool, what: str, name: str, expected: object) -> None:
        if ok:
            return
        detail = "" if expected is None else f" {expected!r}"
        raise AssertionError(f"expected {what} {name!r}{detail}; sent:\n{self._dump(None)}")

    def _dump(self, name: str | None) -> str:
        sent = self.sent if name is None else self.of(name)
        return "\n".join(f"  {s}" for s in sent[-50:]) or "  (nothing)"


@contextmanager
def recording(prefix: str | None = None) -> Iterator[Recorder]:
    """Send the module-level functions' metrics to a ``Recorder`` for the block."""
    recorder = Recorder(prefix)
    previous = set_client(recorder)
    try:
        yield recorder
    finally:
        set_client(previous)
