"""Shared by the role tests: where things are, and how to run Ansible tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
PLAYBOOKS = REPO / "playbooks"
BIN = Path(sys.executable).parent
BASE_IMAGE = "localhost/oscar-iac-debian12:latest"

ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "tasks" / "main.yml").is_file())


def tool_env(**extra: str) -> dict[str, str]:
    """The environment Ansible tools need here: the venv's bin first on PATH (Molecule
    calls ansible-config), podman's settings for this machine, no colour."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = str(REPO / "tests" / "images" / "containers.conf")
    env["ANSIBLE_ROLES_PATH"] = str(ROLES)
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "false"
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def run_tool(*args: str | Path, cwd: Path = REPO, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=tool_env(**extra), capture_output=True, text=True
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def base_image() -> str:
    """The project's Debian 12 image with systemd, built when missing (about a minute)."""
    subprocess.run(
        ["bash", str(REPO / "tests" / "images" / "build-base-image.sh"), BASE_IMAGE],
        check=True,
        cwd=REPO,
    )
    return BASE_IMAGE
