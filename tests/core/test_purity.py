"""The core stays light: importing it pulls in no capture or terminal libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scapy", "pyshark", "rich")
CORE = ("analyzer.pipeline", "analyzer.detectors", "analyzer.findings")

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
heavy = {"scapy", "pyshark", "rich"}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def imported_heavy(*modules: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_nothing_heavy(module: str) -> None:
    assert imported_heavy(module) == []


def test_core_together_imports_nothing_heavy() -> None:
    assert imported_heavy(*CORE) == []


def test_probe_does_see_heavy_imports() -> None:
    # The check itself works: scapy (a test dependency) is seen when imported.
    assert "scapy" in imported_heavy("scapy")
    assert all(m.split(".")[0] in HEAVY for m in imported_heavy("scapy"))
