"""gzip decompressed as a stream: what :class:`gzip.GzipFile` checks, in few big zlib calls.

``GzipFile`` feeds zlib 8 KiB of input per call. zlib releases the GIL while
it inflates, so every call is a handover between the decompressing thread
(:class:`~analyzer.sources.readahead.ReadAhead`) and the frame loop: 26,000
of them for a 200 MB capture, which made the two threads take turns (and
waste system time) instead of overlapping. Here input is read and inflated
2 MiB at a time, and output comes out at most ``size`` bytes a call (a
decompression bomb never sits in memory).

What ``GzipFile`` does, this does: members one after another, zero bytes
between them skipped as padding, each member's header checked (magic,
method; extra field, name, comment and header CRC skipped) and its CRC-32 and
length checked at its end, after its data was handed out; the same errors
(:class:`gzip.BadGzipFile`, :class:`zlib.error`, :class:`EOFError` for a
stream cut short). zlib discards the output of a call that meets corrupt
data: such a call is redone from a copy of the state in ever smaller pieces,
so everything before the damage is still handed out, as it is by the many
small calls of ``GzipFile``.
"""

from __future__ import annotations

import zlib
from gzip import BadGzipFile
from typing import Final

from analyzer.sources.capfile import ByteSource

INPUT_SIZE: Final = 2 << 20  # compressed bytes read and inflated at once
PIECE: Final = 2 << 20  # decompressed bytes the read-ahead thread asks for at once
SALVAGE_STEP: Final = 1 << 16  # first piece size when salvaging the output before damage
_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2
_CUT = "Compressed file ended before the end-of-stream marker was reached"


class GzipStream:
    """Read-only stream of the decompressed bytes of the gzip data ``raw`` holds."""

    def __init__(self, raw: ByteSource) -> None:
        read1 = getattr(raw, "read1", None)
        self._read_raw = read1 if read1 is not None else raw.read
        self._buf = b""  # input read and not yet taken: header, deflate data or trailer
        self._raw_eof = False
        self._zlib: zlib._Decompress | None = None  # the current member's inflater
        self._crc = 0
        self._size = 0
        self._error: BaseException | None = None  # met after the output handed out with it
        self._done = False

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            size = INPUT_SIZE
        if self._error is not None:
            error, self._error = self._error, None
            self._done = True
            raise error
        while not self._done:
            inflater = self._zlib
            if inflater is not None and inflater.eof:
                self._end_member()
                inflater = None
            if inflater is None:
                if not self._start_member():
                    self._done = True
                    return b""
                inflater = self._zlib
                assert inflater is not None
            data = self._buf or self._more()
            if not data:
                raise EOFError(_CUT)
            out = self._inflate(inflater, data, size)
            inflater = self._zlib
            assert inflater is not None
            self._buf = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if out:
                self._crc = zlib.crc32(out, self._crc)
                self._size += len(out)
                return out
        return b""

    read1 = read

    def close(self) -> None:
        self._done = True

    # -- members --------------------------------------------------------------

    def _more(self) -> bytes:
        if self._raw_eof:
            return b""
        data = self._read_raw(INPUT_SIZE)
        if not data:
            self._raw_eof = True
        return data

    def _fill(self, need: int) -> bool:
        """At least ``need`` bytes in the buffer, unless the input ends first."""
        while len(self._buf) < need:
            data = self._more()
            if not data:
                return False
            self._buf += data
        return True

    def _start_member(self) -> bool:
        """Read the next member's header; False at a clean end of the input."""
        while True:
            self._buf = self._buf.lstrip(b"\x00")  # padding after a member
            if self._buf:
                break
            if not self._fill(1):
                return False
        self._fill(2)
        if self._buf[:2] != b"\x1f\x8b":
            raise BadGzipFile(f"Not a gzipped file ({self._buf[:2]!r})")
        if not self._fill(10):
            raise EOFError(_CUT)
        buf = self._buf
        if buf[2] != 8:
            raise BadGzipFile("Unknown compression method")
        flags = buf[3]
        pos = 10
        if flags & _FEXTRA:
            if not self._fill(pos + 2):
                raise EOFError(_CUT)
            pos += 2 + int.from_bytes(self._buf[pos : pos + 2], "little")
        for flag in (_FNAME, _FCOMMENT):
            if flags & flag:
                pos = self._past_zero(pos)
        if flags & _FHCRC:
            pos += 2
        if not self._fill(pos):
            raise EOFError(_CUT)
        self._buf = self._buf[pos:]
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        return True

    def _past_zero(self, pos: int) -> int:
        """The position after the zero byte ending a name or comment at ``pos``."""
        while (end := self._buf.find(b"\x00", pos)) < 0:
            if not self._fill(len(self._buf) + 1):
                raise EOFError(_CUT)
        return end + 1

    def _end_member(self) -> None:
        if not self._fill(8):
            raise EOFError(_CUT)
        crc = int.from_bytes(self._buf[:4], "little")
        isize = int.from_bytes(self._buf[4:8], "little")
        self._buf = self._buf[8:]
        self._zlib = None
        if crc != self._crc:
            raise BadGzipFile(f"CRC check failed {hex(crc)} != {hex(self._crc)}")
        if isize != self._size & 0xFFFFFFFF:
            raise BadGzipFile("Incorrect length of data produced")

    def _inflate(self, inflater: zlib._Decompress, data: bytes, size: int) -> bytes:
        """Up to ``size`` bytes out of ``data``; the output before damage is not lost."""
        saved = inflater.copy()
        try:
            return inflater.decompress(data, size)
        except zlib.error:
            inflater = self._zlib = saved
        pieces: list[bytes] = []
        have = 0
        step = min(size, SALVAGE_STEP)
        while have < size:
            saved = inflater.copy()
            try:
                piece = inflater.decompress(data, min(step, size - have))
            except zlib.error as exc:
                inflater = self._zlib = saved
                if step > 1:
                    step //= 2
                    continue
                if not pieces:
                    raise
                self._error = exc
                break
            data = inflater.unconsumed_tail
            pieces.append(piece)
            have += len(piece)
            if inflater.eof or not piece:
                break
        return b"".join(pieces)
