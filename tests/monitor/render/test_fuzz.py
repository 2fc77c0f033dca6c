"""The render API never answers 500: random targets built from every registered
function (arguments mostly of the annotated type, sometimes wrong, missing or extra,
calls nested up to three deep) and random target text are answered 200 or 400, and a
200 JSON body is JSON.

Deterministic (``derandomize=True``), so a failure here fails the same way in CI; the
failing target is in the assertion message."""

from __future__ import annotations

import inspect
import json
import time
import types
import typing
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.render.api import Answer, Backend, Params, answer
from monitor.render.evaluator import FUNCTIONS
from monitor.render.limits import RenderSettings
from monitor.store.finder import StoreFinder
from monitor.store.whisper_store import WhisperStore

NOW = int(time.time()) // 10 * 10

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def _points() -> Iterator[tuple[str, float, int]]:
    """An hour at 10 s steps: zeros, negatives, a gap every seventh step, values near
    the largest float; a series that is all nulls in the hour; tagged series."""
    for i in range(360):
        ts = NOW - 3600 + i * 10
        if i % 7 == 3:
            continue  # a gap
        yield "a.b.c", float(i % 5 - 2), ts  # -2 … 2, zeros included
        yield "a.b.d", 0.0 if i % 2 else float(i) * 1.5, ts
        yield "a.x.c", -float(i), ts
        yield "a.x.huge", 1e308 if i % 3 else -1e308, ts  # sums overflow to inf and nan
        yield "cpu;host=a", float(i % 11), ts
        yield "cpu;host=b", 100.0 - i, ts
    yield "a.x.empty", 1.0, NOW - 5 * 3600  # nothing in the last hour


class Events:
    """Two events in the hour, one of them tagged ``deploy``."""

    def event_times(self, start: float, end: float, tags: list[str] | None) -> list[float]:
        events = [(NOW - 1800.0, ["deploy"]), (NOW - 600.0, ["other"])]
        return [t for t, have in events if start <= t <= end and set(tags or []) <= set(have)]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    root: Path = tmp_path_factory.mktemp("fuzz")
    store = WhisperStore(root)
    store.start()
    store.add(_points())
    store.stop()  # flushed to disk
    return Backend(StoreFinder(store), Events(), UTC, RenderSettings())


# -- targets built from the registered functions ---------------------------------------

PATHS = ["a.b.c", "a.b.*", "a.*.c", "a.*.*", "a.{b,x}.c", "nosuch.*", "a.x.empty", "a.b.[cd]"]
PATHS += ["a.x.huge", "a.x.*"]
INTS = [0, 1, 2, 3, -1, -2, 5, 10, 60, 1000, 10**9, -(10**9), 10**18, 2**64]
FLOATS = [0.0, 0.5, -1.5, 2.5, 100.0, 1e308, -1e308, 1e-308, 1e-3]
INTERVALS = ["1min", "1h", "0s", "-5min", "10s", "1d", "5", "bogus", "", "10y", "-1h", "now"]
INTERVALS += ["2000000y", "1000000000y", "+1h", "1h-5min"]
AGGREGATIONS = ["sum", "avg", "average", "median", "max", "min", "last", "bogus", "", "diff"]
AGGREGATIONS += ["stddev", "range", "multiply", "count", "avg_zero", "first", "current"]
REGEXES = [".*", "(", "a", "b\\.c", "[", "\\", "^$", "(?P<x>a)", "*", "c|d"]
TAG_EXPRESSIONS = ["host=a", "name=cpu", "host!=a", "host=~a.*", "host!=~(", "name=~["]
TAG_EXPRESSIONS += ["bogus", "", "=a", "host=", "name!=cpu"]
WORDS = ["x", "", "red", "#ff0000", "binary", "si", "bogus", "%d", "{}", "a.b", "$1", "\\1"]
TIMES = ["now", "-1h", "-30min", "noon", "bogus", "", "-10y", "1000000000", "now+1h"]

