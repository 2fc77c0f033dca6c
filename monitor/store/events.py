"""Events (deploys and anything else worth a line on a graph) in SQLite.

The same fields as graphite-web's events: an id, ``when`` (epoch seconds), ``what``,
``tags`` (a list of words) and free-form ``data``. Queries select by time range and by
tags, all of them (``intersection``, graphite-web's default) or any (``union``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Event", "EventStore"]


@dataclass(frozen=True)
class Event:
    """One event, as ``/events/get_data`` returns it."""

    id: int
    when: float
    what: str
    tags: tuple[str, ...]
    data: str

    def to_json(self) -> dict[str, object]:
        """graphite-web's shape: ``when`` as an integer epoch."""
        return {
            "id": self.id,
            "when": int(self.when),
            "what": self.what,
            "tags": list(self.tags),
            "data": self.data,
        }


class EventStore:
    """A small SQLite table; safe to call from several threads."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " at REAL NOT NULL, what TEXT NOT NULL, tags TEXT NOT NULL, data TEXT NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS events_at ON events (at)")

    def add(self, when: float, what: str, tags: list[str], data: str = "") -> Event:
        """Record an event and return it with its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO events (at, what, tags, data) VALUES (?, ?, ?, ?)",
                (when, what, json.dumps(tags), data),
            )
        return Event(int(cursor.lastrowid or 0), when, what, tuple(tags), data)

    def query(
        self,
        start: float,
        end: float,
        tags: list[str] | None = None,
        union: bool = False,
    ) -> list[Event]:
        """Events with ``start <= when <= end`` carrying all (or, with ``union``, any) ``tags``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, what, tags, data FROM events WHERE at >= ? AND at <= ?"
                " ORDER BY at, id",
                (start, end),
            ).fetchall()
        wanted = set(tags or [])
        events = []
        for id_, at, what, tags_json, data in rows:
            have = set(json.loads(tags_json))
            if wanted and not (wanted & have if union else wanted <= have):
                continue
            events.append(Event(id_, at, what, tuple(json.loads(tags_json)), data))
        return events

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
