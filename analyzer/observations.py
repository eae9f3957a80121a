"""What the detectors read: bounded records of connections, exchanges and lookups.

The flow table forgets a connection once it ends; what matters of it for the
token flow is kept here as a frozen :class:`ConnSummary`: every connection
that failed to establish (the attempts toward a dead realm), and a per-client,
per-endpoint tally of the ones that worked. HTTP exchanges that touch
authentication are kept whole (minus secrets), except the Bearer requests a
registry accepted: a push sends one per blob and chunk, a big capture millions,
so per client and endpoint only the first few are kept and the rest counted
(:class:`AcceptedBearer`); the rest are only counted. Every list has a cap; what
the cap drops is counted and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from analyzer.exchanges import Exchange
from analyzer.flows import Conn
from analyzer.http.auth import Challenge

# A response that is part of the auth story, whatever the request.
_AUTH_STATUSES = frozenset({401, 403, 407})
MAX_KEPT_ACCEPTED = 8  # accepted Bearer requests kept whole per (client, server, port)
MAX_SHARED = 4096  # distinct header values kept as one shared copy each


@dataclass(frozen=True, slots=True)
class ConnSummary:
    uid: int
    orig: bytes
    orig_port: int
    resp: bytes
    resp_port: int
    first_frame: int
    first_ts: int
    last_ts: int
    syns: tuple[tuple[int, int], ...]  # (frame, ts) of the originator's SYN and its retransmissions
    syn_count: int
    synack: tuple[int, int] | None
    rst: tuple[int, int, bool, int] | None  # (frame, ts, sent by originator, ttl)
    icmp: tuple[int, int, int, int, bytes] | None  # (frame, ts, type, code, reporter)
    state: str
    history: str
    established: bool
    live: bool  # still open when the snapshot was taken

    @classmethod
    def of(cls, conn: Conn, *, live: bool) -> ConnSummary:
        return cls(
            uid=conn.uid,
            orig=conn.orig,
            orig_port=conn.orig_port,
            resp=conn.resp,
            resp_port=conn.resp_port,
            first_frame=conn.first_frame,
            first_ts=conn.first_ts,
            last_ts=conn.last_ts,
            syns=tuple(conn.syns),
            syn_count=conn.syn_count,
            synack=conn.synack,
            rst=conn.rst,
            icmp=conn.icmp,
            state=conn.state,
            history=conn.history,
            established=conn.established,
            live=live,
        )

    @property
    def failed(self) -> bool:
        """A connection attempt that never completed its handshake."""
        return bool(self.syns) and self.synack is None


@dataclass(slots=True)
class EndpointTally:
    """Connections from one client to one endpoint that did establish."""

    count: int = 0
    first_frame: int = 0


@dataclass(slots=True)
class AcceptedBearer:
    """Bearer requests from one client to one endpoint that the server accepted.

    The detectors need how many were answered after a challenge, the first as
    evidence and the last to end a timeline: the first :data:`MAX_KEPT_ACCEPTED`
    are kept whole, later ones only counted (with the time of the first of those
    and the last exchange), so memory does not follow the length of a push and
    they never crowd challenges out of the record cap.
    """

    kept: list[Exchange] = field(default_factory=list)
    more: int = 0  # counted only, after the kept ones
    more_from_ts: int = 0  # answer time of the first one counted only
    last: Exchange | None = None

    def add(self, ex: Exchange) -> None:
        if len(self.kept) < MAX_KEPT_ACCEPTED:
            self.kept.append(ex)
        else:
            if not self.more:
                self.more_from_ts = ex.resp_ts
            self.more += 1
        self.last = ex

    @property
    def count(self) -> int:
        return len(self.kept) + self.more

    def since(self, ts: int) -> tuple[int, Exchange | None]:
        """How many were answered at ``ts`` or later, and the first of those.

        Exact for the kept ones. Those only counted are all counted when the
        first of them came at ``ts`` or later (the usual case: one challenge,
        then the push); when ``ts`` falls among them (a second challenge deep
        into a long push) they are all counted if the last came after ``ts``, so
        the count is then an upper bound.
        """
        after = [ex for ex in self.kept if ex.resp_ts >= ts]
        count = len(after)
        first = after[0] if after else None
        if self.more and self.last is not None and self.last.resp_ts >= ts:
            count += self.more
            if first is None:
                first = self.last  # the first of them is not kept; the last stands for it
        return count, first


@dataclass(slots=True)
class Observations:
    max_records: int = 20_000
    exchanges: list[Exchange] = field(default_factory=list)
    accepted: dict[tuple[bytes, bytes, int], AcceptedBearer] = field(default_factory=dict)
    _strings: dict[str, str] = field(default_factory=dict)
    _challenges: dict[str, tuple[Challenge, ...]] = field(default_factory=dict)
    failed: list[ConnSummary] = field(default_factory=list)
    established: dict[tuple[bytes, bytes, int], EndpointTally] = field(default_factory=dict)
    exchanges_total: int = 0
    dropped_exchanges: int = 0
    dropped_conns: int = 0

    def exchange(self, ex: Exchange) -> None:
        self.exchanges_total += 1
        if not self._keep(ex):
            return
        ex = self._shared(ex)
        if self._accepted_bearer(ex):
            key = (ex.client, ex.server, ex.server_port)
            tally = self.accepted.get(key)
            if tally is None:
                if len(self.accepted) >= self.max_records:
                    self.dropped_exchanges += 1
                    return
                tally = self.accepted[key] = AcceptedBearer()
            tally.add(ex)
            return
        if len(self.exchanges) >= self.max_records:
            self.dropped_exchanges += 1
            return
        self.exchanges.append(ex)

    def _shared(self, ex: Exchange) -> Exchange:
        """The exchange with the header values seen before replaced by the same objects.

        A long capture repeats the same few (Host, Server, the challenge and its
        parsed form, the API version, the error text) in every record it keeps:
        one copy each, up to :data:`MAX_SHARED` distinct values.
        """
        strings = self._strings

        def one(value: str | None) -> str | None:
            if value is None:
                return None
            seen = strings.get(value)
            if seen is not None:
                return seen
            if len(strings) < MAX_SHARED:
                strings[value] = value
            return value

        challenges = ex.challenges
        header = ex.challenge_header
        if header is not None:
            seen_challenges = self._challenges.get(header)
            if seen_challenges is not None:
                challenges = seen_challenges
            elif len(self._challenges) < MAX_SHARED:
                self._challenges[header] = challenges
        return replace(
            ex,
            host=one(ex.host),
            reason=one(ex.reason) or "",
            challenges=challenges,
            challenge_header=one(header),
            api_version=one(ex.api_version),
            server_software=one(ex.server_software),
            error_message=one(ex.error_message),
        )

    @staticmethod
    def _accepted_bearer(ex: Exchange) -> bool:
        """A plain request with a token that worked: nothing in it but its count and times."""
        return (
            ex.auth_scheme == "bearer"
            and ex.method is not None
            and ex.status not in _AUTH_STATUSES
            and not ex.challenges
            and not ex.token_issued
            and (ex.target is None or "scope=" not in ex.target)
        )

    @staticmethod
    def _keep(ex: Exchange) -> bool:
        return bool(
            ex.status in _AUTH_STATUSES
            or ex.challenges
            or ex.auth_scheme
            or ex.token_issued
            or (ex.target is not None and "scope=" in ex.target)
            or ex.method is None
        )

    @property
    def bearer_challenged(self) -> bool:
        """Whether any Bearer challenge (401 with WWW-Authenticate: Bearer) was seen."""
        return any(ex.status == 401 and ex.bearer for ex in self.exchanges)

    def limit_notes(self, evicted_early: int, max_flows: int) -> list[str]:
        """The report's notes on the bounds this capture reached (flow table, records)."""
        notes = []
        if evicted_early:
            notes.append(
                f"{evicted_early} connections were retired early: more than "
                f"{max_flows} were open at once (--max-flows)"
            )
        if self.dropped_exchanges or self.dropped_conns:
            notes.append(
                f"record limit reached (--max-records {self.max_records}): "
                f"{self.dropped_exchanges} exchanges and {self.dropped_conns} "
                "connections were counted but not kept"
            )
        return notes

    def conn(self, conn: Conn) -> None:
        summary = ConnSummary.of(conn, live=False)
        self.add_conn(summary)

    def add_conn(self, summary: ConnSummary) -> None:
        if summary.failed or summary.icmp is not None:
            if len(self.failed) >= self.max_records:
                self.dropped_conns += 1
                return
            self.failed.append(summary)
        elif summary.established:
            key = (summary.orig, summary.resp, summary.resp_port)
            tally = self.established.get(key)
            if tally is None:
                if len(self.established) >= self.max_records:
                    self.dropped_conns += 1
                    return
                tally = self.established[key] = EndpointTally(0, summary.first_frame)
            tally.count += 1
            # Connections retire in the order they end, not the order they began.
            tally.first_frame = min(tally.first_frame, summary.first_frame)
