"""Dashboards as files: load them, and check them the way a reviewer would.

A dashboard is one JSON file in ``dashboards/`` following ``dashboards/schema.json``
(reference: ``docs/dashboards.md``). ``check_file`` reports every problem as
``file:line:col: json.path: message`` so a person can act on it:

* JSON syntax (with the position of the error);
* the schema: unknown or misspelt keys (with a suggestion), wrong types, missing keys,
  values outside an enumeration (with a suggestion);
* targets: parsed by the render engine's parser, function names checked against its
  registry (with a suggestion), ``$variables`` that are not defined;
* duplicate panel ids and variable names, panels naming deploy sources that do not exist;
* dashboard ids used by two files (``duplicate_ids``);
* warnings, which do not make a file unusable: a ``stacked`` panel that stacks a total
  (``sumSeries``, a ``.total`` node) on top of its own parts, drawing it twice as high.

``live_problems`` also asks a Graphite API whether each target returns series.

``Library`` is the server's view of the directory: it rereads changed files, keeps
serving a file's last good version while the file is broken (a typo while editing
must not make a dashboard vanish), refuses a second file that claims an id already
taken, and logs every new problem once.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema

from monitor import jsonpos
from monitor.render import functions as _functions  # noqa: F401  (registers them)
from monitor.render import tags
from monitor.render.evaluator import FUNCTIONS, SPECIAL_FORMS
from monitor.render.grammar import Call, Node, TargetSyntaxError, parse_target
from monitor.render.grammar import Literal as Constant
from monitor.render.grammar import Path as PathExpr

__all__ = [
    "SCHEMA_PATH",
    "Dashboard",
    "Library",
    "Problem",
    "check_file",
    "check_text",
    "duplicate_ids",
    "load_dashboards",
]

log = logging.getLogger("monitor.dashboards")

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "dashboards" / "schema.json"
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dashboard file, and where."""

    file: str
    line: int
    column: int
    where: str
    message: str
    #: A warning leaves the file usable (and the check passing); an error does not.
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f" {self.where}:" if self.where else ""
        warning = " warning:" if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}:{where}{warning} {self.message}"


@dataclass(frozen=True)
class Dashboard:
    """A loaded, valid dashboard; ``version`` changes whenever its spec does."""

    id: str
    path: Path
    spec: dict[str, Any]
    version: int = 0

    @property
    def title(self) -> str:
        """Its title."""
        return str(self.spec["title"])


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


