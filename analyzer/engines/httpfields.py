"""Reading HTTP/1.x facts from tshark's fields and bytes: pure helpers for :mod:`analyzer.engines.httpmsgs`."""

from __future__ import annotations

import re
from http import HTTPStatus

from analyzer.engines.fields import Layers

_CHUNK_START = re.compile(rb"[0-9A-Fa-f]+[ \t]*(;[^\r\n]*)?\r\n")


def auth_scheme(value: str | None) -> str | None:
    parts = value.split() if value else []
    return parts[0].lower() if parts else None


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def dechunk(raw: bytes) -> tuple[bytes, bool]:
    """A chunked body's data so far, and whether its last chunk was seen."""
    if not _CHUNK_START.match(raw):
        return raw, False  # not chunk framing (tshark already de-chunked it)
    out = bytearray()
    pos = 0
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out), False
        try:
            size = int(raw[pos:eol].split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            return bytes(raw), False  # not chunk framing after all (already de-chunked)
        if size == 0:
            return bytes(out), True
        out += raw[eol + 2 : eol + 2 + size]
        if eol + 2 + size > len(raw):
            return bytes(out), False
        pos = eol + 2 + size + 2


_START_LINE = re.compile(
    rb"HTTP/1\.[01] (?P<status>\d{3})(?: (?P<reason>[^\r\n]*))?\r\n"
    rb"|(?P<method>[A-Z]{3,10}) (?P<target>[^ \r\n]+) HTTP/1\.[01]\r\n"
)
_HEADER_FIELDS = {
    "host": "http_host",
    "authorization": "http_authorization",
    "www-authenticate": "http_www_authenticate",
    "server": "http_server",
    "location": "http_location",
    "content-length": "http_content_length_header",
    "transfer-encoding": "http_transfer_encoding",
}


def recover_head(data: bytes) -> Layers | None:
    """The last complete message head in bytes tshark reassembled, as tshark's fields would give it."""
    end = data.rfind(b"\r\n\r\n")
    if end < 0:
        return None
    starts = list(_START_LINE.finditer(data, 0, end + 2))
    if not starts:
        return None
    start = starts[-1]
    layers: Layers = {}
    if start.group("status"):
        layers["http_response_code"] = [start.group("status").decode()]
        layers["http_response_phrase"] = [(start.group("reason") or b"").decode("latin-1")]
    else:
        layers["http_request_method"] = [start.group("method").decode()]
        layers["http_request_uri"] = [start.group("target").decode("latin-1")]
    lines = data[start.end() : end].decode("latin-1").split("\r\n")
    line_key = "http_response_line" if start.group("status") else "http_request_line"
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        layers.setdefault(line_key, []).append(line + "\r\n")
        key = _HEADER_FIELDS.get(name.strip().lower())
        if key is not None:
            layers.setdefault(key, []).append(value.strip())
    body = data[end + 4 :]
    if body:
        layers["http_file_data"] = [body.decode("utf-8", "replace")]
    return layers


def nth(layers: Layers, key: str, i: int, n: int) -> str | None:
    """The i-th of n messages' value, when the field occurs once per message (else unknown)."""
    values = layers.get(key)
    if not values:
        return None
    if len(values) == n:
        return values[i]
    return values[0] if n == 1 else None


def header_line(lines: list[str], name: str) -> str | None:
    prefix = name + ":"
    for line in lines:
        if line[: len(prefix)].lower() == prefix:
            return line[len(prefix) :].strip()
    return None
