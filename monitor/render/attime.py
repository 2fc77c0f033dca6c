"""``from`` and ``until``: every time syntax graphite-web 1.1.10 accepts.

* epoch seconds (``1800000000``); ``now``;
* a reference plus offsets: ``-2h``, ``now-7d``, ``-1week``, ``+30min``, ``-3mon``
  (30 days), ``-1y`` (365 days), chains like ``-1d2h``;
* times of day: ``HH:MM``, ``3am``, ``11pm``, ``noon``, ``midnight``, ``teatime`` (16:00);
* days: ``today``, ``yesterday``, ``tomorrow``, ``YYYYMMDD``, ``MM/DD/YY[YY]``, a month
  name and day (``jan1``), a weekday (``monday``, the last one on or before today);
* combinations (``noon+yesterday``, ``16:00_20261128``, ``3am_yesterday-1h``).

Spaces, underscores and commas are ignored and case does not matter, as in graphite.
Times resolve in the request's timezone (``tz``, default UTC). Errors raise
``TimeSyntaxError`` with graphite's wording where it has one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["TimeSyntaxError", "parse_offset", "parse_time"]

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # datetime.weekday() order
_NAMED_TIMES = {"noon": 12, "midnight": 0, "teatime": 16}
_OFFSET_PART = re.compile(r"(\d+)([a-z]+)")


class TimeSyntaxError(ValueError):
    """A ``from``/``until`` value (or an interval) that cannot be read."""


def _unit_seconds(unit: str) -> int:
    # graphite's prefixes, in its order; a bare "m" is neither "min" nor "mon": an error.
    if unit.startswith("s"):
        return 1
    if unit.startswith("min"):
        return 60
    if unit.startswith("h"):
        return 3600
    if unit.startswith("d"):
        return 86400
    if unit.startswith("w"):
        return 7 * 86400
    if unit.startswith("mon"):
        return 30 * 86400
    if unit.startswith("y"):
        return 365 * 86400
    raise TimeSyntaxError(f"Invalid offset unit '{unit}'")


def parse_offset(text: str) -> timedelta:
    """``-2h``, ``1d12h``, ``+5min`` -> a ``timedelta`` (no sign means forwards);
    ``TimeSyntaxError`` for one past what a ``timedelta`` holds (``1000000000y``)."""
    text = text.strip().lower()
    if not text:
        return timedelta()
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    elif not text[0].isdigit():
        raise TimeSyntaxError(f"Invalid offset: {text}")
    total = 0
    position = 0
    for match in _OFFSET_PART.finditer(text):
        if match.start() != position:
            break
        total += int(match[1]) * _unit_seconds(match[2])
        position = match.end()
    if position != len(text) or position == 0:
        raise TimeSyntaxError(f"Invalid offset: {text}")
    try:
        return timedelta(seconds=sign * total)
    except OverflowError:
        raise TimeSyntaxError(f"offset {text[:40]!r} is out of range") from None


def parse_time(text: str, tz: tzinfo, now: datetime) -> datetime:
    """A ``from``/``until`` value as an aware datetime in ``tz``; ``TimeSyntaxError``
    for one that cannot be read or lies outside what a date can hold (``-100000y``)."""
    try:
        return _parse_time(text, tz, now)
    except OverflowError:
        raise TimeSyntaxError(f"time {text[:40]!r} is out of range") from None


def _parse_time(text: str, tz: tzinfo, now: datetime) -> datetime:
    s = text.strip().lower().replace("_", "").replace(",", "").replace(" ", "")
    if s.isdigit() and not _looks_like_yyyymmdd(s):
        return datetime.fromtimestamp(int(s), tz)
    for sign in "+-":
        if sign in s:
            ref, offset = s.split(sign, 1)
            # Offsets are absolute seconds (graphite's pytz arithmetic), not wall-clock days.
            moved = _reference(ref, tz, now).astimezone(UTC) + parse_offset(sign + offset)
            return moved.astimezone(tz)
    return _reference(s, tz, now)


def _looks_like_yyyymmdd(s: str) -> bool:
    return len(s) == 8 and int(s[:4]) > 1900 and int(s[4:6]) < 13 and int(s[6:]) < 32


def _reference(ref: str, tz: tzinfo, now: datetime) -> datetime:
    now = now.astimezone(tz)
    if ref in ("", "now"):
        return now
    raw = ref
    hour = minute = 0
    colon = ref.find(":")
    if 0 < colon < 3:
        try:
            hour, minute = int(ref[:colon]), int(ref[colon + 1 : colon + 3])
        except ValueError:
            raise TimeSyntaxError(f"Unknown time of day: {raw}") from None
        ref = ref[colon + 3 :]
        if ref[:2] == "am":
            ref = ref[2:]
        elif ref[:2] == "pm":
            hour, ref = (hour + 12) % 24, ref[2:]
    for suffix, add in (("am", 0), ("pm", 12)):
        at = ref.find(suffix)
        if 0 < at < 3 and ref[:at].isdigit():
            hour, ref = (int(ref[:at]) + add) % 24, ref[at + 2 :]
    for word, at_hour in _NAMED_TIMES.items():
        if ref.startswith(word):
            hour, minute, ref = at_hour, 0, ref[len(word) :]
            break
    try:
        day = now.replace(hour=hour, minute=minute, second=0, microsecond=0, tzinfo=None)
    except ValueError:
        raise TimeSyntaxError(f"Unknown time of day: {raw}") from None
    try:
        if ref in ("yesterday", "today", "tomorrow"):
            day += timedelta(days={"yesterday": -1, "today": 0, "tomorrow": 1}[ref])
        elif ref.count("/") == 2:
            m, d, y = (int(part) for part in ref.split("/"))
            y = y + 1900 if y < 1900 else y
            y = y + 100 if y < 1970 else y
            day = datetime(y, m, d, hour, minute)
        elif len(ref) == 8 and ref.isdigit():
            day = datetime(int(ref[:4]), int(ref[4:6]), int(ref[6:]), hour, minute)
        elif ref[:3] in _MONTHS:
            digits = ref[-2:] if ref[-2:].isdigit() else ref[-1:]
            if not digits.isdigit():
                raise TimeSyntaxError("Day of month required after month name")
            day = datetime(day.year, _MONTHS.index(ref[:3]) + 1, int(digits), hour, minute)
        elif ref[:3] in _WEEKDAYS:
            back = (day.weekday() - _WEEKDAYS.index(ref[:3])) % 7
            day -= timedelta(days=back)
        elif ref:
            raise TimeSyntaxError(f"Unknown day reference: {raw}")
    except ValueError as exc:
        if isinstance(exc, TimeSyntaxError):
            raise
        raise TimeSyntaxError(f"Invalid date: {raw} ({exc})") from None
    return day.replace(tzinfo=tz)
