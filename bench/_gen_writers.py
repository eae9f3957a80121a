"""Writing generated frames: pcap (µs, little-endian), pcapng (one Ethernet interface), gzip.

How this works: frames come in batches of ``(time_us, frame)``; a batch is
formatted in one pass into one ``bytes`` chunk per format, and each output
file is written by its own background thread from a small bounded queue, so
the generator keeps building frames while the kernel copies (file writes and
zlib both release the GIL). The gzip copy is the pcap chunk compressed at
level 6 with mtime 0, so it is the same from run to run.
"""

from __future__ import annotations

import gzip
import queue
import struct
import threading
from io import BufferedWriter
from pathlib import Path

from _gen_payloads import EPOCH_S

EPOCH_US = EPOCH_S * 1_000_000


_PCAP_REC = struct.Struct("<IIII")
_PCAPNG_EPB = struct.Struct("<IIIIIII")
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
PCAPNG_HEADER = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28) + struct.pack(
    "<IIHHII", 1, 20, 1, 0, 262144, 20
)


def pcap_chunk(batch: list[tuple[int, bytes]]) -> bytes:
    pack = _PCAP_REC.pack
    parts: list[bytes] = []
    add = parts.append
    for t, frame in batch:
        sec, usec = divmod(EPOCH_US + t, 1_000_000)
        n = len(frame)
        add(pack(sec, usec, n, n))
        add(frame)
    return b"".join(parts)


def pcapng_chunk(batch: list[tuple[int, bytes]]) -> bytes:
    pack = _PCAPNG_EPB.pack
    parts: list[bytes] = []
    add = parts.append
    for t, frame in batch:
        us = EPOCH_US + t
        n = len(frame)
        pad = -n & 3
        total = 32 + n + pad
        add(pack(6, total, 0, us >> 32, us & 0xFFFFFFFF, n, n))
        add(frame + b"\0" * pad + total.to_bytes(4, "little"))
    return b"".join(parts)


class Output:
    """A file written by a background thread from a bounded queue of chunks."""

    def __init__(self, path: Path, header: bytes, compress: bool) -> None:
        self.path = path
        self.raw = path.open("wb")
        self.file: gzip.GzipFile | BufferedWriter = (
            gzip.GzipFile(
                filename=path.name.removesuffix(".gz"),
                mode="wb",
                compresslevel=6,
                fileobj=self.raw,
                mtime=0,
            )
            if compress
            else self.raw
        )
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.put(header)

    def _run(self) -> None:
        while (chunk := self.queue.get()) is not None:
            self.file.write(chunk)

    def put(self, chunk: bytes) -> None:
        self.queue.put(chunk)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.file is not self.raw:
            self.file.close()
        self.raw.close()
