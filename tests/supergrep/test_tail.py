"""Following real files through rotation, truncation, deletion and bad bytes."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from supergrep.lines import Splitter
from supergrep.tail import Chunk, StreamTail


def texts(chunks: list[Chunk]) -> list[str]:
    return [t for c in chunks for t in c.texts]


def append(path: Path, data: bytes | str) -> None:
    with path.open("ab") as f:
        f.write(data.encode() if isinstance(data, str) else data)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def tail_of(pattern: Path, clock: Clock, **kw: object) -> StreamTail:
    return StreamTail((str(pattern),), clock=clock, **kw)  # type: ignore[arg-type]


def test_splitter_holds_partial_lines_and_caps_long_ones() -> None:
    s = Splitter(max_line=8)
    assert s.feed(b"abc") == ([], [])
    assert s.feed(b"def\ngh") == (["abcdef"], [False])
    assert s.feed(b"\n\xff\xfeok\r\n") == (["gh", "\ufffd\ufffdok"], [False, False])
    assert s.feed(b"0123456789\nshort\n") == (["01234567", "short"], [True, False])
    # an unfinished runaway line is cut as soon as it passes the cap, its rest skipped
    assert s.feed(b"abcdefghijkl") == (["abcdefgh"], [True])
    assert s.feed(b"mnop\nnext\n") == (["next"], [False])
    assert s.feed(b"end") == ([], [])
    assert s.flush() == (["end"], [False])


def test_existing_file_starts_near_end_new_lines_follow(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "a.log"
    append(log, "".join(f"old line {i}\n" for i in range(10000)))
    tail = tail_of(tmp_path / "*.log", clock, backfill_bytes=100)
    backfill = texts(tail.rescan())
    assert backfill[-1] == "old line 9999"
    assert 3 <= len(backfill) <= 8  # about 100 bytes, starting at a line boundary
    assert backfill[0].startswith("old line ")
    append(log, "new 1\nnew ")
    assert texts(tail.read()) == ["new 1"]
    append(log, "2\n")
    assert texts(tail.read()) == ["new 2"]
    assert texts(tail.read()) == []


def test_rename_rotation_reads_old_file_to_end_then_new(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    tail = tail_of(tmp_path / "app.log*", clock, linger=5)  # the rotated name matches too
    tail.rescan()
    append(log, "before\n")
    assert texts(tail.read()) == ["before"]
    append(log, "late 1\n")
    os.rename(log, tmp_path / "app.log.1")
    append(tmp_path / "app.log.1", "late 2 (writer not reopened yet)\n")
    append(log, "fresh 1\n")
    got = texts(tail.rescan())
    assert sorted(got) == sorted(["late 1", "late 2 (writer not reopened yet)", "fresh 1"])
    assert got.count("late 1") == 1  # the renamed file is the same file, not a new one
    append(tmp_path / "app.log.1", "later still\n")
    append(log, "fresh 2\n")
    assert sorted(texts(tail.rescan())) == ["fresh 2", "later still"]


def test_rotated_away_file_lingers_then_closes(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    tail = tail_of(log, clock, linger=5)
    tail.rescan()
    os.rename(log, tmp_path / "app.old")
    append(tmp_path / "app.old", "after rename\nno newline")
    assert texts(tail.rescan()) == ["after rename"]
    clock.now += 6
    assert texts(tail.rescan()) == ["no newline"]  # the unfinished line, once it is gone
    assert tail.files() == []


def test_copytruncate(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    tail = tail_of(log, clock)
    tail.rescan()
    append(log, "one\ntwo\n")
    assert texts(tail.read()) == ["one", "two"]
    with log.open("r+b") as f:
        f.truncate(0)
    append(log, "three\n")
    assert texts(tail.read()) == ["three"]


def test_delete_and_recreate(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    tail = tail_of(log, clock, linger=0)
    tail.rescan()
    append(log, "first\n")
    log.unlink()
    append(log, "second\n")
    assert texts(tail.rescan()) == ["first", "second"]


def test_file_and_directory_that_do_not_exist_yet(tmp_path: Path, clock: Clock) -> None:
    tail = tail_of(tmp_path / "later" / "*.log", clock)
    assert tail.rescan() == []
    (tmp_path / "later").mkdir()
    append(tmp_path / "later" / "x.log", "from the start\n")
    assert texts(tail.rescan()) == ["from the start"]  # new files are read whole
    append(tmp_path / "later" / "y.log", "second file\n")
    chunks = tail.rescan()
    assert texts(chunks) == ["second file"]
    assert chunks[0].path.endswith("y.log")


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Root reads every file; to see "permission denied", act as nobody for a moment."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_permission_denied_is_reported_and_retried(clock: Clock) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # pytest's own tmp_path is private to root
        log = Path(tmp) / "secret.log"
        append(log, "x\n")
        log.chmod(0)
        tail = tail_of(log, clock)
        with unprivileged():
            assert tail.rescan() == []
        assert "Permission denied" in tail.problems[str(log)]
        log.chmod(0o644)
        append(log, "y\n")
        with unprivileged():
            assert texts(tail.rescan()) == ["x", "y"]  # appeared after start: read whole
        assert tail.problems == {}
        tail.close()


def test_burst_of_megabytes_and_offsets(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "app.log"
    append(log, "")
    tail = tail_of(log, clock)
    tail.rescan()
    lines = [f"{i:08d} " + "x" * 110 for i in range(50000)]  # about 6 MB
    append(log, "\n".join(lines) + "\n")
    chunks = tail.read()
    assert texts(chunks) == lines
    assert chunks[0].start == 0
    assert chunks[-1].end == log.stat().st_size
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))


def test_resume_and_seek(tmp_path: Path, clock: Clock) -> None:
    log = tmp_path / "app.log"
    append(log, "a\nb\nc\n")
    tail = tail_of(log, clock)
    tail.rescan()
    _path, file_id, offset = tail.files()[0]
    assert offset == 6
    again = StreamTail((str(log),), resume={file_id: 2}, clock=clock)
    assert texts(again.rescan()) == ["b", "c"]
    again.seek({file_id: 4})
    assert texts(again.read()) == ["c"]
