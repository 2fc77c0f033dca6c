"""JavaScript's ``Number(string)`` and ``String(number)``, as node statsd relies on them.

statsd 0.9.0 decides whether a value is valid with ``!isNaN(str)`` and writes values to
Graphite with JavaScript's number-to-string conversion. Python's ``float()`` and
``repr()`` disagree with both in places that show on a graph:

* ``float()`` accepts ``nan``, ``inf``, ``infinity``, ``1_000`` and non-ASCII digits
  (Arabic-Indic, fullwidth), which JavaScript rejects; JavaScript accepts ``0x10``, ``0b11``,
  ``0o17``, and a string of whitespace (as 0), which ``float()`` rejects.
* ``repr(1e-05)`` is ``1e-05`` where JavaScript writes ``0.00001``; ``repr(1e21)`` is
  ``1e+21`` in both, but ``repr(5.0)`` is ``5.0`` where JavaScript writes ``5``.
"""

from __future__ import annotations

import math
import re

from monitor.names import JS_WHITESPACE

__all__ = ["format_number", "parse_number", "round_half_up"]

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RADIX = re.compile(r"0(?:[xX][0-9a-fA-F]+|[bB][01]+|[oO][0-7]+)")
_INFINITY = {"Infinity": math.inf, "+Infinity": math.inf, "-Infinity": -math.inf}


def parse_number(text: str) -> float | None:
    """``Number(text)`` in JavaScript, or None where it gives ``NaN``."""
    if _DECIMAL.fullmatch(text):
        return float(text)
    stripped = text.strip(JS_WHITESPACE)
    if not stripped:
        return 0.0
    if _DECIMAL.fullmatch(stripped):
        return float(stripped)
    if _RADIX.fullmatch(stripped):
        base = {"x": 16, "b": 2, "o": 8}[stripped[1].lower()]
        try:
            return float(int(stripped[2:], base))
        except OverflowError:
            return math.inf
    return _INFINITY.get(stripped)


def is_number(text: str) -> bool:
    """statsd's ``isNumber``: a non-empty string that ``Number()`` does not make ``NaN``."""
    return bool(text) and parse_number(text) is not None


def round_half_up(x: float) -> int:
    """``Math.round``: halves go up (``2.5`` -> 3, ``-2.5`` -> -2), unlike ``round()``."""
    return math.floor(x + 0.5)


def format_number(x: float) -> str:
    """``String(x)`` in JavaScript: ``5``, ``0.1``, ``0.00001``, ``1e+21``, ``NaN``."""
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == int(x) and abs(x) < 2**53:  # exact integers; above, shortest digits + zeros
        return str(int(x))
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # n: where the decimal point goes relative to the digit string (ECMAScript's n).
    n = len(whole) + int(exp or 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    exponent = f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + (digits[0] + ("." + digits[1:] if k > 1 else "")) + exponent
