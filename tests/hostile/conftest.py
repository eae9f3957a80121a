"""Fixtures for the hostile tests: the broken corpus's case table and big inputs built once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.hostile._run import ROOT

BROKEN = ROOT / "captures" / "broken"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "big: builds inputs of tens of MB at test time (bounded; scaled by PUSHCAP_BIG)"
    )


def load_broken(name: str) -> ModuleType:
    """A module of captures/broken (its helpers import each other by plain name)."""
    if str(BROKEN) not in sys.path:
        sys.path.insert(0, str(BROKEN))
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, BROKEN / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("big")
