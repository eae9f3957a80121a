"""Typed results: findings, their evidence and remediation, and the report.

Everything here is a frozen, slotted dataclass. Renderers read these; nothing
here knows how it will be shown. Times are the capture's own (integer
nanoseconds since the epoch); renderers show them relative to the first frame,
as Wireshark does by default, and absolute in JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

SCHEMA_VERSION = 1


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One row of a finding's timeline: a frame the user can jump to in Wireshark."""

    frame: int
    ts: int
    src: str  # "192.168.1.100:52110" or "[2001:db8::1]:8200"
    dst: str
    what: str


@dataclass(frozen=True, slots=True)
class Remediation:
    """A fix: where it applies, what to do, and the exact commands."""

    title: str
    text: str
    commands: tuple[str, ...] = ()


Fact = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # stable id, e.g. "token-service-unreachable"
    severity: Severity
    confidence: str  # "high" | "medium" | "low"
    summary: str  # one line
    explanation: str  # a short paragraph: what happened and why it matters
    symptom: str  # what the user most likely saw on the client
    client: str | None
    registry: str | None  # host:port the client reached
    realm: str | None  # the realm URL as challenged (secrets redacted)
    facts: tuple[tuple[str, Fact], ...] = ()  # stable machine-readable keys
    evidence: tuple[Evidence, ...] = ()
    remediation: tuple[Remediation, ...] = ()

    def fact(self, key: str) -> Fact:
        return dict(self.facts).get(key)


@dataclass(frozen=True, slots=True)
class ReadIssue:
    """A problem met while reading the capture itself."""

    offset: int
    frame: int | None
    message: str


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    source: str
    format: str
    compression: str | None
    frames: int
    bytes_read: int
    first_ts: int | None
    last_ts: int | None
    complete: bool  # read to a clean end of file
    linktypes: tuple[int, ...]
    tcp_connections: int
    udp_datagrams: int
    http_requests: int
    http_responses: int
    http_exchanges: int
    dns_messages: int
    weirds: tuple[tuple[str, int, int], ...]  # (name, count, first frame)
    read_problems: tuple[ReadIssue, ...]
    notes: tuple[str, ...]  # things the user should know about what was (not) analyzed
    engine: str  # what read the frames: "default" (pushcap's decoder) or "tshark"

    @property
    def duration_s(self) -> float:
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return (self.last_ts - self.first_ts) / 1e9


@dataclass(frozen=True, slots=True)
class Report:
    summary: CaptureSummary
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)
