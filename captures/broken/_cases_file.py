"""Damaged capture files: pcap, pcapng and gzip cut or lying at every kind of boundary."""

from __future__ import annotations

import struct

from _build import (
    block,
    epb,
    founding,
    gzip_bytes,
    idb,
    pcap,
    pcap_header,
    pcap_record,
    record_offsets,
    shb,
)
from _case import Case

F = founding().frames  # 14 frames: GET /v2/ (4), 401 (5), 2 dials of 3 SYNs (9-14)
GOOD = pcap(F)
OFFSETS = list(record_offsets(F))
NG_BLOCKS = [shb(), idb(), *(epb(0, t, d) for t, d in F)]


def _ng_offset(index: int) -> int:
    """Byte offset of NG_BLOCKS[index]."""
    return sum(len(b) for b in NG_BLOCKS[:index])


def _set_caplen(data: bytes, offset: int, caplen: int) -> bytes:
    return data[: offset + 8] + struct.pack("<I", caplen) + data[offset + 12 :]


def _zero_length_records() -> bytes:
    frames = [pcap_record(t, d) for t, d in F]
    frames.insert(2, pcap_record(F[1][0], b""))
    frames.insert(6, pcap_record(F[4][0], b"", wire=1514))
    return pcap_header() + b"".join(frames)


def _all_zero_records() -> bytes:
    return pcap_header() + b"".join(pcap_record(i * 1000, bytes(60)) for i in range(20))


def _ng_unknown_interface() -> bytes:
    blocks = list(NG_BLOCKS)
    for i in (3, 4):  # two of the handshake's packets name interface 3
        t, d = F[i - 2]
        blocks[i] = epb(3, t, d)
    return b"".join(blocks)


def _ng_second_section_bad_byte_order() -> bytes:
    half = len(NG_BLOCKS) - 4
    return b"".join(NG_BLOCKS[:half]) + shb(bom=b"\xde\xad\xbe\xef") + b"".join(NG_BLOCKS[half:])


def _ng_epb_caplen_over_block() -> bytes:
    blocks = list(NG_BLOCKS)
    t, d = F[-1]
    blocks[-1] = epb(0, t, d, caplen=len(d) + 200)
    return b"".join(blocks)


def _ng_idb_option_overrun() -> bytes:
    bad_option = struct.pack("<HH", 9, 200) + b"\x06\0\0\0"  # if_tsresol claiming 200 bytes
    return shb() + idb(options=bad_option) + b"".join(epb(0, t, d) for t, d in F)


def _ng_two_linktypes() -> bytes:
    usb = [epb(1, 500_000 + i, b"\x80" * 40) for i in range(5)]
    return shb() + idb() + idb(linktype=189) + b"".join(usb) + b"".join(NG_BLOCKS[2:])


def _ng_hundred_linktypes() -> bytes:
    """100 interfaces of link types pushcap does not decode, a frame on each, then the case."""
    idbs = b"".join(idb(linktype=300 + i) for i in range(100))
    frames = b"".join(epb(1 + i, 400_000 + i, b"\x55" * 20) for i in range(100))
    return shb() + idb() + idbs + frames + b"".join(NG_BLOCKS[2:])


def _ng_block_length(length: int, *, trailer: int | None = None) -> bytes:
    blocks = list(NG_BLOCKS)
    t, d = F[9]
    body = epb(0, t, d)[8:-4]
    blocks[11] = block(6, body, length=length, trailer=trailer)
    return b"".join(blocks)


def _gzip_flipped() -> bytes:
    data = bytearray(gzip_bytes(GOOD))
    data[10 + 5 + OFFSETS[11] + 16 + 2] ^= 0x01  # gzip header, stored-block header, frame 12's MAC
    return bytes(data)


# A gzip member header, then a deflate block of the reserved type 3: zlib says "invalid block type".
BAD_DEFLATE = bytes.fromhex("1f8b0800000000000003") + b"\x07" + bytes(16)


