"""The demo shop's past: days of realistic history, written once on a first ``--demo``.

Live, the shop (``demo.py``) sends statsd lines, the daemon flushes every 10 s, and the
store's writer puts each flush into the finest whisper archive, which whisper rolls up
into the coarser ones. Without a past, every default range shows a few minutes squeezed
into its right edge. This module computes what those flushes would have left on disk
(and the deploys of the period), without sockets, threads or files:

* ``History`` (pure: the clock and a ``random.Random`` are arguments) draws, for each
  point of each archive, the value whisper's roll-up of the 10 s flushes would hold for
  that name's aggregation method (``sum``: the bucket's total, ``average``: the mean,
  ``max``/``min``/``last`` likewise), straight from the traffic model: a bucket's
  requests, errors and latency order statistics are drawn once, never flush by flush.
  Names come from the daemon's own ``Namespace``, archives and methods from the store's
  rules, so other statsd or retention settings still give what live data would.
  Each age is written at the resolution of the archive that keeps it (``update_many``
  routes a point by its age): 10 s for the last 6 h, 1 min to 7 d, 10 min beyond.
* ``schedule`` makes the deploys of the period (weekdays, working hours UTC, web and api
  in turn, one in four bad: more errors and slower requests for a few minutes). The
  last hour always holds a deploy of each stack and a bad one, so the 1 h view shows
  them.
* ``History.batches`` hands the points out in the order they must reach disk; the
  writing edge, ``demo_backfill.py``, adds them to the running store.

Traffic follows a daily curve (quiet at 04:00 UTC, busy at 16:00), lower at weekends,
with slow noise (the curve is ``demo.traffic``, which the live shop follows too), and
the noise fades out over the last two hours so that the live data joins it without a
cliff.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from monitor.aggregator.jsnumber import round_half_up
from monitor.aggregator.namespace import Namespace
from monitor.aggregator.settings import StatsdSettings
from monitor.aggregator.timers import filter_stats, threshold_suffix
from monitor.demo import (
    BAD_ERRORS,
    BAD_SLOWDOWN,
    CALM_ERRORS,
    CART_ITEMS,
    ENDPOINTS,
    LATENCY_SIGMA,
    PAYMENT_FAILURES,
    PEOPLE,
    RATE,
    SLOW,
    TRACEBACK_SHARE,
    TRACEBACKS,
    USERS,
    traffic,
)
from monitor.deploys import Deploy

__all__ = ["History", "PastDeploy", "Traffic", "schedule"]

MINUTE, HOUR, DAY = 60, 3600, 86400
STACKS = ("web", "api")
#: Of the deploys, the share that is bad, and how long a bad one hurts (seconds).
BAD_SHARE = 0.25
BAD_FOR = (180.0, 360.0)
#: Latency grows a little with load: by (rate / RATE) to this power.
LOAD_SLOWDOWN = 0.15
#: Over the last this many seconds the noise fades out: live data joins without a step.
BLEND = 2 * HOUR
#: Lines per second in ``monitor up``'s own log, and statsd bytes per request.
MONITOR_LINES = 0.002
LINE_BYTES, PACKET = 58, 512
#: Points per series in one batch (whisper's ``update_many`` slows down with long runs).
CHUNK = 1440
#: A point must reach disk this many seconds before its age passes its archive's
#: retention (else whisper files it one archive down); the points this close to a
#: boundary go first, in a batch of their own (``History.batches``).
SAFETY, EDGE = 5, 600

Point = tuple[str, float, int]
Archives = list[tuple[int, int]]
RulesFor = Callable[[str], tuple[Archives, str, float]]
#: One series' value in one bucket: the mean of its flushes' values, how much one
#: flush's value varies (for ``max``/``min``/``last``), and one flush's value if known.
Value = tuple[float, float, float | None]

#: The shop's counters (statsd keys); statsd adds three of its own.
COUNTERS = (
    *(f"shop.requests.{e}" for e in ENDPOINTS),
    "shop.errors",
    "shop.checkout.ok",
    "shop.checkout.failed",
    "logs.demo.errors",
    "logs.demo.tracebacks",
    "supergrep.lines.demo",
    "supergrep.lines.monitor",
)

_NORMAL = NormalDist()
_AVERAGES = frozenset({"average", "avg_zero"})
_TRACEBACK_LINES = sum(len(lines) for lines in TRACEBACKS.values()) / len(TRACEBACKS)
_P_SLOW = 1 - _NORMAL.cdf(math.log(SLOW) / LATENCY_SIGMA)
#: Of a lognormal with LATENCY_SIGMA, relative to its median: the mean, the mean
#: square, and the coefficient of variation.
_MEAN = math.exp(LATENCY_SIGMA**2 / 2)
_SQUARES = math.exp(2 * LATENCY_SIGMA**2)
_CV = math.sqrt(math.exp(LATENCY_SIGMA**2) - 1)
_CART = tuple(CART_ITEMS)


@dataclass(frozen=True)
class PastDeploy:
    """A deploy of the past; ``bad_for`` seconds of errors and slowness after it (0: fine)."""

    deploy: Deploy
    bad_for: float = 0.0


def _weekday(t: float) -> int:
    return (int(t // DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0


def schedule(start: float, end: float, rng: random.Random) -> list[PastDeploy]:
    """Deploys in ``[start, end)``: weekdays 09:00-18:00 UTC every 30-60 minutes, then
    four in the last hour (the second one bad), stacks in turn, by made-up people."""
    whens: list[int] = []
    last_hour = end - HOUR
    day = start - start % DAY
    while day < last_hour:
        if _weekday(day) < 5:
            t = day + 9 * HOUR + rng.uniform(0, 30 * MINUTE)
            while t < min(day + 18 * HOUR, last_hour):
                if t >= start:
                    whens.append(int(t))
                t += rng.uniform(30 * MINUTE, 60 * MINUTE)
        day += DAY
    regular = len(whens)
    whens += [int(end - m * MINUTE + rng.uniform(-90, 90)) for m in (55, 40, 24, 9)]
    deploys = []
    for i, when in enumerate(whens):
        stack = STACKS[i % 2]
        bad = i == regular + 1 if i >= regular else rng.random() < BAD_SHARE
        deploy = Deploy(
            stack,
            "production",
            f"{rng.getrandbits(32):08x}",
            rng.choice(PEOPLE),
            f"https://example.com/demo-shop/{stack}/deploys/{i + 1}",
            when=float(when),
        )
        deploys.append(PastDeploy(deploy, rng.uniform(*BAD_FOR) if bad else 0.0))
    return [d for d in deploys if start <= d.deploy.when < end]


class Traffic:
    """Requests per second at any time of the period, and the bad deploys' windows."""

    KNOT = 30 * MINUTE

    def __init__(
        self, start: float, now: float, rng: random.Random, deploys: Sequence[PastDeploy]
    ) -> None:
        self.now = now
        self.origin = start - HOUR
        level, self.knots = 0.0, []
        for _ in range(int((now + HOUR - self.origin) // self.KNOT) + 2):
            level = 0.8 * level + rng.gauss(0, 0.06)
            self.knots.append(level)
        self.ratio = traffic(now) / self._base(now)
        bad = sorted((d.deploy.when, d.deploy.when + d.bad_for) for d in deploys if d.bad_for)
        self.bad_starts = [b for b, _ in bad]
        self.bad_ends = [e for _, e in bad]
        self.deploy_times = sorted(d.deploy.when for d in deploys)

    def _base(self, t: float) -> float:
        x = (t - self.origin) / self.KNOT
        i = min(max(int(x), 0), len(self.knots) - 2)
        noise = self.knots[i] + (self.knots[i + 1] - self.knots[i]) * (x - i)
        return traffic(t) * math.exp(noise)

    def rate(self, t: float) -> float:
        """Requests per second around ``t``: the curve, bent to the live rate near now."""
        b = max(0.0, 1 - (self.now - t) / BLEND)
        return self._base(t) * math.pow(self.ratio, b * b * (3 - 2 * b))

    def bad(self, t0: float, t1: float) -> float:
        """The share of ``[t0, t1)`` spent in a bad deploy's window."""
        i = bisect.bisect_left(self.bad_starts, t1) - 1
        covered = 0.0
        while i >= 0 and self.bad_ends[i] > t0:  # windows do not overlap: ends are sorted
            covered += max(0.0, min(t1, self.bad_ends[i]) - max(t0, self.bad_starts[i]))
            i -= 1
        return covered / (t1 - t0)

    def deploys(self, t0: float, t1: float) -> int:
        """How many deploys happened in ``[t0, t1)`` (each logs a line)."""
        return bisect.bisect_left(self.deploy_times, t1) - bisect.bisect_left(self.deploy_times, t0)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _count(total: float, k: int) -> Value:
    """A counter's value: ``total`` over ``k`` flushes."""
    per_flush = total / k
    return per_flush, math.sqrt(per_flush), None


@lru_cache(maxsize=256)
def _spread(values: tuple[int, ...], weights: tuple[float, ...]) -> float:
    mean = sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)
    pairs = zip(values, weights, strict=True)
    return math.sqrt(sum(w * (v - mean) ** 2 for v, w in pairs) / sum(weights))


def _discrete(
    rng: random.Random, values: tuple[int, ...], k: int, weights: tuple[float, ...]
) -> Value:
    """A value drawn afresh at each flush (a cart size, a lag, a millisecond)."""
    draws = rng.choices(values, weights, k=k)
    return sum(draws) / k, _spread(values, weights), draws[-1]


@lru_cache(maxsize=8192)
def _order(rank: int, n: int) -> tuple[float, float]:
    """The ``rank``-th smallest of ``n`` standard normal samples: mean and spread."""
    p = rank / (n + 1)
    z = _NORMAL.inv_cdf(p)
    return z, math.sqrt(p * (1 - p) / (n + 2)) / _NORMAL.pdf(z)


def _cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _zmax(rng: random.Random, k: int) -> float:
    """How far the largest of ``k`` flushes lies above their mean, in spreads."""
    return 0.0 if k == 1 else max(0.0, _NORMAL.inv_cdf(rng.random() ** (1 / k)))


@dataclass(frozen=True)
class _Series:
    """One stored series: its name, the value it shows, and how its archives hold it."""

    name: str
    key: str
    scale: float
    integral: bool
    method: str
    signed: bool = False


@dataclass(frozen=True)
class _Span:
    """Points every ``every`` seconds in ``[start, end)``, each summarizing ``flushes``
    flushes; ``edge``: an older archive follows (its first points are at risk)."""

    every: int
    start: int
    end: int
    flushes: int
    edge: bool


def _spans(archives: Archives, start: int, end: int, now: int, flush: float) -> list[_Span]:
    """Where each archive's points go: by age as ``update_many`` routes them, with a
    margin at each retention boundary and coarse intervals left whole."""
    retention = [step * points for step, points in archives]
    first = archives[0][0] * max(1, math.ceil(flush / archives[0][0]))
    start = max(start, now - retention[-1] + archives[-1][0])
    spans = []
    for i, (step, _) in enumerate(archives):
        every = first if i == 0 else step
        lo = -(-start // every) * every
        if i + 1 < len(archives):
            boundary, coarse = now - retention[i], archives[i + 1][0]
            young = boundary - boundary % coarse + coarse
            lo = max(lo, young + (coarse if young - boundary < SAFETY else 0))
        hi = end
        if i > 0:  # only points strictly older than the finer archive keeps
            older = now - retention[i - 1] - 1
            hi = min(end, older - older % step + step)
        if lo < hi:
            spans.append(_Span(every, lo, hi, max(1, step // first), i + 1 < len(archives)))
    return spans


class History:
    """The shop's metrics and deploys for ``[start, end)`` as seen at ``now``."""

    def __init__(
        self,
        start: float,
        end: float,
        now: float,
        rules_for: RulesFor,
        rng: random.Random,
        statsd: StatsdSettings | None = None,
    ) -> None:
        statsd = statsd or StatsdSettings()
        self.start, self.end, self.now = int(start), int(end), int(now)
        self.rng = rng
        self.rules_for = rules_for
        self.flush = statsd.flush_interval / 1000
        self.deploys = schedule(start, end, rng)
        self.traffic = Traffic(start, now, rng, self.deploys)
        self.thresholds = [
            (p, threshold_suffix(p)) for p in sorted(statsd.percent_threshold) if p > 0
        ]
        self.internal = statsd.prefix_stats
        groups: dict[tuple[tuple[int, int], ...], list[_Series]] = {}
        for name, key, scale, integral in self._names(statsd):
            archives, method, _ = rules_for(name)
            signed = key.endswith(".timestamp_lag")
            series = _Series(name, key, scale, integral, method, signed)
            groups.setdefault(tuple(archives), []).append(series)
        self.groups = [(list(archives), series) for archives, series in groups.items()]
        # statsd's numStats: its counters, timers, gauges and sets (as in _names)
        self.num_stats = len(COUNTERS) + 3 + len(ENDPOINTS) + 2 + 1

    def _names(self, statsd: StatsdSettings) -> Iterator[tuple[str, str, float, bool]]:
        """(name, key, scale, integral) of every series, named by the daemon's Namespace."""
        ns, p = Namespace(statsd), self.internal
        internal = [f"{p}.bad_lines_seen", f"{p}.packets_received", f"{p}.metrics_received"]
        for key in [*COUNTERS, *internal]:
            for name, value in ns.metrics({key: 1.0}, 4.0, {}, {}, {}):
                rate = value != 1.0
                yield name, "c" + key, 1 / self.flush if rate else 1.0, not rate
        stats = ["count", "count_ps", "mean", "median", "std", "upper", "lower"]
        stats += ["sum", "sum_squares"]
        for _, suffix in self.thresholds:
            stats += [f"{s}_{suffix}" for s in ("count", "mean", "upper", "sum", "sum_squares")]
        kept = filter_stats(dict.fromkeys(stats, 0.0), statsd.calculated_timer_metrics)
        for e in ENDPOINTS:
            for stat in kept:
                [(name, _)] = ns.metrics({}, 1.0, {f"shop.request.{e}": {stat: 0.0}}, {}, {})
                yield name, f"t{e}|{stat}", 1.0, stat.startswith("count") and stat != "count_ps"
        for key in ("shop.cart.items", f"{p}.timestamp_lag"):
            [(name, _)] = ns.metrics({}, 1.0, {}, {key: 0.0}, {})
            yield name, "g" + key, 1.0, True
        [(name, _)] = ns.metrics({}, 1.0, {}, {}, {"shop.users": 0})
        yield name, "sshop.users", 1.0, True
        for (name, _), key in zip(
            ns.meta(0, 0, 0), ("numStats", "calc", "processing"), strict=True
        ):
            yield name, "m" + key, 1.0, True

    # -- points -----------------------------------------------------------------------

    def batches(self) -> Iterator[list[Point]]:
        """All points, in batches of at most ``CHUNK`` points a series: first the ones
        closest to a retention boundary (to be on disk before their age crosses it),
        then the rest, newest archive first, then the deploys' metric."""
        edge: list[Point] = []
        rest: list[tuple[list[_Series], _Span, int, int]] = []
        for archives, series in self.groups:
            for span in _spans(archives, self.start, self.end, self.now, self.flush):
                cut = span.start
                if span.edge:
                    cut = min(span.end, span.start + max(EDGE, span.every))
                    edge += self._points(series, span, span.start, cut)
                chunk = CHUNK * span.every
                for t in reversed(range(cut, span.end, chunk)):  # the newest first
                    rest.append((series, span, t, min(span.end, t + chunk)))
        if edge:
            yield edge
        for series, span, t0, t1 in rest:
            yield self._points(series, span, t0, t1)
        yield self.deploy_points()

    def deploy_points(self) -> list[Point]:
        """``deploys.<stack>.<env>``: a 1 at each deploy, counted per point of the archive
        that keeps its age (two in one coarse point add up, as a ``sum`` roll-up does)."""
        counts: dict[tuple[str, int], int] = {}
        for past in self.deploys:
            name, when = past.deploy.metric, int(past.deploy.when)
            archives, _, _ = self.rules_for(name)
            step = next((s for s, n in archives if self.now - when <= s * n), archives[-1][0])
            key = (name, when - when % step)
            counts[key] = counts.get(key, 0) + 1
        out = []
        for (name, ts), count in counts.items():
            _, method, _ = self.rules_for(name)
            out.append((name, float(count) if method == "sum" else 1.0, ts))
        return out

    def _points(self, series: list[_Series], span: _Span, t0: int, t1: int) -> list[Point]:
        """Every series' points for the buckets of ``span`` in ``[t0, t1)``."""
        k, g, out = span.flushes, self.rng.gauss, list[Point]()
        last = math.sqrt(1 - 1 / k)
        modes = {"sum": 1, "max": 2, "absmax": 2, "min": 3, "absmin": 3, "last": 4}
        plan = [
            (
                s.name,
                s.key,
                s.scale,
                0 if k == 1 else modes.get(s.method, 0),
                s.integral and s.method not in _AVERAGES,
                s.signed,
            )
            for s in series
        ]
        append = out.append
        for t in range(t0, t1, span.every):
            values = self._bucket(t, span.every, k)
            z = _zmax(self.rng, k)  # one for all: the bucket's busiest flush
            for name, key, scale, mode, rounded, signed in plan:
                v = values.get(key)
                if v is None:
                    continue
                x = v[0]
                if mode == 1:
                    x *= k
                elif mode == 2:
                    x += v[1] * z
                elif mode == 3:
                    x -= v[1] * z
                elif mode == 4:
                    one = v[2]
                    x = one if one is not None else x + v[1] * last * g()
                x *= scale
                if rounded:
                    x = float(round(x))
                append((name, x if x >= 0 or signed else 0.0, t))
        return out

    def _bucket(self, t0: int, step: int, k: int) -> dict[str, Value]:
        """Every series' value for the ``k`` flushes of ``[t0, t0 + step)``."""
        rng, traffic = self.rng, self.traffic
        seconds = k * self.flush
        rate = traffic.rate(t0 + step / 2)
        bad = traffic.bad(t0, t0 + step)
        error_rate = CALM_ERRORS + (BAD_ERRORS - CALM_ERRORS) * bad
        slowdown = math.pow(BAD_SLOWDOWN, bad) * math.pow(rate / RATE, LOAD_SLOWDOWN)
        values: dict[str, Value] = {}
        total = checkout = 0
        for e, (share, median) in ENDPOINTS.items():
            x = _poisson(rng, rate * share * seconds)
            total += x
            checkout = x if e == "checkout" else checkout
            values[f"cshop.requests.{e}"] = _count(x, k)
            self._timer(values, e, x, k, math.log(median * slowdown))
        failed = min(checkout, _poisson(rng, checkout * error_rate))
        errors = failed + _poisson(rng, (total - checkout) * error_rate)
        payments = min(failed, _poisson(rng, failed * PAYMENT_FAILURES))
        tracebacks = min(errors - payments, _poisson(rng, (errors - payments) * TRACEBACK_SHARE))
        lines = total + errors + _poisson(rng, (total - errors) * _P_SLOW)
        lines += round(tracebacks * _TRACEBACK_LINES) + traffic.deploys(t0, t0 + step)
        monitor = _poisson(rng, seconds * MONITOR_LINES)
        for key, count in (
            ("shop.errors", errors),
            ("shop.checkout.ok", checkout - failed),
            ("shop.checkout.failed", failed),
            ("logs.demo.errors", errors),
            ("logs.demo.tracebacks", tracebacks),
            ("supergrep.lines.demo", lines),
            ("supergrep.lines.monitor", monitor),
        ):
            values["c" + key] = _count(count, k)
        # supergrep hands its counts to statsd once a second, a line per counter
        watches = seconds * (3 - math.exp(-errors / seconds) - math.exp(-tracebacks / seconds))
        metrics = 3 * total + 2 * checkout + errors + round(watches) + monitor
        idle = math.exp(-rate / 10)  # the shop sends a packet every 100 ms it had requests
        busy = rng.gauss(seconds * 10 * (1 - idle), math.sqrt(seconds * 10 * idle * (1 - idle)))
        packets = round(busy + max(0.0, total * LINE_BYTES / PACKET - busy / 2) + seconds)
        p = self.internal
        values[f"c{p}.bad_lines_seen"] = (0.0, 0.0, None)
        values[f"c{p}.packets_received"] = _count(packets, k)
        values[f"c{p}.metrics_received"] = _count(metrics, k)
        values["gshop.cart.items"] = _discrete(rng, _CART, k, (1.0,) * len(_CART))
        values[f"g{p}.timestamp_lag"] = _discrete(rng, (-1, 0, 1), k, (0.04, 0.92, 0.04))
        n = total / k
        distinct = USERS * (1 - math.exp(-n / USERS))
        spread = math.sqrt(n) * math.exp(-n / USERS) + 1
        users = distinct + rng.gauss(0, spread / math.sqrt(k))
        values["sshop.users"] = (float(round(users)) if k == 1 else users, spread, None)
        values["mnumStats"] = (float(self.num_stats), 0.0, None)
        busy_ms = round(min(0.9, n / 4000), 2)
        values["mcalc"] = _discrete(rng, (0, 1), k, (0.97, 0.03))
        values["mprocessing"] = _discrete(rng, (0, 1), k, (1 - busy_ms, busy_ms))
        return values

    def _timer(self, values: dict[str, Value], e: str, x: int, k: int, mu: float) -> None:
        """One endpoint's timer stats from ``x`` requests over ``k`` flushes, latencies
        lognormal around ``exp(mu)``: moments from the lognormal's, order statistics
        from those of normal samples, noise shrinking with the samples behind them."""
        key, n, flush, g = f"t{e}|", x / k, self.flush, self.rng.gauss
        values[key + "count"] = _count(x, k)
        values[key + "count_ps"] = (n / flush, math.sqrt(n) / flush, None)
        if x == 0:
            return
        sig, base, nr = LATENCY_SIGMA, math.exp(mu), max(1, round(n))
        if nr == 1 and k == 1:  # one request: every statistic is its latency
            v = base * math.exp(sig * g())
            for stat in ("mean", "median", "upper", "lower", "sum"):
                values[key + stat] = (v, 0.0, None)
            values[key + "std"] = (0.0, 0.0, None)
            values[key + "sum_squares"] = (v * v, 0.0, None)
            for _, suffix in self.thresholds:
                for stat, value in (("count", 1.0), ("mean", v), ("upper", v), ("sum", v)):
                    values[f"{key}{stat}_{suffix}"] = (value, 0.0, None)
                values[f"{key}sum_squares_{suffix}"] = (v * v, 0.0, None)
            return
        rk, rn, rx = 1 / math.sqrt(k), 1 / math.sqrt(max(n, 1.0)), 1 / math.sqrt(x)
        mean_all = base * _MEAN
        d = g()  # a sample's mean and spread rise and fall together (lognormal skew)
        mean = mean_all * max(0.2, 1 + _CV * rx * d)
        std = mean_all * _CV * max(0.1, 1 + 1.4 * rx * d)
        values[key + "mean"] = (mean, mean_all * _CV * rn, None)
        values[key + "std"] = (std, mean_all * _CV * 1.4 * rn, None)
        values[key + "sum"] = (n * mean, math.sqrt(n) * mean_all * _CV, None)
        values[key + "sum_squares"] = (n * (mean * mean + std * std), n * mean * std, None)
        z, spread = _order(nr, nr)
        upper = ("upper", z + spread * rk * g(), spread)
        ordered = [  # (stat, z of the value, spread of one flush's z), in rank order
            ("lower", -z + spread * rk * g(), spread),
            ("median", 1.2533 * rx * g(), 1.2533 * rn),
        ]
        for pct, suffix in self.thresholds:
            rank = round_half_up(pct / 100 * nr)
            if rank == 0:
                continue
            zp, spread = _order(rank, nr)
            zp += spread * rk * g()
            ordered.append((f"upper_{suffix}", zp, spread))
            below = _cdf(zp)
            mean_p = mean_all * _cdf(zp - sig) / below
            noisy = min(base * math.exp(sig * zp), mean_p * max(0.2, 1 + 0.35 * _CV * rx * d))
            squares = base * base * _SQUARES * _cdf(zp - 2 * sig) / below * (noisy / mean_p) ** 2
            count = rank if k == 1 else round_half_up(pct / 100 * x)
            per_flush = count / k
            values[f"{key}count_{suffix}"] = _count(count, k)
            values[f"{key}mean_{suffix}"] = (noisy, mean_p * 0.35 * _CV * rn, None)
            values[f"{key}sum_{suffix}"] = (per_flush * noisy, per_flush * mean_p * 0.2, None)
            values[f"{key}sum_squares_{suffix}"] = (
                per_flush * squares,
                per_flush * squares * 0.4,
                None,
            )
        ordered.append(upper)
        # lower <= median <= upper_90 <= upper, as in any one flush
        zs = sorted(zz for _, zz, _ in ordered)
        for (stat, _, spread), zz in zip(ordered, zs, strict=True):
            value = base * math.exp(sig * zz)
            values[key + stat] = (value, value * sig * spread, None)
