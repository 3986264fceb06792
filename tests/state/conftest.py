"""State tests: each gets its own state root and a copy of the embedded local site."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(root))
    return root


@pytest.fixture
def local_site(tmp_path: Path, state_root: Path) -> Path:
    site = tmp_path / "local"
    shutil.copytree(REPO / "inventories" / "local", site)
    return site
