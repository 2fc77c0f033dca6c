"""Screenshots of every shipped dashboard, as a newcomer sees it after ``make run``.

Starts ``monitor up --demo`` on a fresh data directory (so the demo writes its history
first, as on a first ``make run``), on ports of its own, lets the live demo run for
``--settle`` seconds, then opens each dashboard in ``dashboards/`` at its default range
in Debian's Chromium and saves a full-page PNG to ``docs/images/dashboard-<id>.png``
(the app overview also as ``docs/images/dashboard.png``, the README's picture) and the
supergrep page, less the successful requests, to ``docs/images/supergrep.png``. Look
at every picture before calling a change to the pages done.

    .venv/bin/python bench/screenshots.py [--settle 30] [--out docs/images]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.dashboards import load_dashboards  # noqa: E402
from tests.graphite_web import _free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=30.0, help="seconds of live demo first")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--width", type=int, default=1440)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    boards, problems = load_dashboards(ROOT / "dashboards")
    if any(p.severity == "error" for p in problems):
        sys.exit("\n".join(map(str, problems)))
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        command = [
            sys.executable, "-m", "monitor.cli", "up", "--demo", "--data-dir", tmp,
            "--set", f"http.port={port}", "--set", f"statsd.port={_free_port()}",
            "--set", f"statsd.mgmt_port={_free_port()}", "--set", f"carbon.port={_free_port()}",
            "--set", f"dashboards.dir={ROOT / 'dashboards'}",
        ]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "is up" not in line:
                sys.exit(f"monitor up did not start: {line!r}")
            print(f"monitor up ready in {time.monotonic() - started:.1f} s; settling")
            time.sleep(args.settle)
            shoot(f"http://127.0.0.1:{port}", sorted(boards), args)
        finally:
            proc.terminate()
            proc.wait(30)


def shoot(url: str, ids: list[str], args: argparse.Namespace) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        for ident in ids:
            page.goto(f"{url}/dashboards/{ident}")
            page.wait_for_selector("#app[data-state=drawn]", timeout=60_000)
            page.wait_for_timeout(300)  # fonts and the last canvas paint
            path = args.out / f"dashboard-{ident}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"wrote {path}")
            if ident == "app-overview":
                page.screenshot(path=str(args.out / "dashboard.png"), full_page=True)
        # the live log less the successful requests: errors, traces, deploy banners
        page.goto(f"{url}/supergrep?streams=demo&exclude=%22%20200%20")
        page.wait_for_timeout(5000)  # a few seconds of the live stream
        page.screenshot(path=str(args.out / "supergrep.png"))
        print(f"wrote {args.out / 'supergrep.png'}")
        browser.close()


if __name__ == "__main__":
    main()
