"""A role variable of the wrong type or outside its choices stops the play at the start,
with the argument-spec message, before any task changed anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from roles.conftest import REPO, run_tool


def _play(tmp_path: Path, role: str, variables: str) -> tuple[int, str]:
    book = tmp_path / "play.yml"
    book.write_text(
        f"""- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{REPO / "versions.yml"}]
  vars:
{variables}
  roles:
    - role: {role}
"""
    )
    res = run_tool("ansible-playbook", "-i", "localhost,", book)
    return res.returncode, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("role", "variables", "message"),
    [
        (
            "nfs",
            "    nfs_server_backend: zfs",
            "value of nfs_server_backend must be one of: kernel, ganesha, got: zfs",
        ),
        ("k3s", "    k3s_api_port: six-four-four-three", "k3s_api_port"),
        (
            "k3s",
            "    k3s_state: running",
            "value of k3s_state must be one of: started, configured, got: running",
        ),
        (
            "ingress",
            "    ingress_tls_mode: acme",
            "value of ingress_tls_mode must be one of: none, self-signed, letsencrypt, got: acme",
        ),
        ("oscar", "    oscar_service_type: LoadBalancer", "oscar_service_type"),
        ("oscar", "    oscar_oidc_issuers: {issuer: x}", "oscar_oidc_issuers"),
        ("minio", "    minio_apply: perhaps", "minio_apply"),
    ],
)
def test_bad_variable_fails_at_the_start(
    tmp_path: Path, role: str, variables: str, message: str
) -> None:
    code, output = _play(tmp_path, role, variables)
    assert code != 0, output
    assert message in output, output
    # The validation is the first and only task that ran: nothing was changed.
    tasks = [line for line in output.splitlines() if line.startswith("TASK [")]
    assert len(tasks) == 1 and "Validating arguments against arg spec" in tasks[0], tasks


def test_good_variables_pass_the_validation(tmp_path: Path) -> None:
    # The same play with valid values gets past the validation (the role then fails on
    # its own first check, the missing token): the test above can tell the difference.
    code, output = _play(tmp_path, "k3s", "    k3s_state: configured\n    k3s_api_port: 6443")
    assert "Validating arguments against arg spec" in output
    assert "k3s_token is empty" in output, output
    assert code != 0


def test_reset_refuses_without_confirmation(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "front:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    res = run_tool("ansible-playbook", "-i", inventory, REPO / "playbooks" / "reset.yml")
    output = res.stdout + res.stderr
    assert res.returncode != 0
    assert "run again with -e oscar_iac_reset_confirm=true" in output, output
    tasks = [line for line in output.splitlines() if line.startswith("TASK [")]
    assert tasks == [t for t in tasks if "Gathering Facts" in t or "Ask for confirmation" in t], (
        tasks
    )
