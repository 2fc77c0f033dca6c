"""graphite-web's cluster wire format: what a front end's ``RemoteFinder`` and
``RemoteReader`` read from a member (``format=pickle`` or ``format=msgpack``, with
``local=1``).

A graphite-web 1.1.10 with ``CLUSTER_SERVERS`` pointing here asks ``/metrics/find/``
for nodes (path, leaf flag, and for leaves the time span they hold) and ``/render/``
for series (name, start, end, step, values, pathExpression), then merges what all its
members answered. We only ever write these formats: input is never unpickled. Only
plain lists, dicts, strings and numbers are written, so graphite-web's restricted
unpickler takes them, and pickle protocol 2 keeps Python 2 front ends working.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import msgpack

from monitor.render.series import TimeSeries

__all__ = ["CONTENT_TYPES", "dumps", "node_info", "series_info"]

#: The formats, and the content type graphite-web reads each by.
CONTENT_TYPES = {"pickle": "application/pickle", "msgpack": "application/x-msgpack"}


def dumps(value: Any, fmt: str) -> bytes:
    """``value`` in ``fmt`` (a key of ``CONTENT_TYPES``)."""
    if fmt == "msgpack":
        return bytes(msgpack.packb(value, use_bin_type=True))
    return pickle.dumps(value, protocol=2)


def node_info(path: str, leaf: bool, interval: tuple[float, float] | None) -> dict[str, Any]:
    """One ``/metrics/find`` node as ``pickle_nodes`` writes it: intervals for leaves, as
    ``(start, end)`` pairs (RemoteFinder builds its IntervalSet from them)."""
    info: dict[str, Any] = {"path": path, "is_leaf": leaf}
    if leaf and interval is not None:
        info["intervals"] = [interval]
    return info


def series_info(series: Sequence[TimeSeries]) -> list[dict[str, Any]]:
    """Rendered series as graphite-web's ``TimeSeries.getInfo`` gives them."""
    return [
        {
            "name": s.name,
            "start": s.start,
            "end": s.end,
            "step": s.step * s.values_per_point,
            "values": s.points(),
            "pathExpression": s.path_expression,
            "valuesPerPoint": 1,
            "consolidationFunc": s.consolidation,
            "xFilesFactor": s.xff,
        }
        for s in series
    ]
