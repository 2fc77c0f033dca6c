"""Log lines: what one line carries, and how bytes from a file become lines.

Pure code: no files, no sockets. ``Splitter`` turns the bytes read from one file into
text lines, however the writes were cut: a line without its newline yet is held until
the newline arrives, invalid UTF-8 is replaced (never dropped), and a line longer than
the cap is cut at the cap and marked truncated, so one runaway line cannot eat memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["Line", "Splitter", "encode_lines", "encode_run"]


class Line(NamedTuple):
    """One log line as the hub keeps it and viewers receive it.

    ``seq`` counts the lines of one stream from 1, in the order the hub accepted them;
    ``ts`` is when the hub (or the agent) read it, in seconds since the epoch.
    """

    stream: str
    seq: int
    ts: float
    host: str
    file: str
    text: str
    truncated: bool = False
    #: The ``seq`` of the first line of this line's group (a stack trace is one group,
    #: see ``traces.py``); a line that starts a group has its own. 0: not grouped.
    group: int = 0


def encode_lines(lines: Sequence[Line]) -> list[str]:
    """Each line as a JSON object (built once per line, however many viewers get it).

    Lines are encoded in runs that share stream, host, file and time (a published
    batch is one run), so that part is built once per run; the texts of a run are
    escaped by one call of the C encoder on the whole list, which is then cut at the
    ``","`` between items: inside an encoded string every quote is escaped, so that
    sequence occurs only between items.
    """
    out: list[str] = []
    start = 0
    while start < len(lines):
        first = lines[start]
        key = (first.stream, first.host, first.file, first.ts)
        end = start + 1
        while end < len(lines) and ((x := lines[end]).stream, x.host, x.file, x.ts) == key:
            end += 1
        out += encode_run(lines[start:end])
        start = end
    return out


def encode_run(run: Sequence[Line]) -> list[str]:
    """``encode_lines`` for lines that share stream, host, file and time."""
    first = run[0]
    head = (
        f'{{"stream":{_dumps(first.stream)},"host":{_dumps(first.host)},'
        f'"file":{_dumps(first.file)},"ts":{first.ts:.3f},"seq":'
    )
    texts = _dumps([x.text for x in run])[2:-2].split('","')
    return [
        f'{head}{x.seq},"text":"{text}"' + (',"truncated":true}' if x.truncated else "}")
        for x, text in zip(run, texts, strict=True)
    ]


class Splitter:
    """Bytes in, complete lines out, for one file.

    ``max_line`` caps a line in bytes: the first ``max_line`` bytes are kept (marked
    truncated) and the rest of that line is skipped up to its newline.
    """

    def __init__(self, max_line: int = 16384) -> None:
        self.max_line = max_line
        self._held = b""
        self._skipping = False  # inside the tail of a line that was already cut

    @property
    def held(self) -> int:
        """Bytes of an unfinished last line waiting for their newline."""
        return len(self._held)

    def feed(self, data: bytes) -> tuple[list[str], list[bool]]:
        """The lines completed by ``data``, and for each whether it was truncated."""
        texts: list[str] = []
        flags: list[bool] = []
        cut = data.rfind(b"\n")
        rest = data[cut + 1 :]
        if cut >= 0:
            complete: bytes | None = self._held + data[:cut]
            if self._skipping:  # drop the rest of a line already sent truncated
                newline = data.find(b"\n")
                complete = data[newline + 1 : cut] if newline < cut else None
                self._skipping = False
            self._held = b""
            if complete is not None:
                parts = complete.split(b"\n")
                flags = [False] * len(parts)
                if max(map(len, parts)) > self.max_line:
                    for i, part in enumerate(parts):
                        if len(part) > self.max_line:
                            parts[i], flags[i] = part[: self.max_line], True
                texts = [_text(part) for part in parts]
        if not self._skipping:
            self._held += rest
            if len(self._held) > self.max_line:  # cut a runaway line now, skip its rest
                texts.append(_text(self._held[: self.max_line]))
                flags.append(True)
                self._held, self._skipping = b"", True
        return texts, flags

    def flush(self) -> tuple[list[str], list[bool]]:
        """The held unfinished line as a line of its own (the file ended or was replaced)."""
        held = self._held
        self._held, self._skipping = b"", False
        return ([_text(held)], [False]) if held else ([], [])


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text[:-1] if text.endswith("\r") else text
