"""Read every capture of the shared corpus and hold the result against MANIFEST.tsv.

The manifest records what tshark 4.0 made of each file (``tshark_pkts_read``).
We must read the same number of frames, except where a difference is
documented below with the reason; nothing is skipped silently.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from analyzer.errors import CaptureFormatError
from analyzer.sources.capfile import CaptureReader, Frame
from analyzer.sources.open import open_capture

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
MANIFEST = CORPUS / "MANIFEST.tsv"

if not MANIFEST.is_file():
    pytest.skip(f"no corpus at {CORPUS}", allow_module_level=True)

pytestmark = pytest.mark.corpus
NS = 1_000_000_000


@dataclass(frozen=True)
class Entry:
    file: str
    categories: tuple[str, ...]
    what_tshark_shows: str
    tshark_pkts_read: int

    @property
    def damaged(self) -> bool:
        # c_corrupt_ts is not in this group: its records are sound, only the
        # timestamp fractions are out of range (see test_out_of_range_timestamps).
        return any(c == "c_corrupt" or c.startswith("c_truncated_file") for c in self.categories)


def _load() -> dict[str, Entry]:
    entries = {}
    with MANIFEST.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            shows = row["what_tshark_shows"]
            count = int(shows.split("tshark_pkts_read=")[1].split()[0])
            entries[row["file"]] = Entry(
                row["file"], tuple(row["category"].split(";")), shows, count
            )
    return entries


ENTRIES = _load()
FILES = sorted(
    str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p != MANIFEST
)

# Files that are not captures we read: category -> what the hint must say.
REJECTED = {"c_zstd": "zstd -d", "c_other_format": "editcap -F pcap"}

# Where our frames legitimately differ from tshark's count, the frame numbers
# we yield, and why.
KNOWN_DIFFERENCES: dict[str, tuple[list[int], str]] = {
    # tshark counts custom blocks (type 0xBAD / 0x40000BAD) as records: they
    # are its "frames" 1, 3 and 8 here. We give them their numbers too, so a
    # packet's number is the one Wireshark shows, but yield only packets.
    "pcapng-test-generator/output_le_advanced_test102.pcapng": (
        [2, 4, 5, 6, 7],
        "3 custom blocks are numbered records in Wireshark, not packets",
    ),
    # Same, with custom blocks at Wireshark's 1, 7 and 10 across three sections.
    "pcapng-test-generator/output_le_difficult_test202.pcapng": (
        [2, 3, 4, 5, 6, 8, 9, 11],
        "3 custom blocks are numbered records in Wireshark, not packets",
    ),
    # A fuzzed file: read as standard pcap, the 2nd record header claims a
    # 1409179648-byte packet. tshark's libpcap reader then guesses that the
    # file uses the 24-byte record headers of Red Hat's old patched libpcap
    # (variant "ss990417", same magic), which makes record 2 plausible (1 byte)
    # before record 3 fails too. We read standard pcap only, so we stop after
    # frame 1; both readers report the file as damaged.
    "suricata-verify/tests_bug-6875-01_fuzz.pcap": (
        [1],
        "tshark re-guesses the record layout of a fuzzed standard-magic pcap",
    ),
}

# Link types named in what_tshark_shows -> LINKTYPE_ values seen in the header.
ENCAPSULATIONS = {
    "ether": {1},
    "null": {0},
    "linux-sll": {113},
    "linux-sll2": {276},
    "rawip": {12, 14, 101},  # DLT_RAW is 12 or 14 depending on the OS that wrote it
    "rawip4": {228},
    "netlink": {253},
}


def read(file: str) -> tuple[list[Frame], CaptureReader]:
    with open_capture(str(CORPUS / file)) as reader:
        frames = list(reader)
    return frames, reader


def test_every_corpus_file_is_in_the_manifest() -> None:
    assert FILES, "empty corpus"
    assert set(FILES) == set(ENTRIES)


@pytest.mark.parametrize("file", FILES)
def test_corpus_file(file: str) -> None:
    entry = ENTRIES[file]
    rejected = [REJECTED[c] for c in entry.categories if c in REJECTED]
    if rejected:
        with pytest.raises(CaptureFormatError) as info:
            open_capture(str(CORPUS / file))
        assert info.value.hint is not None and rejected[0] in info.value.hint
        return

    frames, reader = read(file)
    numbers = [f[0] for f in frames]

    if file in KNOWN_DIFFERENCES:
        expected_numbers, _why = KNOWN_DIFFERENCES[file]
        assert numbers == expected_numbers
        assert len(frames) < entry.tshark_pkts_read
    else:
        assert len(frames) == entry.tshark_pkts_read
        assert numbers == list(range(1, len(frames) + 1))
    assert reader.frames_read == len(frames)

    if entry.damaged:
        assert reader.problems, "a damaged file must produce a ReadProblem"
        assert not reader.complete
        assert reader.problems[-1].frame == len(frames) + 1
    else:
        assert reader.problems == []
        assert reader.complete

    assert reader.compression == ("gzip" if "c_gzip" in entry.categories else None)
    shows = entry.what_tshark_shows
    if not shows.startswith("capinfos_failed"):
        kind, encap, _resolution = shows.split()[0].split("/")
        assert reader.format == ("pcapng" if kind == "pcapng" else "pcap")
        if encap in ENCAPSULATIONS:
            assert {f[2] for f in frames} <= ENCAPSULATIONS[encap]

    for number, ts_ns, linktype, data, wire_len in frames:
        assert isinstance(number, int) and isinstance(ts_ns, int)
        assert isinstance(linktype, int) and isinstance(wire_len, int)
        assert type(data) is bytes


def test_damaged_files_say_where_and_why() -> None:
    frames, reader = read("suricata-verify/tests_http-mime-truncated_input.pcap")
    assert len(frames) == 2696
    assert reader.problems[0].message == (
        "file ends in the middle of frame 2697's record header: 1 of 16 bytes present"
    )
    frames, reader = read(
        "suricata-verify/tests_smtp-to-comma_10.7.29.101_49898-178.63.41.150_25.pcap"
    )
    assert len(frames) == 18
    assert "claims a 3925868813-byte packet (limit 262144)" in reader.problems[0].message


def test_out_of_range_timestamps() -> None:
    """c_corrupt_ts: the fraction field reaches 10^6 us (10^9 ns); we add it up, no problem."""
    for file in (
        "tcpdump/tests_timestamp_invalid_micro.pcap",
        "tcpdump/tests_timestamp_invalid_nano.pcap",
    ):
        frames, reader = read(file)
        assert len(frames) == 3 and reader.complete and reader.problems == []
        # Frame 2 stores 1418145370 s + a full second in the fraction field.
        assert frames[1][1] == 1_418_145_371 * NS


# ---------------------------------------------------------------------------
# Field by field against tshark itself, where it is installed.

TSHARK = shutil.which("tshark")


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
@pytest.mark.parametrize("file", FILES)
def test_fields_match_tshark(file: str) -> None:
    entry = ENTRIES[file]
    if any(c in REJECTED for c in entry.categories):
        return  # covered by test_corpus_file: we refuse these files
    assert TSHARK is not None
    frames, _ = read(file)
    fields = ["frame.number", "frame.time_epoch", "frame.cap_len", "frame.len"]
    out = subprocess.run(
        [TSHARK, "-r", str(CORPUS / file), "-T", "fields", *(a for f in fields for a in ("-e", f))],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    ).stdout
    theirs = {int(line.split("\t")[0]): line.split("\t")[1:] for line in out.splitlines()}
    # tshark prints out-of-range fractions in a broken way (e.g. ".1000000000"
    # or a negative time), so for c_corrupt_ts only the lengths are compared.
    compare_time = "c_corrupt_ts" not in entry.categories
    for number, ts_ns, _linktype, data, wire_len in frames:
        time, caplen, length = theirs[number]
        if compare_time and time:  # a simple packet block has no time in tshark
            sec, ns = divmod(ts_ns, NS)
            assert time == f"{sec}.{ns:09d}", f"frame {number}"
        assert (int(caplen), int(length)) == (len(data), wire_len), f"frame {number}"
