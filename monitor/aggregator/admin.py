"""The management console (TCP 8126): node statsd's admin commands, as a pure responder.

``Admin.respond(line, now)`` returns the text node would write and whether to close the
connection. Commands: ``help``, ``config``, ``health [up|down]``, ``stats``,
``counters``, ``timers``, ``gauges``, ``delcounters``, ``deltimers``, ``delgauges``
(names, or ``folder.*``), ``quit``. Dumps use JavaScript object notation like node's
``util.inspect``; long ones put one entry per line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import asdict
from typing import Any

from monitor.aggregator.aggregator import Aggregator
from monitor.aggregator.jsnumber import format_number, round_half_up
from monitor.aggregator.sinks import Sink

__all__ = ["Admin"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_HELP = (
    "Commands: stats, counters, timers, gauges, delcounters, deltimers, delgauges,"
    " health, config, quit\n\n"
)
_BREAK_LENGTH = 80  # node's util.inspect default


def _quote(text: str) -> str:
    """A JavaScript string literal as ``util.inspect`` writes it (single quotes first)."""
    quote = "'" if "'" not in text or '"' in text else '"'
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def _js(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "-0" if value == 0 and math.copysign(1, value) < 0 else format_number(value)
    if isinstance(value, list | tuple):
        return _braces("[", "]", [_js(v) for v in value])
    if isinstance(value, Mapping):
        return inspect(value)
    return _quote(str(value))


def _braces(opening: str, closing: str, entries: list[str]) -> str:
    """node's ``reduceToSingleString``: one line when short enough, else one entry a line.

    (node also packs arrays of more than six numbers into aligned columns; here they
    follow the same one-line-or-one-per-line rule.)
    """
    if not entries:
        return opening + closing
    start = len(entries) + len(opening) + 10
    total = len(entries) + start
    if total + len(entries) <= _BREAK_LENGTH:
        total += sum(len(e) for e in entries)
        joined = ", ".join(entries)
        if total <= _BREAK_LENGTH and "\n" not in joined:
            return f"{opening} {joined} {closing}"
    inner = ",\n".join("  " + e.replace("\n", "\n  ") for e in entries)
    return f"{opening}\n{inner}\n{closing}"


def inspect(mapping: Mapping[str, Any]) -> str:
    """A JavaScript object literal for ``mapping``, laid out as node's ``util.inspect``."""
    entries = [
        f"{k if _IDENTIFIER.fullmatch(k) else _quote(k)}: {_js(v)}" for k, v in mapping.items()
    ]
    return _braces("{", "}", entries)


def _delete(stats: MutableMapping[str, Any], names: Sequence[str]) -> str:
    out = []
    for name in names:
        matches = [name] if name in stats else []
        if name.endswith(".*"):
            folder = name[:-1]
            matches += [k for k in stats if k.startswith(folder)]
        if not matches:
            out.append(f"metric {name} not found\n")
        for match in matches:
            stats.pop(match, None)
            out.append(f"deleted: {match}\n")
    return "".join(out) + "END\n\n"


class Admin:
    """Answers admin commands about one aggregator and its sinks."""

    def __init__(
        self,
        aggregator: Aggregator,
        sinks: Sequence[Sink],
        started: float,
        health: str = "up",
    ) -> None:
        self.aggregator = aggregator
        self.sinks = sinks
        self.started = started
        self.health = health

    def respond(self, line: str, now: float) -> tuple[str, bool]:
        """The reply to one command line, and whether to close the connection."""
        command, *params = line.strip().split(" ")
        agg = self.aggregator
        handlers: dict[str, Callable[[], str]] = {
            "help": lambda: _HELP,
            "config": self._config,
            "health": lambda: self._health(params),
            "stats": lambda: self._stats(round_half_up(now)),
            "counters": lambda: inspect(agg.counters) + "\nEND\n\n",
            "timers": lambda: inspect(agg.timers) + "\nEND\n\n",
            "gauges": lambda: inspect(agg.gauges) + "\nEND\n\n",
            "delcounters": lambda: _delete(agg.counters, params),
            "deltimers": lambda: _delete(agg.timers, params),
            "delgauges": lambda: _delete(agg.gauges, params),
        }
        if command == "quit":
            return "", True
        handler = handlers.get(command)
        return (handler() if handler else "ERROR\n"), False

    def _health(self, params: list[str]) -> str:
        if params and params[0].lower() in ("up", "down"):
            self.health = params[0].lower()
        return f"health: {self.health}\n"

    def _stats(self, now: int) -> str:
        agg = self.aggregator
        lines = [f"uptime: {now - round_half_up(self.started)}"]
        last_seen = round_half_up(agg.last_msg_seen or self.started)
        lines.append(f"messages.last_msg_seen: {now - last_seen}")
        lines.append(f"messages.bad_lines_seen: {agg.bad_lines_total}")
        for sink in self.sinks:
            for stat, value in sink.status().items():
                shown = now - value if stat.startswith("last_") else value
                lines.append(f"{sink.name}.{stat}: {_js(shown)}")
        return "\n".join(lines) + "\nEND\n\n"

    def _config(self) -> str:
        out = ["\n"]
        for key, value in asdict(self.aggregator.settings).items():
            if isinstance(value, dict):
                out += [f"{key} > {k}: {_flat(v)}\n" for k, v in value.items()]
            else:
                out.append(f"{key}: {_flat(value)}\n")
        return "".join(out)


def _flat(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return format_number(value)
    if isinstance(value, list | tuple):
        return ",".join(_flat(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={_flat(v)}" for k, v in value.items())
    return str(value)
