"""Foundation tests: where the repository and the sample sites are."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import CliResult

REPO = Path(__file__).resolve().parents[2]
SAMPLES = ["local", "egi-example", "hosts-example"]

__all__ = ["REPO", "SAMPLES", "CliResult"]