TEXT = (
    b"04:12:42.442875 IP 192.168.1.100.52110 > 180.119.140.230.8200: Flags [P.], seq 1:121, "
    b"ack 1, win 502, length 120\n"
)
CUT_RECORD_HEADER = OFFSETS[12] + 5
CUT_RECORD_DATA = OFFSETS[12] + 16 + 30
NG_CUT_BLOCK = _ng_offset(14) + 40
TRUNCATED_TAIL = GOOD[: OFFSETS[13]] + _set_caplen(GOOD[OFFSETS[13] :], 0, 60_000)

CASES = [
    Case("empty.pcap", b"", 2, ("empty file: 0 bytes",),
         "0 bytes"),
    Case("all-zero.pcap", bytes(4096), 2, ("not a pcap or pcapng file",),
         "4 KiB of zero bytes"),
    Case("wrong-magic.pcap", b"\xde\xad\xbe\xef" + GOOD[4:], 2, ("starts with de ad be ef",),
         "the founding case with its magic replaced"),
    Case("text-listing.pcap", TEXT * 4, 2, ("looks like text",),
         "a printed `tcpdump -r` listing saved under a capture's name"),
    Case("cut-in-global-header.pcap", GOOD[:13], 2, ("inside the pcap file header: 13 of 24 bytes",),
         "the first 13 bytes of a pcap file"),
    Case("header-only.pcap", pcap_header(), 2, ("holds no packets",),
         "a valid 24-byte header and no record"),
    Case("cut-in-first-record-header.pcap", GOOD[:33], 2,
         ("no packet could be read", "frame 1's record header: 9 of 16 bytes"),
         "the global header and 9 bytes of the first record header"),
    Case("cut-in-record-header.pcap", GOOD[:CUT_RECORD_HEADER], 1,
         ("frame 13's record header: 5 of 16 bytes present", "token-service-unreachable"),
         "the founding case cut 5 bytes into frame 13's record header"),
    Case("cut-in-record-data.pcap", GOOD[:CUT_RECORD_DATA], 1,
         ("frame 13's data: 30 of 54 bytes present", "token-service-unreachable"),
         "the founding case cut 30 bytes into frame 13's data"),
    Case("record-over-snaplen.pcap", pcap(F, snaplen=48), 1, ("token-service-unreachable",),
         "snaplen 48 in the header, records of up to 400 bytes (read as tshark does)"),
    Case("record-over-limit.pcap", _set_caplen(GOOD, OFFSETS[10], 0x7FFFFFF0), 1,
         ("claims a 2147483632-byte packet (limit 262144); stopped reading", "token-service-unreachable"),
         "frame 11's record header claims 2 GiB"),
    Case("record-longer-than-file.pcap", TRUNCATED_TAIL, 1,
         ("frame 14's data: 54 of 60000 bytes present",),
         "the last record claims 60000 bytes; the file ends after its 54"),
    Case("zero-length-records.pcap", _zero_length_records(), 1,
         ("truncated_ethernet_header", "token-service-unreachable"),
         "two records with 0 captured bytes among the founding case's"),
    Case("all-zero-records.pcap", _all_zero_records(), 0,
         ('"verdict": "clean"',),
         "a valid header and 20 records of 60 zero bytes (ethertype 0, not IP)"),
    Case("unknown-linktype.pcap", pcap(F, linktype=147), 2, ("link type 147 is not one pushcap decodes",),
         "the founding case labelled LINKTYPE_USER0 (147)"),
    Case("big-endian-cut.pcap", pcap_header(magic=0xA1B2C3D4, endian=">")[:20], 2,
         ("inside the pcap file header: 20 of 24 bytes",),
         "a big-endian header cut at 20 bytes"),
    # pcapng
    Case("ng-cut-in-section-header.pcapng", b"".join(NG_BLOCKS)[:20], 2,
         ("file ends inside the pcapng section header block",),
         "the first 20 bytes of a 28-byte section header block"),
    Case("ng-cut-in-block.pcapng", b"".join(NG_BLOCKS)[:NG_CUT_BLOCK], 1,
         ("in the middle of frame 13's enhanced packet block", "token-service-unreachable"),
         "cut 40 bytes into frame 13's enhanced packet block"),
    Case("ng-block-length-not-multiple-of-4.pcapng", _ng_block_length(98), 1,
         ("has total length 98, not a multiple of 4",),
         "frame 10's block gives its total length as 98"),
    Case("ng-block-length-under-minimum.pcapng", _ng_block_length(8), 1,
         ("less than the 12-byte minimum",),
         "frame 10's block gives its total length as 8"),
    Case("ng-block-length-huge.pcapng", _ng_block_length(0xFFFFFFF0), 1,
         ("more than the 16 MiB limit",),
         "frame 10's block gives its total length as 4 GiB"),
    Case("ng-block-length-mismatch.pcapng", _ng_block_length(88, trailer=100), 1,
         ("gives its length as 88 at the start but 100 at the end",),
         "frame 10's block: 88 at the start, 100 in the trailer"),
    Case("ng-unknown-interface.pcapng", _ng_unknown_interface(), 1,
         ("refer to interface 3", "token-service-unreachable"),
         "two packet blocks name interface 3 in a section with one interface"),
    Case("ng-no-interface.pcapng", shb() + b"".join(NG_BLOCKS[2:]), 2,
         ("no packet could be read", "refer to interface 0"),
         "packet blocks and no interface description block"),
    Case("ng-unknown-byte-order.pcapng", shb(bom=b"\xde\xad\xbe\xef") + b"".join(NG_BLOCKS[1:]), 2,
         ("unknown byte-order magic de ad be ef",),
         "the section header's byte-order magic is de ad be ef"),
    Case("ng-second-section-unknown-byte-order.pcapng", _ng_second_section_bad_byte_order(), 1,
         ("unknown byte-order magic de ad be ef", "stopped reading"),
         "a second section whose byte-order magic is unknown, after 10 good frames"),
    Case("ng-version-2.pcapng", shb(major=2) + b"".join(NG_BLOCKS[1:]), 2,
         ("pcapng version 2.0",),
         "a section header of major version 2"),
    Case("ng-caplen-over-block.pcapng", _ng_epb_caplen_over_block(), 1,
         ("claims 254 captured bytes but has room for 56",),
         "the last packet block claims 200 bytes more than it holds"),
    Case("ng-idb-option-overrun.pcapng", _ng_idb_option_overrun(), 1,
         ("option 9 runs past the end of its block", "token-service-unreachable"),
         "an if_tsresol option claiming 200 bytes in a 24-byte block"),
    Case("ng-two-linktypes.pcapng", _ng_two_linktypes(), 1,
         ("5 frames of link type 189 were not decoded", "token-service-unreachable"),
         "a USB interface (link type 189) with 5 frames beside the Ethernet one"),
    Case("ng-hundred-linktypes.pcapng", _ng_hundred_linktypes(), 1,
         ("1 frames of link type 300 were not decoded", "92 more unsupported link types",
          "token-service-unreachable"),
         "100 interfaces of undecodable link types (300-399), a frame on each, beside the "
         "Ethernet one: 8 named, the rest counted"),
    # gzip
    Case("gzip-cut.pcap.gz", gzip_bytes(GOOD)[:-60], 1,
         ("gzip stream is cut short", "token-service-unreachable"),
         "the gzip of the founding case without its last 60 bytes"),
    Case("gzip-crc-mismatch.pcap.gz", _gzip_flipped(), 1,
         ("CRC check failed", "token-service-unreachable"),
         "one bit of a MAC address flipped inside the stored gzip data: the CRC fails at the end"),
    Case("gzip-corrupt.pcap.gz", gzip_bytes(GOOD[: OFFSETS[10]]) + BAD_DEFLATE, 1,
         ("gzip data is corrupt", "token-service-unreachable"),
         "10 good frames, then a second gzip member whose deflate block type is invalid"),
    Case("gzip-corrupt-at-start.pcap.gz", BAD_DEFLATE, 2,
         ("gzip data is corrupt", "at its very start"),
         "a gzip member whose first deflate block type is invalid"),
    Case("gzip-empty.pcap.gz", gzip_bytes(b""), 2, ("decompresses to 0 bytes",),
         "a valid gzip of nothing"),
    Case("gzip-of-text.pcap.gz", gzip_bytes(TEXT), 2, ("looks like text inside the gzip data",),
         "a gzip of a tcpdump listing"),
]  # fmt: skip
