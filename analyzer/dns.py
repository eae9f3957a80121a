"""DNS messages and transactions: what a realm hostname resolved to, or why it did not.

Parsing is dnspython's (``dns.message.from_wire``); this module is the one
place where its exceptions become "malformed" (``None``). The common messages
— queries, NXDOMAIN and NODATA answers, answers of A, AAAA and CNAME records —
are read here with ``struct`` instead (:func:`_parse_common`): dnspython costs
tens of microseconds per message, a fifth of the analysis of a DNS-heavy
capture, and is imported on first use, so a capture without unusual DNS never
pays its import either. A
:class:`DnsTracker` pairs queries with responses by (client, client port,
server, id, name), following the answers' CNAME chains, and keeps a bounded
history per name so the detectors can ask "what happened to name X".
"""

from __future__ import annotations

import ipaddress
import struct
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dns.name

RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


@dataclass(frozen=True, slots=True)
class DnsMessage:
    id: int
    is_response: bool
    rcode: int
    qname: str  # lower case, no trailing dot
    qtype: str  # "A", "AAAA", ...
    addresses: tuple[tuple[str, str], ...]  # (owner name, address) from A/AAAA answers
    cnames: tuple[tuple[str, str], ...]  # (owner name, target) from CNAME answers


def _name(n: dns.name.Name) -> str:
    return n.to_text(omit_final_dot=True).lower()


_HEADER = struct.Struct("!HHHHHH")
_QTYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    65: "HTTPS",
}
# Label bytes that dnspython prints as themselves (anything else it escapes: leave those to it).
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


_RR = struct.Struct("!HHIH")  # type, class, TTL, rdata length
_A, _CNAME, _AAAA, _OPT = 1, 5, 28, 41
_IN = 1
_MAX_HOPS = 16


def _read_name(payload: bytes, pos: int) -> tuple[str, int] | None:
    """The name at ``pos`` and where the record goes on after it; ``None`` to defer.

    Compression pointers follow dnspython's rule (each must point before the
    previous one, so loops end); label types it rejects, escaped bytes and names
    over 255 octets are left to it.
    """
    labels: list[str] = []
    after = -1  # position after the name in the record, once a pointer was followed
    biggest = pos
    octets = 1
    n = len(payload)
    for _ in range(128 + _MAX_HOPS):
        if pos >= n:
            return None
        size = payload[pos]
        if size == 0:
            if not labels:
                return None  # the root: dnspython's text for it is its own
            return ".".join(labels), (after if after >= 0 else pos + 1)
        if size >= 0xC0:
            if pos + 1 >= n:
                return None
            target = ((size & 0x3F) << 8) | payload[pos + 1]
            if target >= biggest:
                return None
            if after < 0:
                after = pos + 2
            biggest = pos = target
            continue
        label = payload[pos + 1 : pos + 1 + size]
        octets += 1 + size
        if size > 63 or len(label) < size or octets > 255 or not _PLAIN.issuperset(label):
            return None
        labels.append(label.decode("ascii").lower())
        pos += 1 + size
    return None


