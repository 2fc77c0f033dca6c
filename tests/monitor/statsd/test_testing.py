"""The recording helpers users put in their own test suites."""

from __future__ import annotations

import pytest

from monitor import statsd
from monitor.statsd.testing import Recorder, Sent, recording


def test_recording_captures_module_level_calls_and_restores() -> None:
    before = statsd.set_client(None)
    with recording() as sent:
        statsd.incr("checkout.ok")
        statsd.incr("checkout.ok", 2)
        statsd.decr("stock", 3)
        statsd.gauge("queue", 5)
        statsd.gauge("queue", -2, delta=True)
        statsd.set("users", "ann")
        statsd.timing("db.query", 12)
        with statsd.timer("render"):
            pass
    assert statsd.set_client(None) is before
    assert sent.lines[:7] == [
        "checkout.ok:1|c",
        "checkout.ok:2|c",
        "stock:-3|c",
        "queue:5|g",
        "queue:-2|g",
        "users:ann|s",
        "db.query:12.000000|ms",
    ]
    sent.assert_incr("checkout.ok")
    sent.assert_incr("checkout.ok", 3)
    sent.assert_decr("stock", 3)
    sent.assert_gauge("queue", 3)
    sent.assert_set("users", "ann")
    sent.assert_timing("db.query", count=1)
    sent.assert_timing("render")
    sent.assert_not_sent("nothing.here")
    assert sent.counter_total("checkout.ok") == 3


def test_failed_assertions_show_what_was_sent() -> None:
    rec = Recorder()
    rec.incr("checkout.ok")
    with pytest.raises(
        AssertionError, match=r"(?s)expected incr 'checkout\.fail'.*checkout\.ok:1\|c"
    ):
        rec.assert_incr("checkout.fail")
    with pytest.raises(AssertionError, match=r"expected incr 'checkout\.ok' 2"):
        rec.assert_incr("checkout.ok", 2)
    with pytest.raises(AssertionError, match="expected timing"):
        rec.assert_timing("checkout.ok")
    with pytest.raises(AssertionError, match="expected nothing sent"):
        rec.assert_not_sent("checkout.ok")
    with pytest.raises(AssertionError, match="expected gauge"):
        rec.assert_gauge("checkout.ok")


def test_assertions_use_the_names_as_written_in_code() -> None:
    rec = Recorder(prefix="shop")
    rec.incr("checkout ok")
    assert rec.lines == ["shop.checkout_ok:1|c"]
    rec.assert_incr("checkout ok")


def test_recorder_is_strict() -> None:
    with recording(), pytest.raises(statsd.InvalidMetric, match="empty"):
        statsd.incr("")


def test_negative_gauge_is_computed_as_the_daemon_would() -> None:
    rec = Recorder()
    rec.gauge("g", 10)
    rec.gauge("g", -4)  # sent as 0 then -4: an absolute value
    assert rec.lines == ["g:10|g", "g:0|g", "g:-4|g"]
    assert rec.gauge_value("g") == -4


def test_sampled_lines_parse() -> None:
    rec = Recorder(random=lambda: 0.0)
    rec.incr("c", rate=0.1)
    assert rec.sent == [Sent("c", "1", "c", 0.1)]
    assert str(rec.sent[0]) == "c:1|c|@0.1"


def test_pipeline_packets_are_kept_whole() -> None:
    rec = Recorder()
    with rec.pipeline() as pipe:
        pipe.incr("a")
        pipe.incr("b")
    assert rec.packets == ["a:1|c\nb:1|c"]
    assert rec.lines == ["a:1|c", "b:1|c"]
    rec.clear()
    assert rec.lines == []


def test_pytest_fixture_in_a_users_test_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from monitor import statsd

        def checkout():
            statsd.incr("checkout.ok")
            with statsd.timer("checkout.time"):
                pass

        def test_checkout(statsd_recorder):
            checkout()
            statsd_recorder.assert_incr("checkout.ok")
            statsd_recorder.assert_timing("checkout.time")

        def test_failure_is_reported(statsd_recorder):
            statsd_recorder.assert_incr("never.sent")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*expected incr 'never.sent'*"])
