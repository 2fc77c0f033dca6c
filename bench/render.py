"""Render latency: our Graphite API against graphite-web 1.1.10 on the same whisper files.

Method (issue #4): 1,000 series x 1 day at 10 s (8,640 points each) are written once as
whisper files; graphite-web (gunicorn, 2 sync workers, from ``.venv-graphite``) and
``monitor up`` serve that directory. A dashboard-like mix of queries (globs, sumSeries,
summarize, movingAverage, timeShift, all with maxDataPoints=800) is sent to each server
in turn, one request at a time, alternating servers per query, ``--rounds`` times. The
report gives each query's median latency on both and the ratio; the goal is ours at
most half of graphite-web's.

    .venv/bin/python bench/render.py [--rounds 7] [--series 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.store.rules import RetentionRule, StoreSettings  # noqa: E402
from monitor.store.whisper_store import WhisperStore  # noqa: E402
from tests import graphite_web  # noqa: E402

QUERIES = [
    "apps.*.web*.requests",
    "sumSeries(apps.*.web*.requests)",
    "aliasByNode(apps.shop.web*.latency,2)",
    "summarize(sumSeries(apps.*.*.errors),'1h','sum')",
    "movingAverage(apps.shop.web0*.latency,30)",
    "timeShift(sumSeries(apps.shop.*.requests),'1d')",
    "highestAverage(apps.*.*.latency,5)",
    "groupByNode(apps.*.*.requests,1,'sum')",
]


def write(whisper: Path, series: int, now: int) -> None:
    settings = StoreSettings(
        retentions=(RetentionRule("bench", ".*", "10s:2d"),), max_pending=100_000_000
    )
    store = WhisperStore(whisper, settings, clock=lambda: now)
    store.start()
    apps = ["shop", "search", "auth", "api"]
    per_app = series // (len(apps) * 5)
    start = now - 86400
    for app in apps:
        for host in range(per_app):
            for kind in ("requests", "latency", "errors", "bytes", "queue"):
                name = f"apps.{app}.web{host:02d}.{kind}"
                store.add(
                    (name, float((i * 7 + host) % 100), ts)
                    for i, ts in enumerate(range(start, now, 10))
                )
    store.stop()


def timed(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--series", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        now = int(time.time())
        started = time.perf_counter()
        write(data / "whisper", args.series, now)
        print(f"wrote {args.series} series x 8640 points in {time.perf_counter() - started:.0f} s")
        graphite_url, graphite = graphite_web._start_graphite_web(data)
        ours_url, ours = graphite_web._start_ours(data, graphite_web._free_port())
        try:
            times: dict[str, dict[str, list[float]]] = {
                q: {"ours": [], "graphite-web": []} for q in QUERIES
            }
            for _ in range(args.rounds + 1):  # the first round warms caches and is dropped
                for query in QUERIES:
                    params = urllib.parse.urlencode(
                        {"target": query, "from": "-1d", "format": "json", "maxDataPoints": 800}
                    )
                    for name, base in (("graphite-web", graphite_url), ("ours", ours_url)):
                        times[query][name].append(timed(f"{base}/render?{params}"))
            print(f"\n{args.rounds} rounds, median latency per query (first round dropped)\n")
            print("| query | graphite-web ms | ours ms | ours / graphite-web |")
            print("|---|---:|---:|---:|")
            ratios = []
            for query, by in times.items():
                g = statistics.median(by["graphite-web"][1:]) * 1000
                o = statistics.median(by["ours"][1:]) * 1000
                ratios.append(o / g)
                print(f"| `{query}` | {g:.1f} | {o:.1f} | {o / g:.2f} |")
            print(f"\nmedian ratio over the mix: {statistics.median(ratios):.2f}")
        finally:
            ours.stop()
            graphite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
