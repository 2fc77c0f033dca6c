"""Evaluate parsed targets: fetch paths through a ``Finder``, call registered functions.

The finder is the storage seam (``find`` and ``fetch``), so the engine is the same over
the embedded whisper store or anything else. Functions are plain Python functions
registered with ``@function``; their annotations are the argument contract: a call with
a missing, extra or mistyped argument raises ``InvalidArgument`` naming the function
and the parameter, which the API answers with HTTP 400.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any, Protocol, TypeVar

from monitor.render.attime import TimeSyntaxError, parse_time
from monitor.render.glob import has_glob
from monitor.render.grammar import Call, Literal, Node, Path, parse_target
from monitor.render.limits import Budget
from monitor.render.series import TimeSeries

__all__ = [
    "FUNCTIONS",
    "SPECIAL_FORMS",
    "Context",
    "Finder",
    "InvalidArgument",
    "RenderError",
    "SeriesList",
    "call_function",
    "evaluate_targets",
    "function",
    "read_series",
]

SeriesList = list[TimeSeries]
Fetched = tuple[tuple[int, int, int], Sequence[float | None]]


class RenderError(ValueError):
    """A target that cannot be evaluated; the message says what and where."""


class InvalidArgument(RenderError):
    """A function called with arguments it cannot take."""


class Finder(Protocol):
    """Where series come from."""

    def find(self, pattern: str) -> list[tuple[str, bool]]:
        """``(path, is_leaf)`` for every node matching the glob ``pattern``, sorted."""

    def fetch(self, path: str, start: int, end: int) -> Fetched | None:
        """Values of one leaf between ``start`` and ``end``, or None."""

    def tagged(self) -> list[str]:
        """Every tagged series name (``name;tag=value…``) there is: the tag index."""


class EventSource(Protocol):
    """Where ``events()`` finds events: ``(when, tags)`` pairs in a time range."""

    def event_times(self, start: float, end: float, tags: list[str] | None) -> list[float]:
        """Times of matching events (all tags must match; None means any event)."""


@dataclass(frozen=True)
class Context:
    """One request: the time range, the storage, and the request's options."""

    start: int
    end: int
    now: int
    tz: tzinfo
    finder: Finder
    events: EventSource | None = None
    xff: float = 0.0
    #: ``stacked()``'s running totals by stack name, shared by the request's targets.
    stacks: dict[str, list[float]] = field(default_factory=dict)
    #: ``template()`` variables in force (``$name`` in paths), the request's own
    #: ``template[name]=value`` parameters overriding a target's.
    template: Mapping[str, Any] = field(default_factory=dict)
    #: What the request has read and made so far, against its limits.
    budget: Budget = field(default_factory=Budget)

    def shifted(self, start: int, end: int) -> Context:
        """The same request over another time range (``timeShift``, moving windows)."""
        return replace(self, start=start, end=end)

    def time(self, text: str, who: str) -> int:
        """A time argument (``from``/``until`` syntax: ``-1h``, ``noon``, epoch seconds)
        as epoch seconds, relative to this request's now; a bad one names ``who``."""
        try:
            now = datetime.fromtimestamp(self.now, self.tz)
            return int(parse_time(str(text), self.tz, now).timestamp())
        except TimeSyntaxError as exc:
            raise InvalidArgument(f"{who}(): {exc}") from None


@dataclass(frozen=True)
class Function:
    """A registered render function."""

    name: str
    family: str
    call: Callable[..., Any]
    #: Functions that re-read their first argument over another time range get the
    #: unevaluated node too (graphite-web re-evaluates ``args[0]`` the same way).
    wants_node: bool = False
    #: Functions whose answer depends on the call as written get it (``seriesByTag``:
    #: its text is the path expression of the series it finds).
    wants_call: bool = False


FUNCTIONS: dict[str, Function] = {}


F = TypeVar("F", bound=Callable[..., Any])


def function(
    name: str,
    family: str,
    *,
    wants_node: bool = False,
    wants_call: bool = False,
    aliases: Sequence[str] = (),
) -> Callable[[F], F]:
    """Register a render function under ``name`` (and ``aliases``)."""

    def register(fn: F) -> F:
        for each in (name, *aliases):
            FUNCTIONS[each] = Function(each, family, fn, wants_node, wants_call)
        return fn

    return register


def evaluate_targets(targets: Sequence[str], ctx: Context) -> SeriesList:
    """Every series the targets produce, in order. Raises ``TargetSyntaxError`` or
    ``RenderError`` for the first bad target."""
    out: SeriesList = []
    for target in targets:
        if not target.strip():
            continue
        result = evaluate(parse_target(target), ctx)
        if isinstance(result, TimeSeries):
            out.append(result)
        elif isinstance(result, list):  # mapSeries alone gives lists of series: flatten
            out.extend(s for item in result for s in (item if isinstance(item, list) else [item]))
        else:
            raise RenderError(f"target {target!r} is a {type(result).__name__}, not a series")
    return out


#: Calls the evaluator reads itself: not functions of series (``template`` binds
#: variables for the expression inside it).
SPECIAL_FORMS = {"template"}


