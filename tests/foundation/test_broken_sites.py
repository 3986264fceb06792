"""Every broken site under broken/ exits 2, names file + line + field, and writes nothing.

Each file says in its first two lines which field its error must name and a piece
of the text that must explain what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from foundation.conftest import CliResult

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yml"))


def expectations(path: Path) -> tuple[str, str]:
    head = path.read_text().splitlines()[:2]
    field = re.sub(r"^# expect-field: ?", "", head[0])
    text = re.sub(r"^# expect-text: ?", "", head[1])
    return field, text


def test_there_are_enough_broken_sites() -> None:
    assert len(BROKEN) >= 15


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_validate_names_the_field(path: Path, cli: Callable[..., CliResult]) -> None:
    field, text = expectations(path)
    result = cli("validate", str(path))
    assert result.code == 2, result.err
    assert str(path) in result.err
    if field:
        # file:line: field: message
        assert re.search(rf"{re.escape(str(path))}:\d+: {re.escape(field)}: ", result.err), (
            result.err
        )
    assert text in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_render_writes_nothing(path: Path, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("render", str(path), "-o", str(out))
    assert result.code == 2
    assert not out.exists()
