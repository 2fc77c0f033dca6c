"""The hub's core: numbering, rings, shared filters, bounded viewers, resume."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from supergrep.filters import MAX_HELD, FilterError, FilterSpec, Matcher, SharedBudget
from supergrep.hub import Hub, UnknownStream, Viewer
from supergrep.lines import Line, encode_lines
from supergrep.traces import TraceGrouper


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def take(viewer: Viewer, limit: int = 1000) -> list[dict[str, Any]]:
    return [json.loads(message) for message in viewer.take(limit)]


def lines_of(messages: list[dict[str, Any]]) -> list[str]:
    return [line["text"] for m in messages if m["type"] == "lines" for line in m["lines"]]


def line(text: str, seq: int = 1) -> Line:
    return Line("s", seq, 0.0, "h", "f", text)


def test_filters_include_exclude_and_case() -> None:
    lines = [line(t) for t in ["GET / 200", "GET /x 500", "error: disk", "ERROR: net"]]
    assert Matcher(FilterSpec()).select(lines) == lines
    pick = Matcher(FilterSpec(include=("error",))).select(lines)
    assert [x.text for x in pick] == ["error: disk"]
    pick = Matcher(FilterSpec(include=("error",), ignore_case=True)).select(lines)
    assert [x.text for x in pick] == ["error: disk", "ERROR: net"]
    pick = Matcher(FilterSpec(include=("GET", "disk"), exclude=(r"\b200\b",))).select(lines)
    assert [x.text for x in pick] == ["GET /x 500", "error: disk"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (FilterSpec(include=("(unclosed",)), "include: invalid regex '(unclosed'"),
        (FilterSpec(exclude=("",)), "exclude: empty pattern"),
        (FilterSpec(include=("a" * 1001,)), "longer than 1000 characters"),
        (FilterSpec(include=("a",) * 21), "at most 20 patterns"),
        (FilterSpec(include=("x{5000000}",)), "expand to 5,000,000 elements"),
    ],
)
def test_bad_patterns_are_refused_with_the_reason(spec: FilterSpec, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(")):
        Matcher(spec)


def test_catastrophic_pattern_times_out_and_is_switched_off() -> None:
    matcher = Matcher(FilterSpec(include=(r"(a|aa)+$",)), timeout=0.01, max_timeouts=3)
    evil = [line("a" * 60 + "b", i) for i in range(10)]
    shown = matcher.select(evil)
    assert len(shown) == 10  # timed-out lines are shown, not silently hidden
    off = matcher.take_switched()
    assert [(o.field, o.pattern) for o in off] == [("include", r"(a|aa)+$")]
    assert "timed out on 3 lines" in off[0].reason
    assert matcher.select([line("anything")]) == [line("anything")]  # no longer applied


def test_an_innocent_pattern_survives_a_busy_process() -> None:
    """Another thread running Python makes each search wait for the GIL, and the regex
    module counts that wait against its timeout: with 5 ms per line, ``^Traceback``
    was switched off at the demo's start while it wrote its history (here about one
    search in 50 timed out). The default leaves room for that wait."""
    matcher = Matcher(FilterSpec(include=("^Traceback",)))
    stop = threading.Event()

    def busy() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        deadline = time.monotonic() + 2
        seq = 0
        while time.monotonic() < deadline:  # a line or two at a time, as a log is written
            seq += 2
            matcher.select([line("  File x, line 3, in y", seq), line("Traceback (most", seq + 1)])
    finally:
        stop.set()
        thread.join()
    assert matcher.take_switched() == []
    assert seq > 1000


def test_slow_but_finishing_pattern_is_switched_off_by_budget() -> None:
    clock = Clock()

    class Slow(Matcher):
        pass

    matcher = Slow(
        FilterSpec(exclude=("x",)), budget=0.1, window=5, per_line=1e-5, clock=clock, cpu=clock
    )

    # Each call "takes" 1 s by the clock: far over 0.1 x 5 s and over 10 us a line.
    def ticking(text: str, timeout: float) -> None:
        clock.now += 0.5
        return

    matcher._exclude[0].search = ticking
    matcher.select([line("a"), line("b")])
    assert [o.reason.split(":")[0] for o in matcher.take_switched()] == ["too slow"]


def test_one_call_over_a_whole_backfill_stops_at_the_filters_budget() -> None:
    """A subscribe replays up to the whole ring through one ``select``: the budget is
    looked at while the call runs, not after it, and it is the filter's, so twenty
    slow patterns in one filter cost about what one does (before: 2 ms a line for
    10,000 lines and 20 patterns was 400 s of matching in one call)."""
    clock = Clock()
    patterns = tuple(f"slow{i}" for i in range(20))
    matcher = Matcher(FilterSpec(include=patterns), budget=0.2, window=5, clock=clock, cpu=clock)

    def search(text: str, timeout: float) -> None:
        clock.now += 0.002
        return

    for pattern in matcher._include:
        pattern.search, pattern.joined = search, None
    began = clock.now
    shown = matcher.select([line("a", i) for i in range(1, 10_001)])
    assert clock.now - began < 1.0 + 20 * 0.1  # 1 s, then 32 lines a pattern at most
    assert len(shown) == 10_000  # filters switched off: the box no longer filters
    off = matcher.take_switched()
    assert len(off) == 20
    assert all(o.reason.startswith("too slow") for o in off)


def test_many_patterns_each_within_its_budget_cannot_take_the_loop_together() -> None:
    """Twelve viewers' patterns, each spending 0.15 s a batch (well under its own budget
    of 1 s in 5 s), would take all the hub's time between them; the shared budget
    (half of each 5 s) switches off those spending more than their part, and spares a
    cheap pattern on the same lines."""
    clock = Clock()
    shared = SharedBudget(share=0.5, window=5, clock=clock)

    def matcher(cost: float) -> Matcher:
        made = Matcher(FilterSpec(include=("x",)), window=5, clock=clock, cpu=clock, shared=shared)

        def search(text: str, timeout: float) -> None:
            clock.now += cost
            return

        made._include[0].search = search
        made._include[0].joined = None  # one call a line
        return made

    hogs = [matcher(0.0015) for _ in range(12)]  # 0.15 s a batch of 100 lines
    cheap = matcher(1e-6)
    batch = [line("a", i) for i in range(100)]
    shares = []
    for _ in range(8):  # a batch for every viewer, then 0.8 s of other work
        began = clock.now
        for each in [*hogs, cheap]:
            each.select(batch)
        matching = clock.now - began
        clock.now += 0.8
        shares.append(matching / (clock.now - began))
    off = [m.take_switched() for m in hogs]
    assert shares[0] > 0.6  # twelve patterns together: 1.8 s of every 2.6 s
    assert max(shares[3:]) <= 0.5  # once the budget is felt: at most half
    assert sum(1 for o in off if o and "for all viewers" in o[0].reason) >= 6
    assert cheap.take_switched() == []


def test_publish_numbers_lines_and_fans_out_once_per_filter() -> None:
    calls: list[FilterSpec] = []

    def counting(spec: FilterSpec) -> Matcher:
        matcher = Matcher(spec)
        original = matcher.select

        def select(lines: Any) -> list[Line]:
            calls.append(spec)
            return original(lines)

        matcher.select = select  # type: ignore[method-assign]
        return matcher

    hub = Hub(["web", "db"], matcher=counting)
    viewers = [Viewer() for _ in range(5)]
    ids = [hub.connect(v) for v in viewers]
    errors = FilterSpec(include=("ERROR",))
    for viewer_id in ids[:4]:
        hub.subscribe(viewer_id, ["web"], errors)
    hub.subscribe(ids[4], ["web", "db"], FilterSpec())
    calls.clear()
    hub.publish("web", "h1", "/a.log", ["ERROR one", "ok", "ERROR two"])
    hub.publish("db", "h2", "/b.log", ["db line"])
    assert calls.count(errors) == 1  # four viewers, one match per line
    for v in viewers[:4]:
        assert lines_of(take(v, 100)) == ["ERROR one", "ERROR two"]
    got = take(viewers[4], 100)
    assert lines_of(got) == ["ERROR one", "ok", "ERROR two", "db line"]
    web = [x for m in got if m["type"] == "lines" for x in m["lines"] if x["stream"] == "web"]
    assert [x["seq"] for x in web] == [1, 2, 3]
    assert web[0]["host"] == "h1"
    assert web[0]["file"] == "/a.log"


def test_unknown_stream_and_bad_filter_change_nothing() -> None:
    hub = Hub(["web"])
    viewer = Viewer()
    viewer_id = hub.connect(viewer)
    hub.subscribe(viewer_id, ["web"], FilterSpec())
    with pytest.raises(UnknownStream):
        hub.subscribe(viewer_id, ["nope"], FilterSpec())
    with pytest.raises(FilterError):
        hub.subscribe(viewer_id, ["web"], FilterSpec(include=("[",)))
    hub.publish("web", "h", "f", ["still subscribed"])
    assert lines_of(take(viewer, 10)) == ["still subscribed"]


def test_slow_viewer_gets_drop_notices_in_order_and_bounded_memory() -> None:
    hub = Hub(["web"])
    slow, fast = Viewer(max_lines=100), Viewer(max_lines=100000)
    for v in (slow, fast):
        hub.subscribe(hub.connect(v), ["web"], FilterSpec())
    for batch in range(10):
        hub.publish("web", "h", "f", [f"{batch}-{i}" for i in range(50)])
    assert slow.queued_lines == 100
    assert fast.queued_lines == 500
    first = take(slow, 1000)
    assert lines_of(first) == [f"{b}-{i}" for b in range(2) for i in range(50)]
    assert first[-1] == {"type": "dropped", "count": 400, "streams": {"web": 400}}
    hub.publish("web", "h", "f", ["after"])
    assert lines_of(take(slow, 1000)) == ["after"]


def test_drop_notice_sits_between_the_lines_around_the_gap() -> None:
    viewer = Viewer(max_lines=3)
    viewer.offer([line(str(i), i) for i in range(5)])  # 3 kept, 2 dropped
    take(viewer, 1)  # one sent: room for more
    viewer.offer([line("x", 6)])
    messages = take(viewer, 100)
    kinds = [m["type"] for m in messages]
    assert kinds == ["lines", "dropped", "lines"]
    assert lines_of(messages) == ["1", "2", "x"]


def test_backfill_returns_the_last_matching_lines() -> None:
    hub = Hub(["web"], ring=1000)
    for i in range(3000):
        hub.publish("web", "h", "f", [f"{'ERROR' if i % 10 == 0 else 'info'} {i}"])
    viewer = Viewer()
    hub.subscribe(hub.connect(viewer), ["web"], FilterSpec(include=("ERROR",)), backfill=5)
    assert lines_of(take(viewer, 100)) == [f"ERROR {i}" for i in range(2950, 3000, 10)]


def test_resume_replays_after_last_seen_and_reports_gaps() -> None:
    hub = Hub(["web"], ring=100)
    hub.publish("web", "h", "f", [str(i) for i in range(1, 51)])
    viewer = Viewer()
    viewer_id = hub.connect(viewer)
    hub.subscribe(viewer_id, ["web"], FilterSpec(), resume={"web": 45}, epoch=hub.epoch)
    assert lines_of(take(viewer, 100)) == ["46", "47", "48", "49", "50"]
    hub.publish("web", "h", "f", [str(i) for i in range(51, 301)])  # ring keeps 201..300
    assert len(lines_of(take(viewer, 1000))) == 250  # live, while subscribed
    hub.subscribe(viewer_id, ["web"], FilterSpec(), resume={"web": 150}, epoch=hub.epoch)
    messages = take(viewer, 1000)
    gap = next(m for m in messages if m["type"] == "gap")
    assert (gap["from"], gap["to"]) == (151, 200)
    assert lines_of(messages)[0] == "201"
    hub.subscribe(viewer_id, ["web"], FilterSpec(), resume={"web": 10}, epoch="another run")
    messages = take(viewer, 1000)
    assert [m["type"] for m in messages] == ["gap"]
    assert messages[0]["reason"] == "the hub restarted"


@given(st.lists(st.text(), min_size=1, max_size=20), st.lists(st.booleans(), min_size=20))
def test_encoded_lines_are_exact_json(texts: list[str], cut: list[bool]) -> None:
    lines = [Line("web", i + 7, 1.25, 'h"1', "/v/a b.log", t, cut[i]) for i, t in enumerate(texts)]
    for line, text in zip(lines, encode_lines(lines), strict=True):
        decoded = json.loads(text)
        assert decoded["text"] == line.text
        assert decoded["seq"] == line.seq
        assert decoded["host"] == line.host
        assert decoded.get("truncated", False) == line.truncated


FRAGMENTS = ["a", "b", "^", "$", ".", r"\s", "[^a]", r"\n", "a*", r"\b", "|", "(a|b)+", r"\W", " "]


@given(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5),
    st.lists(st.text(alphabet="ab x\t-", max_size=8), min_size=5, max_size=30),
    st.booleans(),
)
def test_searching_joined_lines_finds_exactly_what_each_line_finds(
    parts: list[str], texts: list[str], ignore_case: bool
) -> None:
    pattern = "".join(parts)
    try:
        each = regex.compile(pattern, regex.V0 | (regex.IGNORECASE if ignore_case else 0))
    except regex.error:
        return
    matcher = Matcher(FilterSpec(include=(pattern,), ignore_case=ignore_case))
    lines = [line(t, i) for i, t in enumerate(texts)]
    pick = matcher._include[0]
    assert pick.joined is not None
    joined = matcher._run_joined(pick, lines)
    if joined is not None:  # None: a match crossed a line end, each line is searched
        assert joined == [each.search(t) is not None for t in texts]
    expected = [x for x in lines if each.search(x.text) is not None]
    assert matcher.select(lines) == expected


def test_a_later_viewer_sees_deploys_in_place_in_its_backfill() -> None:
    clock = Clock()
    hub = Hub(["web"], clock=clock)
    hub.publish("web", "h", "f", ["before"])
    clock.now += 5
    hub.deploy({"type": "deploy", "when": 1000, "what": "deploy web abc"})  # a rounded when
    clock.now += 5
    hub.publish("web", "h", "f", ["after 1", "after 2"])
    clock.now += 10
    hub.deploy({"type": "deploy", "when": 1020, "what": "deploy web def"})
    viewer = Viewer()
    hub.subscribe(hub.connect(viewer), ["web"], FilterSpec(), backfill=10)
    messages = take(viewer, 100)
    shape = [m["type"] if m["type"] != "lines" else lines_of([m]) for m in messages]
    assert shape == [["before"], "deploy", ["after 1", "after 2"], "deploy"]
    assert [m["what"] for m in messages if m["type"] == "deploy"] == [
        "deploy web abc",
        "deploy web def",
    ]


PY_TRACE = [
    "ERROR demo-shop unhandled exception in search",
    "Traceback (most recent call last):",
    '  File "/srv/shop/search.py", line 120, in query',
    "    hits = index.search(q, timeout=2)",
    "shop.index.SearchTimeout: lamp",
]
JAVA_TRACE = [
    "java.lang.IllegalStateException: closed",
    "\tat com.shop.Cart.add(Cart.java:41)",
    "Caused by: java.io.IOException: broken pipe",
    "\t... 12 more",
]


def test_trace_groups_follow_the_page_s_rule_across_batches() -> None:
    grouper = TraceGrouper()
    key = ("s", "h", "f")
    texts = ["GET / 200", *PY_TRACE, "GET /x 200", *JAVA_TRACE, "INFO done"]
    heads = grouper.heads(key, 1, texts[:3]) + grouper.heads(key, 4, texts[3:])
    assert heads == [1, 2, 2, 2, 2, 2, 7, 8, 8, 8, 8, 12]
    # "module.Name: message" ends a trace only right after an indented frame
    assert grouper.heads(("s", "h", "g"), 1, ["a", "shop.X: y"]) == [1, 2]
    # another file's lines are their own groups
    assert grouper.heads(("s", "h", "other"), 20, ["  indented first"]) == [20]


@pytest.mark.parametrize(
    "include",
    [("ERROR|Traceback",), ("SearchTimeout",), ("search\\.py",), ("ERROR", "Traceback")],
)
def test_a_matching_trace_is_shown_whole_whichever_line_matches(include: tuple[str]) -> None:
    hub = Hub(["s"])
    viewer = Viewer()
    hub.subscribe(hub.connect(viewer), ["s"], FilterSpec(include=include))
    hub.publish("s", "h", "f", ["GET / 200", *PY_TRACE[:2]])  # a trace cut across reads
    hub.publish("s", "h", "f", [*PY_TRACE[2:], "GET /x 200", "INFO all good"])
    assert lines_of(take(viewer)) == PY_TRACE
    # the same in a backfill, for a viewer who comes later
    late = Viewer()
    hub.subscribe(hub.connect(late), ["s"], FilterSpec(include=include), backfill=100)
    assert lines_of(take(late)) == PY_TRACE


def test_exclude_still_hides_single_lines_and_other_files_do_not_join() -> None:
    hub = Hub(["s"])
    viewer = Viewer()
    hub.subscribe(hub.connect(viewer), ["s"], FilterSpec(include=("ERROR",), exclude=("File",)))
    hub.publish("s", "h", "f", PY_TRACE[:3])
    hub.publish("s", "h", "other", ["  File indented, but in another file"])
    hub.publish("s", "h", "f", PY_TRACE[3:])
    assert lines_of(take(viewer)) == [PY_TRACE[0], PY_TRACE[1], PY_TRACE[3], PY_TRACE[4]]


def test_held_lines_are_bounded() -> None:
    matcher = Matcher(FilterSpec(include=("BOOM",)))
    trace = [Line("s", i, 0.0, "h", "f", "  frame", group=1) for i in range(1, 2001)]
    ending = Line("s", 2001, 0.0, "h", "f", "x.BOOM: at last", group=1)
    assert len(matcher.select(trace)) == 0
    assert len(matcher.select([ending])) == MAX_HELD + 1


def test_a_new_subscription_drops_what_the_old_filter_chose_and_marks_its_start() -> None:
    hub = Hub(["s"])
    viewer = Viewer()
    viewer_id = hub.connect(viewer)
    hub.subscribe(viewer_id, ["s"], FilterSpec())
    hub.publish("s", "h", "f", ["GET / 200", "ERROR one"])  # queued, not sent yet
    hub.subscribe(viewer_id, ["s"], FilterSpec(include=("ERROR",)), backfill=10,
                  marker={"type": "subscribed", "id": 2})  # fmt: skip
    hub.publish("s", "h", "f", ["GET /x 200", "ERROR two"])
    messages = take(viewer)
    assert messages[0] == {"type": "subscribed", "id": 2}
    assert lines_of(messages) == ["ERROR one", "ERROR two"]  # the backfill, then live


def test_a_viewer_that_never_reads_cannot_grow_its_notices() -> None:
    viewer = Viewer()
    for i in range(10_000):  # say, one error for each bad subscribe it keeps sending
        viewer.notify({"type": "error", "message": "x" * 100, "n": i})
    assert len(viewer.notices) == viewer.max_notices
    messages = take(viewer)
    assert len(messages) == viewer.max_notices + 1
    assert messages[-1] == {"type": "notices_dropped", "count": 10_000 - viewer.max_notices}
    assert take(viewer) == []
