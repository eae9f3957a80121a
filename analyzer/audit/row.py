"""What one audited file comes back as, and the settings each file is audited with.

Both cross a process boundary (a local worker process, a Dask worker), so
both are plain data: an :class:`AuditRow` turns into a JSON object and back
without loss, and the report inside it is already the schema-1 dict of
``analyze --format json`` (redacted unless ``--show-secrets``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from analyzer.findings import Severity

STATUS_OK: Final = "ok"
STATUS_ERROR: Final = "error"
_SLIM_FINDING_KEYS = (
    "rule",
    "severity",
    "confidence",
    "summary",
    "symptom",
    "client",
    "registry",
    "realm",
)


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Everything a worker needs to audit one file; the same for every file of a batch."""

    show_secrets: bool = False
    timeout_s: float = 600.0  # wall-clock bound per file; 0 = none
    max_memory_mb: int = 2048  # address-space bound per worker (RLIMIT_AS); 0 = none
    engine: str = "default"  # analyzer.engines.Engine: "default" or "tshark"
    tls_keylog: str | None = None  # tshark engine: SSLKEYLOGFILE key log for every file
    # Internal seam for tests: "module:function" used instead of runner.analyze_file.
    analyze_hook: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AuditSettings:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class AuditRow:
    """The outcome of one file: its report, or why there is none."""

    path: str
    status: str  # STATUS_OK | STATUS_ERROR
    report: dict[str, Any] | None = None  # analyzer.render.jsonout.report_dict
    error: str | None = None
    hint: str | None = None
    elapsed_s: float = 0.0
    peak_rss_kb: int | None = None  # of the worker process while it read this file
    size: int | None = None  # bytes on disk (compressed size for .gz)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def worst(self) -> Severity | None:
        """The most severe finding, or None (clean or unreadable)."""
        if self.report is None:
            return None
        verdict = self.report.get("verdict")
        if not isinstance(verdict, str) or verdict == "clean":
            return None
        return Severity.parse(verdict)

    @property
    def findings(self) -> list[dict[str, Any]]:
        if self.report is None:
            return []
        found = self.report.get("findings")
        return found if isinstance(found, list) else []

    @property
    def cut_short(self) -> str | None:
        """Why reading stopped before the end of the capture (truncated, damaged), if it did."""
        capture = (self.report or {}).get("capture") or {}
        if capture.get("complete", True):
            return None
        problems = capture.get("read_problems") or []
        return str(problems[0].get("message")) if problems else "the capture ends early"

    def slim(self) -> AuditRow:
        """This row with only what the table and JUnit need: kept for every file of a batch."""
        if self.report is None:
            return self
        capture = self.report.get("capture") or {}
        findings = [
            {
                **{k: f.get(k) for k in _SLIM_FINDING_KEYS},
                "evidence": (f.get("evidence") or [])[:1],
                "remediation": [{"title": r.get("title")} for r in f.get("remediation") or []],
            }
            for f in self.findings
        ]
        report = {
            "verdict": self.report.get("verdict"),
            "capture": {
                "frames": capture.get("frames"),
                "complete": capture.get("complete", True),
                "read_problems": (capture.get("read_problems") or [])[:1],
            },
            "findings": findings,
        }
        return replace(self, report=report)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRow:
        return cls(**data)

    @classmethod
    def failed(
        cls, path: str, error: str, hint: str | None = None, *, elapsed_s: float = 0.0
    ) -> AuditRow:
        return cls(
            path=path,
            status=STATUS_ERROR,
            error=clean_text(error),
            hint=clean_text(hint) if hint is not None else None,
            elapsed_s=elapsed_s,
        )


def clean_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (undecodable file names) become escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")
    return text


def clean_data(value: Any) -> Any:
    """A JSON-like value with every string made safe to write as UTF-8."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(v) for v in value]
    return value
