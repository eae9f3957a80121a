"""The pcapng reader (the common machinery is :mod:`analyzer.sources.capfile`).

Sections, each with its byte order; interfaces, each with its link type and
timestamp resolution; packet blocks (enhanced, simple and the obsolete one)
numbered as Wireshark numbers them; unknown blocks skipped; damage read past
where the block framing still holds, with the problems listed up to a bound.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import Final, NamedTuple

from analyzer.errors import CaptureFormatError
from analyzer.sources.capfile import (
    CUT_HINT,
    MAX_RECORD,
    NS_PER_S,
    CaptureReader,
    Frame,
    ReadProblem,
)

BT_SHB: Final = 0x0A0D0D0A
BT_IDB: Final = 0x00000001
BT_PB: Final = 0x00000002  # obsolete Packet Block
BT_SPB: Final = 0x00000003
BT_EPB: Final = 0x00000006
PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"

# Non-packet blocks that Wireshark nevertheless returns as records and so
# numbers as frames (wiretap/pcapng.c, get_block_type_internal): systemd
# journal export, sysdig events, custom blocks. We skip them but consume a
# number, so our frame numbers stay those a user sees in Wireshark.
WIRESHARK_NUMBERED_BLOCKS: Final = frozenset(
    {0x00000009, 0x00000204, 0x00000208, 0x00000216, 0x00000217, 0x00000221, 0x00000222}
    | {0x00000BAD, 0x40000BAD}
)

_BLOCK_NAMES: Final = {
    BT_SHB: "section header",
    BT_IDB: "interface description",
    BT_PB: "packet",
    BT_SPB: "simple packet",
    0x00000004: "name resolution",
    0x00000005: "interface statistics",
    BT_EPB: "enhanced packet",
    0x00000009: "systemd journal export",
    0x0000000A: "decryption secrets",
    0x00000BAD: "custom",
    0x40000BAD: "custom",
}

_BYTE_ORDER_MAGICS: Final = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
MIN_SHB_SIZE: Final = 28  # 12 framing + magic 4 + version 4 + section length 8
# A crafted file can hold a million tiny IDBs, or packet blocks naming a million interfaces
# that do not exist: interfaces kept per section, and problems listed one by one while
# reading goes on, are bounded (the rest are counted in one more problem).
MAX_INTERFACES: Final = 65536
MAX_LISTED_PROBLEMS: Final = 100
MAX_UNKNOWN_INTERFACES: Final = 16  # listed per section
MAX_BLOCK: Final = MAX_RECORD

OPT_ENDOFOPT: Final = 0
OPT_IF_TSRESOL: Final = 9
OPT_IF_TSOFFSET: Final = 14


class _Layout(NamedTuple):
    """Precompiled structs for one byte order."""

    head: struct.Struct  # block type, total length
    u32: struct.Struct
    wide: struct.Struct  # block header + EPB fields: interface, ts high/low, caplen, wire_len
    pb: struct.Struct  # interface (16 bit), drops, ts high, ts low, caplen, wire_len
    idb: struct.Struct  # link type, reserved, snaplen
    opt: struct.Struct  # option code, option length
    i64: struct.Struct
    version: struct.Struct  # SHB major, minor


_LAYOUTS: Final = {
    e: _Layout(
        struct.Struct(f"{e}II"),
        struct.Struct(f"{e}I"),
        struct.Struct(f"{e}IIIIIII"),
        struct.Struct(f"{e}HHIIII"),
        struct.Struct(f"{e}HHI"),
        struct.Struct(f"{e}HH"),
        struct.Struct(f"{e}q"),
        struct.Struct(f"{e}HH"),
    )
    for e in "<>"
}


class Interface(NamedTuple):
    """What a packet block needs from its IDB, ready for the hot loop."""

    linktype: int
    snaplen: int
    mult: int  # ns per timestamp unit when that is a whole number, else 0
    units_per_second: int
    offset_ns: int


def make_interface(linktype: int, snaplen: int, units_per_second: int, offset_s: int) -> Interface:
    mult = NS_PER_S // units_per_second if NS_PER_S % units_per_second == 0 else 0
    return Interface(linktype, snaplen, mult, units_per_second, offset_s * NS_PER_S)


def tsresol_units(value: int) -> int:
    """Units per second for an if_tsresol byte: MSB set = power of 2, else power of 10."""
    return 1 << (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)


def _block_name(btype: int) -> str:
    name = _BLOCK_NAMES.get(btype)
    return f"{name} block" if name else f"block of type 0x{btype:08x}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class PcapngReader(CaptureReader):
    """pcapng: a sequence of sections, each an SHB followed by blocks.

    Also has ``sections`` (how many were entered so far) and ``interfaces``
    (those of the current section, index = interface id).
    """

    format = "pcapng"

    def _read_header(self) -> None:
        # Validate the first section header eagerly; iteration then parses it
        # again like any later one (it is one small block).
        buf = self._fill(0, 12)
        if len(buf) < 12:
            raise self._header_error("pcapng section header block", len(buf), MIN_SHB_SIZE)
        if buf[:4] != PCAPNG_MAGIC:
            raise CaptureFormatError(f"not a pcapng file: magic {buf[:4].hex(' ')}")
        parsed = _shb_length(buf, 0)
        if isinstance(parsed, str):
            raise CaptureFormatError(parsed, hint=CUT_HINT)
        layout, blen = parsed
        buf = self._fill(0, blen)
        if len(buf) < blen:
            raise self._header_error("pcapng section header block", len(buf), blen)
        problem = _shb_body_problem(buf, 0, blen, layout)
        if problem:
            raise CaptureFormatError(problem, hint=CUT_HINT)
        self.sections = 0
        self.interfaces: list[Interface] = []
        self._unlisted = 0  # problems read past but not listed
        self._unlisted_at = -1  # index in problems of the one that counts them

    def _read_past(self, offset: int, message: str) -> None:
        """A problem reading goes on after: listed up to a bound, then only counted."""
        problems = self.problems
        if len(problems) < MAX_LISTED_PROBLEMS:
            problems.append(ReadProblem(offset, None, message))
            return
        self._unlisted += 1
        if self._unlisted_at < 0:
            self._unlisted_at = len(problems)
            problems.append(ReadProblem(offset, None, ""))
        first = problems[self._unlisted_at].offset
        problems[self._unlisted_at] = ReadProblem(
            first,
            None,
            f"{_plural(self._unlisted, 'more problem')} (the first at byte {first}) were read "
            "past and not listed one by one",
        )

    def _frames(self) -> Generator[Frame, None, None]:
        fill = self._fill
        problems = self.problems
        buf = self._buf
        pos = self._pos
        n = len(buf)
        layout = _LAYOUTS["<"]  # replaced by the first SHB
        head = layout.head.unpack_from
        wide = layout.wide.unpack_from
        u32 = layout.u32.unpack_from
        ifaces: list[Interface] = []
        n_ifaces = 0
        # interface id -> [problem index, first offset, frame, count]; per section
        unknown: dict[int, list[int]] = {}
        number = 0
        count = 0
        last_ts = 0
        try:
            while True:
                if n - pos < 28:
                    self.frames_read = count
                    buf = fill(pos, 28)
                    pos = 0
                    n = len(buf)
                    if n == 0:
                        self._clean_end(self._base, number + 1)
                        return
                    if n < 8:
                        self._cut(self._base, None, f"a block header: {n} of 8 bytes present")
                        return
                if n - pos >= 28:
                    # One unpack decodes the block header and, if this is an
                    # EPB, its fixed fields too (garbage for other blocks).
                    btype, blen, iface, hi, lo, caplen, wire_len = wide(buf, pos)
                else:
                    # Fewer than 28 bytes left in the whole stream: no complete
                    # EPB can follow, so the EPB fields are never used.
                    btype, blen = head(buf, pos)
                if btype == BT_SHB:
                    if n - pos < 12:
                        self._cut(
                            self._base + pos,
                            None,
                            f"a section header block: {n - pos} of {MIN_SHB_SIZE} bytes present",
                        )
                        return
                    parsed = _shb_length(buf, pos, self._base + pos)
                    if isinstance(parsed, str):
                        self._stop(self._base + pos, None, parsed + "; stopped reading")
                        return
                    layout, blen = parsed
                    head = layout.head.unpack_from
                    wide = layout.wide.unpack_from
                    u32 = layout.u32.unpack_from
                if blen & 3 or blen < 12 or blen > MAX_BLOCK:
                    offset = self._base + pos
                    if blen & 3:
                        why = "not a multiple of 4"
                    elif blen < 12:
                        why = "less than the 12-byte minimum"
                    else:
                        why = f"more than the {MAX_BLOCK >> 20} MiB limit"
                    self._stop(
                        offset,
                        number + 1 if btype in (BT_EPB, BT_SPB, BT_PB) else None,
                        f"{_block_name(btype)} at byte {offset} has total length {blen}, "
                        f"{why}; the file is corrupt here; stopped reading",
                    )
                    return
                end = pos + blen
                if end > n:
                    self.frames_read = count
                    buf = fill(pos, blen)
                    pos = 0
                    n = len(buf)
                    end = blen
                    if end > n:
                        packet = btype in (BT_EPB, BT_SPB, BT_PB)
                        self._cut(
                            self._base,
                            number + 1 if packet else None,
                            (f"frame {number + 1}'s " if packet else "an ")
                            + f"{_block_name(btype)} at byte {self._base}: "
                            f"{n} of {blen} bytes present",
                        )
                        return
                trailer = u32(buf, end - 4)[0]
                if trailer != blen:
                    offset = self._base + pos
                    self._stop(
                        offset,
                        number + 1 if btype in (BT_EPB, BT_SPB, BT_PB) else None,
                        f"{_block_name(btype)} at byte {offset} gives its length as {blen} "
                        f"at the start but {trailer} at the end; the file is corrupt here; "
                        "stopped reading",
                    )
                    return

                if btype == BT_EPB or btype == BT_PB:  # noqa: PLR1714, SIM109 - hot path: no tuple
                    if blen < 32:
                        self._stop(
                            self._base + pos,
                            number + 1,
                            f"{_block_name(btype)} at byte {self._base + pos} is {blen} bytes, "
                            "too short for its fixed fields; stopped reading",
                        )
                        return
                    if btype == BT_PB:
                        iface, _drops, hi, lo, caplen, wire_len = layout.pb.unpack_from(
                            buf, pos + 8
                        )
                    if caplen > blen - 32:
                        self._stop(
                            self._base + pos,
                            number + 1,
                            f"frame {number + 1}: {_block_name(btype)} at byte "
                            f"{self._base + pos} claims {caplen} captured bytes but has room "
                            f"for {blen - 32}; stopped reading",
                        )
                        return
                    if iface < n_ifaces:
                        linktype, _snap, mult, units, offset_ns = ifaces[iface]
                        t = (hi << 32) | lo
                        last_ts = (
                            t * mult + offset_ns if mult else t * NS_PER_S // units + offset_ns
                        )
                        number += 1
                        count += 1
                        start = pos + 28
                        pos = end
                        yield (number, last_ts, linktype, buf[start : start + caplen], wire_len)
                        continue
                elif btype == BT_SPB:
                    if blen < 16:
                        self._stop(
                            self._base + pos,
                            number + 1,
                            f"simple packet block at byte {self._base + pos} is {blen} bytes, "
                            "too short for its fixed fields; stopped reading",
                        )
                        return
                    iface = 0
                    if n_ifaces:
                        linktype, snaplen, *_ = ifaces[0]
                        wire_len = u32(buf, pos + 8)[0]
                        # The SPB has no captured-length field: the spec derives
                        # it from the packet length and interface 0's snaplen.
                        caplen = min(wire_len, snaplen or wire_len, blen - 16)
                        number += 1
                        count += 1
                        start = pos + 12
                        pos = end
                        yield (number, last_ts, linktype, buf[start : start + caplen], wire_len)
                        continue
                elif btype == BT_IDB:
                    if blen < 20:
                        self._stop(
                            self._base + pos,
                            None,
                            f"interface description block at byte {self._base + pos} is "
                            f"{blen} bytes, too short for its fixed fields; stopped reading",
                        )
                        return
                    if n_ifaces < MAX_INTERFACES:
                        ifaces.append(self._parse_idb(buf, pos, end, layout, n_ifaces))
                        n_ifaces += 1
                    elif n_ifaces == MAX_INTERFACES:
                        n_ifaces += 1  # reported once per section
                        self._read_past(
                            self._base + pos,
                            f"section {self.sections} defines more than {MAX_INTERFACES} "
                            "interfaces; the rest are ignored",
                        )
                    pos = end
                    continue
                elif btype == BT_SHB:
                    problem = _shb_body_problem(buf, pos, blen, layout, self._base + pos)
                    if problem:
                        self._stop(self._base + pos, None, problem + "; stopped reading")
                        return
                    # A new section restarts interface numbering.
                    ifaces = []
                    n_ifaces = 0
                    unknown = {}
                    self.sections += 1
                    self.interfaces = ifaces
                    pos = end
                    continue
                else:
                    if btype in WIRESHARK_NUMBERED_BLOCKS:
                        number += 1
                    pos = end
                    continue

                # A packet block naming an interface the section lacks.
                if iface not in unknown and len(unknown) >= MAX_UNKNOWN_INTERFACES:
                    iface = -1  # one entry for all the others
                entry = unknown.get(iface)
                if entry is None and len(problems) >= MAX_LISTED_PROBLEMS:
                    self._read_past(
                        self._base + pos,
                        f"packet blocks in section {self.sections} refer to interfaces the "
                        "section does not define; skipped",
                    )
                    pos = end
                    continue
                if entry is None:
                    entry = unknown[iface] = [len(problems), self._base + pos, number + 1, 0]
                    problems.append(ReadProblem(0, None, ""))  # filled in just below
                entry[3] += 1
                which = f"interface {iface}" if iface >= 0 else "other interfaces"
                problems[entry[0]] = ReadProblem(
                    entry[1],
                    entry[2],
                    f"{_plural(entry[3], 'packet block')} in section {self.sections} "
                    f"(first at byte {entry[1]}) refer to {which}, but the "
                    f"section defines {_plural(n_ifaces, 'interface')} at that point; "
                    "skipped without frame numbers (Wireshark refuses such a file)",
                )
                pos = end
        finally:
            self.frames_read = count
            self.bytes_read = self._base + pos

    def _parse_idb(self, buf: bytes, pos: int, end: int, layout: _Layout, index: int) -> Interface:
        linktype, _reserved, snaplen = layout.idb.unpack_from(buf, pos + 8)
        units = 1_000_000  # the spec's default resolution: microseconds
        offset_s = 0
        p = pos + 16
        stop = end - 4
        while p + 4 <= stop:
            code, length = layout.opt.unpack_from(buf, p)
            p += 4
            if code == OPT_ENDOFOPT:
                break
            if p + length > stop:
                self._read_past(
                    self._base + p - 4,
                    f"interface {index} of section {self.sections}: option {code} runs past "
                    "the end of its block; ignored it and the options after it",
                )
                break
            if code == OPT_IF_TSRESOL and length == 1:
                units = tsresol_units(buf[p])
            elif code == OPT_IF_TSOFFSET and length == 8:
                offset_s = layout.i64.unpack_from(buf, p)[0]
            p += (length + 3) & ~3
        return make_interface(linktype, snaplen, units, offset_s)


def _shb_length(buf: bytes, pos: int, offset: int = 0) -> tuple[_Layout, int] | str:
    """Byte order and total length of the SHB at ``pos`` (12 bytes present), or a problem."""
    bom = buf[pos + 8 : pos + 12]
    endian = _BYTE_ORDER_MAGICS.get(bom)
    if endian is None:
        return (
            f"section header block at byte {offset} has an unknown byte-order magic "
            f"{bom.hex(' ')} (expected 1a 2b 3c 4d in either byte order)"
        )
    layout = _LAYOUTS[endian]
    blen: int = layout.u32.unpack_from(buf, pos + 4)[0]
    if blen & 3 or blen < MIN_SHB_SIZE or blen > MAX_BLOCK:
        return (
            f"section header block at byte {offset} has total length {blen}, which is "
            f"impossible (a multiple of 4 from {MIN_SHB_SIZE} to {MAX_BLOCK} bytes)"
        )
    return layout, blen


def _shb_body_problem(
    buf: bytes, pos: int, blen: int, layout: _Layout, offset: int = 0
) -> str | None:
    """Check a complete SHB: trailing length and version."""
    trailer = layout.u32.unpack_from(buf, pos + blen - 4)[0]
    if trailer != blen:
        return (
            f"section header block at byte {offset} gives its length as {blen} at the "
            f"start but {trailer} at the end"
        )
    major, minor = layout.version.unpack_from(buf, pos + 12)
    if major != 1:
        # Every block layout below is defined for version 1; Wireshark refuses others too.
        return (
            f"section header block at byte {offset} has pcapng version {major}.{minor}, "
            "which we cannot read (only 1.x exists)"
        )
    return None
