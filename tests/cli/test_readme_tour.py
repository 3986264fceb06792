"""The README's five-minute tour runs top to bottom as written, in a fresh copy of the
repository (its tracked files), with the real embedded IM for `up` and `down`
(issue 23 "done when"); and `down` says the truth (item 5), `up` names only secret
files that exist (item 2), `outputs` prints no Python `None` (item 6).

The tour's first line, `make venv && source .venv/bin/activate`, runs as written
against the virtualenv the tests run in (linked as the copy's `.venv`): the test first
asks make (`make -q venv`) that this venv is up to date, so make builds nothing and
never installs the copy into it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from runcli import REPO

from helpers.cli import CliResult
from oscar_iac import state as st

VENV = Path(sys.executable).parent.parent
MARK = ">>> "


def tour_commands() -> list[str]:
    """The command lines of the README's tour: its first ```bash block."""
    text = (REPO / "README.md").read_text()
    section = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    """The tracked files as a fresh clone has them, with the test's venv as `.venv`."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    root = tmp_path / "clone"
    for name in filter(None, (f.decode() for f in files)):
        src = REPO / name
        if src.is_file() and not src.is_symlink():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name)
    (root / ".venv").symlink_to(VENV)
    # The venv was built from these very files: make must see its stamps as current.
    stamp = min((VENV / ".installed").stat().st_mtime, (VENV / ".runtime").stat().st_mtime)
    for name in ("pyproject.toml", "requirements-test.txt"):
        os.utime(root / name, (stamp - 60, stamp - 60))
    yield root
    subprocess.run(  # the embedded IM outlives a command: stop it if the tour broke off
        [str(VENV / "bin" / "oscar-iac"), "down", "inventories/local", "--yes"],
        cwd=root,
        env=_env(tmp_path),
        capture_output=True,
        check=False,
        timeout=300,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    """A new user's shell: the venv not on PATH (the tour activates it), own state."""
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != VENV / "bin"
    )
    keep = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "COLUMNS")}
    return {**keep, "PATH": path, "OSCAR_IAC_STATE": str(tmp_path / "state")}


def test_the_tour_runs_top_to_bottom_as_written(clone: Path, tmp_path: Path) -> None:
    commands = tour_commands()
    assert commands[0].startswith("make venv && source .venv/bin/activate")
    assert [c.split("#")[0].split()[1] for c in commands[1:]] == [
        "validate",
        "render",
        "up",
        "status",
        "down",
        "--help",
    ]
    env = _env(tmp_path)
    fresh = subprocess.run(["make", "-q", "venv"], cwd=clone, env=env, check=False)
    assert fresh.returncode == 0, "the test venv is out of date: run `make venv` first"
    script = "set -e\n" + "".join(f"echo '{MARK}{i}'\n{c}\n" for i, c in enumerate(commands))
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outs = dict(enumerate(proc.stdout.split(MARK)[1:]))
    step = {c.split("#")[0].split()[1] if i else "venv": outs[i] for i, c in enumerate(commands)}
    assert step["validate"].split("\n", 1)[1].startswith("ok local: im/local")
    assert sorted(p.name for p in (clone / "out" / "egi").iterdir()) == [
        "native.radl",
        "radl.radl",
        "summary.yml",
        "tosca.yaml",
    ]
    up = step["up"]
    assert "infrastructure  created: infrastructure" in up and "summary (site local)" in up
    # Item 2: a secret file is named only where it exists; the rest say where they appear.
    named = re.findall(r"generated, in (\S+) \(0600\)", up)
    assert all(Path(p).is_file() for p in named), named
    creds = [line for line in up.splitlines() if line.strip().startswith("credentials:")]
    assert len(creds) == 2 and all("not generated: the embedded Dummy cloud" in c for c in creds)
    assert "configured" in step["status"]
    assert "destroyed infrastructure" in step["down"]
    assert "validate" in step["--help"] and "airgap" in step["--help"]

    # Item 5: nothing left to remove is said, with exit 0.
    again = subprocess.run(
        [str(VENV / "bin" / "oscar-iac"), "down", "inventories/local", "--yes"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing to remove: site 'local' has no deployment recorded")


def test_declining_down_says_what_stays(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    site = tmp_path / "local"
    shutil.copytree(REPO / "inventories" / "local", site)
    assert cli("up", str(site), "-q").code == 0
    outputs = cli("outputs", str(site))
    assert "None" not in outputs.out
    assert "front_private_ip: (not reported by IM)" in outputs.out
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    refused = cli("down", str(site))
    assert refused.code == 1 and "Aborted!" not in refused.err
    assert (
        f"nothing removed: site 'local' keeps its event wiring, models and infrastructure "
        f"(`oscar-iac down {site} --yes` removes them without asking)"
    ) in refused.err
    assert st.load("local").phase == "configured"  # type: ignore[union-attr]
    assert cli("down", str(site), "--yes").code == 0
