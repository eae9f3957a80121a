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

import queue
import threading
from collections.abc import Callable

from analyzer.sources.capfile import ByteSource

_END = b""


class ReadAhead:
    """A ByteSource that reads ``stream`` ahead on a background thread."""

    def __init__(self, stream: ByteSource, piece: int = 1 << 20, depth: int = 8) -> None:
        read1: Callable[[int], bytes] | None = getattr(stream, "read1", None)
        self._read: Callable[[int], bytes] = read1 if read1 is not None else stream.read
        self._piece = piece
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._left = b""
        self._done = False
        self._thread = threading.Thread(target=self._run, name="pushcap-readahead", daemon=True)
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
        if not self._left:
            if self._done:
                return _END
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
                return _END
            self._left = item
        if size < 0 or size >= len(self._left):
            data, self._left = self._left, b""
        else:
            data, self._left = self._left[:size], self._left[size:]
        return data

    read = read1

    def close(self) -> None:
        """Stop the thread (it may still finish one blocking read, as a daemon)."""
        self._stop.set()
        self._thread.join(timeout=0.5)
