"""Our fast whisper reader answers exactly as whisper.fetch on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
import whisper
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.store import whisper_read

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def wsp(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("wsp") / "m.wsp")
    whisper.create(
        path, [(10, 100), (60, 100), (600, 50)], xFilesFactor=0, aggregationMethod="average"
    )
    # 2.5 laps of the 10 s archive (so it wraps), with gaps and stale slots.
    points = [(NOW - 2500 + i * 10, float(i)) for i in range(250) if i % 7]
    whisper.update_many(path, points, now=NOW)
    return path


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(NOW - 40_000, NOW + 100),
    length=st.integers(0, 40_000),
    now_shift=st.integers(-50, 50),
)
def test_same_answer_as_whisper(wsp: str, start: int, length: int, now_shift: int) -> None:
    now = NOW + now_shift
    end = start + length
    assert whisper_read.fetch(wsp, start, end, now) == whisper.fetch(wsp, start, end, now=now)


def test_empty_file(tmp_path: Path) -> None:
    path = str(tmp_path / "empty.wsp")
    whisper.create(path, [(10, 100)])
    assert whisper_read.fetch(path, NOW - 300, NOW, NOW) == whisper.fetch(
        path, NOW - 300, NOW, now=NOW
    )


def test_start_after_end_is_an_error(wsp: str) -> None:
    with pytest.raises(whisper.InvalidTimeInterval):
        whisper_read.fetch(wsp, NOW, NOW - 10, NOW)
