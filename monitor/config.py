"""The one configuration object, built at the edge and passed down.

Sources, strongest first: command-line ``--set section.key=value`` (and flags such as
``--data-dir``), environment variables ``MONITOR_SECTION_KEY``, the TOML file
(``monitor.toml``, one table per part), then the defaults written below. The result
is a tree of frozen dataclasses; nothing in the core reads the environment.

Every key is checked: an unknown key (with a suggestion), a value of the wrong type
or out of range, a ``MONITOR_*`` variable that names no setting: ``ConfigError`` lists
every problem found in the file, the environment and the overrides at once (one line
each, naming the file, key or variable and what was expected), so one run shows them
all. ``docs/configuration.md`` lists every key.

Each part adds its table here as it is built: a frozen dataclass whose fields have
defaults, and a field of that type on ``Config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from monitor.aggregator.settings import StatsdSettings
from monitor.render.limits import RenderSettings
from monitor.store.receiver import CarbonSettings
from monitor.store.rules import StoreSettings
from supergrep.settings import SupergrepSettings

__all__ = [
    "Config",
    "ConfigError",
    "GraphiteSettings",
    "HttpConfig",
    "default_data_dir",
    "load_config",
]

T = TypeVar("T")


class ConfigError(Exception):
    """Configuration that cannot be used; one line per problem, each saying where and
    why (``problems`` lists them)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


#: ``MONITOR_*`` variables that are not settings but read by the commands themselves.
COMMAND_VARIABLES = frozenset({"MONITOR_CONFIG", "MONITOR_TOKEN", "MONITOR_GRAPHITE_URL",
                               "MONITOR_CARBON"})  # fmt: skip


def _range(low: int, high: int) -> dict[str, Any]:
    return {"range": (low, high)}


@dataclass(frozen=True)
class HttpConfig:
    """``[http]``: the web server for the status page, Graphite API, dashboards, supergrep."""

    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_range(0, 65535))
    #: Required to bind anything but loopback; write APIs then need
    #: ``Authorization: Bearer <token>``.
    token: str = ""


@dataclass(frozen=True)
class GraphiteSettings:
    """``[graphite]``: serve the embedded store, or forward to a real graphite-web."""

    #: A graphite-web URL: when set, the Graphite API routes are proxied to it.
    upstream: str = ""
    #: The ``Authorization`` header sent upstream (for example ``Basic …``).
    upstream_auth: str = ""
    #: The timezone for ``from``/``until`` words and CSV output (``tz`` overrides).
    timezone: str = "UTC"
    #: Answer ``jsonp=callback`` (graphite-web does). Off by default: any web page the
    #: user visits could read metrics and events through a script tag with it.
    jsonp: bool = False


@dataclass(frozen=True)
class DashboardsSettings:
    """``[dashboards]``: where the dashboard files are (relative to the working directory)."""

    dir: Path = Path("dashboards")


@dataclass(frozen=True)
class DemoSettings:
    """``[demo]``: the simulated shop of ``monitor up --demo``."""

    #: Run it (``--demo`` sets this): metrics, the log stream ``demo``, deploys.
    enabled: bool = False
    #: Seconds between its deploys, and before the first one.
    deploy_every: float = 120.0
    first_deploy: float = 20.0
    #: Days of history written on its first start (metrics and deploys); 0: none.
    history_days: float = field(default=8.0, metadata=_range(0, 3650))


