"""Record a deploy once; every Graphite tool sees it.

``record`` writes it the two ways Graphite users know:

* an event (``what``: "deploy web production abc123", tags ``deploy``, stack and env,
  ``data``: JSON with sha, who and url) for ``events("deploy")`` and dashboards;
* the Etsy metric ``deploys.<stack>.<env>`` = 1, sent as a carbon line, so that
  ``drawAsInfinite(deploys.web.production)`` draws it on any Graphite.

One line in a deploy script::

    monitor deploy --stack web --env production --sha "$GIT_SHA" --who "$USER"

Both writes are attempted; if either fails, ``DeployNotRecorded`` says which and why,
within a few seconds, so a pipeline can decide to ignore it, and what was recorded all
the same. Running the same deploy again (same stack, env and sha) records nothing twice.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field, replace

from monitor.carbon import plaintext
from monitor.graphite import Event, GraphiteClient, GraphiteError
from monitor.names import sanitize

__all__ = ["Deploy", "DeployNotRecorded", "record"]


class DeployNotRecorded(Exception):
    """The deploy could not be recorded everywhere; the message says where and why,
    ``recorded`` what was recorded all the same, and ``when`` the deploy's time (pass it
    again to retry without a second mark)."""

    def __init__(self, message: str, recorded: list[str] | None = None, when: int = 0) -> None:
        super().__init__(message)
        self.recorded = recorded or []
        self.when = when


#: A deploy of the same stack, env and sha as the latest one within this many seconds
#: is that deploy again (a retry), not a new one.
SAME_DEPLOY = 3600


@dataclass(frozen=True)
class Deploy:
    """One deploy of ``stack`` to ``env``."""

    stack: str
    env: str
    sha: str = ""
    who: str = ""
    url: str = ""
    what: str = ""
    when: float = field(default_factory=time.time)

    @property
    def metric(self) -> str:
        """``deploys.<stack>.<env>``, each part sanitized like a statsd name."""
        return f"deploys.{sanitize(self.stack)}.{sanitize(self.env)}"

    @property
    def title(self) -> str:
        """What the event says: given, or built from stack, env and sha."""
        return self.what or " ".join(
            p for p in ("deploy", self.stack, self.env, self.sha[:12]) if p
        )

    @property
    def tags(self) -> list[str]:
        """``deploy``, the stack and the environment."""
        return ["deploy", self.stack, self.env]

    @property
    def data(self) -> str:
        """JSON with what a viewer wants on hover."""
        return json.dumps(
            {k: v for k, v in (("sha", self.sha), ("who", self.who), ("url", self.url)) if v}
        )


def record(
    deploy: Deploy,
    graphite_url: str | None = "http://127.0.0.1:8080",
    carbon: tuple[str, int] | None = ("127.0.0.1", 2003),
    *,
    timeout: float = 3.0,
    token: str | None = None,
    force: bool = False,
) -> list[str]:
    """Post the event to ``graphite_url`` and send the metric to ``carbon`` (either may be
    None to skip it); returns what was recorded where, one sentence each. Raises
    ``DeployNotRecorded`` listing every failure and what was recorded all the same.

    Running it again is safe: when the latest deploy of this stack and env (within the
    hour) has the same sha, or, without a sha, the same title at the same second, it is
    not posted again, and the metric is sent at that event's time, where a second
    write changes nothing. ``force`` records a new deploy all the same."""
    done: list[str] = []
    problems: list[str] = []
    if graphite_url:
        try:
            with GraphiteClient(graphite_url, timeout=timeout, retries=1, token=token) as client:
                earlier = None if force else _recorded_before(client, deploy)
                if earlier is None:
                    client.post_event(deploy.title, deploy.tags, deploy.data, deploy.when)
                    done.append(f"event {deploy.title!r} recorded at {graphite_url}")
                else:
                    deploy = replace(deploy, when=earlier.when)
                    done.append(
                        f"event {earlier.what!r} was already recorded at {graphite_url}"
                        f" ({_utc(earlier.when)}, id {earlier.id}): not posted again"
                        " (--force records another)"
                    )
        except GraphiteError as exc:
            problems.append(f"event not recorded: {exc}")
    if carbon:
        line = plaintext([(deploy.metric, 1, int(deploy.when))])
        host, port = carbon
        try:
            with socket.create_connection(carbon, timeout=timeout) as conn:
                conn.sendall(line)
            done.append(
                f"metric {deploy.metric} sent to carbon {host}:{port} for {_utc(deploy.when)}"
            )
        except OSError as exc:
            problems.append(
                f"metric {deploy.metric} not sent to carbon {host}:{port}: {exc.strerror or exc}"
            )
    if problems:
        raise DeployNotRecorded("; ".join(problems), done, int(deploy.when))
    return done


def _recorded_before(client: GraphiteClient, deploy: Deploy) -> Event | None:
    """The event of this very deploy if a run before this one posted it: the latest
    deploy of this stack and env within ``SAME_DEPLOY`` seconds, if it has this sha (a
    rollback to an older sha, or the next deploy, is a deploy of its own); without a
    sha, an event with this title at this very second (a retry with ``--when``)."""
    when = int(deploy.when)
    events = client.events(deploy.tags, from_=when - SAME_DEPLOY, until=when + 60)
    if not deploy.sha:
        return next((e for e in events if e.what == deploy.title and e.when == when), None)
    if not events:
        return None
    latest = max(events, key=lambda e: (e.when, e.id))
    try:
        data = json.loads(latest.data or "{}")
    except ValueError:
        return None
    return latest if isinstance(data, dict) and data.get("sha") == deploy.sha else None


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
