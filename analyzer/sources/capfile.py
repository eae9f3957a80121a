"""Pure-Python readers for pcap and pcapng capture files.

How this works
--------------
A reader owns a binary stream and a *window* onto it: one ``bytes`` object
holding the next unread bytes of the (decompressed) stream. The window is
refilled in big chunks (1 MiB by default) through ordinary buffered reads.
Record and block headers are decoded in place with precompiled
``struct.Struct`` objects (``unpack_from(window, pos)``), so the hot loop
creates nothing per frame except the frame tuple and the packet-data slice.

When a record does not fit in what is left of the window, ``_fill`` joins
the leftover tail with the next chunk(s); a record bigger than a chunk just
makes that one refill bigger. Every length taken from the file is checked
against a fixed limit before anything is read for it, and bytes are only
ever read, never preallocated, so a lying length costs at most what the
file really holds.

Only the file header may fail loudly: it is read eagerly in the constructor
so that :func:`analyzer.sources.open.open_capture` raises
:class:`CaptureFormatError` before the first frame. Past the header nothing
raises: a damaged record ends iteration (or, where the block framing is
still trustworthy, skips one block) and appends a :class:`ReadProblem`.

Frame numbers follow Wireshark (tshark 4.0 checked against the corpus):
pcapng records that Wireshark shows as numbered "frames" without being
packets (custom blocks, systemd journal entries, sysdig events) take a
number but are not yielded, so numbers can have gaps; packet blocks that
Wireshark refuses (unknown interface) are skipped without a number.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, NamedTuple, Protocol, Self

from analyzer.errors import CaptureFormatError

# (number, ts_ns, linktype, data, wire_len); a plain tuple because a capture
# holds millions of them and attribute access on a class costs measurably more.
Frame = tuple[int, int, int, bytes, int]

DEFAULT_CHUNK_SIZE: Final = 1 << 20
# The largest packet tshark accepts for ordinary link types (WTAP_MAX_PACKET_SIZE_STANDARD).
TSHARK_MAX_PACKET: Final = 262_144
# Hard ceiling for one pcap record or pcapng block, whatever the header claims:
# far above any real packet, small enough that a lie cannot exhaust memory.
MAX_RECORD: Final = 16 << 20

# Decompressed bytes asked of a compressed stream per read, whatever the
# chunk size. A corrupt deflate block makes zlib discard all output of the
# call that meets it, so this bounds what is lost before the damage, and a
# fixed size makes that loss the same for every chunk size.
COMPRESSED_READ_SIZE: Final = 1 << 16

_NS_PER_S: Final = 1_000_000_000

CUT_HINT: Final = (
    "the file is cut short or damaged; if it was copied while tcpdump was still "
    "writing, copy it again after tcpdump has exited"
)


@dataclass(frozen=True, slots=True)
class ReadProblem:
    """Something wrong found while iterating; reading stopped or skipped past it."""

    offset: int  # byte offset in the (decompressed) stream where the problem was found
    frame: int | None  # frame number concerned (the one that could not be read), if any
    message: str  # one line a person understands


class ByteSource(Protocol):
    """What a reader needs from its stream: ``read`` (``read1`` is used when present)."""

    def read(self, size: int = -1, /) -> bytes: ...


class Closable(Protocol):
    def close(self) -> None: ...


# Exceptions a stream raises mid-read that mean "the usable data ends here":
# OSError covers gzip.BadGzipFile and I/O errors, EOFError a gzip stream cut
# before its end marker, zlib.error corrupt deflate data.
_STREAM_ERRORS: Final = (OSError, EOFError, zlib.error)


def describe_stream_error(exc: BaseException, compression: str | None) -> str:
    """One phrase for a failed read, e.g. 'the gzip stream is cut short'."""
    if isinstance(exc, EOFError) and compression:
        return f"the {compression} stream is cut short (no end-of-stream marker)"
    if compression and isinstance(exc, zlib.error | OSError) and not _is_io_error(exc):
        return f"the {compression} data is corrupt ({exc})"
    return f"reading failed ({exc})"


def _is_io_error(exc: BaseException) -> bool:
    # Real I/O errors carry an errno; gzip's BadGzipFile does not.
    return isinstance(exc, OSError) and exc.errno is not None


class CaptureReader:
    """Iterate a capture's frames; common machinery for both formats.

    A reader is a one-shot iterable (a stream cannot be rewound) and a
    context manager that closes what ``open_capture`` opened. Subclasses read
    their file header in ``_read_header`` (raising CaptureFormatError) and
    yield frames from ``_frames``.

    Public attributes:

    - ``format``: "pcap" or "pcapng"; ``compression``: "gzip" or None.
    - ``problems``: ReadProblems found so far, in the order met.
    - ``bytes_read`` / ``frames_read``: progress through the (decompressed)
      stream. Updated at every refill of the window (each chunk, 1 MiB by
      default) rather than per frame, which would slow the hot loop, and
      exact once iteration ends or is closed.
    - ``complete``: True once iteration reached a clean end of the data.
    """

    format: str = ""
    compression: str | None
    problems: list[ReadProblem]
    bytes_read: int
    frames_read: int
    complete: bool

    def __init__(
        self,
        stream: ByteSource,
        *,
        prefix: bytes = b"",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        name: str = "<stream>",
        compression: str | None = None,
        owned: Sequence[Closable] = (),
    ) -> None:
        """Read the file header from ``prefix`` + ``stream``.

        ``prefix`` holds bytes already taken from the stream (by format
        sniffing); it is the start of the data. ``owned`` are closed by
        ``close()``, innermost first.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        self.name = name
        self.compression = compression
        self.problems: list[ReadProblem] = []
        self.bytes_read = 0
        self.frames_read = 0
        self.complete = False
        self._stream = stream
        read1: Callable[[int], bytes] | None = getattr(stream, "read1", None)
        # read1 does at most one raw read: bytes decompressed before a gzip
        # error are returned instead of being lost with the exception, and a
        # pipe yields what it has instead of blocking until a full chunk.
        self._read: Callable[[int], bytes] = read1 if read1 is not None else stream.read
        self._chunk = chunk_size
        self._fixed_read = COMPRESSED_READ_SIZE if compression else 0
        self._buf = prefix
        self._base = 0  # stream offset of self._buf[0]
        self._pos = 0  # where iteration starts in self._buf
        self._eof = False
        self._stream_error: str | None = None
        self._owned = tuple(owned)
        self._started = False
        self._gen: Generator[Frame, None, None] | None = None
        self._closed = False
        self._read_header()

    # -- subclass hooks -------------------------------------------------

    def _read_header(self) -> None:
        raise NotImplementedError

    def _frames(self) -> Generator[Frame, None, None]:
        raise NotImplementedError

    # -- public API -----------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError("a CaptureReader can be iterated only once")
        self._started = True
        self._gen = self._frames()
        return self._gen

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._gen is not None:
            # Ends an iteration the consumer abandoned (break, Ctrl-C), so
            # that bytes_read and frames_read become exact.
            self._gen.close()
        self._buf = b""
        for obj in self._owned:
            obj.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} format={self.format} "
            f"frames_read={self.frames_read} problems={len(self.problems)}>"
        )

    # -- window management ----------------------------------------------

    def _fill(self, pos: int, need: int) -> bytes:
        """Slide the window to start at ``pos`` and make it hold ``need`` bytes.

        Returns the new window (position 0 = old ``pos``); it is shorter than
        ``need`` only when the stream ended (or broke) first.
        """
        buf = self._buf
        self._base += pos
        have = len(buf) - pos
        parts = [buf[pos:]] if have else []
        while have < need and not self._eof:
            try:
                piece = self._read(self._fixed_read or max(self._chunk, need - have))
            except _STREAM_ERRORS as exc:
                self._stream_error = describe_stream_error(exc, self.compression)
                self._eof = True
                break
            if not piece:
                self._eof = True
                break
            parts.append(piece)
            have += len(piece)
        buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self._buf = buf
        self.bytes_read = self._base
        return buf

    def _header_error(self, what: str, have: int, need: int) -> CaptureFormatError:
        """The header could not be read in full."""
        if self._stream_error:
            return CaptureFormatError(
                f"{self._stream_error} inside the {what}: {have} of {need} bytes",
                hint=CUT_HINT,
            )
        return CaptureFormatError(
            f"file ends inside the {what}: {have} of {need} bytes", hint=CUT_HINT
        )

    def _stop(self, offset: int, frame: int | None, message: str) -> None:
        self.problems.append(ReadProblem(offset, frame, message))

    def _cut(self, offset: int, frame: int | None, what: str) -> None:
        """The data ends in the middle of ``what``."""
        if self._stream_error:
            message = f"{self._stream_error} in the middle of {what}; stopped reading"
        else:
            message = f"file ends in the middle of {what}"
        self._stop(offset, frame, message)

    def _clean_end(self, offset: int, frame: int) -> None:
        """The data ended on a record boundary: complete unless the stream broke."""
        if self._stream_error:
            self._stop(
                offset,
                frame,
                f"{self._stream_error} after {offset} bytes; "
                "the frames before that point are intact",
            )
        else:
            self.complete = True


