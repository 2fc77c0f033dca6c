"""Log output for the command-line tools: readable text for people, JSON lines for machines."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

__all__ = ["configure_logging", "log_to_file"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _text_formatter() -> logging.Formatter:
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    formatter.converter = time.localtime
    return formatter


def configure_logging(fmt: Literal["text", "json"] = "text", level: int = logging.INFO) -> None:
    """Send log records to stderr in ``fmt``; called once, by the CLI."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_text_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_to_file(path: Path, fmt: Literal["text", "json"] = "text") -> Callable[[], None]:
    """Also write the log to ``path`` (rotated at 10 MB, three kept), so the stack's own
    log can be a supergrep stream. Returns the function that stops it."""
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=10 << 20, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _text_formatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def stop() -> None:
        root.removeHandler(handler)
        handler.close()

    return stop
