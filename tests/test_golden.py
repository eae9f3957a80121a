"""Every capture in captures/ gives exactly its committed JSON report (tests/golden/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden_update import ROOT, captures, golden_path, report_for

CAPTURES = captures()


def test_there_are_captures() -> None:
    assert len(CAPTURES) >= 10


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(ROOT / "captures")))
def test_golden(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    expected_path = golden_path(capture)
    assert expected_path.exists(), (
        f"no golden report for {capture.name}: run `make golden` and review it"
    )
    expected = json.loads(expected_path.read_text())
    assert report_for(capture) == expected