# ---------------------------------------------------------------------------
# pcap


class _PcapVariant(NamedTuple):
    endian: str
    frac_ns: int  # nanoseconds per unit of the fractional timestamp field
    record: struct.Struct  # per-record header, caplen/wire_len at fields 2/3
    description: str


def _pcap_record(endian: str, extra: int) -> struct.Struct:
    return struct.Struct(f"{endian}IIII{extra}x" if extra else f"{endian}IIII")


PCAP_MAGICS: Final[dict[bytes, _PcapVariant]] = {
    b"\xd4\xc3\xb2\xa1": _PcapVariant("<", 1000, _pcap_record("<", 0), "pcap"),
    b"\xa1\xb2\xc3\xd4": _PcapVariant(">", 1000, _pcap_record(">", 0), "pcap"),
    b"\x4d\x3c\xb2\xa1": _PcapVariant("<", 1, _pcap_record("<", 0), "nanosecond pcap"),
    b"\xa1\xb2\x3c\x4d": _PcapVariant(">", 1, _pcap_record(">", 0), "nanosecond pcap"),
    # Alexey Kuznetzov's patched libpcap: 8 more bytes per record (ifindex,
    # protocol, pkt_type, pad), which we do not need.
    b"\x34\xcd\xb2\xa1": _PcapVariant("<", 1000, _pcap_record("<", 8), "modified pcap"),
    b"\xa1\xb2\xcd\x34": _PcapVariant(">", 1000, _pcap_record(">", 8), "modified pcap"),
}

