"""The real TLS capture (captures/real/tls-founding-case.*): HTTPS with HTTP/2, read with and without its key log."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.engines.tshark import analyze_with_tshark
from analyzer.pipeline import AnalyzerOptions
from analyzer.runner import analyze_file

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(
        shutil.which("tshark") is None,
        reason="tshark is not installed (make system-deps installs it)",
    ),
]

REAL = Path(__file__).resolve().parents[2] / "captures" / "real"
PCAP = REAL / "tls-founding-case.pcap"
KEYLOG = REAL / "tls-founding-case.keylog"


@pytest.mark.parametrize(
    ("name", "request_frame", "challenge_frame", "first_syn"),
    [("tls-founding-case", 10, 15, 21), ("tls-founding-case-http1", 9, 11, 16)],
    ids=["http2", "http1.1"],
)
def test_with_the_key_log_the_founding_case_is_diagnosed(
    name: str, request_frame: int, challenge_frame: int, first_syn: int
) -> None:
    pcap, keylog = REAL / f"{name}.pcap", REAL / f"{name}.keylog"
    report = analyze_with_tshark(str(pcap), AnalyzerOptions(), keylog=str(keylog))
    assert [f.rule for f in report.findings] == ["token-service-unreachable"]
    finding = report.findings[0]
    assert finding.client == "192.168.1.100"
    assert finding.registry == "203.0.113.230:8200"
    assert finding.realm == "http://172.16.200.100:8200/service/token"
    assert finding.fact("attempts") == 3
    assert finding.fact("syn_retransmissions") == 18
    assert finding.fact("realm_internal") is True
    assert finding.fact("api_version") == "registry/2.0"
    rows = {e.frame: e.what for e in finding.evidence}
    assert rows[request_frame] == "GET /v2/"
    assert rows[challenge_frame].startswith(
        '401 Unauthorized; WWW-Authenticate: Bearer realm="http://172.16.200.100:8200/service/token"'
    )
    assert rows[first_syn] == "SYN (attempt 1)"
    assert not any("stayed encrypted" in n for n in report.summary.notes)


def test_without_the_key_log_a_note_says_what_stayed_encrypted() -> None:
    report = analyze_with_tshark(str(PCAP), AnalyzerOptions())
    assert report.findings == ()
    [note] = [n for n in report.summary.notes if "stayed encrypted" in n]
    assert "203.0.113.230:8200" in note
    assert "--tls-keylog" in note
    assert "SSLKEYLOGFILE" in note


def test_a_key_log_for_other_sessions_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.keylog"
    other.write_text("CLIENT_RANDOM " + "00" * 32 + " " + "11" * 48 + "\n")
    report = analyze_with_tshark(str(PCAP), AnalyzerOptions(), keylog=str(other))
    assert report.findings == ()
    assert any("could not be decrypted with the key log" in n for n in report.summary.notes)


def test_the_default_engine_sees_no_http_in_it() -> None:
    assert analyze_file(str(PCAP), AnalyzerOptions()).findings == ()


def test_cli() -> None:
    runner = CliRunner()
    args = ["analyze", "--engine", "tshark", "--tls-keylog", str(KEYLOG), str(PCAP), "-f", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert '"rule": "token-service-unreachable"' in result.output
    result = runner.invoke(app, ["analyze", "--engine", "tshark", str(PCAP)])
    assert result.exit_code == 0, result.output
    assert "stayed encrypted" in result.output
