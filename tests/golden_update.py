"""Golden reports: the JSON report of every capture in captures/, compared in tests/test_golden.py.

`make golden` rewrites them after a deliberate change; review the diff before committing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analyzer.pipeline import AnalyzerOptions
from analyzer.render.jsonout import report_dict
from analyzer.runner import analyze_file

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
GOLDEN = ROOT / "tests" / "golden"
SUFFIXES = (".pcap", ".pcapng", ".cap", ".gz")


def captures() -> list[Path]:
    return sorted(
        p
        for p in CAPTURES.rglob("*")
        if p.is_file() and p.name.endswith(SUFFIXES) and "broken" not in p.parts
    )


def golden_path(capture: Path) -> Path:
    rel = capture.relative_to(CAPTURES)
    return GOLDEN / (str(rel).replace("/", "__") + ".json")


def report_for(capture: Path) -> dict[str, Any]:
    report = analyze_file(str(capture.relative_to(ROOT)), AnalyzerOptions())
    doc = report_dict(report)
    doc.pop("tool")  # the version changes; nothing else may without a reviewed diff
    return doc


def main() -> None:
    import os

    os.chdir(ROOT)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for capture in captures():
        path = golden_path(capture)
        path.write_text(json.dumps(report_for(capture), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