_PCAP_HEADER = {e: struct.Struct(f"{e}4xHHiIII") for e in "<>"}
PCAP_HEADER_SIZE: Final = 24


class PcapReader(CaptureReader):
    """Classic libpcap files: a 24-byte header, then (record header, data) pairs.

    Also has ``snaplen``, ``linktype`` (one for the whole file) and
    ``max_caplen``, the record size past which a record header is taken
    to be corrupt.
    """

    format = "pcap"
    snaplen: int
    linktype: int

    def _read_header(self) -> None:
        buf = self._fill(0, PCAP_HEADER_SIZE)
        if len(buf) < PCAP_HEADER_SIZE:
            raise self._header_error("pcap file header", len(buf), PCAP_HEADER_SIZE)
        variant = PCAP_MAGICS.get(buf[:4])
        if variant is None:
            raise CaptureFormatError(f"not a pcap file: magic {buf[:4].hex(' ')}")
        self._variant = variant
        _major, _minor, _zone, _sigfigs, snaplen, network = _PCAP_HEADER[
            variant.endian
        ].unpack_from(buf, 0)
        self.snaplen = snaplen
        # The upper bits of the field carry FCS information, not the link type.
        self.linktype = network & 0xFFFF
        # tshark rejects records above 262144 bytes; a file whose snaplen says
        # more is believed up to the hard ceiling.
        self.max_caplen = max(TSHARK_MAX_PACKET, min(snaplen, MAX_RECORD))
        self._pos = PCAP_HEADER_SIZE

    def _frames(self) -> Generator[Frame, None, None]:
        # Everything the loop touches is a local: attribute lookups per frame
        # would cost more than the unpacking itself.
        record = self._variant.record
        unpack = record.unpack_from
        hlen = record.size
        frac_ns = self._variant.frac_ns
        linktype = self.linktype
        limit = self.max_caplen
        fill = self._fill
        buf = self._buf
        pos = self._pos
        n = len(buf)
        number = 0
        try:
            while True:
                if n - pos < hlen:
                    self.frames_read = number
                    buf = fill(pos, hlen)
                    pos = 0
                    n = len(buf)
                    if n < hlen:
                        if n == 0:
                            self._clean_end(self._base, number + 1)
                        else:
                            self._cut(
                                self._base,
                                number + 1,
                                f"frame {number + 1}'s record header: {n} of {hlen} bytes present",
                            )
                        return
                sec, frac, caplen, wire_len = unpack(buf, pos)
                if caplen > limit:
                    self._stop(
                        self._base + pos,
                        number + 1,
                        f"record header at byte {self._base + pos} claims a {caplen}-byte "
                        f"packet (limit {limit}); stopped reading",
                    )
                    return
                start = pos + hlen
                end = start + caplen
                if end > n:
                    self.frames_read = number
                    buf = fill(pos, hlen + caplen)
                    pos = 0
                    n = len(buf)
                    start = hlen
                    end = hlen + caplen
                    if end > n:
                        self._cut(
                            self._base,
                            number + 1,
                            f"frame {number + 1}'s data: {n - hlen} of {caplen} bytes present",
                        )
                        return
                number += 1
                # Advance before yielding, so bytes_read is exact if the consumer stops here.
                pos = end
                # An out-of-range fraction (>= 1 s) is kept arithmetically, as tshark does.
                yield (number, sec * _NS_PER_S + frac * frac_ns, linktype, buf[start:end], wire_len)
        finally:
            self.frames_read = number
            self.bytes_read = self._base + pos


