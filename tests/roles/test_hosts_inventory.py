"""The rendered hosts inventory carries where each secret is, never the secret, and
Ansible resolves it when the play runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from roles.conftest import REPO, run_tool


def test_inventory_holds_lookups_that_ansible_resolves(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    shutil.copytree(REPO / "inventories" / "hosts-example", site)
    text = (
        (site / "site.yml")
        .read_text()
        .replace("password: generate", "password: env:OSCAR_IAC_TEST_OSCAR_PASSWORD")
    )
    (site / "site.yml").write_text(text)
    monkeypatch.setenv("OSCAR_IAC_TEST_OSCAR_PASSWORD", "s3cret-from-env")
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    out = tmp_path / "out"
    res = cli("render", str(site), "-o", str(out))
    assert res.code == 0, res.err
    inventory = (out / "hosts.yml").read_text()
    assert "s3cret-from-env" not in inventory
    assert "OSCAR_IAC_TEST_OSCAR_PASSWORD" in inventory
    variables = yaml.safe_load(inventory)["all"]["vars"]
    assert set(k for k in variables if k.startswith("oscar_iac_secret_")) == {
        "oscar_iac_secret_oscar_password",
        "oscar_iac_secret_minio_secret_key",
        "oscar_iac_secret_k3s_token",
        "oscar_iac_secret_nifi_password",
    }
    # Ansible resolves them (debug runs on the controller: no host is contacted).
    got = run_tool(
        "ansible", "-i", out / "hosts.yml", "front", "-m", "ansible.builtin.debug",
        "-a", "msg={{ oscar_iac_secret_oscar_password }}|{{ oscar_iac_secret_k3s_token | length }}",
        OSCAR_IAC_TEST_OSCAR_PASSWORD="s3cret-from-env",
    )  # fmt: skip
    assert got.returncode == 0, got.stdout + got.stderr
    assert "s3cret-from-env|32" in got.stdout
    generated = tmp_path / "state" / "hosts-example" / "secrets" / "k3s_token"
    assert generated.is_file() and oct(generated.stat().st_mode & 0o777) == "0o600"
