"""Stack traces as groups of lines, so that filters keep them whole.

A traceback is written as many lines, and only some of them say what a viewer filters
on (``ERROR`` on the first, ``Traceback`` on the second, the exception's name on the
last). The hub gives every line the sequence number of the first line of its group
(``Line.group``); a filter then shows a group if any of its lines matches
(``filters.Matcher``), for every viewer alike.

The rule is the page's (``static/supergrep.js``, ``isContinuation``): a line continues
the entry before it, from the same file, when it is indented, starts a Python traceback
(``Traceback (most recent call last):``), a Java cause (``Caused by:``, ``... 12
more``) or ``During handling of the above exception``; or when it is the exception line
that ends a Python traceback (``module.Name: message``) right after an indented line of
the group.

Pure code: texts in, group heads out.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TraceGrouper", "continues"]

_CONTINUATION = re.compile(
    r"(\s+\S|Traceback \(most recent call last\)|Caused by:|\.\.\. \d+ more"
    r"|During handling of the above exception)"
)
_EXCEPTION_TAIL = re.compile(r"[A-Za-z_$][\w.$]*(: |:?$)")


def continues(text: str, after_indented: bool) -> bool:
    """Whether ``text`` continues the group before it; ``after_indented``: the group's
    last line was an indented continuation (a frame of a Python traceback)."""
    return bool(_CONTINUATION.match(text)) or (after_indented and bool(_EXCEPTION_TAIL.match(text)))


@dataclass
class _Open:
    head: int
    after_indented: bool = False


class TraceGrouper:
    """Remembers, for each file (a stream, host and path), the group its last line is
    in, across batches. At most ``max_files`` files are remembered (the least recently
    written is forgotten: its next line starts a group)."""

    def __init__(self, max_files: int = 10_000) -> None:
        self.max_files = max_files
        self._open: OrderedDict[tuple[str, str, str], _Open] = OrderedDict()

    def heads(self, key: tuple[str, str, str], first: int, texts: Sequence[str]) -> list[int]:
        """The group head's sequence number for each of ``texts``, numbered from
        ``first``: its own for a line that starts a group."""
        state = self._open.pop(key, None)
        opened = state is not None
        head, after = (state.head, state.after_indented) if state is not None else (0, False)
        out: list[int] = []
        for seq, text in enumerate(texts, first):
            start = text[:1]
            # Most lines start a group, and their first character says so: this check
            # keeps the regexes off the hub's hot path for them.
            if opened and (after or start.isspace() or start in "TCD.") and continues(text, after):
                after = start.isspace()
            else:
                head, after, opened = seq, False, True
            out.append(head)
        if opened:
            self._open[key] = _Open(head, after)
            if len(self._open) > self.max_files:
                self._open.popitem(last=False)
        return out
