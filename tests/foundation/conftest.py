"""Helpers for the foundation tests: run the real CLI in-process and capture its result."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = ["local", "egi-example", "hosts-example"]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Invoke `oscar-iac ARGS...` exactly as the console script does (its run())."""
    from oscar_iac.cli.main import run

    def invoke(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["oscar-iac", *args])
        capsys.readouterr()
        code = 0
        try:
            run()
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
