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

from monitor.render.series import TimeSeries

__all__ = ["to_csv", "to_json", "to_raw"]


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
) -> str:
    """``[{"target", "tags", "datapoints": [[value, ts], …]}, …]``; tag values are strings
    (graphite-web writes a number a function tagged as ``str()`` of it)."""
    out = []
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
            tags = {k: v if isinstance(v, str) else str(v) for k, v in series.tags.items()}
            out.append({"target": series.name, "tags": tags, "datapoints": points})
    text = json.dumps(out, indent=2 if pretty else None)
    # graphite-web's own post-processing of Python's JSON (only before a comma).
    return text.replace("NaN,", "null,").replace("Infinity,", "1e9999,")


def to_csv(series_list: Sequence[TimeSeries], tz: tzinfo) -> str:
    """``name,YYYY-MM-DD HH:MM:SS,value`` rows, CRLF line ends, empty for null."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel")
    for series in series_list:
        for i, value in enumerate(series.points()):
            stamp = datetime.fromtimestamp(series.start + i * series.step, tz)
            writer.writerow((series.name, stamp.strftime("%Y-%m-%d %H:%M:%S"), value))
    return buffer.getvalue()


def to_raw(series_list: Sequence[TimeSeries]) -> str:
    """``name,start,end,step|v,v,…`` lines (``None`` for null)."""
    return "".join(
        f"{s.name},{s.start},{s.end},{s.step}|" + ",".join(map(repr, s.points())) + "\n"
        for s in series_list
    )
