"""The render API's output formats, as graphite-web 1.1.10 writes them: json, csv, raw.

``maxDataPoints`` (JSON only, as in graphite-web) consolidates each series so it has at
most that many points, with consolidation buckets aligned to multiples of their width so
that refreshing a graph does not make it jitter.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import datetime, tzinfo

from monitor.render.evaluator import RenderError
from monitor.render.series import TimeSeries

__all__ = ["TooLarge", "to_csv", "to_json", "to_raw"]


def _consolidate_for(series: TimeSeries, max_points: int, time_range: int) -> None:
    if max_points == 1:
        series.consolidate(series.size)
        return
    count = time_range / series.step
    if max_points >= count:
        return
    per_point = math.ceil(count / max_points)
    seconds = int(per_point * series.step)
    nudge = seconds + (series.start % series.step) - (series.start % seconds)
    series.start += nudge
    lose = int(nudge / series.step)
    series.drop_first(lose - 1)
    series.consolidate(per_point)


def to_json(
    series_list: Sequence[TimeSeries],
    max_points: int | None = None,
    no_null_points: bool = False,
    pretty: bool = False,
    max_bytes: int | None = None,
) -> str:
    """``[{"target", "tags", "datapoints": [[value, ts], …]}, …]``; tag values are strings
    (graphite-web writes a number a function tagged as ``str()`` of it). Past
    ``max_bytes`` it stops encoding and raises ``TooLarge``."""
    parts: list[str] = []
    size = 0
    if any(s.size for s in series_list):  # graphite-web: any(data)
        time_range = max((s.end for s in series_list), default=0) - min(
            (s.start for s in series_list), default=0
        )
        for series in series_list:
            if max_points is not None:
                _consolidate_for(series, max_points, time_range)
            points = series.datapoints()  # tuples: json writes them as arrays
            if no_null_points:
                points = [p for p in points if p[0] is not None and not math.isnan(p[0])]
                if not points:
                    continue
            # each point is at least "[v, ts]" and a separator: refuse before encoding
            if (
                max_bytes is not None
                and size + len(points) * (len(str(series.end)) + 7) > max_bytes
            ):
                raise TooLarge(max_bytes)
            tags = {k: v if isinstance(v, str) else str(v) for k, v in series.tags.items()}
            one = {"target": series.name, "tags": tags, "datapoints": points}
            # one series at a time, so that a huge answer is refused before it is made
            parts.append(json.dumps(one, indent=2 if pretty else None))
            size += len(parts[-1])
            if max_bytes is not None and size > max_bytes:
                raise TooLarge(max_bytes)
    text = _join(parts, pretty)
    # graphite-web's own post-processing of Python's JSON (only before a comma).
    return text.replace("NaN,", "null,").replace("Infinity,", "1e9999,")


def _join(parts: list[str], pretty: bool) -> str:
    """What ``json.dumps`` writes for a list of the objects ``parts`` encode."""
    if not parts:
        return "[]"
    if not pretty:
        return "[" + ", ".join(parts) + "]"
    indented = [part.replace("\n", "\n  ") for part in parts]
    return "[\n  " + ",\n  ".join(indented) + "\n]"


class TooLarge(ValueError):
    """An answer longer than the caller's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is longer than {limit:,} bytes")
        self.limit = limit


def to_csv(series_list: Sequence[TimeSeries], tz: tzinfo, max_bytes: int | None = None) -> str:
    """``name,YYYY-MM-DD HH:MM:SS,value`` rows, CRLF line ends, empty for null. A time
    past what a date holds (a bucket ``hitcount(x, '2000000y')`` starts two million
    years back) cannot be written so, and is refused (graphite-web fails on it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel")
    for series in series_list:
        try:
            for i, value in enumerate(series.points()):
                stamp = datetime.fromtimestamp(series.start + i * series.step, tz)
                writer.writerow((series.name, stamp.strftime("%Y-%m-%d %H:%M:%S"), value))
        except (ValueError, OverflowError, OSError):
            raise RenderError(
                f"format=csv: {series.name[:100]!r} has times a date cannot hold; use format=json"
            ) from None
        if max_bytes is not None and buffer.tell() > max_bytes:
            raise TooLarge(max_bytes)
    return buffer.getvalue()


def to_raw(series_list: Sequence[TimeSeries], max_bytes: int | None = None) -> str:
    """``name,start,end,step|v,v,…`` lines (``None`` for null)."""
    lines = []
    size = 0
    for s in series_list:
        lines.append(f"{s.name},{s.start},{s.end},{s.step}|" + ",".join(map(repr, s.points())))
        size += len(lines[-1]) + 1
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(max_bytes)
    return "".join(line + "\n" for line in lines)
