"""The SQLite event store."""

from __future__ import annotations

from pathlib import Path

from monitor.store.events import EventStore


def test_add_and_query_by_time_and_tags(tmp_path: Path) -> None:
    events = EventStore(tmp_path / "events.sqlite")
    a = events.add(100, "deploy web", ["deploy", "web"], "sha abc")
    events.add(200, "deploy api", ["deploy", "api"], "")
    events.add(300, "outage", ["incident"], "")
    assert [e.id for e in events.query(0, 1000)] == [a.id, a.id + 1, a.id + 2]
    assert [e.what for e in events.query(0, 1000, ["deploy"])] == ["deploy web", "deploy api"]
    assert [e.what for e in events.query(0, 1000, ["deploy", "web"])] == ["deploy web"]
    assert [e.what for e in events.query(0, 1000, ["web", "incident"], union=True)] == [
        "deploy web",
        "outage",
    ]
    assert [e.what for e in events.query(150, 250)] == ["deploy api"]
    assert a.to_json() == {
        "id": a.id,
        "when": 100,
        "what": "deploy web",
        "tags": ["deploy", "web"],
        "data": "sha abc",
    }
    events.close()
    reopened = EventStore(tmp_path / "events.sqlite")
    assert len(reopened.query(0, 1000)) == 3
    reopened.close()
