"""JSON with positions: parse a document and remember where every value and key starts.

Python's ``json`` says where a syntax error is, but not where a *valid* value sits, and
a dashboard checker must point at ``file:line:col`` of the value it complains about.
``load`` returns the same Python value ``json.loads`` would, plus a map from each JSON
path (a tuple of keys and indexes) to the ``(line, column)`` of its value (1-based), and
the same for object keys under ``("key", …path)``.
"""

from __future__ import annotations

import json
import json.decoder
import re
from collections.abc import Callable
from typing import Any

__all__ = ["JsonSyntaxError", "Positions", "load"]

# The stdlib's JSON string scanner (C-accelerated); typeshed does not list it.
_scanstring: Callable[[str, int], tuple[str, int]] = vars(json.decoder)["scanstring"]

Path = tuple[str | int, ...]
Positions = dict[tuple[str, Path], tuple[int, int]]

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class JsonSyntaxError(ValueError):
    """Not JSON; ``line`` and ``column`` say where (1-based)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.message, self.line, self.column = message, line, column


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.positions: Positions = {}
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, index: int) -> tuple[int, int]:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, index - self.line_starts[lo] + 1

    def fail(self, message: str) -> JsonSyntaxError:
        return JsonSyntaxError(message, *self.where(self.i))

    def skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\n\r":
            self.i += 1

    def value(self, path: Path) -> Any:
        self.skip()
        self.positions[("value", path)] = self.where(self.i)
        char = self.text[self.i : self.i + 1]
        if char == "{":
            return self.obj(path)
        if char == "[":
            return self.array(path)
        if char == '"':
            return self.string()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return value
        number = _NUMBER.match(self.text, self.i)
        if number:
            self.i = number.end()
            return json.loads(number[0])
        if not char:
            raise self.fail("unexpected end of file")
        raise self.fail(f"unexpected {char!r}")

    def string(self) -> str:
        try:
            value, self.i = _scanstring(self.text, self.i + 1)
        except json.JSONDecodeError as exc:
            raise JsonSyntaxError(exc.msg, exc.lineno, exc.colno) from None
        return str(value)

    def obj(self, path: Path) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        self.skip()
        if self.text.startswith("}", self.i):
            self.i += 1
            return out
        while True:
            self.skip()
            if self.i >= len(self.text):
                raise self.fail("unexpected end of file")
            if not self.text.startswith('"', self.i):
                raise self.fail("expected a quoted key")
            start = self.i
            key = self.string()
            self.positions[("key", (*path, key))] = self.where(start)
            if key in out:
                self.i = start
                raise self.fail(f"duplicate key {key!r}")
            self.skip()
            if not self.text.startswith(":", self.i):
                raise self.fail("expected ':' after the key")
            self.i += 1
            out[key] = self.value((*path, key))
            self.skip()
            if self.text.startswith(",", self.i):
                self.i += 1
                continue
            if self.text.startswith("}", self.i):
                self.i += 1
                return out
            raise self.fail("expected ',' or '}'")

    def array(self, path: Path) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        self.skip()
        if self.text.startswith("]", self.i):
            self.i += 1
            return out
        while True:
            out.append(self.value((*path, len(out))))
            self.skip()
            if self.text.startswith(",", self.i):
                self.i += 1
                continue
            if self.text.startswith("]", self.i):
                self.i += 1
                return out
            raise self.fail("expected ',' or ']'")


def load(text: str) -> tuple[Any, Positions]:
    """Parse ``text``; raise ``JsonSyntaxError`` with the line and column of the problem."""
    parser = _Parser(text)
    value = parser.value(())
    parser.skip()
    if parser.i != len(text):
        raise parser.fail("unexpected text after the JSON value")
    return value, parser.positions
