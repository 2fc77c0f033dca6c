"""Graphite tags: ``name;tag=value;…`` series names and the queries over them.

A tagged series is stored under its canonical name (tags sorted, ``name`` first), which
carbon and the store derive the same way. There is no separate tag database: the list of
tagged names the store holds is the index, and this module answers graphite-web's
questions over it (``seriesByTag``, ``/tags/findSeries``, the auto-completers) with its
semantics: ``tag=value``, ``tag!=value``, ``tag=~regex`` and ``tag!=~regex``; a
regular expression is anchored at the start of the value; a spec that matches an empty
value also matches series without the tag; at least one spec must need a value.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import regex

from monitor import patterns

__all__ = ["TagError", "TagSpec", "find", "format_tags", "parse_name", "parse_spec"]

_SPEC = re.compile(r"^([^;!=]+)(!?=~?)([^;]*)$")

#: Seconds a user's regular expression may spend on one tag value.
REGEX_TIMEOUT = 0.05


class TagError(ValueError):
    """A tag expression or tagged name that graphite would refuse; says which and why."""


def parse_name(path: str) -> dict[str, str]:
    """The tags of a series name, ``name`` included: ``cpu;host=a`` gives
    ``{"name": "cpu", "host": "a"}``; an untagged name gives ``{"name": path}``."""
    metric, *segments = path.split(";")
    if not metric:
        raise TagError(f"cannot parse {path!r}: no metric name before the tags")
    tags = {}
    for segment in segments:
        tag, eq, value = segment.partition("=")
        if not eq or not tag:
            raise TagError(f"cannot parse {path!r}: {segment!r} is not tag=value")
        if not value:
            raise TagError(f"cannot parse {path!r}: tag {tag!r} has an empty value")
        if any(c in tag for c in ";!^=") or value.startswith("~"):
            raise TagError(f"cannot parse {path!r}: {segment!r} uses a character tags forbid")
        tags[tag] = value
    name = metric.lstrip("~")
    if not name:
        raise TagError(f"cannot parse {path!r}: the metric name is only '~'")
    tags["name"] = name
    return tags


def format_tags(tags: dict[str, str]) -> str:
    """The canonical name for ``tags``: ``name`` then the others sorted."""
    return tags.get("name", "") + "".join(
        sorted(f";{tag}={value}" for tag, value in tags.items() if tag != "name")
    )


def tags_of(path: str) -> dict[str, str]:
    """``parse_name``, or just ``{"name": path}`` for a name that is not valid tag syntax
    (graphite-web's ``TimeSeries`` falls back the same way). A new dict each call."""
    return dict(_parsed(path))


@functools.lru_cache(maxsize=262_144)
def _parsed(path: str) -> tuple[tuple[str, str], ...]:
    """Queries parse the same names over and over: kept, as immutable pairs."""
    try:
        return tuple(parse_name(path).items())
    except TagError:
        return (("name", path),)


@dataclass(frozen=True)
class TagSpec:
    """One ``tag<op>value`` expression."""

    tag: str
    operator: str
    spec: str

    def matches(self, tags: dict[str, str]) -> bool:
        """Whether a series with ``tags`` passes (a missing tag reads as '')."""
        value = tags.get(self.tag, "")
        if self.operator == "=":
            return value == self.spec
        if self.operator == "!=":
            return value != self.spec
        try:
            found = self._compiled.match(value, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            raise TagError(
                f"the regular expression in {self} took over {REGEX_TIMEOUT * 1000:g} ms"
                " on one value; simplify it"
            ) from None
        return found if self.operator == "=~" else not found

    @property
    def needs_value(self) -> bool:
        """Whether only series that have the tag can pass."""
        return not self.matches({})

    @functools.cached_property
    def _compiled(self) -> regex.Pattern[str]:
        return self._regex()

    def _regex(self) -> regex.Pattern[str]:
        try:
            patterns.check(self.spec)
            return regex.compile(self.spec if self.spec.startswith("^") else f"^({self.spec})")
        except patterns.PatternTooBig as exc:
            raise TagError(f"{self}: {exc}") from None
        except regex.error as exc:
            raise TagError(f"invalid regular expression in {self}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.tag}{self.operator}{self.spec}"


def parse_spec(text: str) -> TagSpec:
    """``tag=value``, ``tag!=value``, ``tag=~regex`` or ``tag!=~regex``."""
    match = _SPEC.match(text)
    if match is None:
        raise TagError(
            f"invalid tag expression {text!r}: use tag=value, tag!=value, tag=~regex or tag!=~regex"
        )
    spec = TagSpec(*match.groups())
    if "~" in spec.operator:
        spec._regex()  # a bad regular expression is the caller's error, said now
    return spec


def find(paths: Iterable[str], expressions: Iterable[str]) -> list[str]:
    """The tagged names among ``paths`` that every expression accepts, sorted."""
    specs = [parse_spec(e) for e in expressions]
    if not specs:
        raise TagError("no tag expressions given")
    if not any(s.needs_value for s in specs):
        raise TagError(
            "at least one tag expression must need a value (for example name=cpu):"
            f" {', '.join(map(str, specs))} would match every series"
        )
    found = []
    for path in paths:
        tags = tags_of(path)
        if all(s.matches(tags) for s in specs):
            found.append(path)
    return sorted(found)


def tag_counts(paths: Iterable[str]) -> dict[str, Counter[str]]:
    """For each tag, how many series carry each of its values."""
    counts: dict[str, Counter[str]] = {}
    for path in paths:
        for tag, value in tags_of(path).items():
            counts.setdefault(tag, Counter())[value] += 1
    return counts


def auto_complete_tags(
    paths: Iterable[str], expressions: list[str], prefix: str = "", limit: int = 100
) -> list[str]:
    """Tag names for a query editor: of the series the expressions find (of all series
    when there are none), leaving out the tags already asked about."""
    if expressions:
        asked = {parse_spec(e).tag for e in expressions}
        paths = find(paths, expressions)
    else:
        asked = set()
    names = {t for p in paths for t in tags_of(p) if t not in asked and t.startswith(prefix)}
    return sorted(names)[:limit]


def auto_complete_values(
    paths: Iterable[str], expressions: list[str], tag: str, prefix: str = "", limit: int = 100
) -> list[str]:
    """Values of ``tag`` for a query editor, among the series the expressions find."""
    if expressions:
        paths = find(paths, [*expressions, f"{tag}!="])
    values = {v for p in paths if (v := tags_of(p).get(tag)) is not None and v.startswith(prefix)}
    return sorted(values)[:limit]


def name_filter(pattern: str | None) -> regex.Pattern[str] | None:
    """``/tags?filter=`` and ``/tags/<tag>?filter=``: a regular expression anchored at
    the start (as graphite-web anchors it)."""
    if not pattern:
        return None
    try:
        patterns.check(pattern)
        return regex.compile(pattern if pattern.startswith("^") else f"^({pattern})")
    except patterns.PatternTooBig as exc:
        raise TagError(f"filter: {exc}") from None
    except regex.error as exc:
        raise TagError(f"invalid filter {pattern!r}: {exc}") from None


def passes(pattern: regex.Pattern[str] | None, text: str) -> bool:
    """Whether ``text`` passes a ``name_filter`` (None lets everything through)."""
    if pattern is None:
        return True
    try:
        return pattern.search(text, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        raise TagError(f"the filter {pattern.pattern!r} took too long; simplify it") from None
