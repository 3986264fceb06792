"""The Kubernetes objects the front's roles render (ingress, minio, oscar, nifi), produced
by real Ansible on localhost with every `*_apply` false, as `playbooks/site.yml` runs them.
Shared by the gateway tests and the real-API-server tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from roles.conftest import REPO, run_tool

FQDN = "oscar.example.org"
HOSTS = [FQDN, f"minio.{FQDN}", f"console-minio.{FQDN}", f"nifi.{FQDN}"]
ROLES = ("ingress", "minio", "oscar", "nifi")


def render_front(tmp: Path, tls_mode: str = "self-signed", **extra: Any) -> tuple[int, str]:
    """Render the four roles into tmp/<role>/; returns (exit code, Ansible's output)."""
    tmp.mkdir(parents=True, exist_ok=True)
    listener = tmp / "listener.py"
    listener.write_text("print('listener')\n")
    variables: dict[str, Any] = {
        "ansible_python_interpreter": sys.executable,
        "oscar_iac_cluster_fqdn": FQDN,
        "ingress_tls_mode": tls_mode,
        "ingress_acme_email": "ops@example.org",
        "ingress_hosts": HOSTS,
        "oscar_password": "an-oscar-password",
        "minio_secret_key": "a-minio-secret",
        "oscar_minio_secret_key": "a-minio-secret",
        "nifi_password": "a-password-of-20-chars",
        "nifi_listener_file": str(listener),
        "nifi_secrets_dir": str(tmp / "secrets"),
    }
    for role in ROLES:
        variables[f"{role}_apply"] = False
        variables[f"{role}_manifest_dir"] = str(tmp / role)
    variables.update(extra)
    book = tmp / "play.yml"
    book.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars_files": [str(REPO / "versions.yml")],
                    "vars": variables,
                    "roles": [{"role": r} for r in ROLES],
                }
            ]
        )
    )
    res = run_tool("ansible-playbook", "-i", "localhost,", book)
    return res.returncode, res.stdout + res.stderr


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def all_docs(tmp: Path) -> list[dict[str, Any]]:
    return [d for role in ROLES for f in sorted((tmp / role).glob("*.yaml")) for d in docs(f)]


def helm_values(path: Path) -> dict[str, Any]:
    chart = yaml.safe_load(path.read_text())
    assert chart["kind"] == "HelmChart"
    values: dict[str, Any] = yaml.safe_load(chart["spec"]["valuesContent"])
    return values
