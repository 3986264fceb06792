"""Shared fixture `cli`: run `oscar-iac ARGS...` in-process exactly as the console script."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
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
