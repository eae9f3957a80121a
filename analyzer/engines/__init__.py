"""Engines: what turns a capture file into the pipeline's observations.

- ``default``: pushcap's own decoder (:mod:`analyzer.pipeline`), pure Python,
  one pass, memory bounded by live connections.
- ``tshark``: Wireshark's dissectors through ``tshark`` (:mod:`analyzer.engines.tshark`):
  slower, but it decrypts TLS given a key log and decodes HTTP/2.

Both feed the same :class:`~analyzer.observations.Observations`, DNS tracker,
detectors and renderers, so the same capture gives the same findings.
"""

from __future__ import annotations

from enum import StrEnum

from analyzer.errors import UsageError


class Engine(StrEnum):
    default = "default"
    tshark = "tshark"


def check_keylog_engine(engine: Engine, keylog: str | None) -> None:
    """A TLS key log only means something to the tshark engine: say so before any work."""
    if keylog is not None and engine is not Engine.tshark:
        raise UsageError("--tls-keylog needs the tshark engine", hint="add --engine tshark")
