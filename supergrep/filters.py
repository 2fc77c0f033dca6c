"""Viewers' regex filters, run safely on the server.

Patterns come from anyone who can open the page, so they are treated as hostile: they
run on the ``regex`` module with a timeout on every match, their length is capped, and
each ``Matcher`` keeps a time budget. A pattern that times out ``max_timeouts`` times,
or whose matching takes more than ``budget`` of every second, is switched off (the
viewer is told why) instead of slowing the hub for everyone. Viewers with identical
filters share one ``Matcher``, so each line is matched once per distinct filter.

An include filter selects groups, not lines: a stack trace (lines sharing
``Line.group``) is shown whole when any of its lines matches, so ``ERROR|Traceback``
shows every frame of each trace. Lines of a group that have not matched yet are held
(at most ``MAX_HELD`` per file) and sent when a later line of the group matches.
Exclude patterns still hide single lines.

Pure code: values in (lines, a clock), values out.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from monitor.patterns import PatternTooBig
from monitor.patterns import check as check_size
from supergrep.lines import Line

__all__ = ["FilterError", "FilterSpec", "Matcher", "SharedBudget", "SwitchedOff"]

MAX_PATTERN = 1000
MAX_PATTERNS = 20
#: Lines of a group held back per file until one of the group matches (longer traces
#: show their last ``MAX_HELD`` lines before the match).
MAX_HELD = 500
#: Files whose open group a matcher remembers.
MAX_OPEN_GROUPS = 10_000
#: Lines searched one by one between two looks at the pattern's budget.
CHARGE_EVERY = 32


class FilterError(ValueError):
    """A pattern that cannot be used; ``field`` names the box it came from."""

    def __init__(self, field: str, pattern: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.pattern = pattern
        self.reason = reason


@dataclass(frozen=True)
class FilterSpec:
    """What a viewer wants to see: lines matching any ``include`` (or every line when
    there is none) and no ``exclude``. ``ignore_case`` applies to both."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore_case: bool = False

    def check(self) -> None:
        """Raise ``FilterError`` for a pattern that is too long or does not compile."""
        for name, patterns in (("include", self.include), ("exclude", self.exclude)):
            if len(patterns) > MAX_PATTERNS:
                raise FilterError(name, "", f"at most {MAX_PATTERNS} patterns")
            for pattern in patterns:
                _compile(name, pattern, self.ignore_case)


@dataclass(frozen=True)
class SwitchedOff:
    """A pattern the matcher stopped applying, and why (sent to its viewers)."""

    field: str
    pattern: str
    reason: str


def _joinable(pattern: str) -> bool:
    """Whether searching lines joined by newlines (with MULTILINE) finds exactly the
    lines a search of each line finds. Matches that consume a newline are caught when
    they happen; what cannot be caught is a zero-width look at the neighbouring line
    or at the ends of the whole text: lookarounds, inline flags, ``\\A \\Z \\z \\G \\K``."""
    return "(?" not in pattern.replace("(?:", "") and not any(
        escape in pattern for escape in ("\\A", "\\Z", "\\z", "\\G", "\\K")
    )