def evaluate(node: Node, ctx: Context) -> Any:
    """The value of one node: a series list, or a literal."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Path):
        return _path(node.text, ctx)
    if node.name == "template":
        return _template(node, ctx)
    return _call(node, ctx)


def _path(text: str, ctx: Context) -> Any:
    """A path with ``template()`` variables replaced; a path that is just ``$name``
    stands for the variable's value itself (a number where it looks like one)."""
    for name, value in ctx.template.items():
        if text == "$" + name:
            if isinstance(value, str) and re.fullmatch(r"-?[\d.]+", value):
                return float(value)
            return value
        text = text.replace("$" + name, str(value))
    return fetch(text, ctx)


def _template(call: Call, ctx: Context) -> Any:
    """``template(expression, name=value, …)`` or ``template(expression, v1, v2)`` (``$1``,
    ``$2``): the expression with its ``$`` variables filled, the request's
    ``template[name]=`` parameters taking precedence."""
    if not call.args:
        raise InvalidArgument("template(): needs the expression to fill in")
    values: dict[str, Any] = {}
    for i, arg in enumerate(call.args[1:], 1):
        values[str(i)] = _scalar(arg, "template")
    for name, arg in call.kwargs:
        values[name] = _scalar(arg, "template")
    values.update(ctx.template)
    return evaluate(call.args[0], replace(ctx, template=values))


def _scalar(node: Node, who: str) -> Any:
    if not isinstance(node, Literal):
        raise InvalidArgument(f"{who}(): only string and number arguments are allowed")
    return node.value


def fetch(pattern: str, ctx: Context) -> SeriesList:
    """The series a path expression names, sorted by name."""
    if has_glob(pattern):
        paths = [path for path, leaf in ctx.finder.find(pattern) if leaf]
    else:
        paths = [pattern]
    return read_series(paths, pattern, ctx)


def read_series(paths: list[str], pattern: str, ctx: Context) -> SeriesList:
    """The series at ``paths`` (those that exist), with ``pattern`` as their path
    expression."""
    out = []
    ctx.budget.read(len(paths), 0)
    for path in paths:
        fetched = ctx.finder.fetch(path, ctx.start, ctx.end)
        if fetched is None:
            continue
        (start, end, step), values = fetched
        ctx.budget.make(len(values))
        out.append(
            TimeSeries.read(path, start, end, step, values, xff=ctx.xff, path_expression=pattern)
        )
    return out


def _call(call: Call, ctx: Context) -> Any:
    fn = FUNCTIONS.get(call.name)
    if fn is None:
        raise RenderError(f"unknown function {call.name}() at position {call.position}")
    args = [evaluate(arg, ctx) for arg in call.args]
    kwargs = {name: evaluate(arg, ctx) for name, arg in call.kwargs}
    extra: dict[str, Any] = {"node": call.args[0] if call.args else None} if fn.wants_node else {}
    if fn.wants_call:
        extra["call"] = call
    bound = _check(fn, call.name, ctx, args, kwargs, extra)
    return fn.call(*bound.args, **bound.kwargs)


def call_function(fn: Function, ctx: Context, *args: Any) -> Any:
    """``fn`` called with arguments already evaluated, checked as a target's call is
    (``reduceSeries`` calls the function it is named: a wrong one is a 400, not a
    ``TypeError``). It has no node to read again: ``movingAverage`` and the like
    answer nothing."""
    extra: dict[str, Any] = {"node": None} if fn.wants_node else {}
    bound = _check(fn, fn.name, ctx, list(args), {}, extra)
    return fn.call(*bound.args, **bound.kwargs)


def _check(
    fn: Function,
    who: str,
    ctx: Context,
    args: list[Any],
    kwargs: dict[str, Any],
    extra: dict[str, Any],
) -> inspect.BoundArguments:
    signature = inspect.signature(fn.call)
    try:
        bound = signature.bind(ctx, *args, **kwargs, **extra)
    except TypeError as exc:
        raise InvalidArgument(f"{who}(): {exc}") from None
    hints = typing.get_type_hints(fn.call)
    for name, value in bound.arguments.items():
        if name in ("ctx", "node"):
            continue
        param = signature.parameters[name]
        expected = hints.get(name, Any)
        values = value if param.kind is param.VAR_POSITIONAL else (value,)
        for each in values:
            if not _is(each, expected):
                raise InvalidArgument(
                    f"{who}(): argument {name!r} must be {_describe(expected)}, got {_show(each)}"
                )
        # graphite-web's parameter validation turns 2 into 2.0 (seen in tags: "2.0").
        single = param.kind is not param.VAR_POSITIONAL
        if single and _wants_float(expected) and type(value) is int:
            bound.arguments[name] = float(value)
    return bound


def _wants_float(expected: Any) -> bool:
    options = typing.get_args(expected) if typing.get_origin(expected) else (expected,)
    return float in options and int not in options


def _is(value: Any, expected: Any) -> bool:
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_is(value, option) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if origin is list:
        if typing.get_args(expected) == (Any,):  # lists of series lists (mapSeries)
            return isinstance(value, list)
        return isinstance(value, list) and all(isinstance(s, TimeSeries) for s in value)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(o) for o in typing.get_args(expected))
    if origin is list:
        return "a series list (a path or a function)"
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
    return names.get(expected, "none" if expected is type(None) else str(expected))


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "a series list"
    return repr(value)
