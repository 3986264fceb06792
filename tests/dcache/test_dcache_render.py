"""A site with a `via: relay` dCache source renders what playbooks/site.yml needs to run the
dcache_relay role on the front; the inventory carries where the credential is, not it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers.cli import CliResult
from helpers.inventory import load_inventory
from oscar_iac.phases.hosts import playbook_secrets
from oscar_iac.site import load_site
from roles.conftest import REPO, run_tool

Cli = Callable[..., CliResult]


def test_dcache_relay_source_rendered_for_the_role(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    shutil.copytree(REPO / "inventories" / "hosts-example", site)
    data = yaml.safe_load((site / "site.yml").read_text())
    # An event feeds a service of the site's own models (site rule).
    data["models"] = [
        {"module": "plants-classification", "service": "plant-classifier", "mode": "async"}
    ]
    data["events"] = [
        {
            "kind": "dcache",
            "name": "edge-dcache",
            "frontend": "https://dcache.example.org:3880",
            "webdav": "https://dcache.example.org:2880",
            "path": "/data/plants/in",
            "recursive": True,
            "credential": "env:OSCAR_IAC_TEST_DCACHE_TOKEN",
            "service": "plant-classifier",
            "via": "relay",
        }
    ]
    (site / "site.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("OSCAR_IAC_TEST_DCACHE_TOKEN", "dcache-token-from-env")
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    out = tmp_path / "out"
    res = cli("render", str(site), "-o", str(out))
    assert res.code == 0, res.err
    inventory = (out / "hosts.yml").read_text()
    assert "dcache-token-from-env" not in inventory
    variables = load_inventory(inventory)["all"]["vars"]
    fqdn = f"{data['cluster']['name']}.{data['cluster']['domain']}"
    assert variables["dcache_relay_sources"] == [
        {
            "name": "edge-dcache",
            "endpoint": "https://dcache.example.org:3880/api/v1",
            "paths": ["/data/plants/in"],
            "recursive": True,
            "auth": "oidc",
            "username": "",
            "webdav": "https://dcache.example.org:2880",
            "verify_tls": True,
            "oscar_url": variables["dcache_relay_sources"][0]["oscar_url"],
            "service": "plant-classifier",
        }
    ]
    assert variables["dcache_relay_sources"][0]["oscar_url"].endswith("://" + fqdn)
    assert "OSCAR_IAC_SECRET_DCACHE_EDGE_DCACHE" in variables["oscar_iac_secret_dcache_edge_dcache"]
    env = playbook_secrets(load_site(site))  # what `up` hands ansible-playbook
    assert env["OSCAR_IAC_SECRET_DCACHE_EDGE_DCACHE"] == "dcache-token-from-env"
    # The play's secret handover gives the role its credential (resolved by Ansible).
    book = tmp_path / "handover.yml"
    book.write_text(
        f"""- hosts: front
  gather_facts: false
  tasks:
    - ansible.builtin.import_tasks: {REPO / "playbooks" / "tasks" / "secrets.yml"}
    - ansible.builtin.debug:
        msg: "CREDS={{{{ dcache_relay_credentials | to_json }}}}"
"""
    )
    got = run_tool("ansible-playbook", "-i", out / "hosts.yml", book, **env)
    assert got.returncode == 0, got.stdout + got.stderr
    line = next(ln for ln in got.stdout.splitlines() if "CREDS=" in ln)
    creds = json.loads(line.split("CREDS=", 1)[1].rstrip('"').replace('\\"', '"'))
    assert creds == {"edge-dcache": "dcache-token-from-env"}