# ---------------------------------------------------------------------------
# pcapng

BT_SHB: Final = 0x0A0D0D0A
BT_IDB: Final = 0x00000001
BT_PB: Final = 0x00000002  # obsolete Packet Block
BT_SPB: Final = 0x00000003
BT_EPB: Final = 0x00000006
PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"

# Non-packet blocks that Wireshark nevertheless returns as records and so
# numbers as frames (wiretap/pcapng.c, get_block_type_internal): systemd
# journal export, sysdig events, custom blocks. We skip them but consume a
# number, so our frame numbers stay those a user sees in Wireshark.
WIRESHARK_NUMBERED_BLOCKS: Final = frozenset(
    {0x00000009, 0x00000204, 0x00000208, 0x00000216, 0x00000217, 0x00000221, 0x00000222}
    | {0x00000BAD, 0x40000BAD}
)

_BLOCK_NAMES: Final = {
    BT_SHB: "section header",
    BT_IDB: "interface description",
    BT_PB: "packet",
    BT_SPB: "simple packet",
    0x00000004: "name resolution",
    0x00000005: "interface statistics",
    BT_EPB: "enhanced packet",
    0x00000009: "systemd journal export",
    0x0000000A: "decryption secrets",
    0x00000BAD: "custom",
    0x40000BAD: "custom",
}