def _parse_common(payload: bytes) -> DnsMessage | None:
    """The messages a push's capture is made of, read with ``struct``; ``None`` to defer.

    Queries, NXDOMAIN/NODATA answers and answers made only of A, AAAA and CNAME
    records of class IN (names compressed or not), with at most an EDNS OPT
    record without options. Anything else (other record types, authority
    records, odd names or lengths) goes to dnspython, which knows every rule;
    the property tests in tests/core/test_dns.py check the two agree.
    """
    if len(payload) < 12:
        return None
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(payload)
    if qdcount != 1 or nscount or arcount > 1 or flags & 0x7800:  # opcode not QUERY: defer
        return None
    read = _read_name(payload, 12)
    if read is None:
        return None
    qname, pos = read
    if pos + 4 > len(payload):
        return None
    qtype = _QTYPES.get((payload[pos] << 8) | payload[pos + 1])
    if qtype is None:
        return None
    pos += 4
    addresses: list[tuple[str, str]] = []
    cnames: list[tuple[str, str]] = []
    for _ in range(ancount):
        read = _read_name(payload, pos)
        if read is None:
            return None
        owner, pos = read
        if pos + 10 > len(payload):
            return None
        rtype, rclass, ttl, rdlen = _RR.unpack_from(payload, pos)
        pos += 10
        end = pos + rdlen
        if rclass != _IN or ttl >= 1 << 31 or end > len(payload):
            return None
        if rtype == _A and rdlen == 4:
            addresses.append((owner, ".".join(map(str, payload[pos:end]))))
        elif rtype == _AAAA and rdlen == 16:
            addresses.append((owner, str(ipaddress.IPv6Address(payload[pos:end]))))
        elif rtype == _CNAME:
            target = _read_name(payload, pos)
            if target is None or target[1] != end:
                return None
            cnames.append((owner, target[0]))
        else:
            return None
        pos = end
    if arcount:
        # EDNS: the root name, type OPT, no options, extended rcode and version 0.
        if payload[pos : pos + 3] != b"\x00\x00\x29" or pos + 11 > len(payload):
            return None
        _, _, ttl, rdlen = _RR.unpack_from(payload, pos + 1)
        if ttl >> 16 or rdlen:
            return None
    return DnsMessage(
        id=ident,
        is_response=bool(flags & 0x8000),
        rcode=flags & 0x0F,
        qname=qname,
        qtype=qtype,
        addresses=tuple(addresses),
        cnames=tuple(cnames),
    )


def parse_dns(payload: bytes) -> DnsMessage | None:
    """Parse one DNS message; ``None`` when it is malformed."""
    quick = _parse_common(payload)
    return quick if quick is not None else _parse_full(payload)


def _parse_full(payload: bytes) -> DnsMessage | None:
    """Any DNS message, through dnspython."""
    import dns.exception  # noqa: PLC0415 - dnspython is imported when first needed
    import dns.message  # noqa: PLC0415
    import dns.rdataclass  # noqa: PLC0415
    import dns.rdatatype  # noqa: PLC0415

    try:
        msg = dns.message.from_wire(payload, ignore_trailing=True, one_rr_per_rrset=True)
    except (dns.exception.DNSException, ValueError, IndexError, struct.error, UnicodeError):
        return None
    if not msg.question:
        return None
    q = msg.question[0]
    addresses: list[tuple[str, str]] = []
    cnames: list[tuple[str, str]] = []
    for rrset in msg.answer:
        owner = _name(rrset.name)
        # A/AAAA outside class IN are other record types (or opaque data) with no address.
        is_address = rrset.rdclass == dns.rdataclass.IN and rrset.rdtype in (
            dns.rdatatype.A,
            dns.rdatatype.AAAA,
        )
        for rd in rrset:
            if is_address:
                # The text ip_text gives a connection's address (dnspython writes an
                # IPv4-mapped IPv6 address its own way), so the two compare equal.
                addresses.append((owner, str(ipaddress.ip_address(rd.address))))
            elif rrset.rdtype == dns.rdatatype.CNAME:
                cnames.append((owner, _name(rd.target)))
    return DnsMessage(
        id=msg.id,
        is_response=bool(msg.flags & 0x8000),
        rcode=msg.rcode(),
        qname=_name(q.name),
        qtype=dns.rdatatype.to_text(q.rdtype),
        addresses=tuple(addresses),
        cnames=tuple(cnames),
    )


@dataclass(frozen=True, slots=True)
class DnsTransaction:
    """One query and its answer (or none)."""

    name: str
    qtype: str
    client: bytes
    server: bytes
    query_frame: int
    query_ts: int
    response_frame: int | None
    response_ts: int | None
    rcode: int | None  # None: never answered
    addresses: tuple[str, ...]  # the name's addresses after following CNAMEs in this answer
    cname_chain: tuple[str, ...]

    @property
    def rcode_name(self) -> str:
        if self.rcode is None:
            return "no answer"
        return RCODE_NAMES.get(self.rcode, f"rcode {self.rcode}")


