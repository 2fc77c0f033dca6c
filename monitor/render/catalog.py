"""The function catalogue graphite-web serves at ``/functions``: what each render
function is called, its parameters and their types, its family and its description.

Grafana's Graphite data source (version 1.1 and later) reads it to build its function
picker and argument editors. It is derived from the registry: a function's Python
signature is its contract (``evaluator.py`` checks calls against it), so the types
named here are the ones a call is checked with.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from monitor.render.evaluator import FUNCTIONS, Function

__all__ = ["catalogue", "describe"]

#: Parameters the evaluator supplies itself: never part of a call as written.
_INJECTED = {"ctx", "node", "call"}


#: Parameters graphite-web types by meaning rather than by Python type.
_BY_NAME = {
    "position": "node",
    "positions": "node",
    "limit": "intOrInf",
    "startSliceAt": "date",
    "endSliceAt": "date",
    "label": "string",
    "color": "string",
    "func": "aggFunc",
    "consolidationFunc": "aggFunc",
    "callback": "aggOrSeriesFunc",
    "intervalString": "interval",
    "intervalUnit": "interval",
    "timeShift": "interval",
    "timeShiftUnit": "interval",
    "bootstrapInterval": "interval",
    "seasonality": "interval",
}


def _camel(name: str) -> str:
    """``series_list`` -> ``seriesList``: graphite-web's parameter names."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _type(name: str, annotation: Any) -> str:
    """graphite-web's parameter type name for an annotation."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if "SeriesList" in str(annotation) or "TimeSeries" in str(annotation):
        return "seriesList"
    if name in _BY_NAME:
        return _BY_NAME[name]
    options = set(typing.get_args(annotation)) - {types.NoneType}
    if options == {int, str}:
        lowered = name.lower()
        if "node" in lowered or "position" in lowered or lowered in ("pos", "tags"):
            return "nodeOrTag"
        return "intOrInterval"
    if options == {int, float}:
        return "float"
    kinds = {int: "integer", float: "float", str: "string", bool: "boolean"}
    for kind, label in kinds.items():
        if annotation is kind or text == kind.__name__ or options == {kind}:
            return label
    return "any"


def describe(function: Function) -> dict[str, Any]:
    """One function as graphite-web's ``functionInfo`` describes it."""
    signature = inspect.signature(function.call)
    hints = typing.get_type_hints(function.call)
    params: list[dict[str, Any]] = []
    shown: list[str] = []
    for param in signature.parameters.values():
        if param.name in _INJECTED:
            continue
        name = _camel(param.name)
        entry: dict[str, Any] = {"name": name, "type": _type(name, hints.get(param.name, Any))}
        if param.kind is param.VAR_POSITIONAL:  # required, but for optional positions
            if not name.startswith("position"):
                entry["required"] = True
            entry["multiple"] = True
            shown.append(f"*{name}")
        elif param.default is param.empty:
            entry["required"] = True
            shown.append(name)
        else:
            if param.default is not None:
                entry["default"] = param.default
            shown.append(f"{name}={param.default!r}")
        params.append(entry)
    return {
        "name": function.name,
        "function": f"{function.name}({', '.join(shown)})",
        "description": inspect.getdoc(function.call) or "",
        "module": function.call.__module__,
        "group": function.family,
        "params": params,
    }


def catalogue(group: str | None = None, grouped: bool = False) -> dict[str, Any]:
    """Every function by name (or by family, then name), optionally one family only."""
    out: dict[str, Any] = {}
    for name in sorted(FUNCTIONS):
        info = describe(FUNCTIONS[name])
        if group is not None and info["group"] != group:
            continue
        if grouped:
            out.setdefault(info["group"], {})[name] = info
        else:
            out[name] = info
    return out