_BYTE_ORDER_MAGICS: Final = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
MIN_SHB_SIZE: Final = 28  # 12 framing + magic 4 + version 4 + section length 8
# A crafted file can hold a million tiny IDBs, or packet blocks naming a million interfaces
# that do not exist: interfaces kept per section, and problems listed one by one while
# reading goes on, are bounded (the rest are counted in one more problem).
MAX_INTERFACES: Final = 65536
MAX_LISTED_PROBLEMS: Final = 100
MAX_UNKNOWN_INTERFACES: Final = 16  # listed per section
MAX_BLOCK: Final = MAX_RECORD

OPT_ENDOFOPT: Final = 0
OPT_IF_TSRESOL: Final = 9
OPT_IF_TSOFFSET: Final = 14


class _Layout(NamedTuple):
    """Precompiled structs for one byte order."""

    head: struct.Struct  # block type, total length
    u32: struct.Struct
    wide: struct.Struct  # block header + EPB fields: interface, ts high/low, caplen, wire_len
    pb: struct.Struct  # interface (16 bit), drops, ts high, ts low, caplen, wire_len
    idb: struct.Struct  # link type, reserved, snaplen
    opt: struct.Struct  # option code, option length
    i64: struct.Struct
    version: struct.Struct  # SHB major, minor


_LAYOUTS: Final = {
    e: _Layout(
        struct.Struct(f"{e}II"),
        struct.Struct(f"{e}I"),
        struct.Struct(f"{e}IIIIIII"),
        struct.Struct(f"{e}HHIIII"),
        struct.Struct(f"{e}HHI"),
        struct.Struct(f"{e}HH"),
        struct.Struct(f"{e}q"),
        struct.Struct(f"{e}HH"),
    )
    for e in "<>"
}


class Interface(NamedTuple):
    """What a packet block needs from its IDB, ready for the hot loop."""

    linktype: int
    snaplen: int
    mult: int  # ns per timestamp unit when that is a whole number, else 0
    units_per_second: int
    offset_ns: int


def make_interface(linktype: int, snaplen: int, units_per_second: int, offset_s: int) -> Interface:
    mult = _NS_PER_S // units_per_second if _NS_PER_S % units_per_second == 0 else 0
    return Interface(linktype, snaplen, mult, units_per_second, offset_s * _NS_PER_S)


def tsresol_units(value: int) -> int:
    """Units per second for an if_tsresol byte: MSB set = power of 2, else power of 10."""
    return 1 << (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)


