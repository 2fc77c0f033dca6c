"""A client for any graphite-web-compatible API: ours, or a team's real Graphite.

::

    from monitor.graphite import GraphiteClient

    graphite = GraphiteClient("http://127.0.0.1:8080")
    for series in graphite.render(["sumSeries(stats.web.*.requests)"], from_="-1h"):
        print(series.target, series.values[-5:])
    graphite.post_event("deploy web", ["deploy", "web"], data="abc123")

Errors form one tree::

    GraphiteError
    ├── GraphiteUnavailable   cannot connect, or no answer within the timeout
    └── GraphiteRequestError  the server answered 4xx/5xx (``status``, its message)

Connections are retried (``retries`` times, with backoff) when they cannot be made;
a request that reached the server is never repeated, so an event is never posted twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = [
    "Event",
    "GraphiteClient",
    "GraphiteError",
    "GraphiteRequestError",
    "GraphiteUnavailable",
    "Node",
    "Series",
]


class GraphiteError(Exception):
    """Something went wrong talking to Graphite; the message says what."""


class GraphiteUnavailable(GraphiteError):
    """The server could not be reached or did not answer in time."""


class GraphiteRequestError(GraphiteError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Series:
    """One rendered series."""

    target: str
    tags: Mapping[str, str]
    datapoints: list[tuple[float | None, int]]

    @property
    def values(self) -> list[float | None]:
        """The values, oldest first."""
        return [value for value, _ in self.datapoints]

    @property
    def timestamps(self) -> list[int]:
        """The timestamps of the values."""
        return [ts for _, ts in self.datapoints]


@dataclass(frozen=True)
class Node:
    """One ``/metrics/find`` result."""

    path: str
    name: str
    is_leaf: bool


@dataclass(frozen=True)
class Event:
    """One Graphite event."""

    id: int
    when: int
    what: str
    tags: list[str]
    data: str


class GraphiteClient:
    """render, find and events against ``url`` (a graphite-web or ``monitor up``)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        *,
        timeout: float = 5.0,
        retries: int = 2,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        retry = Retry(total=retries, connect=retries, read=0, status=0, backoff_factor=0.2)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers.update(headers or {})

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __enter__(self) -> GraphiteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.url + path
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise GraphiteUnavailable(
                f"cannot connect to Graphite at {self.url}: {_why(exc)}"
            ) from None
        except requests.Timeout:
            raise GraphiteUnavailable(
                f"Graphite at {self.url} did not answer within {self.timeout:g}s"
            ) from None
        except requests.RequestException as exc:
            raise GraphiteError(f"request to {url} failed: {exc}") from None
        if response.status_code >= 400:
            raise GraphiteRequestError(
                f"Graphite at {self.url} answered {response.status_code} to {method} {path}:"
                f" {_message(response)}",
                response.status_code,
            )
        return response

    def render(
        self,
        targets: str | Iterable[str],
        from_: str | int = "-1h",
        until: str | int = "now",
        max_points: int | None = None,
    ) -> list[Series]:
        """Render ``targets`` as JSON (sent as a form POST, so long target lists fit)."""
        data: list[tuple[str, str]] = [
            ("format", "json"),
            ("from", str(from_)),
            ("until", str(until)),
        ]
        data += [("target", t) for t in ([targets] if isinstance(targets, str) else targets)]
        if max_points is not None:
            data.append(("maxDataPoints", str(max_points)))
        body = self._json(self._request("POST", "/render", data=data))
        return [
            Series(s["target"], s.get("tags", {}), [(v, int(ts)) for v, ts in s["datapoints"]])
            for s in body
        ]

    def find(self, query: str) -> list[Node]:
        """Branches and leaves matching the glob ``query``."""
        body = self._json(
            self._request("GET", "/metrics/find", params={"query": query, "format": "completer"})
        )
        return [
            Node(m["path"].rstrip("."), m["name"], str(m["is_leaf"]) == "1")
            for m in body.get("metrics", [])
            if "path" in m
        ]

    def events(
        self,
        tags: Iterable[str] | None = None,
        from_: str | int = "-1d",
        until: str | int = "now",
    ) -> list[Event]:
        """Events with all ``tags`` in the time range (always bounded: see graphite-web)."""
        params = {"from": str(from_), "until": str(until)}
        if tags:
            params["tags"] = " ".join(tags)
        body = self._json(self._request("GET", "/events/get_data", params=params))
        return [
            Event(
                int(e.get("id", 0)),
                int(e["when"]),
                e["what"],
                list(e.get("tags", [])),
                e.get("data", ""),
            )
            for e in body
        ]

    def post_event(
        self, what: str, tags: Iterable[str], data: str = "", when: float | None = None
    ) -> None:
        """Record an event (``when`` defaults to now)."""
        body = {"what": what, "tags": list(tags), "data": data, "when": int(when or time.time())}
        self._request(
            "POST", "/events/", data=json.dumps(body), headers={"Content-Type": "application/json"}
        )

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise GraphiteError(
                f"Graphite at {self.url} answered with something that is not JSON:"
                f" {response.text[:200]!r}"
            ) from None


def _why(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route"):
        if marker in text:
            return marker.lower()
    return text[:200]


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    except ValueError:
        pass
    return response.text.strip()[:300] or response.reason
