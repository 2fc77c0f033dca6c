"""Which retention and aggregation a new whisper file gets: carbon's two rule files.

``storage-schemas.conf`` maps a pattern to retentions (``10s:6h,1m:7d,10m:5y``);
``storage-aggregation.conf`` maps a pattern to an aggregation method and xFilesFactor
(how coarser archives summarize finer ones). The first matching rule wins, as in
carbon. The defaults are the conventions statsd users rely on, so a number read
through a coarser archive means what it meant at 10 s:

| pattern | method | xFilesFactor | why |
|---|---|---|---|
| ``^stats\\.sets\\.`` | max | 0 | distinct values per flush: a sum counts one twice |
| ``\\.(lower\\|min)$`` | min | 0.1 | a lower bound stays a lower bound |
| ``\\.(upper\\|max)(_\\d+)?$`` | max | 0.1 | upper bounds and percentiles |
| ``\\.(count\\|sum\\|sum_squares)(_\\d+)?$`` | sum | 0 | counts and sums add up |
| ``^stats_counts\\.`` | sum | 0 | legacy counter counts add up |
| ``^deploys\\.`` | sum | 0 | one deploy is a 1 in one slot: it must survive roll-up |
| ``^stats\\.gauges\\.`` | last | 0 | a gauge is its latest value |
| anything else | average | 0.3 | rates, means |

xFilesFactor 0 for every sum: a single event in a 10-minute bucket (a deploy, one
error) is kept, where ``average`` with 0.3 would turn it into nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import whisper

__all__ = ["AggregationRule", "RetentionRule", "StoreSettings", "parse_retentions"]

Method = Literal["average", "sum", "last", "max", "min", "avg_zero", "absmax", "absmin"]


@dataclass(frozen=True)
class RetentionRule:
    """``[name] pattern = … retentions = …`` from storage-schemas.conf."""

    name: str = "default"
    pattern: str = ".*"
    retentions: str = "10s:6h,1m:7d,10m:5y"


@dataclass(frozen=True)
class AggregationRule:
    """``[name] pattern = … aggregationMethod = … xFilesFactor = …``."""

    name: str = "default"
    pattern: str = ".*"
    method: Method = "average"
    xff: float = field(default=0.3, metadata={"range": (0, 1)})


DEFAULT_AGGREGATION = (
    AggregationRule("sets", r"^stats\.sets\.", "max", 0.0),
    AggregationRule("min", r"\.(lower|min)$", "min", 0.1),
    AggregationRule("max", r"\.(upper|max)(_\d+)?$", "max", 0.1),
    AggregationRule("sum", r"\.(count|sum|sum_squares)(_\d+)?$", "sum", 0.0),
    AggregationRule("count_legacy", r"^stats_counts\.", "sum", 0.0),
    AggregationRule("deploys", r"^deploys\.", "sum", 0.0),
    AggregationRule("gauges", r"^stats\.gauges\.", "last", 0.0),
    AggregationRule("default", ".*", "average", 0.3),
)


@dataclass(frozen=True)
class StoreSettings:
    """``[store]``: rules for new files and the bound on points waiting to be written."""

    retentions: tuple[RetentionRule, ...] = (RetentionRule(),)
    aggregation: tuple[AggregationRule, ...] = DEFAULT_AGGREGATION
    #: Points accepted but not yet on disk, all series together; beyond it new points
    #: are dropped and counted (the disk cannot keep up).
    max_pending: int = field(default=5_000_000, metadata={"range": (1000, 1_000_000_000)})
    #: New whisper files are sparse: disk is taken as points arrive, not all at once
    #: (3.3 MB a series with the default retention). False preallocates, as carbon does.
    sparse: bool = True
    #: New series created a minute at most (carbon's ``MAX_CREATES_PER_MINUTE``); the
    #: points of the others wait in the cache, readable, and their files come later.
    max_creates_per_minute: int = field(default=1000, metadata={"range": (1, 10_000_000)})
    #: Below this much free disk (MiB) no new series are created (their points wait in
    #: the cache); existing series are still written.
    min_free_mb: int = field(default=512, metadata={"range": (0, 1 << 40)})


def parse_retentions(text: str) -> list[tuple[int, int]]:
    """``10s:6h,1m:7d`` -> ``[(10, 2160), (60, 10080)]``; ``ValueError`` says what is wrong."""
    archives = [whisper.parseRetentionDef(part) for part in text.split(",") if part.strip()]
    whisper.validateArchiveList(archives)
    return archives


class Rules:
    """The compiled rules: ``for_metric(path)`` gives archives, method and xFilesFactor."""

    def __init__(self, settings: StoreSettings) -> None:
        """Compile the rules; ``ValueError`` names the rule that is wrong."""
        self.retentions: list[tuple[re.Pattern[str], list[tuple[int, int]]]] = []
        for i, r in enumerate(settings.retentions):
            try:
                self.retentions.append((re.compile(r.pattern), parse_retentions(r.retentions)))
            except (re.error, ValueError, whisper.WhisperException) as exc:
                raise ValueError(f"store.retentions[{i}] ({r.name}): {exc}") from None
        self.aggregation: list[tuple[re.Pattern[str], str, float]] = []
        for i, a in enumerate(settings.aggregation):
            try:
                self.aggregation.append((re.compile(a.pattern), a.method, a.xff))
            except re.error as exc:
                raise ValueError(f"store.aggregation[{i}] ({a.name}): {exc}") from None

    def for_metric(self, path: str) -> tuple[list[tuple[int, int]], str, float]:
        """Archives, aggregation method and xFilesFactor for a new file for ``path``."""
        archives = next((a for p, a in self.retentions if p.search(path)), None)
        if archives is None:
            archives = parse_retentions(RetentionRule().retentions)
        method, xff = next(
            ((m, x) for p, m, x in self.aggregation if p.search(path)), ("average", 0.5)
        )
        return archives, method, xff
