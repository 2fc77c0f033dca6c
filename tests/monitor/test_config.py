"""The configuration: layers, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, ConfigError, HttpConfig, default_data_dir, load_config
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text)
    return path


def test_defaults_bind_loopback() -> None:
    config = load_config(environ={"HOME": "/home/ann"})
    assert config.http == HttpConfig("127.0.0.1", 8080)
    assert config.data_dir == Path("/home/ann/.local/share/monitor")
    assert config.log_format == "text"


def test_xdg_data_home() -> None:
    assert default_data_dir({"XDG_DATA_HOME": "/data"}) == Path("/data/monitor")


def test_layers_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "/srv/monitor"\n[http]\nport = 9000\nhost = "0.0.0.0"\n')
    assert load_config(path).http == HttpConfig("0.0.0.0", 9000)
    env = {"MONITOR_HTTP_PORT": "9100"}
    assert load_config(path, env).http.port == 9100
    assert load_config(path, env, {"http.port": "9200"}).http.port == 9200
    assert load_config(path, env).data_dir == Path("/srv/monitor")
    assert load_config(path, {"MONITOR_DATA_DIR": "/x"}).data_dir == Path("/x")


def test_config_is_frozen() -> None:
    config = load_config()
    http: Any = config.http
    with pytest.raises(AttributeError):
        http.port = 1
    assert isinstance(config, Config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[http]\nprot = 80\n", r"monitor.toml: http.prot: unknown key \(did you mean 'port'\?\)"),
        ("[htp]\nport = 80\n", r"htp: unknown key \(did you mean 'http'\?\)"),
        ('[http]\nport = "80"\n', r"http.port: expected an integer, got '80'"),
        ("[http]\nport = true\n", r"http.port: expected an integer, got True"),
        ("[http]\nport = 70000\n", r"http.port: expected 0 to 65535, got 70000"),
        ("http = 5\n", r"http: expected a table, got 5"),
        ('log_format = "xml"\n', r"log_format: expected one of 'text', 'json', got 'xml'"),
        ("[http\nport = 1\n", r"monitor.toml: not valid TOML: .*line 1"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_environment_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="MONITOR_HTTP_PORT='web': expected an integer"):
        load_config(environ={"MONITOR_HTTP_PORT": "web"})


def test_unknown_override_suggests() -> None:
    with pytest.raises(ConfigError, match=r"--set http.prot: unknown key \(did you mean"):
        load_config(overrides={"http.prot": "1"})


def test_named_entries_can_be_set_from_the_command_line(tmp_path: Path) -> None:
    file = tmp_path / "monitor.toml"
    file.write_text('[supergrep.streams.app]\npaths = ["/var/log/app.log"]\n')
    config = load_config(file, overrides={"supergrep.streams.web.paths": "/a.log, /b.log"})
    assert config.supergrep.streams["app"].paths == ("/var/log/app.log",)
    assert config.supergrep.streams["web"].paths == ("/a.log", "/b.log")
    for key in ("supergrep.streams.web", "supergrep.streams.web.path"):
        with pytest.raises(
            ConfigError, match=r"set as supergrep.streams.NAME.FIELD, FIELD one of: paths"
        ):
            load_config(overrides={key: "/a.log"})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_the_example_config_in_contrib_is_valid() -> None:
    config = load_config(ROOT / "contrib" / "monitor.toml")
    assert config.http.token
    assert set(config.supergrep.streams) == {"web", "app"}
    units = sorted(p.name for p in (ROOT / "contrib").glob("*.service"))
    assert units == ["monitor-statsd.service", "monitor.service", "supergrep-agent.service"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Four mistakes in the file, the environment and --set: one run lists them all."""
    path = write(tmp_path, '[http]\nprot = 80\n[store]\nmax_pending = "lots"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(
            path,
            environ={
                "MONITOR_HTTP_PROT": "9090",
                "MONITOR_STATSD_PORT": "x",
                "MONITOR_CONFIG": "f",
            },
            overrides={"render.timout": "3", "render.workers": "-1"},
        )
    problems = raised.value.problems
    assert len(problems) == 6, problems
    assert any("http.prot: unknown key (did you mean 'port'?)" in p for p in problems)
    assert any("store.max_pending: expected an integer, got 'lots'" in p for p in problems)
    assert "MONITOR_HTTP_PROT: names no setting (did you mean 'MONITOR_HTTP_PORT'?)" in problems
    assert any(p.startswith("MONITOR_STATSD_PORT='x': expected an integer") for p in problems)
    assert any("--set render.timout: unknown key (did you mean 'render.timeout'?)" in p
               for p in problems)  # fmt: skip
    assert any("render.workers: expected 0 to 64, got -1" in p for p in problems)
