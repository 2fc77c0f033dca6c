"""The hub over real websockets, tailing real files."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiohttp
import pytest
import websockets

from supergrep.server import MAX_UNAUTHENTICATED
from tests.supergrep.hubs import ViewerClient, running_hub


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


async def test_viewer_gets_backfill_then_live_lines_with_their_labels(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    append(log, "".join(f"old {i}\n" for i in range(100)))
    async with (
        running_hub({"web": [str(tmp_path / "*.log")]}) as hub,
        ViewerClient.connect(hub.ws) as viewer,
    ):
        await viewer.until(lambda v: bool(v.of("hello")))
        hello = viewer.of("hello")[0]
        assert hello["version"] == 1
        assert [s["name"] for s in hello["streams"]] == ["web"]
        await viewer.subscribe("web", backfill=3)
        await viewer.until(lambda v: len(v.texts()) == 3)
        assert viewer.texts() == ["old 97", "old 98", "old 99"]
        append(log, "new line\n")
        await viewer.until(lambda v: "new line" in v.texts())
        line = viewer.lines()[-1]
        assert line["stream"] == "web"
        assert line["host"] == "testhost"
        assert line["file"] == str(log)
        assert line["seq"] == 101
        assert isinstance(line["ts"], float)


async def test_filters_on_the_server_and_change_without_reconnecting(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    async with running_hub({"app": [str(log)]}) as hub, ViewerClient.connect(hub.ws) as viewer:
        await viewer.subscribe("app", include="error", exclude=["ignored"], ignore_case=True)
        await viewer.until(lambda v: bool(v.of("subscribed")))
        append(log, "ok 1\nERROR one\nerror but ignored\nok 2\n")
        await viewer.until(lambda v: len(v.texts()) >= 1)
        await asyncio.sleep(0.2)
        assert viewer.texts() == ["ERROR one"]
        await viewer.subscribe("app", include=r"^ok")
        await viewer.until(lambda v: len(v.of("subscribed")) == 2)
        append(log, "ok 3\nERROR two\n")
        await viewer.until(lambda v: "ok 3" in v.texts())
        assert viewer.texts() == ["ERROR one", "ok 3"]


async def test_errors_say_what_is_wrong_and_the_connection_stays(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    async with running_hub({"app": [str(log)]}) as hub, ViewerClient.connect(hub.ws) as viewer:
        await viewer.subscribe("app", include="(oops")
        await viewer.subscribe("nope")
        await viewer.send(type="subscribe", streams="app", backfill=-1)
        await viewer.connection.send("not json")
        await viewer.until(lambda v: len(v.of("error")) == 4)
        errors = viewer.of("error")
        assert errors[0]["code"] == "bad_filter"
        assert errors[0]["field"] == "include"
        assert "invalid regex '(oops'" in errors[0]["message"]
        assert errors[1] == {
            "type": "error",
            "code": "unknown_stream",
            "field": "streams",
            "message": "unknown stream 'nope'; the streams here: app",
        }
        assert errors[2]["field"] == "backfill"
        assert errors[3]["message"].startswith("not JSON")
        await viewer.subscribe("app")
        append(log, "still works\n")
        await viewer.until(lambda v: v.texts() == ["still works"])


async def test_hostile_regex_is_switched_off_for_its_viewer_only(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    async with (
        running_hub({"app": [str(log)]}, regex_timeout=0.01) as hub,
        ViewerClient.connect(hub.ws) as evil,
        ViewerClient.connect(hub.ws) as good,
    ):
        await evil.subscribe("app", include=r"(a|aa)+$")
        await good.subscribe("app", include="b$")
        await evil.until(lambda v: bool(v.of("subscribed")))
        await good.until(lambda v: bool(v.of("subscribed")))
        append(log, "".join("a" * 60 + f"b{i}\n" for i in range(10)) + "ab\n")
        await evil.until(lambda v: bool(v.of("filter_off")))
        off = evil.of("filter_off")[0]
        assert off["pattern"] == r"(a|aa)+$"
        assert "timed out" in off["reason"]
        await good.until(lambda v: v.texts() == ["ab"])
        assert not good.of("filter_off")


async def test_slow_viewer_gets_drop_notices_and_others_get_everything(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    async with (
        running_hub({"app": [str(log)]}) as hub,
        ViewerClient.connect(hub.ws, max_queue=1) as slow,
        ViewerClient.connect(hub.ws) as fast,
    ):
        await slow.subscribe("app")
        await fast.subscribe("app")
        await slow.until(lambda v: bool(v.of("subscribed")))
        await fast.until(lambda v: bool(v.of("subscribed")))
        # the slow viewer reads nothing while 100,000 lines (12 MB) go by at 40,000/s
        total = 100_000

        async def write() -> None:
            for part in range(50):
                text = "".join(f"{part:02d}-{i:05d} {'x' * 110}\n" for i in range(2000))
                append(log, text)
                await asyncio.sleep(0.05)

        writer = asyncio.create_task(write())
        await fast.until(lambda v: len(v.lines()) == total, timeout=30)
        await writer
        seqs = [x["seq"] for x in fast.lines()]
        assert seqs == list(range(1, total + 1))
        assert not fast.of("dropped")

        # now the slow one reads: what fitted, then how much it missed
        def dropped(v: ViewerClient) -> int:
            return sum(m["count"] for m in v.of("dropped"))

        await slow.until(lambda v: len(v.lines()) + dropped(v) == total, timeout=30)
        assert dropped(slow) > 0
        seen = [x["seq"] for x in slow.lines()]
        assert seen == sorted(seen)
        assert len(set(seen)) == len(seen)


async def test_resume_after_reconnect_without_gap_or_duplicates(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    async with (
        running_hub({"app": [str(log)]}) as hub,
        ViewerClient.connect(hub.ws) as first,
    ):
        await first.until(lambda v: bool(v.of("hello")))
        await first.subscribe("app")
        await first.until(lambda v: bool(v.of("subscribed")))
        append(log, "one\ntwo\n")
        await first.until(lambda v: v.texts() == ["one", "two"])
        epoch, last = first.of("hello")[0]["epoch"], first.lines()[-1]["seq"]
        append(log, "three\nfour\n")  # while nobody watches
        await asyncio.sleep(0.3)
        async with ViewerClient.connect(hub.ws) as second:
            await second.subscribe("app", resume={"app": last}, epoch=epoch)
            append(log, "five\n")
            await second.until(lambda v: v.texts() == ["three", "four", "five"])
            assert not second.of("gap")


async def test_origin_is_checked_and_token_required_when_set(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    async with running_hub({"app": [str(log)]}, token="s3cret") as hub:
        host = hub.url.removeprefix("http://")
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with ViewerClient.connect(hub.ws, origin="http://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        # same origin, but no token: told why, then closed
        async with ViewerClient.connect(hub.ws, origin=f"http://{host}") as viewer:
            await viewer.send(type="auth", token="wrong")
            with pytest.raises(websockets.ConnectionClosed):
                await viewer.until(lambda v: False, timeout=5)
            assert viewer.of("error")[0]["code"] == "unauthorized"
        # a browser sends the token as its first message
        async with ViewerClient.connect(hub.ws, origin=f"http://{host}") as viewer:
            await viewer.send(type="auth", token="s3cret")
            await viewer.until(lambda v: bool(v.of("hello")))
        # other clients send the header
        headers = {"Authorization": "Bearer s3cret"}
        async with ViewerClient.connect(hub.ws, additional_headers=headers) as viewer:
            await viewer.until(lambda v: bool(v.of("hello")))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{hub.url}/supergrep/streams") as answer:
                assert answer.status == 401
            async with http.get(f"{hub.url}/supergrep/streams", headers=headers) as answer:
                body = await answer.json()
        assert body["streams"][0]["name"] == "app"
        assert body["streams"][0]["files"] == [str(log)]


async def test_connections_per_client_are_limited(tmp_path: Path) -> None:
    async with (
        running_hub({"app": [str(tmp_path / "*.log")]}, max_per_client=2) as hub,
        ViewerClient.connect(hub.ws),
        ViewerClient.connect(hub.ws),
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with ViewerClient.connect(hub.ws):
                pass
        assert refused.value.response.status_code == 429
        assert b"too many connections" in refused.value.response.body


async def test_messages_past_the_size_limit_close_the_connection(tmp_path: Path) -> None:
    async with (
        running_hub({"app": [str(tmp_path / "*.log")]}, max_message=1024) as hub,
        ViewerClient.connect(hub.ws) as viewer,
    ):
        await viewer.connection.send(json.dumps({"type": "subscribe", "x": "y" * 5000}))
        with pytest.raises(websockets.ConnectionClosed):
            await viewer.until(lambda v: False, timeout=5)


async def test_sockets_without_their_token_cannot_take_viewers_places(tmp_path: Path) -> None:
    """With a token, sockets yet to authenticate are a bounded pool of their own: a
    flood of them is refused, and viewers with the token still get in."""
    log = tmp_path / "app.log"
    append(log, "")
    async with (
        running_hub({"app": [str(log)]}, token="s3cret", max_per_client=500, max_viewers=5) as hub,
        contextlib.AsyncExitStack() as held,
    ):
        for _ in range(MAX_UNAUTHENTICATED):
            await held.enter_async_context(websockets.connect(hub.ws))
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(hub.ws):
                pass
        assert refused.value.response.status_code == 503
        assert b"waiting to authenticate" in refused.value.response.body
        headers = {"Authorization": "Bearer s3cret"}
        async with ViewerClient.connect(hub.ws, additional_headers=headers) as viewer:
            await viewer.until(lambda v: bool(v.of("hello")))
