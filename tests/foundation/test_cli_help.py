"""Every command (and sub-command) answers --help with an example."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import typer.main

from foundation.conftest import CliResult
from oscar_iac.cli.main import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    sub = getattr(group, "commands", None)
    if sub:
        for name, cmd in sub.items():
            yield from _commands(cmd, (*path, name))
    else:
        yield path


def test_every_command_has_help_with_an_example(cli: Callable[..., CliResult]) -> None:
    commands = list(_commands(typer.main.get_command(app)))
    assert ("validate",) in commands and ("render",) in commands
    missing = []
    for path in commands:
        result = cli(*path, "--help")
        assert result.code == 0, (path, result.err)
        if "Example" not in result.out:
            missing.append(" ".join(path))
    assert not missing, f"commands whose --help has no example: {missing}"
