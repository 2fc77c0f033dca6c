"""The supergrep wire protocol, version 1: parsing what clients send.

JSON text messages over one websocket. ``docs/supergrep.md`` is the reference; this
module turns a client's message into a typed request or a ``ProtocolError`` whose
message says which field is wrong. Pure code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from supergrep.filters import FilterSpec

__all__ = [
    "AGENT_PROTOCOL",
    "VERSION",
    "AgentBatch",
    "AgentChunk",
    "Auth",
    "ProtocolError",
    "Subscribe",
    "parse_agent",
    "parse_viewer",
]

VERSION = 1

#: How agents and the hub agree on offsets. 2: the hub takes only a chunk that starts at
#: its offset (or a ``reset``) and the agent reads again from an ack that falls short;
#: an agent without ``protocol=2`` in its URL gets the older rule (drop a chunk that
#: starts before the offset, take one after a gap), since it would not read again.
AGENT_PROTOCOL = 2
MAX_STREAMS = 50
MAX_BACKFILL = 10000


class ProtocolError(ValueError):
    """A message that cannot be used; ``code`` is machine-readable."""

    def __init__(self, message: str, code: str = "bad_message", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field

    def to_json(self) -> dict[str, Any]:
        """The ``error`` message sent back."""
        out: dict[str, Any] = {"type": "error", "code": self.code, "message": str(self)}
        if self.field:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class Auth:
    """``{"type": "auth", "token": …}``: for browsers, which cannot set headers."""

    token: str


@dataclass(frozen=True)
class Subscribe:
    """``{"type": "subscribe", …}``: replaces the viewer's subscription."""

    streams: tuple[str, ...]
    spec: FilterSpec
    backfill: int = 0
    resume: dict[str, int] | None = None
    epoch: str = ""
    #: The viewer's number for this subscription, echoed in ``subscribed``: lines that
    #: arrive before it were chosen by an earlier subscription.
    id: int = 0


def _object(text: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    except RecursionError:  # [[[[… : Python's parser gives up past ~1,000 levels
        raise ProtocolError("JSON nested too deeply") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def _patterns(message: dict[str, Any], name: str) -> tuple[str, ...]:
    value = message.get(name, [])
    if isinstance(value, str):
        value = [value] if value else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{name!r} must be a string or a list of strings", field=name)
    return tuple(value)


def _int(message: dict[str, Any], name: str, default: int, high: int) -> int:
    value = message.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ProtocolError(f"{name!r} must be an integer from 0 to {high}", field=name)
    return value


def parse_viewer(text: str | bytes) -> Auth | Subscribe:
    """A viewer's message."""
    message = _object(text)
    kind = message.get("type")
    if kind == "auth":
        token = message.get("token")
        if not isinstance(token, str):
            raise ProtocolError("'token' must be a string", field="token")
        return Auth(token)
    if kind != "subscribe":
        raise ProtocolError(f"unknown message type {kind!r} (expected 'subscribe' or 'auth')")
    streams = message.get("streams")
    if isinstance(streams, str):
        streams = [streams]
    if (
        not isinstance(streams, list)
        or not all(isinstance(s, str) for s in streams)
        or len(streams) > MAX_STREAMS
    ):
        raise ProtocolError(
            f"'streams' must be a list of at most {MAX_STREAMS} stream names", field="streams"
        )
    ignore_case = message.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise ProtocolError("'ignore_case' must be true or false", field="ignore_case")
    resume = message.get("resume")
    if resume is not None and (
        not isinstance(resume, dict)
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in resume.values()
        )
    ):
        raise ProtocolError(
            "'resume' must map stream names to the last sequence number seen", field="resume"
        )
    epoch = message.get("epoch", "")
    if not isinstance(epoch, str):
        raise ProtocolError("'epoch' must be a string", field="epoch")
    return Subscribe(
        streams=tuple(dict.fromkeys(streams)),
        spec=FilterSpec(_patterns(message, "include"), _patterns(message, "exclude"), ignore_case),
        backfill=_int(message, "backfill", 0, MAX_BACKFILL),
        resume=resume,
        epoch=epoch,
        id=_int(message, "id", 0, 2**53),
    )


@dataclass(frozen=True)
class AgentChunk:
    """Lines an agent read from one file, spanning bytes ``start`` to ``end``."""

    stream: str
    file: str
    file_id: str
    start: int
    end: int
    ts: float
    texts: list[str]
    truncated: list[bool]
    #: The file was truncated in place and these lines start it over (``start`` 0).
    reset: bool = False


@dataclass(frozen=True)
class AgentBatch:
    """``{"type": "batch", "id": n, "chunks": […]}`` from an agent."""

    id: int
    chunks: list[AgentChunk]


def parse_agent(text: str | bytes) -> AgentBatch:
    """An agent's batch of lines."""
    message = _object(text)
    if message.get("type") != "batch":
        raise ProtocolError(f"unknown message type {message.get('type')!r} (expected 'batch')")
    batch_id = message.get("id")
    chunks = message.get("chunks")
    if not isinstance(batch_id, int) or not isinstance(chunks, list):
        raise ProtocolError("a batch needs an integer 'id' and a list 'chunks'")
    out = []
    for i, chunk in enumerate(chunks):
        try:
            texts = chunk["lines"]
            cut = set(chunk.get("truncated", []))
            item = AgentChunk(
                stream=str(chunk["stream"]),
                file=str(chunk["file"]),
                file_id=str(chunk["file_id"]),
                start=int(chunk["start"]),
                end=int(chunk["end"]),
                ts=float(chunk["ts"]),
                texts=[str(t) for t in texts],
                truncated=[j in cut for j in range(len(texts))],
                reset=chunk.get("reset") is True,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"chunks[{i}]: missing or wrong field: {exc}") from None
        if not 0 <= item.start <= item.end < 1 << 53:
            raise ProtocolError(f"chunks[{i}]: 'start' and 'end' must be offsets, start <= end")
        out.append(item)
    return AgentBatch(batch_id, out)
