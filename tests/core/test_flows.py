"""TCP segments in -> connections (state, history, handshake evidence) out."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer.flows import NS, Conn, FlowTable

F, S, R, P, A = 0x01, 0x02, 0x04, 0x08, 0x10
SA, PA, FA, RA = S | A, P | A, F | A, R | A

CLI, SRV = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
CPORT, SPORT = 40000, 5000
ISN_C, ISN_S = 1000, 5000

# A segment: (from client?, flags, seq, payload, seconds since start)
Seg = tuple[bool, int, int, bytes, float]


class Recorder:
    """Records stream bytes per (conn uid, direction)."""

    def __init__(self, log: list[tuple[Any, ...]], uid: int, direction: int) -> None:
        self.log = log
        self.key = (uid, direction)

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        self.log.append(("data", *self.key, bytes(payload)))

    def gap(self, nbytes: int, frame: int) -> None:
        self.log.append(("gap", *self.key, nbytes))

    def midstream(self, frame: int) -> None:
        self.log.append(("midstream", *self.key, frame))


class Harness:
    def __init__(self, **kw: int) -> None:
        self.retired: list[Conn] = []
        self.stream_log: list[tuple[Any, ...]] = []
        self.table = FlowTable(self.retired.append, self._consumer, **kw)
        self.frame = 0

    def _consumer(self, conn: Conn, direction: int) -> Recorder:
        return Recorder(self.stream_log, conn.uid, direction)

    def feed(
        self,
        segs: list[Seg],
        cport: int = CPORT,
        sport: int = SPORT,
        ttl: int = 64,
    ) -> None:
        for from_client, flags, seq, payload, secs in segs:
            self.frame += 1
            src, sp, dst, dp = (CLI, cport, SRV, sport) if from_client else (SRV, sport, CLI, cport)
            self.table.segment(
                self.frame, int(secs * NS), src, dst, sp, dp, seq, flags, memoryview(payload), ttl
            )

    def only(self) -> Conn:
        conns = self.table.live()
        assert len(conns) == 1
        return conns[0]


HANDSHAKE: list[Seg] = [
    (True, S, ISN_C, b"", 0.0),
    (False, SA, ISN_S, b"", 0.001),
    (True, A, ISN_C + 1, b"", 0.002),
]
GET, OK = b"GET /v2/ HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"
FULL: list[Seg] = [
    *HANDSHAKE,
    (True, PA, ISN_C + 1, GET, 0.003),
    (False, PA, ISN_S + 1, OK, 0.004),
    (True, FA, ISN_C + 1 + len(GET), b"", 0.005),
    (False, FA, ISN_S + 1 + len(OK), b"", 0.006),
    (True, A, ISN_C + 2 + len(GET), b"", 0.007),
]

# (name, segments, state, history, oriented by SYN)
CASES: list[tuple[str, list[Seg], str, str, bool]] = [
    ("syn_only", HANDSHAKE[:1], "S0", "S", True),
    ("handshake", HANDSHAKE, "S1", "Sh", True),
    ("complete_sf", FULL, "SF", "ShDdFf", True),
    ("client_closes_s2", [*HANDSHAKE, (True, FA, ISN_C + 1, b"", 1.0)], "S2", "ShF", True),
    ("server_closes_s3", [*HANDSHAKE, (False, FA, ISN_S + 1, b"", 1.0)], "S3", "Shf", True),
    ("rej", [HANDSHAKE[0], (False, RA, 0, b"", 0.001)], "REJ", "Sr", True),
    (
        "rsto_after_establishment",
        [*HANDSHAKE, (True, RA, ISN_C + 1, b"", 1.0)],
        "RSTO",
        "ShR",
        True,
    ),
    (
        "rstr_after_establishment",
        [*HANDSHAKE, (False, R, ISN_S + 1, b"", 1.0)],
        "RSTR",
        "Shr",
        True,
    ),
    (
        "rstos0_syn_then_own_rst",
        [HANDSHAKE[0], (True, R, ISN_C + 1, b"", 1.0)],
        "RSTOS0",
        "SR",
        True,
    ),
    ("synack_seen_first", HANDSHAKE[1:], "OTH", "h", True),
    (
        "midstream_data",
        [(False, PA, ISN_S + 1, OK, 0.0), (True, A, ISN_C, b"", 0.1)],
        "OTH",
        "d",
        False,
    ),
    ("syn_then_fin_sh", [HANDSHAKE[0], (True, F, ISN_C + 1, b"", 1.0)], "SH", "SF", True),
]


@pytest.mark.parametrize(
    ("segs", "state", "history", "by_syn"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_state_and_history(segs: list[Seg], state: str, history: str, by_syn: bool) -> None:
    h = Harness()
    h.feed(segs)
    c = h.only()
    assert (c.orig, c.orig_port, c.resp, c.resp_port) == (CLI, CPORT, SRV, SPORT)
    assert c.state == state
    assert c.history == history
    assert c.oriented_by_syn is by_syn
    assert h.table.total == 1
    assert h.retired == []


def test_complete_connection_details() -> None:
    h = Harness()
    h.feed(FULL)
    c = h.only()
    assert c.syn_count == 1
    assert c.syns == [(1, 0)]
    assert c.synack == (2, 1_000_000)
    assert c.isn == ISN_C
    assert c.rst is None
    assert c.fin_orig and c.fin_resp
    assert c.finished
    assert c.established
    assert (c.orig_bytes, c.resp_bytes) == (len(GET), len(OK))
    assert (c.first_frame, c.last_frame) == (1, 8)
    assert h.stream_log == [("data", c.uid, 0, GET), ("data", c.uid, 1, OK)]
    assert h.table.find(CLI, CPORT, SRV, SPORT) is c
    assert h.table.find(SRV, SPORT, CLI, CPORT) is c


def test_syn_retransmissions_are_one_connection() -> None:
    h = Harness()
    h.feed([(True, S, ISN_C, b"", t) for t in (0, 1, 3, 7, 15)])
    c = h.only()
    assert h.table.total == 1
    assert c.syn_count == 5
    assert c.syns == [(i, t * NS) for i, t in zip(range(1, 6), (0, 1, 3, 7, 15), strict=True)]
    assert c.state == "S0"
    assert c.history == "S"
    assert not c.established


def test_syn_rejected_records_the_rst() -> None:
    h = Harness()
    h.feed([HANDSHAKE[0]])
    h.feed([(False, RA, 0, b"", 0.002)], ttl=61)
    c = h.only()
    assert c.state == "REJ"
    assert c.rst == (2, 2_000_000, False, 61)
    assert c.finished


def test_new_isn_on_same_tuple_starts_a_new_connection() -> None:
    h = Harness()
    h.feed(FULL)
    old = h.only()
    h.feed([(True, S, 77_000, b"", 1.0), (False, SA, 99_000, b"", 1.001)])
    assert h.retired == [old]
    new = h.only()
    assert new is not old
    assert new.uid != old.uid
    assert new.isn == 77_000
    assert new.syns == [(9, NS)]
    assert new.state == "S1"
    assert h.table.find(CLI, CPORT, SRV, SPORT) is new
    assert h.table.total == 2


def test_same_isn_again_is_a_retransmission_not_a_new_connection() -> None:
    h = Harness()
    h.feed([*HANDSHAKE, (True, S, ISN_C, b"", 1.0)])
    assert h.retired == []
    assert h.only().syn_count == 2


def test_synack_first_orients_by_the_synack() -> None:
    h = Harness()
    h.feed([HANDSHAKE[1]], cport=5000, sport=80)  # the client's port is the higher one
    c = h.only()
    assert (c.orig, c.orig_port, c.resp, c.resp_port) == (CLI, 5000, SRV, 80)
    assert c.synack == (1, 1_000_000)
    h.feed([(True, PA, ISN_C + 1, GET, 0.1)], cport=5000, sport=80)
    assert c.history == "hD"
    assert c.orig_bytes == len(GET)
    # The responder's stream was started by its SYN-ACK; the originator's midstream.
    assert h.stream_log == [("midstream", c.uid, 0, 2), ("data", c.uid, 0, GET)]


@pytest.mark.parametrize(("cport", "sport"), [(40000, 443), (443, 40000)])
def test_midstream_lower_port_is_the_responder(cport: int, sport: int) -> None:
    h = Harness()
    h.feed([(True, PA, 1, b"x", 0.0)], cport=cport, sport=sport)
    c = h.only()
    assert c.orig_port == max(cport, sport)
    assert c.resp_port == min(cport, sport)
    assert c.orig == (CLI if cport > sport else SRV)
    assert c.state == "OTH"
    assert not c.oriented_by_syn
    direction = 0 if c.orig == CLI else 1
    assert h.stream_log == [("midstream", c.uid, direction, 1), ("data", c.uid, direction, b"x")]


def test_stray_rst_creates_nothing() -> None:
    h = Harness()
    h.feed([(False, RA, 0, b"", 0.0)])
    assert len(h.table) == 0
    assert h.table.total == 0
    assert h.table.stray_rst == 1


def test_hole_before_fin_may_still_be_filled() -> None:
    h = Harness()
    h.feed(
        [
            *HANDSHAKE,
            (True, PA, ISN_C + 1 + 5, b"world", 0.1),  # the first 5 bytes come late
            (True, FA, ISN_C + 1 + 10, b"", 0.2),
            (True, PA, ISN_C + 1, b"hello", 0.3),  # the retransmission after the FIN
        ]
    )
    c = h.only()
    assert h.stream_log == [("data", c.uid, 0, b"hello"), ("data", c.uid, 0, b"world")]
    assert c.history == "ShDF"


def test_hole_never_filled_is_a_gap_at_retirement() -> None:
    h = Harness()
    h.feed(
        [
            *HANDSHAKE,
            (True, PA, ISN_C + 1 + 5, b"world", 0.1),  # the first 5 bytes lost for good
            (True, FA, ISN_C + 1 + 10, b"", 0.2),
        ]
    )
    uid = h.only().uid
    assert h.stream_log == []
    h.table.close_all()
    assert h.stream_log == [("gap", uid, 0, 5), ("data", uid, 0, b"world")]


# -- bounds and retirement ------------------------------------------------------------


def test_max_flows_bounds_the_table() -> None:
    h = Harness(max_flows=100)
    for i in range(1000):
        h.feed([(True, S, ISN_C, b"", i / 1000)], cport=10_000 + i)
        assert len(h.table) <= 100
    assert h.table.total == 1000
    assert h.table.evicted_early > 0
    assert h.table.evicted_early + len(h.table) == 1000
    assert len(h.retired) == h.table.evicted_early
    assert len({c.uid for c in h.retired}) == len(h.retired)
    # The oldest went first: the newest connection is still here.
    assert h.table.find(CLI, 10_999, SRV, SPORT) is not None
    assert h.table.find(CLI, 10_000, SRV, SPORT) is None


@pytest.mark.parametrize("max_flows", [1, 2, 5])
def test_max_flows_never_retires_the_connection_being_created(max_flows: int) -> None:
    h = Harness(max_flows=max_flows)
    for i in range(20):
        # Timestamps go backwards (merged interfaces): the new connection is the "oldest".
        h.feed([(True, S, ISN_C, b"", 100 - i)], cport=10_000 + i)
        assert len(h.table) <= max_flows
        c = h.table.find(CLI, 10_000 + i, SRV, SPORT)
        assert c is not None
        assert c not in h.retired
        assert c.syn_count == 1
    assert len(h.retired) + len(h.table) == 20


def test_sweep_retires_finished_after_linger_and_idle_after_timeout() -> None:
    h = Harness(linger_ns=5 * NS, idle_ns=60 * NS)
    h.feed(FULL)  # finished at ~0 s
    h.feed(HANDSHAKE, cport=40001)  # established, then silent
    done = h.table.find(CLI, CPORT, SRV, SPORT)
    idle = h.table.find(CLI, 40001, SRV, SPORT)
    assert done is not None
    assert idle is not None

    h.table.sweep(4 * NS)
    assert h.retired == []
    h.table.sweep(6 * NS)
    assert h.retired == [done]
    h.table.sweep(59 * NS)
    assert h.retired == [done]
    h.table.sweep(61 * NS)
    assert h.retired == [done, idle]
    assert len(h.table) == 0
    assert h.table.find(CLI, 40001, SRV, SPORT) is None


def test_segments_trigger_the_sweep() -> None:
    h = Harness(linger_ns=5 * NS, idle_ns=60 * NS)
    h.feed(FULL)
    done = h.only()
    h.feed([(True, S, ISN_C, b"", 30.0)], cport=40001)
    assert h.retired == [done]
    assert len(h.table) == 1


def test_close_all_retires_everything_exactly_once() -> None:
    h = Harness()
    h.feed(FULL)
    h.feed(HANDSHAKE[:1], cport=40001)
    h.feed([*HANDSHAKE, (True, PA, ISN_C + 1 + 3, b"def", 0.1)], cport=40002)  # a hole
    live = h.table.live()
    assert len(live) == 3
    h.table.close_all()
    h.table.close_all()
    assert sorted(c.uid for c in h.retired) == sorted(c.uid for c in live)
    assert len(h.table) == 0
    # Streams were flushed on retirement: the hole became a gap before its bytes.
    uid = next(c.uid for c in live if c.orig_port == 40002)
    assert [e for e in h.stream_log if e[1] == uid] == [
        ("gap", uid, 0, 3),
        ("data", uid, 0, b"def"),
    ]
