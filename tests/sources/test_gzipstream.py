"""GzipStream against gzip.GzipFile: the same bytes, the same checks, the same errors.

GzipStream exists for speed (few big zlib calls; see its module); these
properties keep it a drop-in for what it replaced. On damaged data it may
hand out more of what precedes the damage than GzipFile (it salvages down to
the byte), never less, and never a byte that is not in the original.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.sources.gzipstream import GzipStream

ERRORS = (OSError, EOFError, zlib.error)


def _drain(stream: GzipStream | gzip.GzipFile, size: int) -> tuple[bytes, type | None]:
    out = bytearray()
    try:
        while piece := stream.read1(size):
            out += piece
    except ERRORS as exc:
        return bytes(out), type(exc)
    return bytes(out), None


def _both(data: bytes, size: int = 1 << 16) -> tuple[tuple[bytes, type | None], ...]:
    ours = _drain(GzipStream(io.BytesIO(data)), size)
    theirs = _drain(gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), size)
    return ours, theirs


def _member(body: bytes, *, name: bytes | None = None, comment: bytes | None = None,
            extra: bytes | None = None, hcrc: bool = False) -> bytes:  # fmt: skip
    flags = (4 if extra is not None else 0) | (8 if name is not None else 0)
    flags |= (16 if comment is not None else 0) | (2 if hcrc else 0)
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00\x00\xff"
    if extra is not None:
        header += struct.pack("<H", len(extra)) + extra
    for text in (name, comment):
        if text is not None:
            header += text + b"\x00"
    if hcrc:
        header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body_z = deflate.compress(body) + deflate.flush()
    return header + body_z + struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)


_bodies = st.one_of(st.binary(max_size=3000), st.binary(max_size=40).map(lambda b: b * 200))


@settings(max_examples=200, deadline=None)
@given(
    bodies=st.lists(_bodies, min_size=1, max_size=3),
    padding=st.integers(0, 3),
    name=st.none() | st.binary(max_size=10).map(lambda b: b.replace(b"\x00", b"")),
    comment=st.none() | st.binary(max_size=10).map(lambda b: b.replace(b"\x00", b"")),
    extra=st.none() | st.binary(max_size=10),
    hcrc=st.booleans(),
    size=st.sampled_from([1, 7, 512, 1 << 16]),
)
def test_valid_members_read_the_same(
    bodies: list[bytes],
    padding: int,
    name: bytes | None,
    comment: bytes | None,
    extra: bytes | None,
    hcrc: bool,
    size: int,
) -> None:
    data = b"".join(
        _member(b, name=name, comment=comment, extra=extra, hcrc=hcrc) + b"\x00" * padding
        for b in bodies
    )
    ours, theirs = _both(data, size)
    assert ours == theirs == (b"".join(bodies), None)


@settings(max_examples=300, deadline=None)
@given(body=_bodies, cut=st.integers(0, 10_000))
def test_cut_anywhere(body: bytes, cut: int) -> None:
    data = _member(body)
    cut %= len(data) + 1
    ours, theirs = _both(data[:cut])
    assert ours[1] == theirs[1]
    assert theirs[0] == ours[0] or (body.startswith(ours[0]) and ours[0].startswith(theirs[0]))


@settings(max_examples=300, deadline=None)
@given(
    body=_bodies, at=st.integers(0, 10_000), value=st.integers(0, 255), tail=st.binary(max_size=12)
)
def test_damaged_anywhere(body: bytes, at: int, value: int, tail: bytes) -> None:
    data = bytearray(_member(body) + tail)
    at %= len(data)
    data[at] = value
    ours, theirs = _both(bytes(data))
    assert (ours[1] is None) == (theirs[1] is None)
    # Salvaged down to the byte: what GzipFile hands out, or more of the same data.
    assert ours[0].startswith(theirs[0])
    if theirs[1] is None:
        assert ours == theirs


def test_the_errors_gzipfile_gives() -> None:
    good = _member(b"x" * 100)
    bad_crc = good[:-8] + struct.pack("<II", 0, 100)
    with pytest.raises(gzip.BadGzipFile, match="CRC check failed"):
        _drain_raise(bad_crc)
    with pytest.raises(gzip.BadGzipFile, match="Incorrect length"):
        _drain_raise(good[:-4] + struct.pack("<I", 99))
    with pytest.raises(gzip.BadGzipFile, match="Not a gzipped file"):
        _drain_raise(good + b"garbage!")
    with pytest.raises(EOFError):
        _drain_raise(good[:-3])


def _drain_raise(data: bytes) -> bytes:
    stream = GzipStream(io.BytesIO(data))
    out = b""
    while piece := stream.read1(1 << 16):
        out += piece
    return out
