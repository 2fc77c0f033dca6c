"""``[supergrep]`` in ``monitor.toml``: the streams to tail and the hub's limits.

```toml
[supergrep.streams.web]
paths = ["/var/log/web/*.log"]

[supergrep.streams.app]
paths = ["/var/log/app/error.log", "/var/log/app/worker-*.log"]
```

A viewer picks streams by these names and never sends a path. Every limit below bounds
memory or work per viewer, so one browser cannot hurt the others.
"""

from __future__ import annotations

import socket
import types
import typing
from dataclasses import dataclass, field

__all__ = ["StreamSettings", "SupergrepSettings", "WatchSettings"]


@dataclass(frozen=True)
class StreamSettings:
    """``[supergrep.streams.NAME]``: the files of one stream."""

    #: Globs of files to follow (``*``, ``?``, ``[…]``); absolute, or relative to the
    #: working directory.
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchSettings:
    """``[[supergrep.watch]]``: count the lines of ``stream`` matching ``pattern`` into
    the statsd counter ``metric`` (logster-style), so a burst of errors is a graph too."""

    stream: str = ""
    pattern: str = ""
    metric: str = ""
    ignore_case: bool = False


def _no_streams() -> dict[str, StreamSettings]:
    return typing.cast(dict[str, StreamSettings], types.MappingProxyType({}))


@dataclass(frozen=True)
class SupergrepSettings:
    """``[supergrep]``: the log hub."""

    #: Stream name -> its files (read-only once loaded).
    streams: dict[str, StreamSettings] = field(default_factory=_no_streams)
    #: Log watches: matching lines counted into statsd metrics (``monitor up`` only).
    watch: tuple[WatchSettings, ...] = ()
    #: Also count every stream's lines, as ``supergrep.lines.<stream>``.
    line_metrics: bool = True
    #: The name this host's lines carry (agents send their own).
    host: str = field(default_factory=socket.gethostname)
    #: Lines kept per stream for backfill and resume.
    ring: int = field(default=10000, metadata={"range": (100, 1_000_000)})
    #: Longer lines are cut here (bytes; characters for lines from agents) and marked
    #: truncated.
    max_line: int = field(default=16384, metadata={"range": (256, 1 << 20)})
    #: Streams that agents may create beside the configured ones; past it an agent's
    #: lines for a new stream are refused with an error (each stream costs a ring, a
    #: line in every viewer's stream list and a metric file).
    max_streams: int = field(default=100, metadata={"range": (0, 100_000)})
    #: At start, the last bytes of each existing file are read to fill the ring.
    backfill_bytes: int = field(default=65536, metadata={"range": (0, 1 << 26)})
    #: Seconds a renamed or deleted file is still read, for writers that reopen late.
    linger: float = 10.0
    #: A viewer's queue: past this many lines (or bytes) it gets drop notices.
    viewer_lines: int = field(default=20000, metadata={"range": (100, 1_000_000)})
    viewer_bytes: int = field(default=8 << 20, metadata={"range": (1 << 16, 1 << 30)})
    #: A viewer gets at most one batch per this many seconds (the first line after a
    #: quiet spell goes at once), of at most ``batch_lines`` lines.
    batch_interval: float = 0.01
    batch_lines: int = field(default=1000, metadata={"range": (1, 100_000)})
    #: Seconds between heartbeats (with each stream's rate).
    heartbeat: float = 5.0
    #: Per line and pattern, seconds before a regex match is abandoned (wall time, which
    #: includes waiting for Python's lock on a busy machine: 5 ms once switched off
    #: ``^Traceback`` at start-up; slow patterns are caught sooner by the budgets).
    regex_timeout: float = 0.05
    #: Connections at once: in total, and from one client address.
    max_viewers: int = field(default=200, metadata={"range": (1, 100_000)})
    max_per_client: int = field(default=20, metadata={"range": (1, 100_000)})
    #: Largest message a client may send (bytes); agents' batches are allowed 16x.
    max_message: int = field(default=65536, metadata={"range": (1024, 1 << 24)})
    #: Origins (``https://ops.example.com``) allowed to open the websocket besides the
    #: page's own; browsers send ``Origin`` and this stops other sites' pages (CSWSH).
    allowed_origins: tuple[str, ...] = ()
    #: With a token, each agent presents its host's own token (``supergrep agent-token
    #: HOST`` prints it), so it can write only its host's lines and offsets; true also
    #: accepts the hub's token from agents, for any host name they claim.
    shared_agent_token: bool = False
