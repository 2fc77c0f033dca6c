"""Graphite's target language, parsed into a small tree with positions for errors.

::

    target   := expr ( "|" call )*           a pipe passes the left side as first argument
    expr     := call | path
    call     := name "(" [ args ] ")"
    args     := arg ( "," arg )*             positional first, then name=value
    arg      := name "=" value | value
    value    := number | string | true | false | none | inf | expr
    path     := node ( "." node )*           nodes may hold * ? [..] {a,b} and \\-escapes

Numbers are ints or floats (``-1``, ``2.5``, ``1e3``) only when a ``,``, ``)`` or the end
follows; otherwise the text is a path (``1h.rate``). Strings take single or double
quotes. Unlike graphite-web, which answers ``[]`` for ``sumSeries(a.b`` and ignores a
stray ``)``, any text that is not a complete target raises ``TargetSyntaxError`` with
the position of the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Call", "Literal", "Node", "Path", "TargetSyntaxError", "parse_target"]


class TargetSyntaxError(ValueError):
    """The target is not well formed; ``position`` is the offending character's index."""

    def __init__(self, message: str, target: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.target = target
        self.position = position


@dataclass(frozen=True)
class Path:
    """A metric path expression, possibly with globs."""

    text: str
    position: int


@dataclass(frozen=True)
class Literal:
    """A number, string, boolean, None or infinity argument."""

    value: object
    position: int


@dataclass(frozen=True)
class Call:
    """A function call; ``raw`` is its text as written (used for some series names)."""

    name: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]
    position: int
    raw: str


Node = Path | Literal | Call

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE]-?\d+)?")
_KWARG = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
_SYMBOLS = set("(){},.'\"\\|")
_KEYWORDS = {"true": True, "false": False, "none": None, "inf": float("inf")}


#: How deeply calls may nest in one target (graphite's own targets rarely pass 10; a
#: thousand would exhaust the parser's and the evaluator's stacks).
MAX_DEPTH = 100


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.depth = 0

    def fail(self, message: str, at: int | None = None) -> TargetSyntaxError:
        return TargetSyntaxError(message, self.text, self.i if at is None else at)

    def skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.i] if self.i < len(self.text) else ""

    def target(self) -> Node:
        node = self.expr()
        while self.peek() == "|":
            self.i += 1
            self.skip()
            start = self.i
            call = self.expr()
            if not isinstance(call, Call):
                raise self.fail("expected a function call after '|'", start)
            node = Call(call.name, (node, *call.args), call.kwargs, call.position, call.raw)
        if self.peek():
            raise self.fail(f"unexpected {self.text[self.i]!r}")
        return node

    def expr(self) -> Node:
        self.skip()
        start = self.i
        name = _NAME.match(self.text, self.i)
        if name:
            after = name.end()
            while after < len(self.text) and self.text[after].isspace():
                after += 1
            if after < len(self.text) and self.text[after] == "(":
                if self.depth >= MAX_DEPTH:
                    raise self.fail(f"calls nested deeper than {MAX_DEPTH}", start)
                self.i = after + 1
                self.depth += 1
                try:
                    return self.call(name[0], start)
                finally:
                    self.depth -= 1
        return self.path()

    def call(self, name: str, start: int) -> Call:
        args: list[Node] = []
        kwargs: list[tuple[str, Node]] = []
        if self.peek() == ")":
            self.i += 1
        else:
            while True:
                self.skip()
                kwarg = _KWARG.match(self.text, self.i)
                if kwarg:
                    self.i = kwarg.end()
                    kwargs.append((kwarg[1], self.value()))
                elif kwargs:
                    raise self.fail("positional argument after a keyword argument")
                else:
                    args.append(self.value())
                char = self.peek()
                if char == ",":
                    self.i += 1
                    continue
                if char == ")":
                    self.i += 1
                    break
                if not char:
                    raise self.fail(f"missing ')' to close {name}(", start + len(name))
                raise self.fail(f"expected ',' or ')' in {name}(), found {char!r}")
        return Call(name, tuple(args), tuple(kwargs), start, self.text[start : self.i])

    def value(self) -> Node:
        self.skip()
        start = self.i
        char = self.text[self.i] if self.i < len(self.text) else ""
        if char in ("'", '"'):
            return Literal(self.string(char), start)
        number = _NUMBER.match(self.text, self.i)
        if number and self._ends_value(number.end()):
            self.i = number.end()
            text = number[0]
            is_int = number[1] is None and number[2] is None
            return Literal(int(text) if is_int else float(text), start)
        word = _NAME.match(self.text, self.i)
        if word and word[0].lower() in _KEYWORDS and self._ends_value(word.end()):
            self.i = word.end()
            return Literal(_KEYWORDS[word[0].lower()], start)
        if not char or char in ",)":
            raise self.fail("expected an argument")
        return self.expr()

    def _ends_value(self, at: int) -> bool:
        while at < len(self.text) and self.text[at].isspace():
            at += 1
        return at >= len(self.text) or self.text[at] in ",)"

    def _escape(self, out: list[str]) -> bool:
        """Take a backslash and the character it escapes, if one starts here."""
        if self.text[self.i] == "\\" and self.i + 1 < len(self.text):
            out.append(self.text[self.i + 1])
            self.i += 2
            return True
        return False

    def string(self, quote: str) -> str:
        """A quoted string, its backslashes kept as written (as graphite-web keeps them:
        ``'web\\.(host\\d)'`` reaches ``aliasSub`` as that regular expression); a
        backslash only stops the next character from ending the string."""
        start = self.i
        self.i += 1
        out: list[str] = []
        while self.i < len(self.text):
            if self.text[self.i] == "\\" and self.i + 1 < len(self.text):
                out.append(self.text[self.i : self.i + 2])
                self.i += 2
                continue
            char = self.text[self.i]
            if char == quote:
                self.i += 1
                return "".join(out)
            out.append(char)
            self.i += 1
        raise self.fail("unterminated string", start)

    def path(self) -> Path:
        self.skip()
        start = self.i
        out: list[str] = []
        depth = 0
        while self.i < len(self.text):
            if self._escape(out):
                continue
            char = self.text[self.i]
            if char == "{":
                depth += 1
            elif char == "}":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth:
                pass
            elif char.isspace() or (char in _SYMBOLS and char != "."):
                break
            out.append(char)
            self.i += 1
        if depth:
            raise self.fail("missing '}' in path", start)
        text = "".join(out)
        if not text:
            found = repr(self.text[self.i]) if self.i < len(self.text) else "the end"
            raise self.fail(f"expected a metric path or a function call, found {found}")
        if text.startswith(".") or text.endswith(".") or ".." in text:
            raise self.fail(f"empty node in path {text!r}", start)
        return Path(text, start)


def parse_target(text: str) -> Node:
    """Parse one ``target`` parameter."""
    if not text.strip():
        raise TargetSyntaxError("empty target", text, 0)
    return _Parser(text).target()
