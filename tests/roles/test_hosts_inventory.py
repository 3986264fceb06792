"""The rendered hosts inventory carries neither secrets nor their paths: it names each
secret by an environment variable that `up` fills (resolved once through the one secret
resolver), and every site value in it is `!unsafe` data Ansible never templates."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from helpers.inventory import load_inventory
from oscar_iac.phases.hosts import playbook_secrets
from oscar_iac.site import load_site
from roles.conftest import REPO, run_tool


def test_inventory_names_secrets_by_environment_that_up_fills(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch
) -> None:
    site = tmp_path / "site"
    shutil.copytree(REPO / "inventories" / "hosts-example", site)
    (site / "k3s-token").write_text("k3s-from-a-file\n")
    text = (
        (site / "site.yml")
        .read_text()
        .replace("password: generate", "password: env:OSCAR_IAC_TEST_OSCAR_PASSWORD")
    )
    data = yaml.safe_load(text)
    data["stack"].setdefault("kubernetes", {})["token"] = "file:k3s-token"
    (site / "site.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("OSCAR_IAC_TEST_OSCAR_PASSWORD", "s3cret-from-env")
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    out = tmp_path / "out"
    res = cli("render", str(site), "-o", str(out))
    assert res.code == 0, res.err
    inventory = (out / "hosts.yml").read_text()
    assert "s3cret-from-env" not in inventory and "k3s-from-a-file" not in inventory
    # no path is re-read when the play runs: neither the file nor the variable is named
    assert "k3s-token" not in inventory and "OSCAR_IAC_TEST_OSCAR_PASSWORD" not in inventory
    variables = load_inventory(inventory)["all"]["vars"]
    assert set(k for k in variables if k.startswith("oscar_iac_secret_")) == {
        "oscar_iac_secret_oscar_password",
        "oscar_iac_secret_minio_secret_key",
        "oscar_iac_secret_k3s_token",
        "oscar_iac_secret_nifi_password",
    }
    env = playbook_secrets(load_site(site))
    assert env["OSCAR_IAC_SECRET_OSCAR_PASSWORD"] == "s3cret-from-env"
    assert env["OSCAR_IAC_SECRET_K3S_TOKEN"] == "k3s-from-a-file"
    generated = tmp_path / "state" / "hosts-example" / "secrets" / "minio_secret_key"
    assert generated.is_file() and oct(generated.stat().st_mode & 0o777) == "0o600"
    assert env["OSCAR_IAC_SECRET_MINIO_SECRET_KEY"] == generated.read_text()
    # Ansible reads them from its environment (debug runs on the controller).
    got = run_tool(
        "ansible", "-i", out / "hosts.yml", "front", "-m", "ansible.builtin.debug",
        "-a", "msg={{ oscar_iac_secret_oscar_password }}|{{ oscar_iac_secret_k3s_token }}",
        **env,
    )  # fmt: skip
    assert got.returncode == 0, got.stdout + got.stderr
    assert "s3cret-from-env|k3s-from-a-file" in got.stdout


def test_site_values_in_the_inventory_are_never_templated(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch
) -> None:
    """Issue 22 item 1: a site value holding a lookup reaches Ansible as text. (A host
    address holding one is refused by validate; a role variable may hold any text.)"""
    site = tmp_path / "site"
    shutil.copytree(REPO / "inventories" / "hosts-example", site)
    data = yaml.safe_load((site / "site.yml").read_text())
    pwned = tmp_path / "pwned"
    attack = f"{{{{ lookup('ansible.builtin.pipe', 'id > {pwned}; echo x') }}}}"
    data["stack"]["role_vars"] = {"oscar_iac_probe": attack, "oscar_iac_list": [attack]}
    (site / "site.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    out = tmp_path / "out"
    res = cli("render", str(site), "-o", str(out))
    assert res.code == 0, res.err
    assert "!unsafe" in (out / "hosts.yml").read_text()
    got = run_tool(
        "ansible", "-i", out / "hosts.yml", "front", "-m", "ansible.builtin.debug",
        "-a", "msg=[{{ oscar_iac_probe }}][{{ oscar_iac_list[0] }}][{{ ansible_host }}]",
    )  # fmt: skip
    assert got.returncode == 0, got.stdout + got.stderr
    assert not pwned.exists(), "a site value was templated: the pipe lookup ran"
    assert "lookup(" in got.stdout and "192.0.2.10" in got.stdout


def test_site_values_in_the_im_role_vars_are_never_templated(tmp_path: Path) -> None:
    """Issue 22 item 1, IM path: the role variables IM hands the entry playbooks
    (`oscar_iac_role_vars`, base64) are written on the node and loaded with include_vars
    exactly as playbooks/im/front.yml does; a site value holding a lookup stays text."""
    import base64

    from oscar_iac.render.context import encode_role_vars

    pwned = tmp_path / "pwned"
    attack = f"{{{{ lookup('ansible.builtin.pipe', 'id > {pwned}; echo x') }}}}"
    b64 = encode_role_vars({"oscar_iac_probe": attack, "oscar_iac_list": [attack], "n": 3})
    play = tmp_path / "play.yml"
    play.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars": {"oscar_iac_role_vars": b64},
                    "tasks": [
                        # The two tasks of playbooks/im/front.yml, as written there.
                        {
                            "ansible.builtin.copy": {
                                "content": "{{ oscar_iac_role_vars | b64decode }}",
                                "dest": "{{ playbook_dir }}/vars.yml",
                                "mode": "0600",
                            }
                        },
                        {"ansible.builtin.include_vars": {"file": "{{ playbook_dir }}/vars.yml"}},
                        {
                            "ansible.builtin.debug": {
                                "msg": "[{{ oscar_iac_probe }}][{{ oscar_iac_list[0] }}][{{ n + 1 }}]"
                            }
                        },
                    ],
                }
            ]
        )
    )
    assert base64.b64decode(b64).decode().count("!unsafe") == 2
    got = run_tool(
        "ansible-playbook", "-i", "localhost,", "-c", "local",
        "-e", f"ansible_python_interpreter={sys.executable}", play,
    )  # fmt: skip
    assert got.returncode == 0, got.stdout + got.stderr
    assert not pwned.exists(), "a role variable was templated: the pipe lookup ran"
    assert "lookup(" in got.stdout and "[4]" in got.stdout
