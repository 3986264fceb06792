"""Broken service definitions given to `oscar-iac services try`: exit 2 naming the FDL
file, its line and the field, checked against OSCAR's own rules before anything runs
(no podman container is started: the definition is refused first)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import CliResult

BROKEN = Path(__file__).parent / "broken" / "services"
PREFIX = "functions.oscar[0].oscar."

# file -> (field named, line, text that says what is expected); line None: whole file.
CASES: dict[str, tuple[str, int | None, str]] = {
    "name-too-long.yml": (PREFIX + "name", 4, "at most 39"),
    "name-capitals.yml": (PREFIX + "name", 4, "lowercase letters"),
    "env-number.yml": (PREFIX + "environment.variables.THREADS", 9, "expected a string, got int"),
    "env-bool.yml": (PREFIX + "environment.variables.DEBUG", 9, "expected a string, got bool"),
    "env-list.yml": (PREFIX + "environment.secrets.TOKENS", 9, "expected a string, got list"),
    "memory-lots.yml": (PREFIX + "memory", 8, "Kubernetes quantity > 0"),
    "cpu-negative.yml": (PREFIX + "cpu", 8, "Kubernetes quantity > 0"),
    "cpu-zero.yml": (PREFIX + "cpu", 8, "Kubernetes quantity > 0"),
    "input-prefix-number.yml": (PREFIX + "input[0].prefix", 9, "list of strings"),
    "image-semicolon.yml": (PREFIX + "image", 5, "container image reference"),
    "not-utf8.yml": ("", 3, "not UTF-8"),
    "script-not-utf8.yml": ("", 1, "not UTF-8"),
    "alias-bomb.yml": ("", None, "expands to more than"),
    "deep-nesting.yml": ("", None, "levels deep"),
    "unhashable-key.yml": ("", 4, "a key must be a plain value"),
}


def test_every_case_has_a_file() -> None:
    assert sorted(CASES) == sorted(p.name for p in BROKEN.glob("*.yml"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_service_case_exits_2_naming_file_line_and_field(
    name: str, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    field, line, text = CASES[name]
    sample = tmp_path / "input.txt"
    sample.write_text("x")
    result = cli("services", "try", str(BROKEN / name), "--input", str(sample))
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    # the script file named by script-not-utf8.yml is the file the problem is about
    path = BROKEN / ("ok.sh" if name == "script-not-utf8.yml" else name)
    where = re.escape(str(path)) + (f":{line}" if line else r"(:\d+)?")
    expected = rf"{where}:" + (rf" {re.escape(field)}:" if field else "")
    assert re.search(expected, result.err), result.err
    assert text in result.err, result.err
