"""The JSON report, schema 1.

Field names are stable: a new field may be added within a schema version, but
none is renamed or removed without bumping ``schema``. Times: ``time`` is
seconds since the capture's first frame (as Wireshark shows by default),
``timestamp`` the absolute UTC time in ISO 8601 with microseconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from analyzer import __version__
from analyzer.findings import SCHEMA_VERSION, CaptureSummary, Evidence, Finding, Report

NS = 1_000_000_000


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    try:
        dt = datetime.fromtimestamp(ts // NS, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ts % NS) // 1000:06d}Z"


def rel(ts: int, first_ts: int | None) -> float:
    return round((ts - (first_ts or ts)) / NS, 6)


def evidence_dict(e: Evidence, first_ts: int | None) -> dict[str, Any]:
    return {
        "frame": e.frame,
        "time": rel(e.ts, first_ts),
        "timestamp": iso(e.ts),
        "src": e.src,
        "dst": e.dst,
        "what": e.what,
    }


def finding_dict(f: Finding, first_ts: int | None) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity.label,
        "confidence": f.confidence,
        "summary": f.summary,
        "explanation": f.explanation,
        "symptom": f.symptom,
        "client": f.client,
        "registry": f.registry,
        "realm": f.realm,
        "facts": dict(f.facts),
        "evidence": [evidence_dict(e, first_ts) for e in f.evidence],
        "remediation": [
            {"title": r.title, "text": r.text, "commands": list(r.commands)} for r in f.remediation
        ],
    }


def summary_dict(s: CaptureSummary) -> dict[str, Any]:
    return {
        "source": s.source,
        "format": s.format,
        "compression": s.compression,
        "engine": s.engine,
        "frames": s.frames,
        "bytes": s.bytes_read,
        "first_timestamp": iso(s.first_ts),
        "last_timestamp": iso(s.last_ts),
        "duration_s": round(s.duration_s, 6),
        "complete": s.complete,
        "linktypes": list(s.linktypes),
        "tcp_connections": s.tcp_connections,
        "udp_datagrams": s.udp_datagrams,
        "http_requests": s.http_requests,
        "http_responses": s.http_responses,
        "http_exchanges": s.http_exchanges,
        "dns_messages": s.dns_messages,
        "weirds": [{"name": n, "count": c, "first_frame": fr} for n, c, fr in s.weirds],
        "read_problems": [
            {"offset": p.offset, "frame": p.frame, "message": p.message} for p in s.read_problems
        ],
        "notes": list(s.notes),
    }


def report_dict(report: Report) -> dict[str, Any]:
    first = report.summary.first_ts
    worst = report.worst
    return {
        "schema": SCHEMA_VERSION,
        "tool": {"name": "pushcap", "version": __version__},
        "capture": summary_dict(report.summary),
        "verdict": worst.label if worst is not None else "clean",
        "findings": [finding_dict(f, first) for f in report.findings],
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
