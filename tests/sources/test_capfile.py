"""Capture readers: small captures built with struct, good and bad, in and out."""

from __future__ import annotations

import gzip
import io
import os
import struct
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.errors import AnalyzerError, CaptureFormatError, CaptureOpenError
from analyzer.sources.capfile import (
    CaptureReader,
    Frame,
    PcapReader,
    ReadProblem,
)
from analyzer.sources.open import open_capture
from analyzer.sources.pcapng import PcapngReader

NS = 1_000_000_000

# ---------------------------------------------------------------------------
# builders


def pcap(
    records: Sequence[tuple[int, int, bytes, int | None]],
    *,
    endian: str = "<",
    nsec: bool = False,
    linktype: int = 1,
    snaplen: int = 65535,
    magic: int | None = None,
) -> bytes:
    """A pcap file; records are (sec, fraction, data, wire_len or None = len(data))."""
    if magic is None:
        magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    out = [struct.pack(f"{endian}IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    out += [rec(sec, frac, data, wire, endian=endian) for sec, frac, data, wire in records]
    return b"".join(out)


def rec(sec: int, frac: int, data: bytes, wire: int | None = None, *, endian: str = "<") -> bytes:
    wire = len(data) if wire is None else wire
    return struct.pack(f"{endian}IIII", sec, frac, len(data), wire) + data


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(f"{endian}II", btype, total) + body + struct.pack(f"{endian}I", total)


def shb(endian: str = "<", major: int = 1) -> bytes:
    return block(0x0A0D0D0A, struct.pack(f"{endian}IHHq", 0x1A2B3C4D, major, 0, -1), endian)


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(f"{endian}HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def idb(
    linktype: int = 1,
    *,
    snaplen: int = 0,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    endian: str = "<",
) -> bytes:
    body = struct.pack(f"{endian}HHI", linktype, 0, snaplen)
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), endian)
    if tsoffset is not None:
        opts += option(14, struct.pack(f"{endian}q", tsoffset), endian)
    if opts:
        opts += option(0, b"", endian)
    return block(1, body + opts, endian)


