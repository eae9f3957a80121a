"""Open a capture from a path or standard input and pick its reader by magic bytes.

The input may be a pipe, so nothing here seeks: the first bytes are read
once for sniffing and handed on as a prefix (to the gzip decompressor through
a small wrapper, to the reader as the start of its window). gzip is recognised by
its magic, not by the file name, and decompressed as a stream.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import zlib
from typing import BinaryIO, Final

from analyzer.errors import CaptureFormatError, CaptureOpenError
from analyzer.sources.capfile import (
    CUT_HINT,
    DEFAULT_CHUNK_SIZE,
    PCAP_MAGICS,
    ByteSource,
    CaptureReader,
    Closable,
    PcapReader,
    describe_stream_error,
)
from analyzer.sources.gzipstream import PIECE as GZIP_PIECE
from analyzer.sources.gzipstream import GzipStream
from analyzer.sources.pcapng import PCAPNG_MAGIC, PcapngReader
from analyzer.sources.readahead import ReadAhead

SNIFF_SIZE: Final = 64

READABLE_HINT: Final = (
    "pushcap reads pcap and pcapng files, as written by `tcpdump -w FILE`, dumpcap "
    "or Wireshark; other formats Wireshark opens can be converted with "
    "`editcap -F pcap IN OUT`"
)

# Other compressors: magic, name, command that undoes them.
_COMPRESSED: Final = (
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd -d"),
    (b"BZh", "bzip2", "bzip2 -d"),
    (b"\xfd7zXZ\x00", "xz", "xz -d"),
    (b"\x04\x22\x4d\x18", "lz4", "lz4 -d"),
    (b"PK\x03\x04", "zip", "unzip"),
)
SNOOP_MAGIC: Final = b"snoop\x00\x00\x00"

_STREAM_ERRORS: Final = (OSError, EOFError, zlib.error)


class PrefixedStream:
    """A read-only stream that returns ``prefix`` first, then ``stream``.

    If ``error`` is given it is raised once the prefix is used up, so an
    error met while sniffing surfaces where the reader would have met it.
    """

    def __init__(
        self, prefix: bytes, stream: ByteSource, error: BaseException | None = None
    ) -> None:
        self._prefix = prefix
        self._stream = stream
        self._error = error
        read1 = getattr(stream, "read1", None)
        self._read_more = read1 if read1 is not None else stream.read

    def read(self, size: int = -1, /) -> bytes:
        if self._prefix:
            if size < 0 or size >= len(self._prefix):
                data, self._prefix = self._prefix, b""
            else:
                data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._read_more(size)

    read1 = read

    def seek(self, offset: int, /) -> int:
        # GzipFile only seeks when asked to rewind, which readers never do.
        raise io.UnsupportedOperation("a capture stream cannot seek")


def open_capture(
    path: str,
    *,
    stdin: BinaryIO | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CaptureReader:
    """Open ``path`` (``"-"`` = standard input) and read its header.

    Raises CaptureOpenError when the file cannot be opened or read at all,
    CaptureFormatError when it is not a capture we can read. Close the
    returned reader (or use it as a context manager) when done.
    """
    owned: list[Closable] = []
    raw: ByteSource
    if path == "-":
        raw = stdin if stdin is not None else sys.stdin.buffer
        name = "<stdin>"
    else:
        try:
            file = open(path, "rb")  # noqa: SIM115 - the reader closes it
        except OSError as exc:
            raise CaptureOpenError(
                f"cannot open {path}: {exc.strerror or exc}",
                hint=_open_hint(exc),
            ) from exc
        owned.append(file)
        raw = file
        name = path
    try:
        return _open_stream(raw, name, owned, chunk_size)
    except BaseException:
        for obj in reversed(owned):
            obj.close()
        raise


def _open_hint(exc: OSError) -> str | None:
    if isinstance(exc, IsADirectoryError):
        return "give the path of a capture file inside that directory"
    if isinstance(exc, PermissionError):
        return "captures written by tcpdump as root are often readable by root only"
    return None


def _open_stream(
    raw: ByteSource, name: str, owned: list[Closable], chunk_size: int
) -> CaptureReader:
    prefix, error = _read_up_to(raw, SNIFF_SIZE)
    if error is not None:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise CaptureOpenError(f"cannot read {name}: {reason}") from error

    stream: ByteSource = raw
    compression: str | None = None
    if prefix[:2] == b"\x1f\x8b":
        gz = GzipStream(PrefixedStream(prefix, raw))
        owned.insert(0, gz)  # closed before the file under it
        compression = "gzip"
        prefix, error = _read_up_to(gz, SNIFF_SIZE)
        stream = gz
        if error is not None:
            if len(prefix) < 4:
                raise CaptureFormatError(
                    f"{describe_stream_error(error, compression)} at its very start",
                    hint="check the file with `gzip -t FILE`; " + CUT_HINT,
                ) from error
            # Enough came out to go on; the reader meets the error where it happened.
            stream = PrefixedStream(b"", gz, error)

    if not prefix:
        what = "the gzip data decompresses to 0 bytes" if compression else "empty file: 0 bytes"
        raise CaptureFormatError(
            what,
            hint="nothing was captured or the capture was never flushed; "
            "stop tcpdump with Ctrl-C or SIGTERM (not SIGKILL), and use -U to write as it goes",
        )

    if compression is not None:
        # Decompress on a thread beside the frame loop, in big pieces: each is one
        # handover of the GIL, which zlib releases only while it inflates (2 MiB
        # pieces, two queued: 1.1 s on the bench's 210 MB gzip against 1.6-1.9 s with
        # eight 1 MiB ones; 4 MiB gained 0.1 s more for 10 MB more memory).
        stream = ReadAhead(stream, piece=GZIP_PIECE, depth=2)
        owned.insert(0, stream)
    elif _is_pipe(raw):
        stream = ReadAhead(stream)
        owned.insert(0, stream)

    magic = prefix[:4]
    reader_class: type[CaptureReader]
    if magic in PCAP_MAGICS:
        reader_class = PcapReader
    elif magic == PCAPNG_MAGIC:
        reader_class = PcapngReader
    else:
        raise _unknown_format(prefix, compression)
    return reader_class(
        stream,
        prefix=prefix,
        chunk_size=chunk_size,
        name=name,
        compression=compression,
        owned=owned,
    )


def _is_pipe(stream: ByteSource) -> bool:
    """A pipe, socket or terminal (not a regular file): reads may wait, so read ahead."""
    fileno = getattr(stream, "fileno", None)
    if fileno is None:
        return False
    try:
        return not stat.S_ISREG(os.fstat(fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


def _read_up_to(stream: ByteSource, size: int) -> tuple[bytes, BaseException | None]:
    """Read ``size`` bytes, fewer only at end of stream; works on pipes.

    A stream error ends the read early and is returned with what came before it.
    """
    parts: list[bytes] = []
    have = 0
    read1 = getattr(stream, "read1", None)
    read = read1 if read1 is not None else stream.read
    while have < size:
        try:
            piece = read(size - have)
        except _STREAM_ERRORS as exc:
            return b"".join(parts), exc
        if not piece:
            break
        parts.append(piece)
        have += len(piece)
    return b"".join(parts), None


def _unknown_format(prefix: bytes, compression: str | None) -> CaptureFormatError:
    inside = " inside the gzip data" if compression else ""
    if len(prefix) < 4:
        return CaptureFormatError(
            f"too short to be a capture{inside}: {len(prefix)} bytes", hint=CUT_HINT
        )
    if prefix.startswith(SNOOP_MAGIC):
        return CaptureFormatError(
            f"this is a Solaris snoop capture{inside}, not pcap or pcapng",
            hint="convert it with `editcap -F pcap in.snoop out.pcap` "
            "(editcap comes with Wireshark)",
        )
    for magic, kind, command in _COMPRESSED:
        if prefix.startswith(magic):
            return CaptureFormatError(
                f"this is {kind}-compressed data{inside}, not a capture",
                hint=f"decompress with `{command}` first (gzip is the only compression "
                "read directly)",
            )
    if _looks_like_text(prefix):
        return CaptureFormatError(
            f"this looks like text{inside}, not a capture file "
            f"(it starts {prefix[:24].decode('utf-8', 'replace')!r})",
            hint="a printed tcpdump listing lacks the packet bytes; capture to a file with "
            "`tcpdump -w FILE` instead",
        )
    return CaptureFormatError(
        f"not a pcap or pcapng file{inside}: it starts with {prefix[:8].hex(' ')}",
        hint=READABLE_HINT,
    )


_TEXT_CONTROLS: Final = frozenset(b"\t\n\r\f")


def _looks_like_text(data: bytes) -> bool:
    # Capture headers always contain NULs or other control bytes; text does
    # not. Bytes >= 0x80 are allowed so UTF-8 text counts as text.
    return all((b >= 0x20 and b != 0x7F) or b in _TEXT_CONTROLS for b in data)
