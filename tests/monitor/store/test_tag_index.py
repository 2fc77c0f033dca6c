"""The tag index is the store's tagged files: a new series is found at once, and files
other writers add are found at the next walk of ``_tagged``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.store import finder as finder_module
from monitor.store.finder import StoreFinder
from monitor.store.whisper_store import WhisperStore, file_path
from tests.conftest import wait_until

NOW = 1_800_000_000


def test_new_tagged_series_are_found_at_once(tmp_path: Path) -> None:
    store = WhisperStore(tmp_path / "whisper", clock=lambda: NOW)
    store.start()
    try:
        finder = StoreFinder(store)
        assert finder.tagged() == []  # the walk is done now, before any file exists
        store.add([("cpu;host=b;dc=east", 1.0, NOW - 10)])
        assert finder.tagged() == ["cpu;dc=east;host=b"]  # from the cache, normalized
        wait_until(lambda: store.stats.points_written == 1)
        assert store.cached_metrics() == set()
        assert finder.tagged() == ["cpu;dc=east;host=b"]  # written since the walk
    finally:
        store.stop()


def test_files_from_elsewhere_are_found_at_the_next_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = WhisperStore(tmp_path / "other", clock=lambda: NOW)
    source.start()
    source.add([("disk;host=a", 1.0, NOW - 10)])
    source.stop()
    store = WhisperStore(tmp_path / "whisper", clock=lambda: NOW)
    finder = StoreFinder(store)
    assert finder.tagged() == []
    made = file_path(source.root, "disk;host=a")
    copied = file_path(store.root, "disk;host=a")
    copied.parent.mkdir(parents=True)
    shutil.copy(made, copied)  # as carbon or a restore would put it there
    assert finder.tagged() == []  # until the next walk
    monkeypatch.setattr(finder_module, "TAGGED_RESCAN", 0.0)
    assert finder.tagged() == ["disk;host=a"]
