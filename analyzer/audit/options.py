"""What ``pushcap audit``'s options take, light enough to import at startup."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# File names a directory is searched for (case-insensitive), compressed ones included.
DEFAULT_GLOBS: Final = (
    "*.pcap",
    "*.pcapng",
    "*.cap",
    "*.dmp",
    "*.pcap.gz",
    "*.pcapng.gz",
    "*.cap.gz",
)


class FailOn(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"


class AuditFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"
    junit = "junit"