def epb(iface: int, ts: int, data: bytes, wire: int | None = None, endian: str = "<") -> bytes:
    wire = len(data) if wire is None else wire
    fixed = struct.pack(f"{endian}IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), wire)
    return block(6, fixed + data, endian)


def pb(iface: int, ts: int, data: bytes, endian: str = "<") -> bytes:
    fixed = struct.pack(
        f"{endian}HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)
    )
    return block(2, fixed + data, endian)


def spb(data: bytes, wire: int | None = None, endian: str = "<") -> bytes:
    wire = len(data) if wire is None else wire
    return block(3, struct.pack(f"{endian}I", wire) + data, endian)


def read_bytes(data: bytes, **kwargs: Any) -> tuple[list[Frame], CaptureReader]:
    reader = open_capture("-", stdin=io.BytesIO(data), **kwargs)
    with reader:
        frames = list(reader)
    return frames, reader


def only_problem(reader: CaptureReader) -> ReadProblem:
    assert len(reader.problems) == 1, reader.problems
    return reader.problems[0]


P1 = bytes(range(60))
P2 = b"\xaa" * 41
P3 = b"GET /v2/ HTTP/1.1\r\n\r\n"

# ---------------------------------------------------------------------------
# good pcap files

PCAP_CASES = [
    pytest.param("<", False, 1000, id="le-usec"),
    pytest.param(">", False, 1000, id="be-usec"),
    pytest.param("<", True, 1, id="le-nsec"),
    pytest.param(">", True, 1, id="be-nsec"),
]


@pytest.mark.parametrize(("endian", "nsec", "scale"), PCAP_CASES)
def test_pcap_variants(endian: str, nsec: bool, scale: int) -> None:
    data = pcap(
        [(1_700_000_000, 123_456, P1, None), (1_700_000_001, 999_999, P2, 1514)],
        endian=endian,
        nsec=nsec,
        linktype=113,
    )
    frames, reader = read_bytes(data)
    assert frames == [
        (1, 1_700_000_000 * NS + 123_456 * scale, 113, P1, 60),
        (2, 1_700_000_001 * NS + 999_999 * scale, 113, P2, 1514),
    ]
    assert isinstance(reader, PcapReader)
    assert (reader.format, reader.compression, reader.complete) == ("pcap", None, True)
    assert reader.problems == []
    assert (reader.frames_read, reader.bytes_read) == (2, len(data))


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcap_kuznetzov_records_have_8_more_bytes(endian: str) -> None:
    records = [struct.pack(f"{endian}IIII8x", 10, 5, len(p), len(p)) + p for p in (P1, P2)]
    header = struct.pack(f"{endian}IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    frames, reader = read_bytes(header + b"".join(records))
    assert frames == [(1, 10 * NS + 5000, 1, P1, 60), (2, 10 * NS + 5000, 1, P2, 41)]
    assert reader.complete


def test_pcap_odd_but_readable_records() -> None:
    """caplen > wire_len, caplen > snaplen (under tshark's limit), fraction >= 1 s."""
    data = pcap(
        [(5, 1_000_000, P1, 10), (5, 2_147_483_648, P2, None)],
        snaplen=40,
    )
    frames, reader = read_bytes(data)
    assert frames == [
        # An out-of-range fraction is added arithmetically: 1_000_000 us = 1 s.
        (1, 6 * NS, 1, P1, 10),
        (2, 5 * NS + 2_147_483_648_000, 1, P2, 41),
    ]
    assert reader.complete and reader.problems == []


def test_pcap_linktype_ignores_fcs_bits() -> None:
    # Bits 26-31 of the link-type field carry the FCS length, not the type.
    frames, _ = read_bytes(pcap([(1, 0, P3, None)], linktype=(1 << 28) | 0x04000000 | 1))
    assert frames[0][2] == 1


def test_pcap_header_only_is_a_complete_empty_capture() -> None:
    frames, reader = read_bytes(pcap([]))
    assert frames == [] and reader.complete and reader.problems == []


# ---------------------------------------------------------------------------
# good pcapng files


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_two_interfaces_resolutions_spb_pb_and_unknown_blocks(endian: str) -> None:
    ts9 = 1_700_000_000_123_456_789  # units of 10^-9 s
    ts2 = 1_700_000_000 * 1024 + 512  # units of 2^-10 s: .5 s
    data = b"".join(
        [
            shb(endian),
            idb(1, tsresol=9, endian=endian),
            idb(101, snaplen=30, tsresol=0x80 | 10, tsoffset=100, endian=endian),
            epb(0, ts9, P1, endian=endian),
            block(0x4, b"\0\0\0\0", endian),  # name resolution block: skipped
            block(0x7FFF1234, b"whatever", endian),  # unknown block type: skipped
            epb(1, ts2, P2[:30], wire=41, endian=endian),
            spb(P3, endian=endian),  # interface 0, no timestamp
            pb(1, ts2, P3[:8], endian=endian),
            block(0x5, b"\0" * 12, endian),  # interface statistics: skipped
        ]
    )
    frames, reader = read_bytes(data)
    assert frames == [
        (1, ts9, 1, P1, 60),
        (2, 1_700_000_100 * NS + NS // 2, 101, P2[:30], 41),
        # SPB: the previous frame's timestamp, interface 0's link type.
        (3, 1_700_000_100 * NS + NS // 2, 1, P3, len(P3)),
        (4, 1_700_000_100 * NS + NS // 2, 101, P3[:8], 8),
    ]
    assert isinstance(reader, PcapngReader)
    assert reader.format == "pcapng"
    assert reader.complete and reader.problems == []
    assert reader.bytes_read == len(data)


def test_pcapng_default_resolution_is_microseconds_and_spb_caplen() -> None:
    data = b"".join(
        [
            shb(),
            idb(1, snaplen=20),
            spb(b"x" * 40, wire=1500),  # caplen = min(wire, snaplen, room) = 20
            epb(0, 1_500_000, P1),
            spb(b"y" * 12, wire=100),  # room 12 < snaplen 20
        ]
    )
    frames, reader = read_bytes(data)
    assert frames == [
        (1, 0, 1, b"x" * 20, 1500),  # no frame before it: timestamp 0
        (2, 1_500_000_000, 1, P1, 60),
        (3, 1_500_000_000, 1, b"y" * 12, 100),
    ]
    assert reader.complete


def test_pcapng_sections_restart_interfaces_and_may_change_byte_order() -> None:
    data = b"".join(
        [
            shb("<"),
            idb(1, endian="<"),
            idb(113, endian="<"),
            epb(1, 1_000_000, P1, endian="<"),
            shb(">"),
            idb(276, tsresol=9, endian=">"),
            epb(0, 7, P2, endian=">"),
            shb("<"),
            idb(101, endian="<"),
            epb(0, 2_000_000, P3, endian="<"),
        ]
    )
    frames, reader = read_bytes(data)
    assert frames == [
        (1, NS, 113, P1, 60),
        (2, 7, 276, P2, 41),
        (3, 2 * NS, 101, P3, len(P3)),
    ]
    assert reader.complete
    assert isinstance(reader, PcapngReader) and reader.sections == 3


def test_pcapng_custom_blocks_take_a_frame_number_like_wireshark() -> None:
    # Wireshark lists custom blocks as numbered records: frame numbers must
    # stay those a user sees there, so the packet after one is frame 3.
    custom = struct.pack("<I", 32473) + b"custom data"
    data = b"".join(
        [
            shb(),
            idb(1),
            epb(0, 1, P1),
            block(0x00000BAD, custom),
            epb(0, 2, P2),
            block(0x40000BAD, custom),
        ]
    )
    frames, reader = read_bytes(data)
    assert [f[0] for f in frames] == [1, 3]
    assert reader.frames_read == 2 and reader.complete


def test_pcapng_section_with_no_packets() -> None:
    frames, reader = read_bytes(shb())
    assert frames == [] and reader.complete


# ---------------------------------------------------------------------------
# transport: gzip, stdin, pipes, paths


class Unseekable(io.RawIOBase):
    """Hands out at most 7 bytes per read and cannot seek, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), 7, len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


SAMPLE_PCAP = pcap([(1, 2, P1, None), (3, 4, P2, None), (5, 6, P3, None)])
SAMPLE_NG = shb() + idb(1) + epb(0, 1, P1) + epb(0, 2, P2)


@pytest.mark.parametrize("sample", [SAMPLE_PCAP, SAMPLE_NG], ids=["pcap", "pcapng"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("how", ["file", "bytesio", "unseekable", "pipe"])
def test_every_transport_gives_the_same_frames(
    tmp_path: Path, sample: bytes, compress: bool, how: str
) -> None:
    expected, _ = read_bytes(sample)
    data = gzip.compress(sample) if compress else sample
    if how == "file":
        # No .gz suffix: gzip is recognised by its magic bytes.
        path = tmp_path / "capture.bin"
        path.write_bytes(data)
        reader = open_capture(str(path))
    elif how == "bytesio":
        reader = open_capture("-", stdin=io.BytesIO(data))
    elif how == "unseekable":
        reader = open_capture("-", stdin=io.BufferedReader(Unseekable(data), 16))
    else:
        rfd, wfd = os.pipe()

        def write() -> None:
            with os.fdopen(wfd, "wb") as w:
                w.write(data)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            with os.fdopen(rfd, "rb") as r:
                reader = open_capture("-", stdin=r)
                frames = list(reader)
        finally:
            writer.join()
        assert frames == expected
        assert reader.compression == ("gzip" if compress else None)
        return
    with reader:
        assert list(reader) == expected
    assert reader.compression == ("gzip" if compress else None)
    assert reader.complete and reader.bytes_read == len(sample)


def test_raw_stream_without_read1_short_reads() -> None:
    frames, _ = read_bytes(SAMPLE_PCAP)
    unbuffered = open_capture("-", stdin=Unseekable(SAMPLE_PCAP))  # type: ignore[arg-type]
    assert list(unbuffered) == frames and unbuffered.complete


def test_dash_reads_sys_stdin_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeStdin:
        buffer = io.BytesIO(SAMPLE_PCAP)

    monkeypatch.setattr("sys.stdin", FakeStdin())
    with open_capture("-") as reader:
        assert len(list(reader)) == 3


def test_reader_is_a_context_manager_and_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    path.write_bytes(gzip.compress(SAMPLE_PCAP))
    with open_capture(str(path)) as reader:
        owned = reader._owned
        assert next(iter(reader))[0] == 1
    assert all(getattr(o, "closed", True) for o in owned)
    reader.close()  # twice is fine


def test_a_reader_iterates_once() -> None:
    reader = open_capture("-", stdin=io.BytesIO(SAMPLE_PCAP))
    list(reader)
    with pytest.raises(RuntimeError):
        iter(reader)


def test_stdin_is_not_closed_by_the_reader() -> None:
    stream = io.BytesIO(SAMPLE_PCAP)
    with open_capture("-", stdin=stream) as reader:
        list(reader)
    assert not stream.closed


# ---------------------------------------------------------------------------
# damage in the middle: frames up to it, then one problem


GOOD3 = [(1, 0, P1, None), (2, 0, P2, None), (3, 0, b"z" * 1514, None)]
GOOD3_PCAP = pcap(GOOD3)
FRAME3_AT = 24 + 16 + 60 + 16 + 41

BAD_PCAP_CASES = [
    pytest.param(
        GOOD3_PCAP[: FRAME3_AT + 7],
        2,
        FRAME3_AT,
        3,
        "file ends in the middle of frame 3's record header: 7 of 16 bytes present",
        id="cut-record-header",
    ),
    pytest.param(
        GOOD3_PCAP[: FRAME3_AT + 16 + 40],
        2,
        FRAME3_AT,
        3,
        "file ends in the middle of frame 3's data: 40 of 1514 bytes present",
        id="cut-record-data",
    ),
    pytest.param(
        pcap(GOOD3[:2]) + struct.pack("<IIII", 0, 0, 16711424, 60) + P1,
        2,
        FRAME3_AT,
        3,
        f"record header at byte {FRAME3_AT} claims a 16711424-byte packet (limit 262144); "
        "stopped reading",
        id="caplen-over-limit",
    ),
    pytest.param(
        pcap(GOOD3[:2], snaplen=0xFFFFFFFF) + struct.pack("<IIII", 0, 0, 3925868813, 60),
        2,
        FRAME3_AT,
        3,
        f"record header at byte {FRAME3_AT} claims a 3925868813-byte packet "
        f"(limit {16 << 20}); stopped reading",
        id="caplen-over-hard-cap-despite-huge-snaplen",
    ),
]


@pytest.mark.parametrize(("data", "good", "offset", "frame", "message"), BAD_PCAP_CASES)
def test_damaged_pcap(data: bytes, good: int, offset: int, frame: int, message: str) -> None:
    frames, reader = read_bytes(data)
    assert [f[0] for f in frames] == list(range(1, good + 1))
    assert only_problem(reader) == ReadProblem(offset, frame, message)
    assert not reader.complete
    assert reader.frames_read == good


def test_big_snaplen_raises_the_caplen_limit() -> None:
    big = b"b" * 300_000
    frames, reader = read_bytes(pcap([(1, 0, big, None)], snaplen=1 << 20))
    assert frames == [(1, NS, 1, big, 300_000)] and reader.complete


NG_HEAD = shb() + idb(1)
NG_GOOD = NG_HEAD + epb(0, 1, P1)
AT = len(NG_GOOD)


def _bad_length_block(total: int) -> bytes:
    return struct.pack("<II", 6, total) + b"\0" * 24


BAD_NG_CASES = [
    pytest.param(
        NG_GOOD + epb(0, 2, P2)[:30],
        AT,
        2,
        f"file ends in the middle of frame 2's enhanced packet block at byte {AT}: "
        "30 of 76 bytes present",
        id="cut-block",
    ),
    pytest.param(
        NG_GOOD + b"\x06\0\0",
        AT,
        None,
        "file ends in the middle of a block header: 3 of 8 bytes present",
        id="cut-block-header",
    ),
    pytest.param(
        NG_GOOD + _bad_length_block(30),
        AT,
        2,
        f"enhanced packet block at byte {AT} has total length 30, not a multiple of 4; "
        "the file is corrupt here; stopped reading",
        id="length-not-multiple-of-4",
    ),
    pytest.param(
        NG_GOOD + _bad_length_block(8),
        AT,
        2,
        f"enhanced packet block at byte {AT} has total length 8, less than the 12-byte "
        "minimum; the file is corrupt here; stopped reading",
        id="length-below-minimum",
    ),
    pytest.param(
        NG_GOOD + _bad_length_block(0x7FFFFFFC),
        AT,
        2,
        f"enhanced packet block at byte {AT} has total length 2147483644, more than the "
        "16 MiB limit; the file is corrupt here; stopped reading",
        id="length-over-limit",
    ),
    pytest.param(
        NG_GOOD + epb(0, 2, P2)[:-4] + struct.pack("<I", 84),
        AT,
        2,
        f"enhanced packet block at byte {AT} gives its length as 76 at the start but 84 at "
        "the end; the file is corrupt here; stopped reading",
        id="trailing-length-differs",
    ),
    pytest.param(
        NG_GOOD + block(6, struct.pack("<IIIII", 0, 0, 0, 100, 100) + P1),
        AT,
        2,
        f"frame 2: enhanced packet block at byte {AT} claims 100 captured bytes but has room "
        "for 60; stopped reading",
        id="caplen-beyond-block",
    ),
    pytest.param(
        NG_GOOD + block(6, b"\0" * 12),
        AT,
        2,
        f"enhanced packet block at byte {AT} is 24 bytes, too short for its fixed fields; "
        "stopped reading",
        id="epb-too-short",
    ),
    pytest.param(
        NG_GOOD + block(1, b"\0" * 4),
        AT,
        None,
        f"interface description block at byte {AT} is 16 bytes, too short for its fixed "
        "fields; stopped reading",
        id="idb-too-short",
    ),
    pytest.param(
        NG_GOOD + shb()[:8] + b"\x11\x22\x33\x44" + shb()[12:],
        AT,
        None,
        f"section header block at byte {AT} has an unknown byte-order magic 11 22 33 44 "
        "(expected 1a 2b 3c 4d in either byte order); stopped reading",
        id="second-section-bad-byte-order",
    ),
    pytest.param(
        NG_GOOD + shb(major=2),
        AT,
        None,
        f"section header block at byte {AT} has pcapng version 2.0, which we cannot read "
        "(only 1.x exists); stopped reading",
        id="second-section-version-2",
    ),
]


@pytest.mark.parametrize(("data", "offset", "frame", "message"), BAD_NG_CASES)
def test_damaged_pcapng(data: bytes, offset: int, frame: int | None, message: str) -> None:
    frames, reader = read_bytes(data)
    assert frames == [(1, 1000, 1, P1, 60)]
    assert only_problem(reader) == ReadProblem(offset, frame, message)
    assert not reader.complete


def test_pcapng_unknown_interface_is_skipped_counted_and_unnumbered() -> None:
    bad_at = len(NG_GOOD)
    data = NG_GOOD + epb(5, 2, P2) + epb(0, 3, P3) + epb(5, 4, P2) + spb(P1)
    frames, reader = read_bytes(data)
    # Skipped blocks get no frame number: the next good one is frame 2.
    assert [(f[0], f[3]) for f in frames] == [(1, P1), (2, P3), (3, P1)]
    problem = only_problem(reader)
    assert (problem.offset, problem.frame) == (bad_at, 2)
    assert problem.message == (
        f"2 packet blocks in section 1 (first at byte {bad_at}) refer to interface 5, but "
        "the section defines 1 interface at that point; skipped without frame numbers "
        "(Wireshark refuses such a file)"
    )
    # Skipping is safe (the block framing is intact), so reading went on to the end.
    assert reader.complete


def test_pcapng_spb_before_any_interface() -> None:
    frames, reader = read_bytes(shb() + spb(P1) + idb(1) + spb(P2))
    assert frames == [(1, 0, 1, P2, 41)]
    assert "refer to interface 0" in only_problem(reader).message


def test_pcapng_malformed_idb_options_keep_the_interface() -> None:
    bad_options = struct.pack("<HHI", 113, 0, 0) + struct.pack("<HH", 9, 200) + b"\0" * 4
    frames, reader = read_bytes(shb() + block(1, bad_options) + epb(0, 5, P1))
    assert frames == [(1, 5000, 113, P1, 60)]
    assert "option 9 runs past the end of its block" in only_problem(reader).message
    assert reader.complete


# ---------------------------------------------------------------------------
# nothing readable: CaptureFormatError / CaptureOpenError from open_capture

FORMAT_ERRORS = [
    pytest.param(b"", "empty file: 0 bytes", "flushed", id="empty"),
    pytest.param(
        gzip.compress(b""), "the gzip data decompresses to 0 bytes", "flushed", id="gzip-empty"
    ),
    pytest.param(b"\xd4\xc3", "too short to be a capture: 2 bytes", "cut short", id="2-bytes"),
    pytest.param(
        GOOD3_PCAP[:10],
        "file ends inside the pcap file header: 10 of 24 bytes",
        "cut short",
        id="cut-pcap-header",
    ),
    pytest.param(
        shb()[:20],
        "file ends inside the pcapng section header block: 20 of 28 bytes",
        "cut short",
        id="cut-shb",
    ),
    pytest.param(
        shb()[:10],
        "file ends inside the pcapng section header block: 10 of 28 bytes",
        "cut short",
        id="cut-shb-before-length",
    ),
    pytest.param(
        shb()[:8] + b"\x11\x22\x33\x44" + shb()[12:],
        "section header block at byte 0 has an unknown byte-order magic 11 22 33 44",
        "cut short",
        id="shb-bad-byte-order",
    ),
    pytest.param(
        b"snoop\0\0\0" + b"\0\0\0\2\0\0\0\4" + b"\0" * 40,
        "this is a Solaris snoop capture, not pcap or pcapng",
        "editcap -F pcap in.snoop out.pcap",
        id="snoop",
    ),
    pytest.param(
        b"\x28\xb5\x2f\xfd" + b"\0" * 20,
        "this is zstd-compressed data, not a capture",
        "decompress with `zstd -d` first",
        id="zstd",
    ),
    pytest.param(b"BZh91AY&SY" + b"\0" * 20, "bzip2-compressed", "bzip2 -d", id="bzip2"),
    pytest.param(b"\xfd7zXZ\0" + b"\0" * 20, "xz-compressed", "xz -d", id="xz"),
    pytest.param(
        b"08:00:01.123456 IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [S], seq 1, length 0\n",
        "this looks like text, not a capture file",
        "tcpdump -w FILE",
        id="tcpdump-text",
    ),
    pytest.param(
        gzip.compress(b"snoop\0\0\0" + b"\0" * 40),
        "this is a Solaris snoop capture inside the gzip data, not pcap or pcapng",
        "editcap",
        id="gzip-of-snoop",
    ),
    pytest.param(
        b"\x1f\x8b\x08\x00" + b"\xff" * 30,
        "the gzip data is corrupt",
        "gzip -t",
        id="gzip-corrupt-header",
    ),
    pytest.param(
        b"\x00\x01\x02\x03\x04\x05\x06\x07\x08",
        "not a pcap or pcapng file: it starts with 00 01 02 03 04 05 06 07",
        "tcpdump -w FILE",
        id="unknown-magic",
    ),
]


@pytest.mark.parametrize(("data", "message", "hint"), FORMAT_ERRORS)
def test_unreadable_input_raises_capture_format_error(
    tmp_path: Path, data: bytes, message: str, hint: str
) -> None:
    path = tmp_path / "input"
    path.write_bytes(data)
    for attempt in (lambda: open_capture(str(path)), lambda: read_bytes(data)):
        with pytest.raises(CaptureFormatError) as info:
            attempt()
        assert message in info.value.message
        assert info.value.hint is not None and hint in info.value.hint


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(CaptureOpenError, match="No such file or directory"):
        open_capture(str(tmp_path / "missing.pcap"))
    with pytest.raises(CaptureOpenError, match="Is a directory") as info:
        open_capture(str(tmp_path))
    assert info.value.hint


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.pcap"
    path.write_bytes(SAMPLE_PCAP)
    if os.geteuid() == 0:
        # root reads any file, so make open() answer as it would for a user.
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr("analyzer.sources.open.open", refuse, raising=False)
    else:
        path.chmod(0)
    with pytest.raises(CaptureOpenError, match="Permission denied") as info:
        open_capture(str(path))
    assert info.value.hint and "root" in info.value.hint


def test_open_errors_are_analyzer_errors() -> None:
    assert issubclass(CaptureOpenError, AnalyzerError)
    assert issubclass(CaptureFormatError, AnalyzerError)


# ---------------------------------------------------------------------------
# gzip damage in the middle


def test_truncated_gzip_keeps_the_frames_before_the_cut() -> None:
    frames_in = [(i, 0, bytes([i]) * 500, None) for i in range(1, 200)]
    packed = gzip.compress(pcap(frames_in), compresslevel=1)
    frames, reader = read_bytes(packed[: len(packed) * 2 // 3])
    assert 0 < len(frames) < 199
    assert [f[0] for f in frames] == list(range(1, len(frames) + 1))
    problem = only_problem(reader)
    assert problem.frame == len(frames) + 1
    assert "the gzip stream is cut short" in problem.message
    assert not reader.complete


def test_gzip_without_trailer_after_a_whole_record() -> None:
    packed = gzip.compress(SAMPLE_PCAP)
    frames, reader = read_bytes(packed[:-8])  # drop CRC and size
    assert len(frames) == 3
    assert "gzip stream is cut short" in only_problem(reader).message
    assert not reader.complete


def test_gzip_with_trailing_garbage() -> None:
    frames, reader = read_bytes(gzip.compress(SAMPLE_PCAP) + b"garbage!")
    assert len(frames) == 3
    assert "the gzip data is corrupt" in only_problem(reader).message


def test_tiny_gzip_capture_cut_during_sniffing() -> None:
    packed = gzip.compress(pcap([(1, 0, b"x" * 10, None)]))
    frames, reader = read_bytes(packed[:-8])
    assert [f[3] for f in frames] == [b"x" * 10]
    assert "gzip stream is cut short" in only_problem(reader).message


# ---------------------------------------------------------------------------
# properties


@st.composite
def captures(draw: st.DrawFn) -> bytes:
    """A valid small pcap or pcapng capture, sometimes gzipped."""
    endian = draw(st.sampled_from("<>"))
    payloads = draw(st.lists(st.binary(max_size=70), max_size=6))
    if draw(st.booleans()):
        data = pcap(
            [(i, i * 7, p, None) for i, p in enumerate(payloads)],
            endian=endian,
            nsec=draw(st.booleans()),
        )
    else:
        parts = [shb(endian), idb(1, tsresol=9, endian=endian), idb(113, endian=endian)]
        for i, p in enumerate(payloads):
            kind = draw(st.sampled_from(["epb", "spb", "pb", "nrb"]))
            if kind == "epb":
                parts.append(epb(i % 2, i * 1000, p, endian=endian))
            elif kind == "spb":
                parts.append(spb(p, endian=endian))
            elif kind == "pb":
                parts.append(pb(i % 2, i, p, endian=endian))
            else:
                parts.append(block(4, p, endian))
            if draw(st.integers(0, 9)) == 0:
                parts.append(shb("<" if endian == ">" else ">"))
                parts.append(idb(101, endian="<" if endian == ">" else ">"))
                endian = "<" if endian == ">" else ">"
        data = b"".join(parts)
    return gzip.compress(data) if draw(st.integers(0, 4)) == 0 else data


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = draw(captures())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "append", "overwrite"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "truncate":
            data = data[:i]
        elif how == "flip" and data:
            data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
        elif how == "append":
            data += draw(st.binary(max_size=80))
        else:
            junk = draw(st.binary(min_size=1, max_size=8))
            data = data[:i] + junk + data[i + len(junk) :]
    return data


def outcome(data: bytes, **kwargs: Any) -> tuple[Any, ...]:
    """Everything observable about reading ``data``; only CaptureFormatError may escape."""
    try:
        reader = open_capture("-", stdin=io.BytesIO(data), **kwargs)
    except CaptureFormatError as exc:
        return ("error", exc.message, exc.hint)
    frames = list(reader)
    assert reader.frames_read == len(frames)
    assert reader.complete or reader.problems, "stopped without saying why"
    numbers = [f[0] for f in frames]
    assert numbers == sorted(set(numbers)) and all(n >= 1 for n in numbers)
    assert all(len(f[3]) <= len(data) * 1100 for f in frames)  # gzip may expand
    return ("read", frames, reader.problems, reader.complete, reader.bytes_read)


PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(data=damaged())
def test_damaged_input_never_raises_anything_else(data: bytes) -> None:
    outcome(data)


@PROPERTY_SETTINGS
@given(good=captures(), tail=st.binary(max_size=200))
def test_any_bytes_after_a_valid_header_are_survived(good: bytes, tail: bytes) -> None:
    outcome(good + tail)


@PROPERTY_SETTINGS
@given(data=st.one_of(captures(), damaged()), chunk=st.integers(1, 64))
def test_tiny_chunks_read_exactly_what_big_ones_do(data: bytes, chunk: int) -> None:
    assert outcome(data, chunk_size=chunk) == outcome(data)


@given(payloads=st.lists(st.binary(max_size=70), max_size=8))
def test_valid_pcap_roundtrip(payloads: list[bytes]) -> None:
    data = pcap([(i, i, p, None) for i, p in enumerate(payloads)])
    frames, reader = read_bytes(data, chunk_size=5)
    assert [f[3] for f in frames] == payloads
    assert reader.complete and reader.bytes_read == len(data)


def _frames_of(reader: CaptureReader) -> Generator[Frame, None, None]:
    yield from reader


def test_bytes_read_is_exact_after_a_break() -> None:
    reader = open_capture("-", stdin=io.BytesIO(SAMPLE_PCAP))
    frames = _frames_of(reader)
    next(frames)
    frames.close()  # the consumer stops early
    assert reader.frames_read == 1
    assert reader.bytes_read == 24 + 16 + 60


def test_closing_the_reader_ends_an_abandoned_iteration() -> None:
    with open_capture("-", stdin=io.BytesIO(SAMPLE_PCAP)) as reader:
        for _frame in reader:
            break  # e.g. Ctrl-C in the consumer
    assert reader.frames_read == 1
    assert reader.bytes_read == 24 + 16 + 60
