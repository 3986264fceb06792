"""Issue 21 items 6-8: GPU workers' toolkit before k3s (both paths), the relay trusting
the cluster's self-signed certificate, the services namespace the OSCAR chart assumes,
and what reset.yml removes. Roles run for real (ansible-playbook, local connection)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from roles.conftest import PLAYBOOKS, REPO, ROLES, load_yaml, run_tool
from roles.test_upstream_facts import render_template, run_role

GPU_LABEL = "nvidia.com/gpu.present=true"


def _role_names(entries: list[Any]) -> list[str]:
    return [e["role"] if isinstance(e, dict) else e for e in entries]


def test_the_hosts_playbook_installs_the_toolkit_before_k3s() -> None:
    # k3s-io/k3s pkg/agent/containerd/runtimes.go: the nvidia runtime is registered only
    # if nvidia-container-runtime exists when k3s starts; GPU workers make it the default.
    plays = load_yaml(PLAYBOOKS / "site.yml")
    first = _role_names(plays[0]["roles"])
    assert first.index("gpu") < first.index("k3s"), first
    gpu = next(r for r in plays[0]["roles"] if isinstance(r, dict) and r["role"] == "gpu")
    assert "inventory_hostname in groups['gpu'] | default([])" in gpu["when"]
    # The later GPU play only renders the device plugin on the front.
    later = next(p for p in plays[1:] if "gpu" in _role_names(p.get("roles", [])))
    assert later["hosts"] == "front"


def test_the_im_worker_playbook_installs_the_toolkit_before_k3s() -> None:
    play = load_yaml(PLAYBOOKS / "im" / "worker.yml")[0]
    order = play["vars"]["oscar_iac_worker_roles"]
    assert order.index("gpu") < order.index("k3s"), order


def _k3s_check(tmp_path: Path, runtime_dirs: list[str]) -> tuple[int, str]:
    """The k3s role in check mode on a GPU agent (nothing is written)."""
    book = tmp_path / "play.yml"
    book.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars_files": [str(REPO / "versions.yml")],
                    "vars": {
                        "k3s_node_role": "agent",
                        "k3s_server_address": "10.0.0.1",
                        "k3s_server_group": "all",
                        "k3s_token": "test-only-token",
                        "k3s_node_name": "gpu-1",
                        "k3s_node_labels": [GPU_LABEL],
                        "k3s_state": "configured",
                        "k3s_config_dir": str(tmp_path / "etc"),
                        "k3s_nvidia_runtime_dirs": runtime_dirs,
                    },
                    "roles": [{"role": "k3s"}],
                }
            ]
        )
    )
    res = run_tool(
        "ansible-playbook", "--check", "-i", "localhost,", "-e",
        f"ansible_python_interpreter={sys.executable}", book,
    )  # fmt: skip
    return res.returncode, res.stdout + res.stderr


def test_k3s_refuses_nvidia_as_default_runtime_without_the_toolkit(tmp_path: Path) -> None:
    toolkit = tmp_path / "toolkit"
    toolkit.mkdir()
    code, out = _k3s_check(tmp_path, [str(toolkit)])
    assert code != 0
    assert "nvidia-container-runtime is in none of" in out, out
    assert "Write config.yaml" not in out
    (toolkit / "nvidia-container-runtime").write_text("#!/bin/sh\n")
    code, out = _k3s_check(tmp_path, [str(tmp_path / "absent"), str(toolkit)])
    assert code == 0, out
    assert "Write config.yaml" in out


def test_the_k3s_role_searches_where_k3s_does() -> None:
    # runtimes.go findNvidiaContainerRuntimes: usr/local/nvidia/toolkit, then usr/bin.
    defaults = load_yaml(ROLES / "k3s" / "defaults" / "main.yml")
    assert defaults["k3s_nvidia_runtime_dirs"] == ["/usr/local/nvidia/toolkit", "/usr/bin"]


# --------------------------------------------------------------------------- relay


def _source(tmp_path: Path, ca_secret: dict[str, str]) -> dict[str, Any]:
    text = render_template(
        tmp_path,
        "dcache_relay",
        "source.json",
        {
            "item": {
                "name": "edge",
                "endpoint": "https://dcache.example.org:3880/api/v1",
                "paths": ["/data"],
                "webdav": "https://dcache.example.org:2880",
                "oscar_url": "https://oscar.example.org",
                "service": "svc",
            },
            "dcache_relay_oscar_ca_secret": ca_secret,
        },
    )
    data: dict[str, Any] = json.loads(text)
    return data


def test_the_relay_trusts_the_clusters_self_signed_certificate(tmp_path: Path) -> None:
    public = _source(tmp_path / "public", {})
    assert public["sink"]["verify_tls"] is True and public["sink"]["ca_bundle"] is None
    secret = {"namespace": "oscar", "name": "oscar.example.org", "key": "ca.crt"}
    own = _source(tmp_path / "own", secret)
    assert own["sink"]["verify_tls"] is True  # verified, against the cluster's certificate
    assert own["sink"]["ca_bundle"] == "/etc/oscar-iac/dcache-relay/oscar-ca.pem"


def test_self_signed_sites_hand_the_relay_oscars_certificate_secret() -> None:
    from oscar_iac.render.ansible_vars import relay_oscar_ca, role_vars
    from oscar_iac.site import load_site

    site = load_site(REPO / "inventories" / "hosts-example").site
    assert site.stack.ingress.tls.mode == "self-signed"
    want = {"namespace": "oscar", "name": site.cluster.fqdn, "key": "ca.crt"}
    assert relay_oscar_ca(site) == want
    assert role_vars(site)["dcache_relay_oscar_ca_secret"] == want
    ingress = site.stack.ingress
    tls = ingress.tls.model_copy(update={"mode": "letsencrypt"})
    public = site.model_copy(
        update={
            "stack": site.stack.model_copy(
                update={"ingress": ingress.model_copy(update={"tls": tls})}
            )
        }
    )
    assert relay_oscar_ca(public) == {}
    # OSCAR chart 4.1.2 templates/oscar-ingress.yaml: secretName is the host, and the
    # oscar role deploys the chart into namespace `oscar`.
    assert load_yaml(ROLES / "oscar" / "defaults" / "main.yml")["oscar_namespace"] == "oscar"


# --------------------------------------------------------------------------- OSCAR


def test_the_oscar_role_refuses_another_services_namespace(tmp_path: Path) -> None:
    code, out = run_role(
        tmp_path,
        "oscar",
        {
            "oscar_services_namespace": "my-services",
            "oscar_password": "test-only",
            "oscar_minio_secret_key": "test-only-minio-key",
            "oscar_manifest_dir": str(tmp_path / "oscar"),
            "oscar_apply": False,
        },
    )
    assert code != 0 and "additional-oscar-config in oscar-svc" in out, out
    assert not (tmp_path / "oscar").exists()


# --------------------------------------------------------------------------- reset


def _reset_tasks() -> dict[str, dict[str, Any]]:
    play = load_yaml(PLAYBOOKS / "reset.yml")[0]
    return {t["name"]: t for t in play["tasks"]}


def test_reset_removes_pod_network_namespaces_and_stops_the_relays() -> None:
    # k3s install.sh create_killall: do_unmount_and_remove '/run/netns/cni-' and
    # `ip netns show | grep cni- | xargs -r -t -n 1 ip netns delete`. The multinode
    # Molecule scenario (side_effect.yml) runs reset.yml against a real namespace.
    tasks = _reset_tasks()
    assert "run/netns/cni-" in tasks["Find the mounts k3s' pods left"]["ansible.builtin.shell"]
    assert (
        "ip netns delete" in tasks["Delete the pods' network namespaces"]["ansible.builtin.shell"]
    )
    names = list(tasks)
    assert names.index("Stop and disable the dCache relays") < names.index("Stop and disable k3s")
    removed = tasks["Remove k3s and oscar-iac's files"]["loop"]
    assert "/etc/systemd/system/oscar-iac-dcache-relay@.service" in removed