#: Plausible strings by parameter name; others draw from all of them.
STRINGS: dict[str, list[str]] = {
    "func": AGGREGATIONS,
    "callback": AGGREGATIONS,
    "consolidationFunc": AGGREGATIONS,
    "reduceFunction": [*AGGREGATIONS, "asPercent", "divideSeries", "absolute", "mapSeries"],
    "valueTypes": ["avg", "last", "total", "bogus", "min", "max", "current"],
    "operator": ["=", "!=", ">", ">=", "<", "<=", "bogus", ""],
    "pattern": REGEXES,
    "search": REGEXES,
    "replace": ["\\1", "$1", "x", "\\g<1>", "\\9", "\\g<x>", ""],
    "tags": [*TAG_EXPRESSIONS, "host", "name", "*", "deploy"],
    "tagExpressions": TAG_EXPRESSIONS,
    "nodes": ["host", "name", "bogus", ""],
    "mapNodes": ["host", "name", "bogus", ""],
    "templateFunction": ["sumSeries(%)", "%", "bogus(", "sumSeries(%.*)", "", "a.%.c"],
    "reduceMatchers": ["c", "d", "x", ""],
    "intervalString": INTERVALS,
    "windowSize": INTERVALS,
    "timeShift": [*INTERVALS, "+1h", "1h"],
    "timeShiftUnit": INTERVALS,
    "bootstrapInterval": INTERVALS,
    "seasonality": INTERVALS,
    "intervalUnit": INTERVALS,
    "alignTo": [*INTERVALS, "seconds", "minutes", "hours", "days", "weeks"],
    "startSourceAt": TIMES,
    "endSourceAt": TIMES,
    "startSliceAt": TIMES,
    "endSliceAt": TIMES,
    "ts": TIMES,
    "system": ["si", "binary", "sec", "msec", "bogus", ""],
    "units": ["b", "B/s", "", "%"],
}
ALL_STRINGS = sorted({s for pool in STRINGS.values() for s in pool} | set(WORDS) | set(TIMES))
#: Parameters the evaluator fills in itself.
INJECTED = {"ctx", "node", "call"}
NAMES = sorted(FUNCTIONS)
KEYWORDS = {"true", "false", "none", "inf"}


def _quote(text: str) -> str:
    """A single-quoted string (a backslash is kept as written, and only stops the next
    character ending the string: a last backslash needs one after it)."""
    text = text.replace("'", "\\'")
    return f"'{text}\\'" if text.endswith("\\") else f"'{text}'"


def _int_values() -> st.SearchStrategy[str]:
    return st.sampled_from(INTS).map(str)


def _float_values() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(FLOATS).map(repr), _int_values(), st.just("inf"))


def _string_values(name: str) -> st.SearchStrategy[str]:
    pool = STRINGS.get(name, WORDS)
    return st.one_of(st.sampled_from(pool), st.sampled_from(ALL_STRINGS)).map(_quote)


def _series(depth: int) -> st.SearchStrategy[str]:
    """A path or glob, or (to three calls deep) a call."""
    paths = st.sampled_from(PATHS)
    if depth >= 3:
        return paths
    return st.one_of(paths, paths, st.deferred(lambda: _call(depth + 1)))


def _any_value() -> st.SearchStrategy[str]:
    """A value of any type: for the wrong-type cases."""
    return st.one_of(
        _int_values(),
        _float_values(),
        _string_values(""),
        st.sampled_from(["true", "false", "none"]),
        st.sampled_from(PATHS),
    )


def _for_type(expected: Any, name: str, depth: int) -> st.SearchStrategy[str]:
    """Graphite text for a value of the annotated type."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_for_type(option, name, depth) for option in typing.get_args(expected)))
    if origin is list:
        if typing.get_args(expected) == (Any,):  # mapSeries' lists of series lists
            return st.one_of(
                _series(depth),
                _series(depth).map(lambda s: f"mapSeries({s}, 1)"),
            )
        return _series(depth)
    if expected is type(None):
        return st.just("none")
    if expected is bool:
        return st.sampled_from(["true", "false"])
    if expected is int:
        return _int_values()
    if expected is float:
        return _float_values()
    if expected is str:
        return _string_values(name)
    return _any_value()


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True one time in ``n`` (not at 0: hypothesis favours its edges)."""
    return draw(st.integers(0, n - 1)) == n // 2


