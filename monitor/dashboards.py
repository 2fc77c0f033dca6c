"""Dashboards as files: load them, and check them the way a reviewer would.

A dashboard is one JSON file in ``dashboards/`` following ``dashboards/schema.json``
(reference: ``docs/dashboards.md``). ``check_file`` reports every problem as
``file:line:col: json.path: message`` so a person can act on it:

* JSON syntax (with the position of the error);
* the schema: unknown or misspelt keys (with a suggestion), wrong types, missing keys,
  values outside an enumeration (with a suggestion);
* targets: parsed by the render engine's parser, function names checked against its
  registry (with a suggestion), ``$variables`` that are not defined;
* duplicate panel ids and variable names, panels naming deploy sources that do not exist.

``live_problems`` also asks a Graphite API whether each target returns series.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from monitor import jsonpos
from monitor.render import functions as _functions  # noqa: F401  (registers them)
from monitor.render import tags
from monitor.render.evaluator import FUNCTIONS, SPECIAL_FORMS
from monitor.render.grammar import Call, Node, TargetSyntaxError, parse_target

__all__ = ["SCHEMA_PATH", "Dashboard", "Problem", "check_file", "check_text", "load_dashboards"]

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

    def __str__(self) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{self.file}:{self.line}:{self.column}:{where} {self.message}"


@dataclass(frozen=True)
class Dashboard:
    """A loaded, valid dashboard."""

    id: str
    path: Path
    spec: dict[str, Any]

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

    def add(self, path: JsonPath, message: str, key: bool = False, offset: int = 0) -> None:
        line, column = self.positions.get(("key" if key else "value", path), (1, 1))
        self.problems.append(Problem(self.filename, line, column + offset, _dotted(path), message))


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
    return (None if report.problems else data), report.problems


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


def load_dashboards(directory: Path) -> tuple[dict[str, Dashboard], list[Problem]]:
    """The valid dashboards in ``directory`` by id, and the problems of the others."""
    found: dict[str, Dashboard] = {}
    problems: list[Problem] = []
    for path in dashboard_files([directory]):
        spec, errors = check_text(path.read_text(encoding="utf-8"), str(path))
        problems += errors
        if spec is not None:
            ident = spec.get("id") or path.stem
            found[ident] = Dashboard(ident, path, spec)
    return found, problems


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
                if not client.render(concrete, from_=since):
                    report.add(json_path, f"{concrete!r} returns no series from {graphite_url}")
            except GraphiteError as exc:
                report.add(json_path, str(exc))
    return report.problems
