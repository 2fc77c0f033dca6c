"""Users' regular expressions, measured before they are compiled.

Patterns come from URLs and websockets (supergrep filters, graphite's ``grep``,
``aliasSub``, tag expressions). Matching them is bounded by timeouts, but compiling is
not: the ``regex`` module expands counted repeats, so the 11 characters ``x{5000000}``
take seconds and gigabytes to compile, on whatever thread does it. ``check`` refuses
such a pattern before anything compiles it, by its *expanded size*: every atom counts
1, a counted repeat multiplies what it repeats by its largest count, alternatives and
sequences add up. ``(ab){3}`` is 6, ``(x{1000}){100}`` is 100,000. Open repeats (``*``,
``+``, ``{2,}``) count once: the engine loops over them instead of copying them.

Pure code: a string in, a number or an error out.
"""

from __future__ import annotations

import re

__all__ = ["MAX_EXPANDED", "PatternTooBig", "check", "expanded_size"]

#: The expanded size refused (about 10 ms to compile here; a million takes 0.6 s).
MAX_EXPANDED = 20_000

_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")
_BRACED_ESCAPES = "xNpPu"  # \x{41}, \N{name}, \p{Lu}: braces that are not repeats


class PatternTooBig(ValueError):
    """A pattern whose compiled form would be too large; the message says why."""


def check(pattern: str, limit: int = MAX_EXPANDED) -> None:
    """Raise ``PatternTooBig`` when ``pattern`` expands past ``limit``."""
    size = expanded_size(pattern)
    if size > limit:
        raise PatternTooBig(
            f"pattern {pattern[:60]!r} is too big: its counted repeats expand to"
            f" {size:,} elements, more than {limit:,} (use * or + for open repeats)"
        )


def expanded_size(pattern: str) -> int:
    """The size of ``pattern`` with every counted repeat written out (see above)."""
    size, _ = _sequence(pattern, 0)
    return size


def _sequence(p: str, pos: int) -> tuple[int, int]:
    """Size of the items from ``pos`` up to a closing ``)`` or the end."""
    total = last = 0
    while pos < len(p):
        c = p[pos]
        if c == ")":
            return total, pos
        if c == "|":
            last = 0
            pos += 1
            continue
        if c == "{" and (count := _COUNT.match(p, pos)) and last:
            low, high = count.group(1), count.group(2)
            times = int(high) if high else (1 if high == "" else int(low or "1"))
            total += last * (times - 1)
            last *= times
            pos = count.end()
            continue
        if c in "*+?":
            pos += 1
            continue
        if c == "(":
            inner, pos = _sequence(p, _group_body(p, pos + 1))
            pos += 1  # the ")"
            last = inner
        else:
            pos = _atom_end(p, pos)
            last = 1
        total += last
    return total, pos


def _group_body(p: str, pos: int) -> int:
    """Where a group's contents start, after ``(``: past ``?:``, ``?P<name>``, flags…"""
    if not p.startswith("?", pos):
        return pos
    pos += 1
    if pos < len(p) and p[pos] in "<P" and p.find(">", pos) > 0 and p[pos + 1 : pos + 2] != "=":
        if p[pos : pos + 2] in ("<=", "<!"):
            return pos + 2
        return p.find(">", pos) + 1
    if pos < len(p) and p[pos] == "#":
        end = p.find(")", pos)
        return end if end > 0 else len(p)
    while pos < len(p) and p[pos] not in ":)=!>":
        pos += 1  # inline flags such as (?i) or (?i:
    return pos + 1 if pos < len(p) and p[pos] in ":=!>" else pos


def _atom_end(p: str, pos: int) -> int:
    """Where the atom (a character, an escape, a class) at ``pos`` ends."""
    if p[pos] == "\\":
        if p[pos + 1 : pos + 2] in tuple(_BRACED_ESCAPES) and p[pos + 2 : pos + 3] == "{":
            end = p.find("}", pos)
            return end + 1 if end > 0 else len(p)
        return pos + 2
    if p[pos] != "[":
        return pos + 1
    pos += 1
    if p[pos : pos + 1] == "^":
        pos += 1
    if p[pos : pos + 1] == "]":
        pos += 1
    while pos < len(p) and p[pos] != "]":
        if p[pos] == "\\":
            pos += 1
        elif p.startswith("[:", pos) and (end := p.find(":]", pos)) > 0:
            pos = end + 1
        pos += 1
    return pos + 1
