"""``monitor deploy`` reaches supergrep: every viewer sees a banner when it happens."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from monitor.config import load_config
from monitor.up import start
from tests.supergrep.hubs import ViewerClient


async def test_monitor_deploy_puts_a_banner_in_every_viewers_stream(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    config_file = tmp_path / "monitor.toml"
    config_file.write_text(f'[supergrep.streams.app]\npaths = ["{log}"]\n')
    config = load_config(
        config_file,
        overrides={"http.port": "0", "statsd.port": "0", "statsd.mgmt_port": "0",
                   "carbon.port": "0", "data_dir": str(tmp_path / "data")},
    )  # fmt: skip
    running = await start(config)
    try:
        ws = running.url.replace("http://", "ws://") + "supergrep/ws"
        async with ViewerClient.connect(ws) as one, ViewerClient.connect(ws) as two:
            for viewer in (one, two):
                await viewer.subscribe("app", include="nothing matches this")
                await viewer.until(lambda v: bool(v.of("subscribed")))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor.cli", "deploy", "--stack", "web", "--env",
                "production", "--sha", "abc123", "--who", "alice",
                "--url", "https://ci.example/run/7", "--graphite", running.url, "--carbon", "none",
            )  # fmt: skip
            assert await process.wait() == 0
            for viewer in (one, two):
                await viewer.until(lambda v: bool(v.of("deploy")))
                banner = viewer.of("deploy")[0]
                assert banner["who"] == "alice"
                assert banner["sha"] == "abc123"
                assert banner["url"] == "https://ci.example/run/7"
                assert "deploy" in banner["tags"]
                assert "web" in banner["what"]
    finally:
        await running.stop()
