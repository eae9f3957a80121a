"""Real public captures (../shared/corpus): read without a traceback, and no false alarm.

None of these holds a registry token flow, so any finding at all is a false alarm.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from analyzer.errors import AnalyzerError
from analyzer.pipeline import AnalyzerOptions
from analyzer.runner import analyze_file

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(
        not (CORPUS / "MANIFEST.tsv").exists(), reason=f"corpus not present at {CORPUS}"
    ),
]


def manifest() -> list[dict[str, str]]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        return []
    with (CORPUS / "MANIFEST.tsv").open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = manifest()
# Files that are not a pcap/pcapng we read: the error must name what they are.
NOT_READABLE = {"c_other_format": "snoop", "c_zstd": "zstd"}


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_corpus_file(row: dict[str, str]) -> None:
    path = CORPUS / row["file"]
    categories = set(row["category"].split(";"))
    expected_error = next((word for cat, word in NOT_READABLE.items() if cat in categories), None)
    try:
        report = analyze_file(str(path), AnalyzerOptions())
    except AnalyzerError as err:
        text = f"{err.message} {err.hint or ''}".lower()
        if expected_error:
            assert expected_error in text
            return
        # Only files with nothing analyzable may fail: no packets, or no link type we decode.
        assert "no packet" in text or "link type" in text or "holds no packets" in text, err.message
        return
    assert expected_error is None, f"{row['file']} should not be readable"
    assert report.findings == (), [f.summary for f in report.findings]
    if categories & {"c_truncated_file", "c_corrupt"}:
        assert report.summary.read_problems, "a damaged file must say where reading stopped"
        assert report.summary.complete is False
