"""No audit format brings back a secret the analyzer redacted."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from tests.audit import BASIC, healthy

runner = CliRunner()


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets")
    healthy(root / "ok.pcap")
    healthy(root / "denied.pcap", token_status=401)
    healthy(root / "broken.pcap", token_status=500)
    return root


@pytest.mark.parametrize("fmt", ["table", "jsonl", "csv", "junit"])
def test_no_format_shows_credentials(captures: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["audit", str(captures), "-f", fmt, "--fail-on", "info"])
    to_file = runner.invoke(app, ["audit", str(captures), "-f", fmt, "-o", str(out)])
    assert result.exit_code == 1 and to_file.exit_code == 1, result.output
    everything = result.stdout + result.stderr + to_file.stdout + to_file.stderr + out.read_text()
    assert "token-request-failed" in everything and "token-flow-ok" in everything
    assert BASIC not in everything
    assert "account=admin" not in everything
    assert "eyJhbGciOiJSUzI1NiJ9" not in everything


def test_show_secrets_is_passed_through(captures: Path) -> None:
    shown = runner.invoke(app, ["audit", str(captures), "-f", "jsonl", "--show-secrets"])
    assert "account=admin" in shown.stdout
    assert BASIC not in shown.stdout  # header values are never kept, even when asked
