"""Record a deploy once; every Graphite tool sees it.

``record`` writes it the two ways Graphite users know:

* an event (``what``: "deploy web production abc123", tags ``deploy``, stack and env,
  ``data``: JSON with sha, who and url) for ``events("deploy")`` and dashboards;
* the Etsy metric ``deploys.<stack>.<env>`` = 1, sent as a carbon line, so that
  ``drawAsInfinite(deploys.web.production)`` draws it on any Graphite.

One line in a deploy script::

    monitor deploy --stack web --env production --sha "$GIT_SHA" --who "$USER"

Both writes are attempted; if either fails, ``DeployNotRecorded`` says which and why,
within a few seconds, so a pipeline can decide to ignore it.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field

from monitor.carbon import plaintext
from monitor.graphite import GraphiteClient, GraphiteError
from monitor.names import sanitize

__all__ = ["Deploy", "DeployNotRecorded", "record"]


class DeployNotRecorded(Exception):
    """The deploy could not be recorded everywhere; the message says where and why."""


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
) -> None:
    """Post the event to ``graphite_url`` and send the metric to ``carbon`` (either may be
    None to skip it). Raises ``DeployNotRecorded`` listing every failure."""
    problems = []
    if graphite_url:
        try:
            with GraphiteClient(graphite_url, timeout=timeout, retries=1, token=token) as client:
                client.post_event(deploy.title, deploy.tags, deploy.data, deploy.when)
        except GraphiteError as exc:
            problems.append(f"event not recorded: {exc}")
    if carbon:
        line = plaintext([(deploy.metric, 1, int(deploy.when))])
        try:
            with socket.create_connection(carbon, timeout=timeout) as conn:
                conn.sendall(line)
        except OSError as exc:
            host, port = carbon
            problems.append(
                f"metric {deploy.metric} not sent to carbon {host}:{port}: {exc.strerror or exc}"
            )
    if problems:
        raise DeployNotRecorded("; ".join(problems))