def _block_name(btype: int) -> str:
    name = _BLOCK_NAMES.get(btype)
    return f"{name} block" if name else f"block of type 0x{btype:08x}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class PcapngReader(CaptureReader):
    """pcapng: a sequence of sections, each an SHB followed by blocks.

    Also has ``sections`` (how many were entered so far) and ``interfaces``
    (those of the current section, index = interface id).
    """

    format = "pcapng"

    def _read_header(self) -> None:
        # Validate the first section header eagerly; iteration then parses it
        # again like any later one (it is one small block).
        buf = self._fill(0, 12)
        if len(buf) < 12:
            raise self._header_error("pcapng section header block", len(buf), MIN_SHB_SIZE)
        if buf[:4] != PCAPNG_MAGIC:
            raise CaptureFormatError(f"not a pcapng file: magic {buf[:4].hex(' ')}")
        parsed = _shb_length(buf, 0)
        if isinstance(parsed, str):
            raise CaptureFormatError(parsed, hint=CUT_HINT)
        layout, blen = parsed
        buf = self._fill(0, blen)
        if len(buf) < blen:
            raise self._header_error("pcapng section header block", len(buf), blen)
        problem = _shb_body_problem(buf, 0, blen, layout)
        if problem:
            raise CaptureFormatError(problem, hint=CUT_HINT)
        self.sections = 0
        self.interfaces: list[Interface] = []
        self._unlisted = 0  # problems read past but not listed
        self._unlisted_at = -1  # index in problems of the one that counts them

    def _read_past(self, offset: int, message: str) -> None:
        """A problem reading goes on after: listed up to a bound, then only counted."""
        problems = self.problems
        if len(problems) < MAX_LISTED_PROBLEMS:
            problems.append(ReadProblem(offset, None, message))
            return
        self._unlisted += 1
        if self._unlisted_at < 0:
            self._unlisted_at = len(problems)
            problems.append(ReadProblem(offset, None, ""))
        first = problems[self._unlisted_at].offset
        problems[self._unlisted_at] = ReadProblem(
            first,
            None,
            f"{_plural(self._unlisted, 'more problem')} (the first at byte {first}) were read "
            "past and not listed one by one",
        )

    def _frames(self) -> Generator[Frame, None, None]:
        fill = self._fill
        problems = self.problems
        buf = self._buf
        pos = self._pos
        n = len(buf)
        layout = _LAYOUTS["<"]  # replaced by the first SHB
        head = layout.head.unpack_from
        wide = layout.wide.unpack_from
        u32 = layout.u32.unpack_from
        ifaces: list[Interface] = []
        n_ifaces = 0
        # interface id -> [problem index, first offset, frame, count]; per section
        unknown: dict[int, list[int]] = {}
        number = 0
        count = 0
        last_ts = 0
        try:
            while True:
                if n - pos < 28:
                    self.frames_read = count
                    buf = fill(pos, 28)
                    pos = 0
                    n = len(buf)
                    if n == 0:
                        self._clean_end(self._base, number + 1)
                        return
                    if n < 8:
                        self._cut(self._base, None, f"a block header: {n} of 8 bytes present")
                        return
                if n - pos >= 28:
                    # One unpack decodes the block header and, if this is an
                    # EPB, its fixed fields too (garbage for other blocks).
                    btype, blen, iface, hi, lo, caplen, wire_len = wide(buf, pos)
                else:
                    # Fewer than 28 bytes left in the whole stream: no complete
                    # EPB can follow, so the EPB fields are never used.
                    btype, blen = head(buf, pos)
                if btype == BT_SHB:
                    if n - pos < 12:
                        self._cut(
                            self._base + pos,
                            None,
                            f"a section header block: {n - pos} of {MIN_SHB_SIZE} bytes present",
                        )
                        return
                    parsed = _shb_length(buf, pos, self._base + pos)
                    if isinstance(parsed, str):
                        self._stop(self._base + pos, None, parsed + "; stopped reading")
                        return
                    layout, blen = parsed
                    head = layout.head.unpack_from
                    wide = layout.wide.unpack_from
                    u32 = layout.u32.unpack_from
                if blen & 3 or blen < 12 or blen > MAX_BLOCK:
                    offset = self._base + pos
                    if blen & 3:
                        why = "not a multiple of 4"
                    elif blen < 12:
                        why = "less than the 12-byte minimum"
                    else:
                        why = f"more than the {MAX_BLOCK >> 20} MiB limit"
                    self._stop(
                        offset,
                        number + 1 if btype in (BT_EPB, BT_SPB, BT_PB) else None,
                        f"{_block_name(btype)} at byte {offset} has total length {blen}, "
                        f"{why}; the file is corrupt here; stopped reading",
                    )
                    return
                end = pos + blen
                if end > n:
                    self.frames_read = count
                    buf = fill(pos, blen)
                    pos = 0
                    n = len(buf)
                    end = blen
                    if end > n:
                        packet = btype in (BT_EPB, BT_SPB, BT_PB)
                        self._cut(
                            self._base,
                            number + 1 if packet else None,
                            (f"frame {number + 1}'s " if packet else "an ")
                            + f"{_block_name(btype)} at byte {self._base}: "
                            f"{n} of {blen} bytes present",
                        )
                        return
                trailer = u32(buf, end - 4)[0]
                if trailer != blen:
                    offset = self._base + pos
                    self._stop(
                        offset,
                        number + 1 if btype in (BT_EPB, BT_SPB, BT_PB) else None,
                        f"{_block_name(btype)} at byte {offset} gives its length as {blen} "
                        f"at the start but {trailer} at the end; the file is corrupt here; "
                        "stopped reading",
                    )
                    return

                if btype == BT_EPB or btype == BT_PB:  # noqa: PLR1714, SIM109 - hot path: no tuple
                    if blen < 32:
                        self._stop(
                            self._base + pos,
                            number + 1,
                            f"{_block_name(btype)} at byte {self._base + pos} is {blen} bytes, "
                            "too short for its fixed fields; stopped reading",
                        )
                        return
                    if btype == BT_PB:
                        iface, _drops, hi, lo, caplen, wire_len = layout.pb.unpack_from(
                            buf, pos + 8
                        )
                    if caplen > blen - 32:
                        self._stop(
                            self._base + pos,
                            number + 1,
                            f"frame {number + 1}: {_block_name(btype)} at byte "
                            f"{self._base + pos} claims {caplen} captured bytes but has room "
                            f"for {blen - 32}; stopped reading",
                        )
                        return
                    if iface < n_ifaces:
                        linktype, _snap, mult, units, offset_ns = ifaces[iface]
                        t = (hi << 32) | lo
                        last_ts = (
                            t * mult + offset_ns if mult else t * _NS_PER_S // units + offset_ns
                        )
                        number += 1
                        count += 1
                        start = pos + 28
                        pos = end
                        yield (number, last_ts, linktype, buf[start : start + caplen], wire_len)
                        continue
                elif btype == BT_SPB:
                    if blen < 16:
                        self._stop(
                            self._base + pos,
                            number + 1,
                            f"simple packet block at byte {self._base + pos} is {blen} bytes, "
                            "too short for its fixed fields; stopped reading",
                        )
                        return
                    iface = 0
                    if n_ifaces:
                        linktype, snaplen, *_ = ifaces[0]
                        wire_len = u32(buf, pos + 8)[0]
                        # The SPB has no captured-length field: the spec derives
                        # it from the packet length and interface 0's snaplen.
                        caplen = min(wire_len, snaplen or wire_len, blen - 16)
                        number += 1
                        count += 1
                        start = pos + 12
                        pos = end
                        yield (number, last_ts, linktype, buf[start : start + caplen], wire_len)
                        continue
                elif btype == BT_IDB:
                    if blen < 20:
                        self._stop(
                            self._base + pos,
                            None,
                            f"interface description block at byte {self._base + pos} is "
                            f"{blen} bytes, too short for its fixed fields; stopped reading",
                        )
                        return
                    if n_ifaces < MAX_INTERFACES:
                        ifaces.append(self._parse_idb(buf, pos, end, layout, n_ifaces))
                        n_ifaces += 1
                    elif n_ifaces == MAX_INTERFACES:
                        n_ifaces += 1  # reported once per section
                        self._read_past(
                            self._base + pos,
                            f"section {self.sections} defines more than {MAX_INTERFACES} "
                            "interfaces; the rest are ignored",
                        )
                    pos = end
                    continue
                elif btype == BT_SHB:
                    problem = _shb_body_problem(buf, pos, blen, layout, self._base + pos)
                    if problem:
                        self._stop(self._base + pos, None, problem + "; stopped reading")
                        return
                    # A new section restarts interface numbering.
                    ifaces = []
                    n_ifaces = 0
                    unknown = {}
                    self.sections += 1
                    self.interfaces = ifaces
                    pos = end
                    continue
                else:
                    if btype in WIRESHARK_NUMBERED_BLOCKS:
                        number += 1
                    pos = end
                    continue

                # A packet block naming an interface the section lacks.
                if iface not in unknown and len(unknown) >= MAX_UNKNOWN_INTERFACES:
                    iface = -1  # one entry for all the others
                entry = unknown.get(iface)
                if entry is None and len(problems) >= MAX_LISTED_PROBLEMS:
                    self._read_past(
                        self._base + pos,
                        f"packet blocks in section {self.sections} refer to interfaces the "
                        "section does not define; skipped",
                    )
                    pos = end
                    continue
                if entry is None:
                    entry = unknown[iface] = [len(problems), self._base + pos, number + 1, 0]
                    problems.append(ReadProblem(0, None, ""))  # filled in just below
                entry[3] += 1
                which = f"interface {iface}" if iface >= 0 else "other interfaces"
                problems[entry[0]] = ReadProblem(
                    entry[1],
                    entry[2],
                    f"{_plural(entry[3], 'packet block')} in section {self.sections} "
                    f"(first at byte {entry[1]}) refer to {which}, but the "
                    f"section defines {_plural(n_ifaces, 'interface')} at that point; "
                    "skipped without frame numbers (Wireshark refuses such a file)",
                )
                pos = end
        finally:
            self.frames_read = count
            self.bytes_read = self._base + pos

    def _parse_idb(self, buf: bytes, pos: int, end: int, layout: _Layout, index: int) -> Interface:
        linktype, _reserved, snaplen = layout.idb.unpack_from(buf, pos + 8)
        units = 1_000_000  # the spec's default resolution: microseconds
        offset_s = 0
        p = pos + 16
        stop = end - 4
        while p + 4 <= stop:
            code, length = layout.opt.unpack_from(buf, p)
            p += 4
            if code == OPT_ENDOFOPT:
                break
            if p + length > stop:
                self._read_past(
                    self._base + p - 4,
                    f"interface {index} of section {self.sections}: option {code} runs past "
                    "the end of its block; ignored it and the options after it",
                )
                break
            if code == OPT_IF_TSRESOL and length == 1:
                units = tsresol_units(buf[p])
            elif code == OPT_IF_TSOFFSET and length == 8:
                offset_s = layout.i64.unpack_from(buf, p)[0]
            p += (length + 3) & ~3
        return make_interface(linktype, snaplen, units, offset_s)