@dataclass(frozen=True)
class Config:
    """Everything ``monitor up`` and the parts it runs need to know."""

    data_dir: Path = Path("var")
    log_format: Literal["text", "json"] = "text"
    http: HttpConfig = HttpConfig()
    statsd: StatsdSettings = field(default_factory=StatsdSettings)
    graphite: GraphiteSettings = field(default_factory=GraphiteSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    dashboards: DashboardsSettings = field(default_factory=DashboardsSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    carbon: CarbonSettings = field(default_factory=CarbonSettings)
    supergrep: SupergrepSettings = field(default_factory=SupergrepSettings)
    demo: DemoSettings = DemoSettings()


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/monitor``, or ``~/.local/share/monitor``."""
    base = environ.get("XDG_DATA_HOME") or os.path.join(environ.get("HOME", "."), ".local/share")
    return Path(base) / "monitor"


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Config:
    """Build the ``Config``: defaults < TOML file < ``MONITOR_*`` variables < overrides.

    ``overrides`` maps dotted keys (``http.port``) to strings, as typed on a command line.
    """
    environ = {} if environ is None else environ
    problems: list[str] = []
    tree: dict[str, Any] = {"data_dir": str(default_data_dir(environ))}
    if path is not None:
        try:
            _merge(tree, _read_toml(path))
        except ConfigError as exc:
            problems += exc.problems
    source = str(path) if path is not None else "config"
    leaves = dict(_leaves(Config))
    variables = {"MONITOR_" + key.replace(".", "_").upper(): key for key in leaves}
    for var in sorted(environ):
        if var.startswith("MONITOR_") and var not in variables and var not in COMMAND_VARIABLES:
            known = set(variables) | COMMAND_VARIABLES
            problems.append(f"{var}: names no setting{_suggest(var, known)}")
    for var, key in variables.items():
        if var in environ:
            try:
                _set(tree, key, _parse(leaves[key], environ[var], f"{var}={environ[var]!r}"))
            except ConfigError as exc:
                problems += exc.problems
    for key, text in (overrides or {}).items():
        tp = leaves.get(key) or _table_leaf(key)
        if tp is None:
            problems.append(f"--set {key}: unknown key{_suggest_key(key, leaves)}")
            continue
        try:
            _set(tree, key, _parse(tp, text, f"--set {key}={text!r}"))
        except ConfigError as exc:
            problems += exc.problems
    config = _build(Config, tree, "", source, problems)
    if problems:
        raise ConfigError(*problems)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for name in parents:
        child = tree.get(name)
        if not isinstance(child, dict):
            child = tree[name] = {}
        tree = child
    tree[last] = value


def _fields(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    """Every field of ``cls`` that is not a table of settings itself, in dotted form,
    with its type (tables are walked into)."""
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, Any]] = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _fields(typing.cast(type, tp), f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, tp))
    return out


def _leaves(cls: type) -> list[tuple[str, Any]]:
    """Every settable key of ``cls`` in dotted form, with its type."""
    return [(key, tp) for key, tp in _fields(cls) if typing.get_origin(tp) is not dict]


def _tables(cls: type) -> list[tuple[str, Any]]:
    """Every table of named entries (``supergrep.streams``), with its entries' type."""
    return [
        (key, typing.get_args(tp)[1]) for key, tp in _fields(cls) if typing.get_origin(tp) is dict
    ]


def _table_leaf(key: str) -> Any:
    """The type of ``key`` when it sets a field of a named entry
    (``supergrep.streams.NAME.paths``), else None."""
    for table, entry in _tables(Config):
        name, _, rest = key.removeprefix(table + ".").partition(".")
        if key.startswith(table + ".") and name and dataclasses.is_dataclass(entry):
            return dict(_leaves(typing.cast(type, entry))).get(rest)
    return None


def _suggest_key(key: str, leaves: Mapping[str, Any]) -> str:
    """Did-you-mean for an unknown dotted key, knowing the named tables' form."""
    for table, entry in _tables(Config):
        if key == table or key.startswith(table + "."):
            fields = ", ".join(name for name, _ in _leaves(typing.cast(type, entry)))
            return f" (entries of {table} are set as {table}.NAME.FIELD, FIELD one of: {fields})"
    return _suggest(key, leaves)


def _suggest(key: str, known: Mapping[str, Any] | set[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _build(
    cls: type[T], table: Any, prefix: str, source: str, problems: list[str] | None = None
) -> T:
    """``cls`` from ``table``; each problem is added to ``problems`` and the field left
    at its default (or raised at once when no list is given)."""
    found: list[str] = [] if problems is None else problems
    where = prefix.rstrip(".") or "top level"
    if not isinstance(table, dict):
        found.append(f"{source}: {where}: expected a table, got {table!r}")
        table = {}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(typing.cast(Any, cls))}
    for key in table:
        if key not in names:
            found.append(f"{source}: {prefix}{key}: unknown key{_suggest(key, names)}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(typing.cast(Any, cls)):
        if f.name not in table:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):  # a table: its own problems, each listed
            values[f.name] = _build(typing.cast(type, tp), table[f.name], prefix + f.name + ".",
                                    source, found)  # fmt: skip
            continue
        try:
            value = _convert(tp, table[f.name], prefix + f.name, source)
        except ConfigError as exc:
            found += exc.problems
            continue
        low_high = f.metadata.get("range")
        if low_high and not low_high[0] <= value <= low_high[1]:
            found.append(
                f"{source}: {prefix}{f.name}: expected {low_high[0]} to {low_high[1]},"
                f" got {table[f.name]!r}"
            )
            continue
        values[f.name] = value
    if problems is None and found:
        raise ConfigError(*found)
    return cls(**values)


def _convert(tp: Any, value: Any, key: str, source: str) -> Any:
    """Check a TOML value against the field type ``tp`` and return it typed."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type, tp), value, key + ".", source)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a table, got {value!r}")
        item = typing.get_args(tp)[1]
        return types.MappingProxyType(
            {k: _convert(item, v, f"{key}.{k}", source) for k, v in value.items()}
        )
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: expected a list, got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v, f"{key}[{i}]", source) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                continue
            try:
                return _convert(option, value, key, source)
            except ConfigError as exc:
                errors.append(str(exc).rpartition(": expected ")[2].partition(", got")[0])
        raise ConfigError(f"{source}: {key}: expected {' or '.join(errors)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ConfigError(f"{source}: {key}: expected one of {choices}, got {value!r}")
        return value
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    is_path = tp is Path
    if is_path:
        tp = str
    if isinstance(value, bool) and tp is not bool:
        ok = False
    else:
        ok = isinstance(value, tp) or (tp is float and isinstance(value, int))
    if not ok:
        raise ConfigError(f"{source}: {key}: expected {expected[tp]}, got {value!r}")
    return Path(value) if is_path else value


def _parse(tp: Any, text: str, where: str) -> Any:
    """Turn an environment or command-line string into a value for a field of type ``tp``."""
    try:
        if tp is bool:
            lowered = text.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError
            return lowered in {"1", "true", "yes", "on"}
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if typing.get_origin(tp) is tuple:
            return [part.strip() for part in text.split(",") if part.strip()]
    except ValueError:
        kinds = {bool: "1 or 0", int: "an integer", float: "a number"}
        raise ConfigError(f"{where}: expected {kinds[tp]}") from None
    return text
