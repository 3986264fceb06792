"""ansible-lint (production profile, offline) and --syntax-check on every playbook."""

from __future__ import annotations

import pytest

from roles.conftest import PLAYBOOKS, REPO, run_tool

PLAYBOOK_FILES = sorted(
    p for p in PLAYBOOKS.rglob("*.yml") if "tasks" not in p.parts and "roles" not in p.parts
)


def test_ansible_lint_production_profile_passes_with_no_warning() -> None:
    res = run_tool(
        "ansible-lint", "--offline", "--profile", "production", "roles", "playbooks", "molecule"
    )
    summary = res.stdout + res.stderr
    assert res.returncode == 0, summary
    assert "0 failure(s), 0 warning(s)" in summary, summary
    assert "Profile 'production' was required, and it passed" in summary, summary


def test_every_playbook_is_found() -> None:
    names = {p.relative_to(PLAYBOOKS).as_posix() for p in PLAYBOOK_FILES}
    assert {"site.yml", "reset.yml", "upgrade.yml", "im/front.yml", "im/worker.yml"} <= names


@pytest.mark.parametrize(
    "playbook", PLAYBOOK_FILES, ids=lambda p: p.relative_to(PLAYBOOKS).as_posix()
)
def test_syntax_check(playbook) -> None:  # type: ignore[no-untyped-def]
    res = run_tool("ansible-playbook", "--syntax-check", "-i", "localhost,", playbook)
    assert res.returncode == 0, res.stdout + res.stderr


def test_syntax_check_fails_on_a_broken_playbook(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The check above can fail: a task with an unknown module is refused.
    broken = tmp_path / "broken.yml"
    broken.write_text("- hosts: all\n  tasks:\n    - ansible.builtin.no_such_module: {}\n")
    res = run_tool("ansible-playbook", "--syntax-check", "-i", "localhost,", broken, cwd=REPO)
    assert res.returncode != 0
