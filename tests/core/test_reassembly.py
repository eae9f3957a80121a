"""Segments in -> stream bytes and gaps out, table-driven, plus Hypothesis properties."""

from __future__ import annotations

import itertools
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.reassembly import Stream

MASK = 0xFFFFFFFF
Event = tuple[Any, ...]


class Recorder:
    """A StreamConsumer recording ("data", bytes, frame) and ("gap", n, frame)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        assert len(payload) > 0
        self.events.append(("data", bytes(payload), frame))

    def gap(self, nbytes: int, frame: int) -> None:
        assert nbytes > 0
        self.events.append(("gap", nbytes, frame))

    def midstream(self, frame: int) -> None:
        self.events.append(("midstream", frame))

    def stream_bytes(self) -> bytes:
        return b"".join(e[1] for e in self.events if e[0] == "data")

    def gap_sizes(self) -> list[int]:
        return [e[1] for e in self.events if e[0] == "gap"]


def run(
    segments: list[tuple[int, bytes]],
    isn: int | None = 999,
    *,
    flush: bool = True,
    **bounds: int,
) -> tuple[Stream, list[Event]]:
    rec = Recorder()
    s = Stream(rec, **bounds)
    if isn is not None:
        s.syn(isn)
    for i, (seq, payload) in enumerate(segments, 1):
        s.segment(seq & MASK, memoryview(payload), i, i * 1000)
    if flush:
        s.flush(len(segments) + 1)
    return s, [(e[0], e[1]) for e in rec.events]


def d(b: bytes) -> Event:
    return ("data", b)


def g(n: int) -> Event:
    return ("gap", n)


def m(frame: int) -> Event:
    """Joined midstream at this frame."""
    return ("midstream", frame)


WRAP_ISN = 2**32 - 3  # data starts at 2**32 - 2 and wraps after two bytes

# (name, isn, segments, bounds, expected events after flush, expected counters)
CASES: list[
    tuple[str, int | None, list[tuple[int, bytes]], dict[str, int], list[Event], dict[str, int]]
] = [
    ("in_order", 999, [(1000, b"abc"), (1003, b"def")], {}, [d(b"abc"), d(b"def")], {}),
    (
        "out_of_order_later_first",
        999,
        [(1003, b"def"), (1006, b"g"), (1000, b"abc")],
        {},
        [d(b"abc"), d(b"def"), d(b"g")],
        {"gaps": 0},
    ),
    (
        "exact_retransmission_dropped",
        999,
        [(1000, b"abc"), (1000, b"abc"), (1003, b"def")],
        {},
        [d(b"abc"), d(b"def")],
        {"retransmitted": 1, "bytes_delivered": 6},
    ),
    (
        "retransmission_of_stored_segment",
        999,
        [(1003, b"def"), (1003, b"def"), (1000, b"abc")],
        {},
        [d(b"abc"), d(b"def")],
        {"retransmitted": 1},
    ),
    (
        "overlap_delivers_new_part_once",
        999,
        [(1000, b"abcd"), (1002, b"cdef")],
        {},
        [d(b"abcd"), d(b"ef")],
        {"overlaps": 1, "bytes_delivered": 6},
    ),
    (
        "stored_segments_overlap_each_other",
        999,
        [(1002, b"cdef"), (1004, b"efgh"), (1000, b"ab")],
        {},
        [d(b"ab"), d(b"cdef"), d(b"gh")],
        {"bytes_delivered": 8},
    ),
    (
        "longer_copy_replaces_stored",
        999,
        [(1002, b"c"), (1002, b"cde"), (1000, b"ab")],
        {},
        [d(b"ab"), d(b"cde")],
        {},
    ),
    (
        "hole_never_filled_is_a_gap",
        999,
        [(1000, b"abc"), (1006, b"ghi"), (1009, b"j")],
        {},
        [d(b"abc"), g(3), d(b"ghi"), d(b"j")],
        {"gaps": 1, "bytes_delivered": 7},
    ),
    (
        "two_holes_two_gaps",
        999,
        [(1010, b"k"), (1005, b"f")],
        {},
        [g(5), d(b"f"), g(4), d(b"k")],
        {"gaps": 2},
    ),
    (
        "max_ooo_segments_forces_gap",
        999,
        [(1010, b"a"), (1020, b"b"), (1030, b"c"), (1000, b"late"), (1031, b"d")],
        {"max_ooo_segments": 2},
        [g(10), d(b"a"), g(9), d(b"b"), g(9), d(b"c"), d(b"d")],
        {"gaps": 3, "retransmitted": 1},
    ),
    (
        "max_ooo_bytes_forces_gap",
        999,
        [(1010, b"abc"), (1020, b"def"), (1023, b"g")],
        {"max_ooo_bytes": 5},
        [g(10), d(b"abc"), g(7), d(b"def"), d(b"g")],
        {"gaps": 2},
    ),
    (
        "wrap_around_in_order",
        WRAP_ISN,
        [(2**32 - 2, b"ab"), (0, b"cd"), (2, b"ef")],
        {},
        [d(b"ab"), d(b"cd"), d(b"ef")],
        {},
    ),
    (
        "wrap_around_out_of_order",
        WRAP_ISN,
        [(1, b"def"), (2**32 - 2, b"abc")],
        {},
        [d(b"abc"), d(b"def")],
        {"gaps": 0},
    ),
    (
        "wrap_around_gap",
        WRAP_ISN,
        [(2**32 - 2, b"a"), (3, b"z")],
        {},
        [d(b"a"), g(4), d(b"z")],
        {"gaps": 1},
    ),
    (
        "midstream_no_syn_starts_at_first_segment",
        None,
        [(5000, b"xyz"), (5004, b"!"), (5003, b"w")],
        {},
        [m(1), d(b"xyz"), d(b"w"), d(b"!")],
        {},
    ),
    (
        "midstream_earlier_segment_is_old_data",
        None,
        [(5003, b"w"), (5000, b"xyz")],
        {},
        [m(1), d(b"w")],
        {"retransmitted": 1},
    ),
    (
        "old_segment_far_behind_is_dropped",
        999,
        [(1000, b"abc"), (1000 - 2**20, b"zzz"), (1003, b"d")],
        {},
        [d(b"abc"), d(b"d")],
        {"retransmitted": 1},
    ),
]


@pytest.mark.parametrize(
    ("isn", "segments", "bounds", "expected", "counters"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_stream(
    isn: int | None,
    segments: list[tuple[int, bytes]],
    bounds: dict[str, int],
    expected: list[Event],
    counters: dict[str, int],
) -> None:
    s, events = run(segments, isn, **bounds)
    assert events == expected
    for name, value in counters.items():
        assert getattr(s, name) == value, name
    assert s.ooo == {}
    assert s.ooo_bytes == 0


def test_frames_travel_with_the_bytes() -> None:
    rec = Recorder()
    s = Stream(rec)
    s.syn(0)
    s.segment(4, memoryview(b"d"), frame=10, ts=0)
    s.segment(1, memoryview(b"abc"), frame=11, ts=0)
    s.segment(9, memoryview(b"x"), frame=12, ts=0)
    s.flush(frame=13)
    assert rec.events == [
        ("data", b"abc", 11),
        ("data", b"d", 10),
        ("gap", 4, 13),
        ("data", b"x", 12),
    ]


def test_nothing_delivered_until_hole_is_filled() -> None:
    s, events = run([(1003, b"def"), (1006, b"ghi")], flush=False)
    assert events == []
    assert len(s.ooo) == 2
    assert s.ooo_bytes == 6


def test_flush_with_nothing_stored_is_a_no_op() -> None:
    s, _ = run([(1000, b"abc")], flush=False)
    s.flush(99)
    s.flush(100)
    assert s.gaps == 0
    assert s.next_seq == 1003


# -- properties -----------------------------------------------------------------

BIG = {"max_ooo_bytes": 1 << 30, "max_ooo_segments": 1 << 30}


@st.composite
def cuts(draw: st.DrawFn, size: int) -> list[tuple[int, int]]:
    """Cut range(size) into contiguous non-empty [start, end) pieces."""
    points = (
        draw(st.sets(st.integers(1, size - 1), max_size=min(size - 1, 40))) if size > 1 else set()
    )
    edges = [0, *sorted(points), size]
    return list(itertools.pairwise(edges))


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=1, max_size=600),
    st.integers(0, MASK),
    st.data(),
)
def test_any_order_duplicates_and_overlaps_rebuild_the_stream(
    data: bytes, isn: int, draw: st.DataObject
) -> None:
    pieces = draw.draw(cuts(len(data)))
    extra = draw.draw(
        st.lists(
            st.tuples(st.integers(0, len(data) - 1), st.integers(1, len(data))).map(
                lambda t: (min(t[0], t[1] - 1), max(t[0] + 1, t[1]))
            ),
            max_size=10,
        )
    )
    dups = draw.draw(st.lists(st.sampled_from(pieces), max_size=5))
    order = draw.draw(st.permutations(pieces + extra + dups))
    rec = Recorder()
    s = Stream(rec, **BIG)
    s.syn(isn)
    for i, (start, end) in enumerate(order):
        s.segment((isn + 1 + start) & MASK, memoryview(data[start:end]), i, i)
    s.flush(len(order))
    assert rec.stream_bytes() == data
    assert rec.gap_sizes() == []
    assert s.bytes_delivered == len(data)
    assert s.next_seq == (isn + 1 + len(data)) & MASK
    assert s.ooo == {}
    assert s.ooo_bytes == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=2, max_size=600), st.integers(0, MASK), st.data())
def test_lost_segments_become_gaps_of_their_size(
    data: bytes, isn: int, draw: st.DataObject
) -> None:
    pieces = draw.draw(cuts(len(data)))
    lost = draw.draw(st.lists(st.booleans(), min_size=len(pieces), max_size=len(pieces)))
    lost[-1] = False  # the stream cannot know about a loss at its very end
    kept = [p for p, gone in zip(pieces, lost, strict=True) if not gone]
    dups = draw.draw(st.lists(st.sampled_from(kept), max_size=5))
    order = draw.draw(st.permutations(kept + dups))
    rec = Recorder()
    s = Stream(rec, **BIG)
    s.syn(isn)
    for i, (start, end) in enumerate(order):
        s.segment((isn + 1 + start) & MASK, memoryview(data[start:end]), i, i)
    s.flush(len(order))

    expected_bytes = b"".join(data[a:b] for a, b in kept)
    runs: list[int] = []  # sizes of maximal runs of lost pieces
    previous_lost = False
    for (a, b), gone in zip(pieces, lost, strict=True):
        if gone:
            if previous_lost:
                runs[-1] += b - a
            else:
                runs.append(b - a)
        previous_lost = gone
    assert rec.stream_bytes() == expected_bytes
    assert rec.gap_sizes() == runs
    assert len(rec.stream_bytes()) + sum(rec.gap_sizes()) == len(data)
    assert s.gaps == len(runs)


# -- bounds -----------------------------------------------------------------------


class Counter:
    """A consumer that keeps nothing."""

    def __init__(self) -> None:
        self.nbytes = 0
        self.gaps = 0

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        self.nbytes += len(payload)

    def gap(self, nbytes: int, frame: int) -> None:
        self.gaps += nbytes

    def midstream(self, frame: int) -> None:
        raise AssertionError("these streams start with a SYN")


def test_in_order_segments_use_no_memory() -> None:
    c = Counter()
    s = Stream(c)
    s.syn(MASK - 50_000)  # wraps on the way
    seg = memoryview(b"x" * 100)
    seq = (MASK - 50_000 + 1) & MASK
    for i in range(1000):  # warm up
        s.segment(seq, seg, i, i)
        seq = (seq + 100) & MASK
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(100_000):
            s.segment(seq, seg, i, i)
            seq = (seq + 100) & MASK
            assert not s.ooo
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 16 * 1024
    assert c.nbytes == 101_000 * 100
    assert s.ooo_bytes == 0


def test_many_tiny_out_of_order_segments_stay_bounded() -> None:
    c = Counter()
    s = Stream(c, max_ooo_segments=1024)
    s.syn(0)
    most = 0
    n = 50_000
    for i in range(n):
        # every segment leaves a one-byte hole before it: nothing is ever contiguous
        s.segment(2 + 2 * i, memoryview(b"x"), i, i)
        most = max(most, len(s.ooo))
    s.flush(n)
    assert most <= s.max_ooo_segments
    assert c.nbytes == n
    assert c.gaps == n
    assert s.ooo == {}


def test_reverse_order_blocks_stay_bounded_and_complete() -> None:
    c = Counter()
    s = Stream(c, max_ooo_segments=1024)
    s.syn(0)
    most = 0
    for block in range(50):
        for i in reversed(range(1000)):  # each block arrives back to front
            s.segment(1 + block * 1000 + i, memoryview(b"x"), i, i)
            most = max(most, len(s.ooo))
    s.flush(0)
    assert most <= s.max_ooo_segments
    assert c.nbytes == 50_000
    assert c.gaps == 0