def _dotted(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Report:
    def __init__(self, filename: str, positions: jsonpos.Positions) -> None:
        self.filename = filename
        self.positions = positions
        self.problems: list[Problem] = []

    def add(
        self,
        path: JsonPath,
        message: str,
        key: bool = False,
        offset: int = 0,
        severity: Literal["error", "warning"] = "error",
    ) -> None:
        line, column = self.positions.get(("key" if key else "value", path), (1, 1))
        where = _dotted(path)
        self.problems.append(
            Problem(self.filename, line, column + offset, where, message, severity)
        )

    def errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def check_text(text: str, filename: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The dashboard in ``text`` (None when it cannot be used) and its problems."""
    try:
        data, positions = jsonpos.load(text)
    except jsonpos.JsonSyntaxError as exc:
        return None, [Problem(filename, exc.line, exc.column, "", f"not valid JSON: {exc.message}")]
    report = _Report(filename, positions)
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.path))):
        _schema_problem(report, error)
    if report.problems or not isinstance(data, dict):
        return None, report.problems
    _semantic_problems(report, data)
    return (None if report.errors() else data), report.problems


def _schema_problem(report: _Report, error: jsonschema.ValidationError) -> None:
    if error.validator == "oneOf" and error.context:
        # The branch the author meant is the one whose type matched: report its deepest
        # complaint (a bad colour inside a target object, not "expected a string").
        inner = [e for e in error.context if e.validator not in ("type", "required", "oneOf")]
        if inner:
            error = max(inner, key=lambda e: len(e.absolute_path))
    path: JsonPath = tuple(error.absolute_path)
    kind = error.validator
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    expected: Any = error.validator_value
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        for key in sorted(set(instance) - set(allowed)):
            report.add((*path, key), f"unknown key {key!r}{_suggest(key, allowed)}", key=True)
    elif kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        report.add(path, f"missing required key {missing[0]!r}" if missing else error.message)
    elif kind == "enum":
        choices = [str(c) for c in expected]
        shown = ", ".join(repr(c) for c in choices)
        hint = _suggest(str(instance), choices)
        report.add(path, f"expected one of {shown}, got {instance!r}{hint}")
    elif kind == "type":
        report.add(path, f"expected {_type_name(expected)}, got {instance!r}")
    elif kind == "pattern" and str(expected).startswith("^#"):
        report.add(path, f"expected a colour like '#1f77b4', got {instance!r}")
    elif kind == "oneOf" and isinstance(instance, dict):
        options = " or ".join(repr(sub["required"][0]) for sub in expected if "required" in sub)
        report.add(path, f"needs exactly one of {options}")
    else:
        report.add(path, error.message)


def _type_name(expected: Any) -> str:
    names = {"string": "a string", "integer": "an integer", "number": "a number",
             "boolean": "true or false", "array": "a list", "object": "an object"}  # fmt: skip
    if isinstance(expected, list):
        return " or ".join(names.get(str(e), str(e)) for e in expected)
    return names.get(expected, str(expected))


def _targets(data: dict[str, Any]) -> Iterator[tuple[JsonPath, str]]:
    for r, row in enumerate(data["rows"]):
        for p, panel in enumerate(row["panels"]):
            for t, target in enumerate(panel["targets"]):
                if isinstance(target, str):
                    yield ("rows", r, "panels", p, "targets", t), target
                else:
                    yield ("rows", r, "panels", p, "targets", t, "target"), target["target"]
    for d, source in enumerate(data.get("deploys", [])):
        if "metric" in source:
            yield ("deploys", d, "metric"), source["metric"]


def _semantic_problems(report: _Report, data: dict[str, Any]) -> None:
    variables = [v["name"] for v in data.get("variables", [])]
    for i, name in enumerate(variables):
        if name in variables[:i]:
            report.add(("variables", i, "name"), f"variable {name!r} is defined twice")
    for i, variable in enumerate(data.get("variables", [])):
        for e, expression in enumerate(variable.get("expr", [])):
            try:
                tags.parse_spec(expression)
            except tags.TagError as exc:
                report.add(("variables", i, "expr", e), str(exc))
    sources = [s["name"] for s in data.get("deploys", [])]
    seen_ids: dict[str, JsonPath] = {}
    for r, row in enumerate(data["rows"]):
        for p, panel in enumerate(row["panels"]):
            at: JsonPath = ("rows", r, "panels", p)
            if "id" in panel:
                if panel["id"] in seen_ids:
                    first = _dotted(seen_ids[panel["id"]])
                    report.add((*at, "id"), f"panel id {panel['id']!r} is also used by {first}")
                seen_ids.setdefault(panel["id"], at)
            chosen = panel.get("deploys")
            if isinstance(chosen, list):
                for i, name in enumerate(chosen):
                    if name not in sources:
                        hint = _suggest(name, sources)
                        report.add((*at, "deploys", i), f"no deploy source named {name!r}{hint}")
    for path, target in _targets(data):
        for match in _VARIABLE.finditer(target):
            if match[1] not in variables:
                hint = _suggest(match[1], variables)
                report.add(path, f"undefined variable ${match[1]}{hint}", offset=match.start() + 1)
        try:
            node = parse_target(_VARIABLE.sub("x", target))
        except TargetSyntaxError as exc:
            report.add(path, f"bad target: {exc.message}", offset=exc.position + 1)
            continue
        for call in _calls(node):
            if call.name not in FUNCTIONS and call.name not in SPECIAL_FORMS:
                hint = _suggest(call.name, sorted(FUNCTIONS))
                report.add(path, f"unknown function {call.name!r}{hint}", offset=call.position + 1)
    _stacked_totals(report, data)


#: Functions that add their series into one: stacked over their own parts, the parts
#: are drawn twice.
_SUMS = {"sumSeries", "sum", "totalSeries", "sumSeriesWithWildcards", "groupByNode",
         "groupByNodes", "aggregate", "aggregateWithWildcards", "groupByTags"}  # fmt: skip
#: Functions that only rename or restyle: look through them for the series' origin.
_COSMETIC = {"alias", "aliasByNode", "aliasByMetric", "aliasSub", "aliasByTags", "color",
             "lineWidth", "dashed", "alpha", "legendValue", "cactiStyle", "consolidateBy",
             "keepLastValue", "transformNull", "sortByName", "sortByMaxima",
             "sortByTotal"}  # fmt: skip
#: Last nodes that name a total of their siblings.
_TOTAL_NODES = {"total", "all", "sum", "overall"}


def _total_reason(node: Node) -> str | None:
    """Why the series of ``node`` look like a total of other series, or None."""
    while isinstance(node, Call) and node.name in _COSMETIC and node.args:
        node = node.args[0]
    if isinstance(node, Call):
        if node.name.startswith("aggregate"):
            how = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(how, Constant) and how.value in ("sum", "total")):
                return None
        return f"{node.name}() adds series up" if node.name in _SUMS else None
    if isinstance(node, PathExpr):
        last = node.text.rsplit(".", 1)[-1].lower()
        if set(re.split(r"[{},]", last)) & _TOTAL_NODES:
            return f"its last node {last!r} names a total"
    return None


def _stacked_totals(report: _Report, data: dict[str, Any]) -> None:
    """Warn when a stacked panel stacks a total on top of the series it adds up."""
    for r, row in enumerate(data["rows"]):
        for p, panel in enumerate(row["panels"]):
            if panel.get("kind") != "stacked":
                continue
            targets = [t if isinstance(t, str) else t["target"] for t in panel["targets"]]
            for t, target in enumerate(targets):
                try:
                    node = parse_target(_VARIABLE.sub("x", target))
                except TargetSyntaxError:
                    continue
                reason = _total_reason(node)
                if reason and len(targets) > 1:
                    at: JsonPath = ("rows", r, "panels", p, "targets", t)
                    if not isinstance(panel["targets"][t], str):
                        at = (*at, "target")
                    report.add(
                        at,
                        f"a stacked panel draws this total on top of its own parts ({reason}),"
                        " so the stack shows about twice the real value: put the total in its"
                        " own panel, or make the panel 'lines'",
                        severity="warning",
                    )


def _calls(node: Node) -> Iterator[Call]:
    if isinstance(node, Call):
        yield node
        for arg in (*node.args, *(value for _, value in node.kwargs)):
            yield from _calls(arg)


def check_file(path: Path) -> list[Problem]:
    """Every problem in one dashboard file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(str(path), 1, 1, "", f"cannot read: {exc}")]
    return check_text(text, str(path))[1]


def dashboard_files(paths: list[Path]) -> list[Path]:
    """The dashboard files named by ``paths`` (directories: their ``*.json``, not the schema)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.glob("*.json") if p.name != "schema.json")
        else:
            out.append(path)
    return out


def _claim(path: Path, text: str) -> tuple[str, int, int] | None:
    """The id a file claims (its ``id``, else its file name) and where that is said;
    None when the file is not a JSON object."""
    try:
        data, positions = jsonpos.load(text)
    except jsonpos.JsonSyntaxError:
        return None
    if not isinstance(data, dict):
        return None
    ident = data.get("id")
    if not isinstance(ident, str) or not ident:
        return path.stem, 1, 1
    line, column = positions.get(("value", ("id",)), (1, 1))
    return ident, line, column


def _id_taken(path: Path, claim: tuple[str, int, int], owner: Path) -> Problem:
    ident, line, column = claim
    return Problem(
        str(path),
        line,
        column,
        "id",
        f"dashboard id {ident!r} is already used by {owner}: give one of them another"
        " 'id' (this file is not served meanwhile)",
    )


def duplicate_ids(paths: Iterable[Path]) -> list[Problem]:
    """Ids claimed by two files, reported at every file after the first, naming both."""
    owners: dict[str, Path] = {}
    problems = []
    for path in paths:
        try:
            claim = _claim(path, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if claim is None:
            continue
        if claim[0] in owners:
            problems.append(_id_taken(path, claim, owners[claim[0]]))
        else:
            owners[claim[0]] = path
    return problems


@dataclass
class _File:
    """What the library knows of one file: when it last read it, its last good spec."""

    stamp: tuple[int, int]
    order: int
    problems: list[Problem]
    good: dict[str, Any] | None = None
    good_version: int = 0
    claim: tuple[str, int, int] | None = None


@dataclass
class Library:
    """The dashboards of a directory as the server sees them. Thread-safe.

    ``refresh`` rereads the files that changed (by modification time and size). A file
    that no longer parses or validates keeps serving its last good version, and its
    problems are reported (``problems``) and logged once, so an editor's typo shows as a
    banner instead of a vanished dashboard. When two files claim the same id, the one
    the library knew first keeps it (at the first scan: the first by name) and the
    other is refused with a problem naming both.
    """

    directory: Path
    _files: dict[Path, _File] = field(default_factory=dict)
    _boards: dict[str, Dashboard] = field(default_factory=dict)
    _conflicts: dict[Path, Problem] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _order: int = 0

    def refresh(self) -> None:
        """Reread changed files, forget removed ones, and settle who owns each id."""
        with self._lock:
            paths = dashboard_files([self.directory]) if self.directory.is_dir() else []
            for path in paths:
                self._reread(path)
            for gone in set(self._files) - set(paths):
                log.info("dashboard file %s was removed", gone)
                del self._files[gone]
            self._settle_ids()

    def _reread(self, path: Path) -> None:
        try:
            info = path.stat()
        except OSError:
            return
        stamp = (info.st_mtime_ns, info.st_size)
        known = self._files.get(path)
        if known is not None and known.stamp == stamp:
            return
        if known is None:
            self._order += 1
            known = _File(stamp, self._order, [])
        known.stamp = stamp
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            spec, known.problems = None, [Problem(str(path), 1, 1, "", f"cannot read: {exc}")]
        else:
            spec, known.problems = check_text(text, str(path))
            if spec is not None:
                known.good, known.good_version = spec, info.st_mtime_ns
                known.claim = _claim(path, text)
        self._files[path] = known
        for problem in known.problems:
            log.warning("dashboard %s", problem)
        if spec is None and known.good is not None:
            log.warning("dashboard %s: serving its last good version until it is fixed", path)

    def _settle_ids(self) -> None:
        boards: dict[str, Dashboard] = {}
        conflicts: dict[Path, Problem] = {}
        for path, known in sorted(self._files.items(), key=lambda item: item[1].order):
            if known.good is None or known.claim is None:
                continue
            ident = known.claim[0]
            if ident in boards:
                conflicts[path] = _id_taken(path, known.claim, boards[ident].path)
                if self._conflicts.get(path) != conflicts[path]:
                    log.warning("dashboard %s", conflicts[path])
                continue
            boards[ident] = Dashboard(ident, path, known.good, known.good_version)
        self._boards, self._conflicts = boards, conflicts

    def dashboards(self) -> dict[str, Dashboard]:
        """The dashboards served, by id."""
        with self._lock:
            return dict(self._boards)

    def problems(self, path: Path | None = None) -> list[Problem]:
        """Every current problem (or those of one file), errors and warnings."""
        with self._lock:
            return [
                problem
                for file, known in sorted(self._files.items())
                if path is None or file == path
                for problem in [*known.problems, *filter(None, [self._conflicts.get(file)])]
            ]


def load_dashboards(directory: Path) -> tuple[dict[str, Dashboard], list[Problem]]:
    """The valid dashboards in ``directory`` by id, and every problem (one reading)."""
    library = Library(directory)
    library.refresh()
    return library.dashboards(), library.problems()


def all_value(variable: dict[str, Any]) -> str:
    """What "all values" is for a variable: a glob star, or a regex for a tag."""
    return ".*" if "tag" in variable else "*"


def live_problems(path: Path, graphite_url: str) -> list[Problem]:
    """Ask a Graphite API whether each target of a valid dashboard file returns series
    (variables at their defaults)."""
    from monitor.graphite import GraphiteClient, GraphiteError

    spec, positions = jsonpos.load(path.read_text(encoding="utf-8"))
    report = _Report(str(path), positions)
    defaults = {
        v["name"]: v.get("default") or (v["values"][0] if "values" in v else all_value(v))
        for v in spec.get("variables", [])
    }
    since = spec.get("time", {}).get("from", "-6h")
    with GraphiteClient(graphite_url) as client:
        for json_path, target in _targets(spec):
            concrete = _VARIABLE.sub(lambda m: str(defaults.get(m[1]) or "*"), target)
            try:
                series = client.render(concrete, from_=since)
            except GraphiteError as exc:
                report.add(json_path, str(exc))
                continue
            if not series:
                report.add(json_path, f"{concrete!r} returns no series from {graphite_url}")
            panel = _panel_at(spec, json_path)
            if panel.get("kind") == "stacked" and len(series) > 1:
                totals = [s.target for s in series if s.target.rsplit(".", 1)[-1] in _TOTAL_NODES]
                if totals:
                    report.add(
                        json_path,
                        f"{concrete!r} returns {totals[0]!r} beside the series it adds up;"
                        " stacked, it is counted twice: narrow the glob",
                        severity="warning",
                    )
    return report.problems


def _panel_at(spec: dict[str, Any], json_path: JsonPath) -> dict[str, Any]:
    """The panel a target's JSON path is in ({} for a deploy source's metric)."""
    if json_path[0] != "rows":
        return {}
    panel: dict[str, Any] = spec["rows"][json_path[1]]["panels"][json_path[3]]
    return panel
