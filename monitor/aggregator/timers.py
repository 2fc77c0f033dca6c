"""Timer statistics exactly as node statsd 0.9.0's ``process_metrics`` computes them.

Floating-point results must be bit-identical to node's, so the arithmetic keeps node's
order: running sums over the sorted samples, percentile sums as differences of running
sums, a two-pass population standard deviation, and ``Math.round`` (half up) for the
number of samples inside a threshold. Node's quirks are kept where they show on graphs:
a negative threshold that covers every sample gives ``NaN`` sums, and ``count_N``,
``sum_N`` and ``mean_N`` ignore the sample rate while ``count`` honours it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from monitor.aggregator.jsnumber import format_number, round_half_up
from monitor.aggregator.settings import Histogram

__all__ = ["TimerData", "filter_stats", "threshold_suffix", "timer_stats"]

#: stat name -> value, or ``"histogram"`` -> {``bin_X``: count}.
TimerData = dict[str, float | dict[str, float]]

_PERCENT_SUFFIX = re.compile(r"_(top)?[0-9]+$")


def threshold_suffix(pct: float) -> str:
    """``90`` -> ``90``, ``99.9`` -> ``99_9``, ``-10`` -> ``top10`` (first '.' and '-' only)."""
    return format_number(pct).replace(".", "_", 1).replace("-", "top", 1)


def _bin_name(bound: float | str) -> str:
    text = "inf" if bound == "inf" else format_number(float(bound))
    return "bin_" + text.replace(".", "_", 1)


def timer_stats(
    samples: list[float],
    count: float,
    thresholds: Sequence[float],
    interval_s: float,
    histogram: Histogram | None = None,
) -> TimerData:
    """The flushed stats of one timer; ``samples`` is sorted in place, as node does."""
    data: TimerData = {}
    n = len(samples)
    if n == 0:
        data["count"] = 0
        data["count_ps"] = 0
        return data
    samples.sort()
    low, high = samples[0], samples[-1]
    cumulative = [low]
    squares = [low * low]
    for v in samples[1:]:
        cumulative.append(v + cumulative[-1])
        squares.append(v * v + squares[-1])

    total, total_sq, mean, boundary = low, low * low, low, high
    for pct in thresholds:
        k = n
        if n > 1:
            k = round_half_up(abs(pct) / 100 * n)
            if k == 0:
                continue
            if pct > 0:
                boundary = samples[k - 1]
                total = cumulative[k - 1]
                total_sq = squares[k - 1]
            else:
                boundary = samples[n - k]
                # node reads cumulative[-1] (undefined) when k == n: NaN.
                before = cumulative[n - k - 1] if n - k - 1 >= 0 else math.nan
                before_sq = squares[n - k - 1] if n - k - 1 >= 0 else math.nan
                total = cumulative[n - 1] - before
                total_sq = squares[n - 1] - before_sq
            mean = total / k
        suffix = threshold_suffix(pct)
        data["count_" + suffix] = k
        data["mean_" + suffix] = mean
        data[("upper_" if pct > 0 else "lower_") + suffix] = boundary
        data["sum_" + suffix] = total
        data["sum_squares_" + suffix] = total_sq

    total = cumulative[-1]
    mean = total / n
    diffs = 0.0
    for v in samples:
        diffs += (v - mean) * (v - mean)
    mid = n // 2
    median = samples[mid] if n % 2 else (samples[mid - 1] + samples[mid]) / 2
    data["std"] = math.sqrt(diffs / n)
    data["upper"] = high
    data["lower"] = low
    data["count"] = count
    data["count_ps"] = count / interval_s
    data["sum"] = total
    data["sum_squares"] = squares[-1]
    data["mean"] = mean
    data["median"] = median
    if histogram is not None and histogram.bins:
        bins: dict[str, float] = {}
        i = 0
        for bound in histogram.bins:
            freq = 0
            while i < n and (bound == "inf" or samples[i] < float(bound)):
                freq += 1
                i += 1
            bins[_bin_name(bound)] = freq
        data["histogram"] = bins
    return data


def filter_stats(data: TimerData, wanted: Sequence[str]) -> TimerData:
    """node's ``calculatedTimerMetrics``: keep stats whose generic name is listed.

    ``upper_90`` is listed as ``upper_percent``; node's pattern only strips the last
    ``_digits``, so ``upper_99_9`` must be listed as ``upper_99_percent``.
    """
    if not wanted:
        return data
    return {k: v for k, v in data.items() if _PERCENT_SUFFIX.sub("_percent", k) in wanted}
