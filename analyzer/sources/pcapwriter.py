"""Write frames as a classic pcap file that tcpdump, tshark and ``pushcap analyze`` read.

How this works: the file is created with mode 0600 from the start (a capture
holds whatever crossed the wire, credentials included), its global header is
written at once, and each record is written through a small buffer that
:meth:`PcapWriter.flush` empties. The sniffer flushes on every timer tick, so
a capture stopped by Ctrl-C, SIGTERM or a limit loses nothing, and a file
read while the capture runs is a valid pcap cut at a record boundary at worst.
Timestamps are integer nanoseconds, written with the nanosecond magic by
default so nothing is rounded; ``nanosecond=False`` writes microseconds.
"""

from __future__ import annotations

import contextlib
import os
import struct
from types import TracebackType
from typing import BinaryIO, Final, Self

from analyzer.errors import CaptureOpenError

PCAP_MAGIC_US: Final = 0xA1B2C3D4
PCAP_MAGIC_NS: Final = 0xA1B23C4D
DEFAULT_SNAPLEN: Final = 262_144  # tcpdump's default
_HEADER = struct.Struct("=IHHiIII")  # native byte order, as tcpdump writes
_RECORD = struct.Struct("=IIII")
_FILE_MODE: Final = 0o600


class PcapWriter:
    """A pcap file of one link type, written record by record."""

    def __init__(
        self,
        file: BinaryIO,
        linktype: int,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        nanosecond: bool = True,
        name: str = "",
    ) -> None:
        self._file = file
        self.name = name
        self.linktype = linktype
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self._divisor = 1 if nanosecond else 1000
        self._units = 1_000_000_000 if nanosecond else 1_000_000
        self.records = 0
        self.bytes_written = 0
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        self._write(_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype))

    @classmethod
    def create(
        cls,
        path: str,
        linktype: int,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        nanosecond: bool = True,
    ) -> PcapWriter:
        """Create (or truncate) ``path`` with mode 0600 and write the pcap header.

        Raises :class:`CaptureOpenError` when the file cannot be created.
        """
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, _FILE_MODE)
        except OSError as exc:
            raise CaptureOpenError(
                f"cannot create {path}: {exc.strerror or exc}",
                hint="give -w a path in a directory you can write to",
            ) from exc
        try:
            # open() keeps the mode of a file that already existed: set it either way.
            os.fchmod(fd, _FILE_MODE)
            _give_to_sudo_user(fd)
            file = os.fdopen(fd, "wb", buffering=1 << 16)
        except OSError as exc:
            os.close(fd)
            raise CaptureOpenError(f"cannot prepare {path}: {exc.strerror or exc}") from exc
        try:
            return cls(file, linktype, snaplen=snaplen, nanosecond=nanosecond, name=path)
        except OSError as exc:
            file.close()
            raise CaptureOpenError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def write(self, ts_ns: int, data: bytes, wire_len: int | None = None) -> None:
        """Append one record; data longer than the snap length is cut to it."""
        if len(data) > self.snaplen:
            data = data[: self.snaplen]
        seconds, rest = divmod(ts_ns, 1_000_000_000)
        fraction = min(rest // self._divisor, self._units - 1)
        orig = max(wire_len if wire_len is not None else len(data), len(data))
        self._write(_RECORD.pack(seconds & 0xFFFFFFFF, fraction, len(data), orig))
        self._write(data)
        self.records += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._file.flush()
        finally:
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def _write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.bytes_written += len(chunk)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _give_to_sudo_user(fd: int) -> None:
    """Under sudo, hand the file to the user who ran sudo, so they can analyze it unprivileged."""
    if os.geteuid() != 0:
        return
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if uid.isdigit() and gid.isdigit():
        # A file system without owners (vfat) refuses: root keeps it, still 0600.
        with contextlib.suppress(OSError):
            os.fchown(fd, int(uid), int(gid))
