"""The ``statsd_recorder`` pytest fixture, registered through the ``pytest11`` entry point.

Any project that installs ``monitor`` gets it::

    def test_checkout(statsd_recorder):
        checkout()
        statsd_recorder.assert_incr("checkout.ok")
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.statsd.testing import Recorder, recording


@pytest.fixture
def statsd_recorder() -> Iterator[Recorder]:
    """A ``Recorder`` that receives everything the module-level ``statsd`` functions send."""
    with recording() as recorder:
        yield recorder
