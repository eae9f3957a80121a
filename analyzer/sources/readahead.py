"""Read ahead on a thread, so decompression and pipe waits overlap the analysis.

How this works: a :class:`ReadAhead` owns a daemon thread that calls the
wrapped stream's ``read1`` (or ``read``) for pieces of a fixed size and puts
them in a bounded queue; the reader takes them out with ``read1``. zlib and
blocking reads release the GIL, so on a machine with two cores gunzip (or
``cat file |``) runs beside the frame loop instead of before it. Memory stays
bounded by ``depth`` pieces. An exception from the stream is queued in its
place, so the consumer meets it after exactly the bytes that came before it,
as it would reading directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import queue
import sys
import threading
from collections.abc import Callable
from typing import Final

from analyzer.sources.capfile import ByteSource

_END = b""
# While a ReadAhead runs, the frame loop hands the GIL over this often when the reader
# asks for it (the default, 5 ms, made the reader wait that long after every read and
# inflate: the two threads took turns instead of overlapping).
SWITCH_INTERVAL_S: Final = 0.0002
PIPE_SIZE: Final = 1 << 20  # asked of a pipe we read (Linux: F_SETPIPE_SZ; pipe-max-size)
_F_SETPIPE_SZ: Final = 1031


def _grow_pipe(stream: ByteSource) -> None:
    """Let the writer of a pipe run 1 MiB ahead (64 KiB by default): fewer, bigger reads."""
    fileno = getattr(stream, "fileno", None)
    # Not a pipe, not Linux, or above the system's limit: reads stay smaller.
    with contextlib.suppress(OSError, TypeError, ValueError, AttributeError):
        fcntl.fcntl(fileno(), _F_SETPIPE_SZ, PIPE_SIZE)  # type: ignore[misc]


class ReadAhead:
    """A ByteSource that reads ``stream`` ahead on a background thread."""

    def __init__(self, stream: ByteSource, piece: int = 1 << 20, depth: int = 8) -> None:
        read1: Callable[[int], bytes] | None = getattr(stream, "read1", None)
        self._read: Callable[[int], bytes] = read1 if read1 is not None else stream.read
        self._piece = piece
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._left = b""
        self._at = 0  # bytes of _left already handed out
        self._done = False
        self._thread = threading.Thread(target=self._run, name="pushcap-readahead", daemon=True)
        _grow_pipe(stream)
        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._interval, SWITCH_INTERVAL_S))
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data: bytes | BaseException = self._read(self._piece)
            except BaseException as exc:
                data = exc
            self._put(data)
            if not isinstance(data, bytes) or not data:
                return

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return

    def read1(self, size: int = -1, /) -> bytes:
        left = self._left
        if self._at >= len(left):
            if self._done:
                return _END
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
                return _END
            self._left = left = item
            self._at = 0
        at = self._at
        if at == 0 and (size < 0 or size >= len(left)):
            self._at = len(left)
            return left
        end = len(left) if size < 0 else at + size
        self._at = min(end, len(left))
        return left[at:end]  # each byte copied once, however small the reads

    read = read1

    def close(self) -> None:
        """Stop the thread (it may still finish one blocking read, as a daemon)."""
        self._stop.set()
        self._thread.join(timeout=0.5)
        sys.setswitchinterval(self._interval)
