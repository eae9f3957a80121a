"""ReadAhead hands over exactly the bytes (and the error) the stream gave, in order."""

from __future__ import annotations

import io
import os
import threading

import pytest

from analyzer.sources.open import open_capture
from analyzer.sources.readahead import ReadAhead


class Flaky(io.RawIOBase):
    """Gives ``data`` in pieces, then raises ``error``."""

    def __init__(self, data: bytes, error: BaseException) -> None:
        self.data = data
        self.error = error

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1, /) -> bytes:
        if not self.data:
            raise self.error
        piece, self.data = self.data[:7], self.data[7:]
        return piece


def drain(stream: ReadAhead, size: int) -> bytes:
    out = bytearray()
    while piece := stream.read1(size):
        out += piece
    return bytes(out)


@pytest.mark.parametrize("size", [1, 5, 64, 1 << 20])
def test_same_bytes(size: int) -> None:
    data = os.urandom(300_000)
    ahead = ReadAhead(io.BytesIO(data), piece=4096, depth=2)
    assert drain(ahead, size) == data
    assert ahead.read1(10) == b""  # stays at the end
    ahead.close()


def test_error_arrives_after_the_bytes_before_it() -> None:
    ahead = ReadAhead(Flaky(b"0123456789abcdef", EOFError("cut")), piece=7)
    got = bytearray()
    with pytest.raises(EOFError, match="cut"):
        while True:
            got += ahead.read1(100)
    assert bytes(got) == b"0123456789abcdef"
    ahead.close()


def test_close_stops_the_thread_even_when_the_queue_is_full() -> None:
    ahead = ReadAhead(io.BytesIO(b"x" * 100_000), piece=10, depth=1)
    assert ahead.read1(3) == b"xxx"
    ahead.close()
    # This reader's own thread: other tests' readers may still be winding down beside it.
    assert not ahead._thread.is_alive()


def test_pipe_reads_through_readahead() -> None:
    """A pcap through a real pipe gives the same frames as from memory."""
    import struct

    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    records = b"".join(
        struct.pack("<IIII", i, 0, 60, 60) + bytes([i % 256]) * 60 for i in range(5000)
    )
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(w, header + records), os.close(w)))
    writer.start()
    with os.fdopen(r, "rb") as pipe, open_capture("-", stdin=pipe) as reader:
        frames = list(reader)
    writer.join()
    assert len(frames) == 5000
    assert frames[4999][3] == bytes([4999 % 256]) * 60


def test_switch_interval_is_short_while_reading_ahead_and_restored_after() -> None:
    import sys

    from analyzer.sources.readahead import SWITCH_INTERVAL_S

    before = sys.getswitchinterval()
    ahead = ReadAhead(io.BytesIO(b"x" * 100))
    assert sys.getswitchinterval() == pytest.approx(min(before, SWITCH_INTERVAL_S))
    assert ahead.read1(-1) == b"x" * 100
    ahead.close()
    assert sys.getswitchinterval() == pytest.approx(before)


@pytest.mark.skipif(
    not os.path.exists("/proc/sys/fs/pipe-max-size"), reason="Linux pipes only (F_SETPIPE_SZ)"
)
def test_pipe_buffer_is_grown_for_big_reads() -> None:
    import fcntl

    from analyzer.sources.readahead import PIPE_SIZE

    read_end, write_end = os.pipe()
    try:
        with open(read_end, "rb", buffering=0) as reader:
            ahead = ReadAhead(reader)
            f_getpipe_sz = 1032
            size = fcntl.fcntl(read_end, f_getpipe_sz)
            os.close(write_end)
            write_end = -1
            assert ahead.read1(-1) == b""
            ahead.close()
    finally:
        if write_end >= 0:
            os.close(write_end)
    # Linux grants up to /proc/sys/fs/pipe-max-size (1 MiB by default) to anyone.
    with open("/proc/sys/fs/pipe-max-size") as limit:
        assert size == min(PIPE_SIZE, int(limit.read()))


def test_small_reads_of_a_big_piece_hand_out_each_byte_once() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: one piece
    ahead = ReadAhead(io.BytesIO(data))
    out = bytearray()
    while piece := ahead.read1(1000):
        assert len(piece) <= 1000
        out += piece
    ahead.close()
    assert bytes(out) == data
