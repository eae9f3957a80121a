"""What a report says about TLS connections it could not read (both engines).

pushcap's own decoder never decrypts TLS, and the tshark engine decrypts only
the sessions its key log holds secrets for. When the capture shows no Bearer
challenge at all, the registry's HTTP may be inside such a connection: the note
says how many stayed encrypted, where they went, and what would reveal them.
"""

from __future__ import annotations

from typing import Final

MAX_EXAMPLES: Final = 3  # servers named in the note


def looks_like_tls(payload: memoryview | bytes) -> bool:
    """A TLS handshake record (ClientHello or ServerHello) opens the stream: 0x16 0x03 0x00..0x04."""
    return len(payload) >= 3 and payload[0] == 0x16 and payload[1] == 0x03 and payload[2] <= 0x04


def encrypted_note(count: int, examples: list[str]) -> str:
    """The note for ``count`` TLS connections that stayed encrypted, ``examples`` their servers."""
    many = "s" if count != 1 else ""
    them = "them" if many else "it"
    return (
        f"{count} TLS connection{many} stayed encrypted ({', '.join(examples)}): if the registry "
        f"or its token service is behind {them}, its HTTP (the 401 challenge and the token "
        "realm) is inside and cannot be seen. To reveal it, record the client's TLS key log "
        "while capturing (SSLKEYLOGFILE=FILE: curl and Python honour it; docker and "
        "containerd do not) and run `pushcap analyze --engine tshark --tls-keylog FILE "
        "CAPTURE`; or capture where TLS ends (between a TLS-terminating proxy and the "
        "registry)"
    )