def _compile(name: str, pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    if not pattern:
        raise FilterError(name, pattern, "empty pattern")
    if len(pattern) > MAX_PATTERN:
        raise FilterError(name, pattern[:40] + "…", f"longer than {MAX_PATTERN} characters")
    try:
        check_size(pattern)
    except PatternTooBig as exc:
        raise FilterError(name, pattern[:40], str(exc)) from None
    try:
        return regex.compile(pattern, regex.V0 | (regex.IGNORECASE if ignore_case else 0))
    except regex.error as exc:
        raise FilterError(name, pattern, f"invalid regex {pattern!r}: {exc}") from None
    except (OverflowError, RecursionError, MemoryError):
        raise FilterError(name, pattern, f"regex {pattern!r} is too complex") from None


@dataclass
class _Pattern:
    field: str
    text: str
    search: Callable[..., object]
    #: The same pattern with ``^``/``$`` at line ends, to search many lines joined by
    #: newlines in one call; None when that could change what matches (see ``_joinable``).
    joined: Callable[..., Any] | None
    timeouts: int = 0
    spent: float = 0.0  # seconds spent matching in the current budget window
    lines: int = 0  # lines matched in the current budget window
    off: bool = False


@dataclass
class SharedBudget:
    """The matching time of every viewer's filters together, per ``window``.

    Each pattern's own budget stops one slow pattern, but twenty viewers, each with a
    pattern just under its own limit, would still take the whole event loop between
    them. All matchers of a hub share one of these: once all patterns together have
    spent more than ``share`` of a window, every pattern that has used more than an
    equal part of what was spent is switched off as it next runs. Fast patterns on a
    flood of lines are spared by the same ``per_line`` rule as the per-pattern budget.
    """

    share: float = 0.5
    window: float = 5.0
    clock: Callable[[], float] = time.monotonic
    spent: float = 0.0
    _started: float | None = None
    _patterns: set[int] = field(default_factory=set)

    def charge(self, pattern: object, seconds: float, now: float) -> bool:
        """Count ``seconds`` spent by ``pattern``; True if the budget is blown and the
        pattern spent more than an equal part of it (then it should go)."""
        if self._started is None or now - self._started >= self.window:
            self._started, self.spent, self._patterns = now, 0.0, set()
        self.spent += seconds
        self._patterns.add(id(pattern))
        return self.spent > self.share * self.window

    def fair(self) -> float:
        """An equal part of what all patterns spent this window."""
        return self.spent / max(1, len(self._patterns))


@dataclass
class _OpenGroup:
    """The group a file's last line is in, for one filter: matched yet, or held."""

    head: int
    matched: bool = False
    held: list[Line] = field(default_factory=list)


Groups = OrderedDict[tuple[str, str, str], _OpenGroup]


@dataclass
class Matcher:
    """Selects the lines a ``FilterSpec`` lets through, within a time budget.

    A pattern is switched off after ``max_timeouts`` timed-out lines, or when within one
    ``window`` it (or the filter's patterns together) spent more than ``budget`` of the
    time matching, at more than ``per_line`` seconds per line: a fast pattern on a
    flood of lines is legitimate work, a slow pattern on any volume is not. The budget
    is the filter's, not each pattern's, so twenty slow patterns in one subscribe cost
    what one does.
    """

    spec: FilterSpec
    timeout: float = 0.05  # per line and pattern, wall time (see settings.regex_timeout)
    max_timeouts: int = 3
    budget: float = 0.2  # fraction of each second one pattern may spend matching …
    per_line: float = 20e-6  # … when each line costs more than this on average
    window: float = 5.0
    clock: Callable[[], float] = time.monotonic
    #: What matching is charged in: this thread's CPU time, not the clock's, since a
    #: busy process makes every search wait for the GIL (a trivial pattern then seemed
    #: to spend all its budget).
    cpu: Callable[[], float] = time.thread_time
    #: The hub's budget for all viewers' patterns together, if it keeps one.
    shared: SharedBudget | None = None
    switched_off: list[SwitchedOff] = field(default_factory=list)
    _include: list[_Pattern] = field(default_factory=list)
    _exclude: list[_Pattern] = field(default_factory=list)
    _window_start: float = 0.0
    _spent: float = 0.0  # by all this filter's patterns in the current window
    _groups: Groups = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.spec.check()
        for name, patterns, into in (
            ("include", self.spec.include, self._include),
            ("exclude", self.spec.exclude, self._exclude),
        ):
            for text in patterns:
                compiled = _compile(name, text, self.spec.ignore_case)
                joined = None
                if _joinable(text):
                    joined = regex.compile(text, compiled.flags | regex.MULTILINE).search
                into.append(_Pattern(name, text, compiled.search, joined))
        self._window_start = self.clock()

    def select(self, lines: Sequence[Line], groups: Groups | None = None) -> list[Line]:
        """The lines this filter lets through, in order (held lines of a group that
        matches now come first). ``groups`` is where open groups are remembered: the
        matcher's own for live lines, a fresh one for a replay. Patterns that blow their
        budget are switched off here and listed in ``switched_off`` (drained with
        ``take_switched``)."""
        if not self._include and not self._exclude:
            return list(lines)
        excluded = self._hits(lines, self._exclude)
        included = self._hits(lines, self._include)
        if included is None:  # no include pattern (left): lines, less the excluded
            if excluded is None:
                return list(lines)
            return [line for line, out in zip(lines, excluded, strict=True) if not out]
        return self._groups_matching(
            lines, included, excluded, self._groups if groups is None else groups
        )

    @staticmethod
    def _groups_matching(
        lines: Sequence[Line], included: list[bool], excluded: list[bool] | None, groups: Groups
    ) -> list[Line]:
        selected: list[Line] = []
        # Most lines are groups of one: a head whose group does not go on in this batch,
        # and is not the batch's last line (its group may go on in the next), decides
        # alone, without the bookkeeping below.
        continued = {line.group for line in lines if line.group != line.seq}
        last = lines[-1] if lines else None
        start = 0
        if not continued and excluded is None and lines:  # a batch of one-line groups
            start = len(lines) - 1
            selected = [line for line, hit in zip(lines[:start], included, strict=False) if hit]
        for i in range(start, len(lines)):
            line = lines[i]
            if excluded is not None and excluded[i]:
                continue
            if not line.group or (
                line.group == line.seq and line.group not in continued and line is not last
            ):
                if included[i]:
                    selected.append(line)
                continue
            key = (line.stream, line.host, line.file)
            group = groups.get(key)
            if group is None or group.head != line.group:
                group = groups[key] = _OpenGroup(line.group)
                groups.move_to_end(key)
                if len(groups) > MAX_OPEN_GROUPS:
                    groups.popitem(last=False)
            if group.matched:
                selected.append(line)
            elif included[i]:
                group.matched = True
                selected += group.held
                group.held = []
                selected.append(line)
            else:  # held: a later line of its group may still match
                group.held.append(line)
                if len(group.held) > MAX_HELD:
                    del group.held[0]
        return selected

    def take_switched(self) -> list[SwitchedOff]:
        """Patterns switched off since the last call."""
        out, self.switched_off = self.switched_off, []
        return out

    def _hits(self, lines: Sequence[Line], patterns: list[_Pattern]) -> list[bool] | None:
        """Whether each line matches any of ``patterns``; None when there is none (all
        may have been switched off, then this box does not filter)."""
        hit: list[bool] | None = None
        for pattern in list(patterns):
            found = self._run(pattern, list(lines))
            hit = found if hit is None else [a or b for a, b in zip(hit, found, strict=True)]
        return hit if patterns else None

    def _run(self, pattern: _Pattern, lines: list[Line]) -> list[bool]:
        """Whether each line matches; a line whose match timed out counts as matching
        (it is shown rather than silently hidden), and so does every line after the
        pattern is switched off (a box whose pattern is off does not filter)."""
        started = self.cpu()
        hits = self._run_joined(pattern, lines) if pattern.joined and len(lines) > 4 else None
        if hits is not None:
            self._charge(pattern, self.cpu() - started, len(lines))
            return hits
        return self._run_each(pattern, lines, started)

    def _run_each(self, pattern: _Pattern, lines: list[Line], started: float) -> list[bool]:
        """Search line by line, charging the time spent every ``CHARGE_EVERY`` lines, so
        one call over a whole backfill stops once the pattern is over its budget
        rather than after every line (10,000 lines at 2 ms each was a 20 s call)."""
        search, timeout, cpu = pattern.search, self.timeout, self.cpu
        hits: list[bool] = []
        charged = 0  # lines charged so far
        for line in lines:
            try:
                hits.append(search(line.text, timeout=timeout) is not None)
            except TimeoutError:
                hits.append(True)
                pattern.timeouts += 1
                if pattern.timeouts >= self.max_timeouts:
                    self._switch_off(pattern, f"timed out on {pattern.timeouts} lines")
            if len(hits) - charged >= CHARGE_EVERY or pattern.off or len(hits) == len(lines):
                now = cpu()
                self._charge(pattern, now - started, len(hits) - charged)
                started, charged = now, len(hits)
                if pattern.off:
                    return hits + [True] * (len(lines) - len(hits))
        return hits

    def _charge(self, pattern: _Pattern, seconds: float, lines: int) -> None:
        """Count ``seconds`` spent on ``lines`` lines against the pattern's budget and the
        shared one; switch the pattern off when it is over either."""
        now = self.clock()
        if now - self._window_start >= self.window:
            self._window_start = now
            for p in self._include + self._exclude:
                p.spent, p.lines = 0.0, 0
            self._spent = 0.0
        pattern.spent += seconds
        pattern.lines += lines
        self._spent += seconds
        slow = pattern.spent > self.per_line * pattern.lines
        if pattern.off:
            return
        if (
            self.shared is not None
            and self.shared.charge(pattern, seconds, now)
            and slow
            and pattern.spent >= self.shared.fair()
        ):
            spent = f"{self.shared.spent:.2f} s of matching for all viewers"
            self._switch_off(pattern, f"too slow: its share of {spent} in {self.window:g} s")
        elif slow and max(pattern.spent, self._spent) > self.budget * self.window:
            spent = f"{self._spent:.2f} s of matching in {now - self._window_start:.1f} s"
            self._switch_off(pattern, f"too slow: {spent}")

    def _run_joined(self, pattern: _Pattern, lines: list[Line]) -> list[bool] | None:
        """Search the lines joined by newlines, one call per matching line instead of one
        per line (a timed regex call has a fixed cost of about a microsecond). None if a
        match crossed a line end or the batch timed out: then each line is searched."""
        assert pattern.joined is not None
        texts = [line.text for line in lines]
        text = "\n".join(texts)
        starts = list(itertools.accumulate((len(t) + 1 for t in texts[:-1]), initial=0))
        hits = [False] * len(lines)
        timeout = min(self.timeout * len(lines), 0.05)
        search = pattern.joined
        pos = 0
        while pos <= len(text):
            try:
                found = search(text, pos, None, None, False, timeout)
            except TimeoutError:
                return None
            if found is None:
                break
            begin, end = found.span()
            i = bisect.bisect_right(starts, begin) - 1
            line_end = starts[i] + len(texts[i])
            if end > line_end:
                return None
            hits[i] = True
            pos = line_end + 1
        return hits

    def _switch_off(self, pattern: _Pattern, reason: str) -> None:
        pattern.off = True
        for box in (self._include, self._exclude):
            if pattern in box:
                box.remove(pattern)
        self.switched_off.append(SwitchedOff(pattern.field, pattern.text, reason))