@st.composite
def _call(draw: st.DrawFn, depth: int) -> str:
    """A call of a registered function: each argument mostly of its annotated type, one
    call in twenty with an argument missing, one too many or an unknown keyword."""
    name = draw(st.sampled_from(NAMES))
    fn = FUNCTIONS[name].call
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters.values() if p.name not in INJECTED]
    positional: list[str] = []
    keywords: list[str] = []
    for param in params:
        expected = hints.get(param.name, Any)
        has_default = param.default is not param.empty
        if param.kind is param.VAR_POSITIONAL:
            count = draw(st.integers(0, 3))
            for _ in range(count):
                positional.append(draw(_value(expected, param.name, depth)))
            continue
        if has_default and _one_in(draw, 3):
            continue  # leave it to its default (later ones then go by keyword)
        value = draw(_value(expected, param.name, depth))
        if keywords or (has_default and _one_in(draw, 4)):
            keywords.append(f"{param.name}={value}")
        else:
            positional.append(value)
    mutation = draw(st.integers(0, 19))
    if mutation == 7 and positional:  # a missing argument
        del positional[draw(st.integers(0, len(positional) - 1))]
    elif mutation == 8:  # an extra one
        positional.append(draw(_any_value()))
    elif mutation == 9:  # an unknown keyword
        keywords.append(f"bogus={draw(_any_value())}")
    piped = positional and positional[0][0].isalpha() and positional[0] not in KEYWORDS
    if piped and _one_in(draw, 8) and not depth:
        # the pipe form: the first argument before a |
        first, *rest = positional
        return f"{first} | {name}({', '.join(rest + keywords)})"
    return f"{name}({', '.join(positional + keywords)})"


@st.composite
def _value(draw: st.DrawFn, expected: Any, name: str, depth: int) -> str:
    """Mostly the annotated type; one time in twenty anything at all."""
    if _one_in(draw, 20):
        return draw(_any_value())
    return draw(_for_type(expected, name, depth))


def _render(backend: Backend, target: str, fmt: str, max_points: int | None) -> Answer:
    pairs = [("target", target), ("from", "-1h"), ("now", str(NOW)), ("format", fmt)]
    if max_points is not None:
        pairs.append(("maxDataPoints", str(max_points)))
    try:
        return answer("render", Params(pairs), backend)
    except Exception as exc:  # what the web server would answer 500
        raise AssertionError(f"{target!r} raised {exc!r}") from exc


@settings(FUZZ, max_examples=1500)
@given(
    target=_call(0),
    fmt=st.sampled_from(["json", "json", "csv", "raw"]),
    max_points=st.one_of(st.none(), st.none(), st.sampled_from([1, 2, 7, 100])),
)
def test_generated_targets_never_answer_500(
    backend: Backend, target: str, fmt: str, max_points: int | None
) -> None:
    result = _render(backend, target, fmt, max_points)
    assert result.status in (200, 400), (target, result)
    if result.status == 200 and fmt == "json":
        assert isinstance(json.loads(result.body), list), target
    if result.status == 400:
        assert json.loads(result.body)["error"], target


GRAMMAR = "abc.*(),'\"=|0123456789 -"


@settings(FUZZ, max_examples=1000)
@given(
    target=st.one_of(
        st.text(max_size=40),
        st.text(alphabet=GRAMMAR, max_size=40),
        st.lists(st.sampled_from([*NAMES, "(", ")", ",", "a.b.*", "'1h'", "2", "|", "=", " "])).map(
            "".join
        ),
    )
)
def test_target_text_never_answers_500(backend: Backend, target: str) -> None:
    result = _render(backend, target, "json", None)
    assert result.status in (200, 400), (target, result)
