"""How much one Graphite API request may cost, and the meter that enforces it.

A render's cost is the requester's to choose: a glob over every series, a year of
10-second points, ``sinFunction`` with a one-second step over a decade. Each request
therefore carries a ``Budget`` (on its ``Context``) that counts the series it reads and
the points it reads or makes before consolidation; past a limit it raises
``LimitExceeded``, whose message names the limit and the setting that raises it, and
the API answers 400 (413 for an answer too large to send). The time a request may
take and the memory a render worker may use are enforced by the worker pool
(``monitor/web/render_pool.py``), which can stop any computation.

The defaults are sized for a 2-core box with a few GB of memory running everything:
5 million points are about 40 MB as stored doubles and about 160 MB once a function
turns them into Python floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Budget", "LimitExceeded", "RenderSettings"]


def _range(low: float, high: float) -> dict[str, object]:
    return {"range": (low, high)}


@dataclass(frozen=True)
class RenderSettings:
    """``[render]``: the render workers and what one request may ask of them."""

    #: Worker processes that evaluate renders, finds and tag queries (0: one per core,
    #: at most 4). The event loop only parses requests and sends answers.
    workers: int = field(default=0, metadata=_range(0, 64))
    #: Seconds a request may take, waiting for a worker included; past it the worker
    #: is stopped and the answer is 503.
    timeout: float = field(default=30.0, metadata=_range(0.1, 3600))
    #: Requests that may wait for a worker; more get 503 at once.
    max_queue: int = field(default=64, metadata=_range(0, 100_000))
    #: Memory one worker may use (MiB); a render past it gets 503.
    max_memory_mb: int = field(default=1536, metadata=_range(128, 1_048_576))
    #: Series one request may read (every path a glob finds counts).
    max_series: int = field(default=10_000, metadata=_range(1, 100_000_000))
    #: Points one request may read or generate, before consolidation.
    max_points: int = field(default=5_000_000, metadata=_range(1, 10_000_000_000))
    #: Bytes of one answer (JSON, CSV, raw).
    max_output_bytes: int = field(default=64 * 1024 * 1024, metadata=_range(1024, 2**40))
    #: Targets (or tag expressions, or find queries) in one request.
    max_targets: int = field(default=500, metadata=_range(1, 1_000_000))
    #: Characters of one target.
    max_target_length: int = field(default=20_000, metadata=_range(10, 10_000_000))


class LimitExceeded(ValueError):
    """A request asked for more than a ``[render]`` limit allows."""

    def __init__(self, what: str, limit: int, setting: str, hint: str = "", unit: str = "") -> None:
        message = f"{what} (more than {limit:,}{unit}: the limit is render.{setting})"
        super().__init__(message + (f"; {hint}" if hint else ""))
        self.setting = setting


@dataclass
class Budget:
    """What one request has used so far, against its limits (shared by every part of
    the request: ``Context.shifted`` keeps the same budget)."""

    max_series: int | None = None
    max_points: int | None = None
    series: int = 0
    points: int = 0

    @classmethod
    def of(cls, settings: RenderSettings) -> Budget:
        """A fresh budget with ``settings``' limits."""
        return cls(settings.max_series, settings.max_points)

    def read(self, series: int, points: int) -> None:
        """Count ``series`` series of ``points`` points in all, read from storage."""
        self.series += series
        if self.max_series is not None and self.series > self.max_series:
            raise LimitExceeded(
                "this request reads too many series",
                self.max_series,
                "max_series",
                "narrow the globs",
            )
        self.make(points)

    def make(self, points: int) -> None:
        """Count ``points`` points about to be made (call before making them)."""
        self.points += points
        if self.max_points is not None and self.points > self.max_points:
            raise LimitExceeded(
                "this request reads or makes too many points",
                self.max_points,
                "max_points",
                "ask for a shorter range, coarser steps or fewer series",
            )
