"""The tshark engine's errors: each says what went wrong and how to fix it, and exits 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.engines import tshark as engine

CAPTURE = Path(__file__).resolve().parents[2] / "captures" / "synthetic" / "founding-case.pcap"
needs_tshark = pytest.mark.skipif(
    shutil.which("tshark") is None, reason="tshark is not installed (make system-deps installs it)"
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["analyze", *args])
    return result.exit_code, result.output


def test_missing_tshark_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    code, out = run("--engine", "tshark", str(CAPTURE))
    assert code == 2
    assert "needs `tshark`, which is not installed" in out
    assert "apt-get install tshark" in out


def test_keylog_needs_the_tshark_engine() -> None:
    code, out = run("--tls-keylog", "keys.log", str(CAPTURE))
    assert code == 2
    assert "--engine tshark" in out


def test_unreadable_keylog(tmp_path: Path) -> None:
    code, out = run("--engine", "tshark", "--tls-keylog", str(tmp_path / "none"), str(CAPTURE))
    assert code == 2
    assert "cannot read the TLS key log" in out


def test_missing_capture(tmp_path: Path) -> None:
    code, out = run("--engine", "tshark", str(tmp_path / "none.pcap"))
    assert code == 2
    assert "does not exist" in out


@pytest.mark.tshark
@needs_tshark
def test_not_a_capture(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a capture\n" * 10)
    code, out = run("--engine", "tshark", str(bogus))
    assert code == 2
    assert "tshark could not read it" in out


@pytest.mark.tshark
@needs_tshark
def test_empty_capture(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(CAPTURE.read_bytes()[:24])  # the file header, no packet
    code, out = run("--engine", "tshark", str(empty))
    assert code == 2
    assert "holds no packets" in out


@pytest.mark.tshark
@needs_tshark
def test_a_capture_cut_short_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(CAPTURE.read_bytes()[:-30])
    code, out = run("--engine", "tshark", "-f", "json", str(cut))
    assert code == 1, out
    assert '"complete": false' in out
    assert "token-service-unreachable" in out
