"""The default engine cannot read TLS: it says so, and what would reveal the traffic.

Both captures are real (captures/real/*.md say how they were recorded).
"""

from __future__ import annotations

from pathlib import Path

from analyzer.pipeline import AnalyzerOptions
from analyzer.runner import analyze_file

REAL = Path(__file__).resolve().parent.parent / "captures" / "real"


def _encrypted_notes(name: str) -> list[str]:
    report = analyze_file(str(REAL / name), AnalyzerOptions())
    return [n for n in report.summary.notes if "stayed encrypted" in n]


def test_https_registry_without_a_challenge_in_clear_gets_the_note() -> None:
    # curl over TLS to the registry; its 401 and realm are inside TLS.
    [note] = _encrypted_notes("tls-founding-case.pcap")
    assert note.startswith("1 TLS connection stayed encrypted (203.0.113.230:8200)")
    assert "--engine tshark --tls-keylog FILE CAPTURE" in note


def test_https_probe_answered_in_plain_http_is_not_encrypted() -> None:
    # skopeo tries TLS first; the plain-HTTP registry answers 400 and skopeo falls back.
    report = analyze_file(str(REAL / "healthy-push.pcap"), AnalyzerOptions())
    assert not [n for n in report.summary.notes if "TLS" in n]
    # The ClientHello is not parsed as a broken HTTP request, so its 400 is no orphan.
    assert "http_response_without_request" not in {name for name, _, _ in report.summary.weirds}
    assert report.findings[0].rule == "token-flow-ok"
