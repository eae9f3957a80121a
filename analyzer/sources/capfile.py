"""Pure-Python capture readers: the common machinery, and the pcap reader.

The pcapng reader is :mod:`analyzer.sources.pcapng`, on the same machinery.

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

NS_PER_S: Final = 1_000_000_000

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
                piece = self._read(max(self._chunk, need - have))
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
                yield (number, sec * NS_PER_S + frac * frac_ns, linktype, buf[start:end], wire_len)
        finally:
            self.frames_read = number
            self.bytes_read = self._base + pos