def _resolve(qname: str, msg: DnsMessage) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Follow the CNAME chain from ``qname`` within one answer (bounded: loops stop)."""
    cname = dict(msg.cnames)
    chain: list[str] = []
    name = qname
    for _ in range(16):
        if name not in cname:
            break
        name = cname[name]
        if name in chain:
            break
        chain.append(name)
    addrs = tuple(a for owner, a in msg.addresses if owner == name)
    if not addrs and not chain:
        # Some servers answer with an owner name that differs in case or form only.
        addrs = tuple(a for _, a in msg.addresses)
    return addrs, tuple(chain)


class DnsTracker:
    """Pairs queries with answers within fixed bounds."""

    def __init__(
        self, max_pending: int = 10_000, max_names: int = 10_000, per_name: int = 64
    ) -> None:
        self.max_pending = max_pending
        self.max_names = max_names
        self.per_name = per_name
        self._pending: dict[tuple[bytes, int, bytes, int, str], tuple[int, int, str]] = {}
        self.by_name: dict[str, deque[DnsTransaction]] = {}
        self.messages = 0
        self.malformed = 0
        self.dropped = 0

    def message(
        self, frame: int, ts: int, src: bytes, sport: int, dst: bytes, dport: int, payload: bytes
    ) -> None:
        self.add(frame, ts, src, sport, dst, dport, parse_dns(payload))

    def add(
        self,
        frame: int,
        ts: int,
        src: bytes,
        sport: int,
        dst: bytes,
        dport: int,
        msg: DnsMessage | None,
    ) -> None:
        """Pair one parsed message (``None``: malformed) with its query or answer."""
        if msg is None:
            self.malformed += 1
            return
        self.messages += 1
        if not msg.is_response:
            key = (src, sport, dst, msg.id, msg.qname)
            if key not in self._pending:
                if len(self._pending) >= self.max_pending:
                    self._expire(next(iter(self._pending)))
                self._pending[key] = (frame, ts, msg.qtype)
            return
        query = self._pending.pop((dst, dport, src, msg.id, msg.qname), None)
        addrs, chain = _resolve(msg.qname, msg)
        if query is None:
            # Answer to a query sent before the capture began: still evidence.
            qframe, qts, qtype = frame, ts, msg.qtype
        else:
            qframe, qts, qtype = query
        self._record(
            DnsTransaction(
                msg.qname, qtype, dst, src, qframe, qts, frame, ts, msg.rcode, addrs, chain
            )
        )

    def _expire(self, key: tuple[bytes, int, bytes, int, str]) -> None:
        frame, ts, qtype = self._pending.pop(key)
        client, _, server, _, name = key
        self._record(
            DnsTransaction(name, qtype, client, server, frame, ts, None, None, None, (), ())
        )

    def _record(self, tx: DnsTransaction) -> None:
        history = self.by_name.get(tx.name)
        if history is None:
            if len(self.by_name) >= self.max_names:
                self.dropped += 1
                return
            history = self.by_name[tx.name] = deque(maxlen=self.per_name)
        history.append(tx)

    def finish(self) -> None:
        """End of capture: queries still pending were never answered."""
        for key in list(self._pending):
            self._expire(key)

    def lookups(self, name: str) -> list[DnsTransaction]:
        """Every transaction for ``name``, pending queries included as unanswered."""
        name = name.lower().rstrip(".")
        done = list(self.by_name.get(name, ()))
        pending = [
            DnsTransaction(n, qtype, c, s, f, t, None, None, None, (), ())
            for (c, _, s, _, n), (f, t, qtype) in self._pending.items()
            if n == name
        ]
        return sorted(done + pending, key=lambda tx: tx.query_frame)

    def names_resolving_to(self, address: str) -> list[str]:
        return sorted(
            name for name, txs in self.by_name.items() if any(address in tx.addresses for tx in txs)
        )
