"""The listener package stays runnable where it is copied alone (relay hosts, the NiFi pod):
standard library only, its modules importing each other relatively, run as a folder."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

from dcache.support import REPO

PACKAGE = REPO / "tools" / "oscar_iac" / "dcache" / "listener"


def test_dcache_listener_imports_only_the_standard_library_and_itself() -> None:
    outside: list[str] = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            top = {n.split(".")[0] for n in names} - {"__future__"}
            outside += [f"{path.name}: {n}" for n in top if n not in sys.stdlib_module_names]
    assert not outside, outside


def test_dcache_listener_runs_from_a_copy_of_its_folder(tmp_path: Path) -> None:
    copy = tmp_path / "opt" / "listener"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "relay.json"
    config.write_text(json.dumps({"endpoint": "ftp://nowhere", "paths": ["/data"]}))
    # -S: no site-packages, so nothing but the standard library and the copy can be found.
    res = subprocess.run(
        [sys.executable, "-S", str(copy), "--config", str(config)],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert f"{config}: field 'checkpoint': is required" in res.stderr
