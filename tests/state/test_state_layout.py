"""The state is a room of its own at a low floor (issue #24): no `im/state.py`, one
small API, and no module reaches it through an import hidden inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "tools" / "oscar_iac"
STATE = PKG / "state"
# What the state room may stand on: the standard library and these two floor-0 modules.
FLOOR = {"oscar_iac.errors", "oscar_iac.paths"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, inside a function) for every `oscar_iac` import of a file."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and (child.module or "").startswith("oscar_iac"):
                module = child.module or ""
                names = [f"{module}.{a.name}" for a in child.names]
                found.extend([(module, in_function)] + [(n, in_function) for n in names])
            walk(child, nested)

    walk(tree, False)
    return found


def test_state_lives_outside_im() -> None:
    assert not (PKG / "im" / "state.py").exists()
    assert (STATE / "__init__.py").is_file()
    assert len((STATE / "__init__.py").read_text().splitlines()) <= 40
    for module in STATE.glob("*.py"):
        text = module.read_text()
        assert text.startswith('"""'), f"{module.name} opens without saying what it holds"
        assert len(text.splitlines()) <= 600


def test_state_stands_on_the_floor_only() -> None:
    for module in STATE.glob("*.py"):
        for name, _ in _imports(module):
            top = ".".join(name.split(".")[:2])
            assert top in FLOOR or top == "oscar_iac.state", f"{module.name} imports {name}"


def test_nobody_reaches_the_state_from_inside_a_function_or_through_im() -> None:
    for module in PKG.rglob("*.py"):
        for name, in_function in _imports(module):
            assert not name.startswith("oscar_iac.im.state"), f"{module} imports {name}"
            if name == "oscar_iac.state" or name.startswith("oscar_iac.state."):
                in_cli = module.parent.name == "cli"  # the CLI imports lazily for start-up
                assert in_cli or not in_function, f"{module} imports {name} in a function"


def test_the_api_is_small() -> None:
    import oscar_iac.state as state

    assert set(state.__all__) == {
        "Deployment",
        "PhaseRecord",
        "claim",
        "load",
        "lock",
        "now",
        "record_phase",
        "save",
        "site_state_dir",
        "state_path",
        "state_root",
    }
