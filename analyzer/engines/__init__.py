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


class Engine(StrEnum):
    default = "default"
    tshark = "tshark"
