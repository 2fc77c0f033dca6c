"""What the home page says about each part of the stack.

Each running part reports a ``PartStatus``; ``monitor up`` gathers them. Parts not in
this build yet are listed as such, so the page says plainly what is and is not running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["PartStatus", "StatusSource"]

State = Literal["running", "stopped", "failing", "not built yet"]


@dataclass(frozen=True)
class PartStatus:
    """One line of the status page: a part, its state, a detail and where to find it,
    and the numbers in the detail by name, for machines (``/status.json``)."""

    name: str
    state: State
    detail: str = ""
    url: str | None = None
    counts: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The part as ``/status.json`` shows it."""
        return {**asdict(self), "counts": dict(self.counts)}


#: Called for every request to the home page: the current status of every part.
StatusSource = Callable[[], Sequence[PartStatus]]