def _shb_length(buf: bytes, pos: int, offset: int = 0) -> tuple[_Layout, int] | str:
    """Byte order and total length of the SHB at ``pos`` (12 bytes present), or a problem."""
    bom = buf[pos + 8 : pos + 12]
    endian = _BYTE_ORDER_MAGICS.get(bom)
    if endian is None:
        return (
            f"section header block at byte {offset} has an unknown byte-order magic "
            f"{bom.hex(' ')} (expected 1a 2b 3c 4d in either byte order)"
        )
    layout = _LAYOUTS[endian]
    blen: int = layout.u32.unpack_from(buf, pos + 4)[0]
    if blen & 3 or blen < MIN_SHB_SIZE or blen > MAX_BLOCK:
        return (
            f"section header block at byte {offset} has total length {blen}, which is "
            f"impossible (a multiple of 4 from {MIN_SHB_SIZE} to {MAX_BLOCK} bytes)"
        )
    return layout, blen


def _shb_body_problem(
    buf: bytes, pos: int, blen: int, layout: _Layout, offset: int = 0
) -> str | None:
    """Check a complete SHB: trailing length and version."""
    trailer = layout.u32.unpack_from(buf, pos + blen - 4)[0]
    if trailer != blen:
        return (
            f"section header block at byte {offset} gives its length as {blen} at the "
            f"start but {trailer} at the end"
        )
    major, minor = layout.version.unpack_from(buf, pos + 12)
    if major != 1:
        # Every block layout below is defined for version 1; Wireshark refuses others too.
        return (
            f"section header block at byte {offset} has pcapng version {major}.{minor}, "
            "which we cannot read (only 1.x exists)"
        )
    return None
