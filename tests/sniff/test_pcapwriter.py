"""analyzer.sources.pcapwriter: what it writes reads back, is private, and survives a stop."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from analyzer.errors import CaptureOpenError
from analyzer.sources.open import open_capture
from analyzer.sources.pcapwriter import PcapWriter

NS = 1_000_000_000
T0 = 1_795_853_270 * NS + 123_456_789
ETH_SYN = bytes.fromhex(
    "000000000000" "000000000000" "0800"  # Ethernet, zero MACs as on lo
    "45000028000140004006" "0000" "c0a80164" "ac10c864"  # IPv4 192.168.1.100 → 172.16.200.100
    "9c402008" "00000001" "00000000" "5002ffff" "00000000"  # TCP SYN 40000 → 8200
)  # fmt: skip
FRAMES = [
    (T0, ETH_SYN, len(ETH_SYN)),
    (T0 + 1 * NS + 7, ETH_SYN, len(ETH_SYN)),
    (T0 + 3 * NS + 999, ETH_SYN[:30], len(ETH_SYN)),  # snapped: wire length kept
]


def read_back(path: Path) -> list[tuple[int, int, int, bytes, int]]:
    with open_capture(str(path)) as reader:
        frames = list(reader)
        assert reader.format == "pcap"
        assert not reader.problems, reader.problems
    return frames


@pytest.mark.parametrize(("nanosecond", "unit"), [(True, 1), (False, 1000)])
def test_round_trip_through_open_capture(tmp_path: Path, nanosecond: bool, unit: int) -> None:
    path = tmp_path / "live.pcap"
    with PcapWriter.create(str(path), 1, nanosecond=nanosecond) as writer:
        for ts, data, wire in FRAMES:
            writer.write(ts, data, wire)
    assert writer.records == 3
    frames = read_back(path)
    assert [(n, lt) for n, _, lt, _, _ in frames] == [(1, 1), (2, 1), (3, 1)]
    for (ts, data, wire), (_, got_ts, _, got_data, got_wire) in zip(FRAMES, frames, strict=True):
        assert got_ts == ts - ts % unit
        assert got_data == data
        assert got_wire == wire
    assert path.stat().st_size == writer.bytes_written


def test_cooked_link_type_is_written(tmp_path: Path) -> None:
    path = tmp_path / "any.pcap"
    sll2 = bytes.fromhex("0800" "0000" "00000001" "0304" "00" "06" "0000000000000000") + ETH_SYN[14:]  # fmt: skip
    with PcapWriter.create(str(path), 276) as writer:
        writer.write(T0, sll2, len(sll2))
    ((_, _, linktype, data, _),) = read_back(path)
    assert linktype == 276
    assert data == sll2


def test_created_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "secret.pcap"
    old = os.umask(0)
    try:
        PcapWriter.create(str(path), 1).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_file_is_truncated_and_made_private(tmp_path: Path) -> None:
    path = tmp_path / "old.pcap"
    path.write_bytes(b"x" * 10_000)
    path.chmod(0o644)
    with PcapWriter.create(str(path), 1) as writer:
        writer.write(*FRAMES[0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_back(path)) == 1


def test_flushed_file_is_valid_while_still_open(tmp_path: Path) -> None:
    """What the sniffer relies on: after a flush, a reader sees every record so far."""
    path = tmp_path / "growing.pcap"
    writer = PcapWriter.create(str(path), 1)
    try:
        writer.write(*FRAMES[0])
        writer.write(*FRAMES[1])
        writer.flush()
        assert len(read_back(path)) == 2
    finally:
        writer.close()
    writer.close()  # twice is fine
    assert writer.closed


def test_oversized_frame_is_cut_to_the_snap_length(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    with PcapWriter.create(str(path), 1, snaplen=64) as writer:
        writer.write(T0, ETH_SYN + b"\0" * 200, len(ETH_SYN) + 200)
    ((_, _, _, data, wire),) = read_back(path)
    assert len(data) == 64
    assert wire == len(ETH_SYN) + 200


def test_unwritable_place_is_our_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureOpenError, match="cannot create"):
        PcapWriter.create(str(tmp_path / "no" / "such" / "dir.pcap"), 1)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    with PcapWriter.create(str(path), 1) as writer:
        for frame in FRAMES:
            writer.write(*frame)
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "tcp.flags.syn",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")
    assert out[0].startswith("1795853270.123456789")
    assert [line.split("\t")[-1] for line in out[:2]] == ["1", "1"]
