"""The upstream facts the roles depend on, and the objects the roles render from them.

Each test names the upstream file that shows the fact it encodes. The roles run for
real (ansible-playbook, local connection) with their manifest folders in tmp_path and
`*_apply: false` (or an air-gap folder), so nothing outside tmp_path is touched.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.inventory import load_inventory
from roles.conftest import REPO, ROLES, load_yaml, run_tool

VERSIONS = load_yaml(REPO / "versions.yml")["oscar_iac_versions"]
KNATIVE_SAMPLES = Path(__file__).parent / "data" / "knative-release"


def run_role(
    tmp_path: Path,
    role: str,
    variables: dict[str, Any],
    *,
    versions: Path = REPO / "versions.yml",
    facts: bool = False,
    hosts: str = "localhost",
) -> tuple[int, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    book = tmp_path / "play.yml"
    book.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": hosts,
                    "connection": "local",
                    "gather_facts": facts,
                    "vars_files": [str(versions)],
                    "vars": variables,
                    "roles": [{"role": role}],
                }
            ]
        )
    )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        )
    )
    res = run_tool("ansible-playbook", "-i", inventory, book)
    return res.returncode, res.stdout + res.stderr


def render_template(
    tmp_path: Path,
    role: str,
    template: str,
    variables: dict[str, Any],
    *,
    hosts: dict[str, Any] | None = None,
    facts: bool = False,
) -> str:
    """One template of a role rendered by Ansible with the role's defaults and vars,
    on the controller only (nothing is written outside tmp_path)."""
    files = [str(REPO / "versions.yml")] + [
        str(f)
        for f in (ROLES / role / "defaults" / "main.yml", ROLES / role / "vars" / "main.yml")
        if f.is_file()
    ]
    tmp_path.mkdir(parents=True, exist_ok=True)
    dest = tmp_path / f"rendered-{template}"
    book = tmp_path / "render.yml"
    book.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "all",
                    "connection": "local",
                    "gather_facts": facts,
                    "vars_files": files,
                    "tasks": [
                        {
                            "ansible.builtin.template": {
                                "src": str(ROLES / role / "templates" / f"{template}.j2"),
                                "dest": str(dest),
                                "mode": "0600",
                            },
                            # Task vars outrank the vars files (the role's defaults).
                            "vars": variables,
                            "run_once": True,
                        }
                    ],
                }
            ]
        )
    )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": sys.executable,
                    },
                    "hosts": hosts or {"localhost": {}},
                }
            }
        )
    )
    res = run_tool("ansible-playbook", "-i", inventory, book)
    assert res.returncode == 0, res.stdout + res.stderr
    return dest.read_text()


def helm_values(path: Path) -> dict[str, Any]:
    chart = yaml.safe_load(path.read_text())
    assert chart["kind"] == "HelmChart"
    values: dict[str, Any] = yaml.safe_load(chart["spec"]["valuesContent"])
    return values


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def find(objects: list[dict[str, Any]], kind: str, namespace: str, name: str) -> dict[str, Any]:
    for d in objects:
        meta = d["metadata"]
        if d["kind"] == kind and meta.get("namespace", "") == namespace and meta["name"] == name:
            return d
    raise AssertionError(f"{kind}/{namespace}/{name} not rendered")


# --------------------------------------------------------------------------- OSCAR


def _render_oscar(tmp_path: Path, **extra: Any) -> tuple[int, str]:
    return run_role(
        tmp_path,
        "oscar",
        {
            "oscar_apply": False,
            "oscar_manifest_dir": str(tmp_path / "oscar"),
            "oscar_password": "test-only-password",
            "oscar_minio_secret_key": "test-only-minio-key",
            **extra,
        },
    )


def test_oscar_image_tag_has_no_v_and_the_role_refuses_one(tmp_path: Path) -> None:
    # grycap/oscar .github/workflows/main.yaml (v4.1.2): VERSION=${GITHUB_REF#refs/tags/v}
    # then --tag ghcr.io/grycap/oscar:${VERSION}; chart 4.1.2 populate-oscar-volume-job.yaml
    # pulls ghcr.io/grycap/oscar-bin-downloader:{{ .Values.image.tag }} (same scheme).
    assert not VERSIONS["oscar"]["version"].startswith("v")
    assert VERSIONS["oscar"]["version"] == VERSIONS["oscar"]["chart_version"]
    code, out = _render_oscar(tmp_path)
    assert code == 0, out
    values = helm_values(tmp_path / "oscar" / "oscar.yaml")
    assert values["image"] == {
        "repository": "ghcr.io/grycap/oscar",
        "tag": "4.1.2",
        "pullPolicy": "IfNotPresent",
    }
    code, out = _render_oscar(tmp_path / "v", oscar_image_tag="v4.1.2")
    assert code != 0
    assert "OSCAR's images are tagged without the" in out, out


def test_oscar_service_is_clusterip_behind_the_ingress(tmp_path: Path) -> None:
    # grycap/oscar v4.1.2 deploy/kind-deploy.sh: helm install ... --set service.type=ClusterIP
    # (the chart's own default, NodePort 30301, opens Basic auth over HTTP on every node).
    assert VERSIONS["oscar"]["service_type"] == "ClusterIP"
    code, out = _render_oscar(tmp_path)
    assert code == 0, out
    service = helm_values(tmp_path / "oscar" / "oscar.yaml")["service"]
    assert service == {"type": "ClusterIP", "port": 8080}
    # /health is asked through the API server's service proxy, not a node port.
    tasks = (ROLES / "oscar" / "tasks" / "main.yml").read_text()
    assert "30301" not in tasks and "/services/oscar:8080/proxy/health" in tasks


def test_oscar_gets_the_public_minio_url(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # OSCAR returns its MinIO endpoint in /system/config and signs presigned URLs with it
    # (grycap/oscar v4.1.2 pkg/handlers/config.go, pkg/handlers/buckets/presign_bucket.go);
    # upstream's IM recipe gives https://<minio_dns_host>
    # (grycap/tosca artifacts/oscar/oscar_install.yml).
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    out = tmp_path / "out"
    res = cli("render", str(REPO / "inventories" / "hosts-example"), "-o", str(out))
    assert res.code == 0, res.err
    variables = load_inventory((out / "hosts.yml").read_text())["all"]["vars"]
    fqdn = variables["oscar_iac_cluster_fqdn"]
    assert variables["oscar_minio_endpoint"] == f"https://minio.{fqdn}"
    assert variables["oscar_minio_endpoint"].removeprefix("https://") == variables["minio_hostname"]
    code, log = _render_oscar(tmp_path, oscar_minio_endpoint=variables["oscar_minio_endpoint"])
    assert code == 0, log
    minio = helm_values(tmp_path / "oscar" / "oscar.yaml")["minIO"]
    assert minio["endpoint"] == f"https://minio.{fqdn}"


# --------------------------------------------------------------------------- Knative


def _knative_versions(tmp_path: Path, samples: Path) -> Path:
    """versions.yml with the Knative artifacts pinned to the sample release files."""
    data = load_yaml(REPO / "versions.yml")
    for art in data["oscar_iac_versions"]["knative_serving"]["artifacts"]:
        art["sha256"] = hashlib.sha256((samples / art["name"]).read_bytes()).hexdigest()
    path = tmp_path / "versions.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run_knative(tmp_path: Path, samples: Path) -> tuple[int, str]:
    # k3s' auto-deploy folder (the k3s role creates it on a server).
    (tmp_path / "k3s" / "server" / "manifests").mkdir(parents=True, exist_ok=True)
    return run_role(
        tmp_path,
        "knative",
        {
            "knative_manifest_dir": str(tmp_path / "knative"),
            "knative_airgap_dir": str(samples),
            "kube_apply_k3s_data_dir": str(tmp_path / "k3s"),
        },
        versions=_knative_versions(tmp_path, samples),
    )


def test_knative_release_gets_the_pvc_flags_and_a_clusterip_kourier(tmp_path: Path) -> None:
    # Flags: knative.dev docs/serving/services/storage/ ("PersistentVolumes are supported
    # but require a feature flag"), both "disabled" in knative/serving
    # config/core/configmaps/features.yaml; OSCAR's deploy/kind-deploy.sh enables both.
    # Kourier: net-kourier config/300-gateway.yaml makes Service kourier a LoadBalancer on
    # 80/443; kind-deploy.sh sets ingress.kourier.service-type: ClusterIP.
    assert VERSIONS["knative_serving"]["features"] == {
        "kubernetes.podspec-persistent-volume-claim": "enabled",
        "kubernetes.podspec-persistent-volume-write": "enabled",
    }
    code, out = _run_knative(tmp_path, KNATIVE_SAMPLES)
    assert code == 0, out
    core = docs(tmp_path / "knative" / "serving-core.yaml")
    features = find(core, "ConfigMap", "knative-serving", "config-features")["data"]
    assert features["kubernetes.podspec-persistent-volume-claim"] == "enabled"
    assert features["kubernetes.podspec-persistent-volume-write"] == "enabled"
    assert "_example" in features  # the release's own content is kept
    network = find(core, "ConfigMap", "knative-serving", "config-network")["data"]
    assert network["ingress-class"] == "kourier.ingress.networking.knative.dev"
    domain = find(core, "ConfigMap", "knative-serving", "config-domain")["data"]
    assert domain["svc.cluster.local"] == ""
    kourier = docs(tmp_path / "knative" / "kourier.yaml")
    gateway = find(kourier, "Service", "kourier-system", "kourier")
    assert gateway["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in gateway["spec"]["ports"]] == [80, 443]
    assert find(kourier, "Service", "kourier-system", "kourier-internal")["spec"]["type"] == (
        "ClusterIP"
    )
    # Exactly the release files reach k3s: no second copy of any ConfigMap.
    handed = sorted(p.name for p in (tmp_path / "k3s" / "server" / "manifests").iterdir())
    assert handed == [
        "oscar-iac-kourier.yaml",
        "oscar-iac-serving-core.yaml",
        "oscar-iac-serving-crds.yaml",
    ]
    # The verified originals stay untouched for review.
    original = docs(tmp_path / "knative" / "release" / "kourier.yaml")
    assert find(original, "Service", "kourier-system", "kourier")["spec"]["type"] == (
        "LoadBalancer"
    )
    # A second run changes nothing.
    code, out = _run_knative(tmp_path, KNATIVE_SAMPLES)
    assert code == 0 and "changed=0" in out, out


def test_knative_stops_when_an_object_to_change_is_missing(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    shutil.copytree(KNATIVE_SAMPLES, samples)
    kourier = docs(samples / "kourier.yaml")
    (samples / "kourier.yaml").write_text(
        yaml.safe_dump_all([d for d in kourier if d["metadata"]["name"] != "kourier"])
    )
    code, out = _run_knative(tmp_path, samples)
    assert code != 0
    assert "Service/kourier-system/kourier" in out, out
    assert not any((tmp_path / "k3s" / "server" / "manifests").iterdir())


def test_knative_refuses_to_download_unpinned_manifests(tmp_path: Path) -> None:
    # No sha256 could be obtained here (GitHub releases are unreachable): the role must
    # refuse rather than download unchecked (it used to omit the checksum).
    unpinned = [a["name"] for a in VERSIONS["knative_serving"]["artifacts"] if not a["sha256"]]
    assert unpinned, "all Knative manifests are pinned now: drop this premise"
    code, out = run_role(
        tmp_path,
        "knative",
        {"knative_manifest_dir": str(tmp_path / "knative"), "knative_airgap_dir": ""},
    )
    assert code != 0
    assert "no sha256 for" in out and unpinned[0] in out, out
    assert "Download the release manifests" not in out
    assert not any((tmp_path / "knative" / "release").iterdir())


def test_knative_is_the_release_oscar_documents() -> None:
    # grycap/oscar v4.1.2 docs/local-testing.md and deploy/kind-deploy.sh: knative-v1.18.0;
    # Serving at its 1.18.2 patch release (knative/serving issue 16100, min-scale), Kourier
    # at knative-v1.18.0 (no 1.18 patch release of net-kourier).
    knative = VERSIONS["knative_serving"]
    assert (knative["version"], knative["kourier_version"]) == ("v1.18.2", "v1.18.0")
    for art in knative["artifacts"]:
        want = "v1.18.0" if art["name"] == "kourier.yaml" else "v1.18.2"
        assert f"/knative-{want}/" in art["url"], art


# --------------------------------------------------------------------------- ingress


def _chart_version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.lstrip("v").split("."))


def test_cert_manager_is_a_supported_release() -> None:
    # cert-manager.io/docs/releases: a minor is supported until the release of the minor
    # two after it; 1.16 ended with 1.18 (June 2025); 1.21 is current (Kubernetes 1.33-1.36).
    assert _chart_version(VERSIONS["cert_manager"]["chart_version"]) >= (1, 21, 0)


# --------------------------------------------------------------------------- k3s


def _render_k3s(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    text = render_template(
        tmp_path,
        "k3s",
        "config.yaml",
        {"k3s_node_role": "agent", "k3s_server_address": "10.0.0.1", **extra},
        facts=True,
    )
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def test_k3s_node_name_is_explicit_and_waited_for(tmp_path: Path) -> None:
    # IM's contextualization/basic.yml sets the hostname to IM_NODE_FQDN (<name>.<domain>,
    # default domain "localdomain": IM/config.py DEFAULT_DOMAIN), which k3s would register;
    # the role used to wait for node/{{ ansible_hostname }} (the short name).
    config = _render_k3s(tmp_path, k3s_node_name="vnode-1")
    assert config["node-name"] == "vnode-1"
    tasks = load_yaml(ROLES / "k3s" / "tasks" / "main.yml")
    run = next(t for t in tasks if t.get("name") == "Run k3s")
    wait = next(t for t in run["block"] if t["name"].startswith("Wait for this node"))
    argv = wait["ansible.builtin.command"]["argv"]
    assert "{{ k3s_node_name }}" in argv and "ansible_hostname" not in str(wait)
    # Polled until the node object exists and is Ready (kubectl wait fails at once on a
    # node not registered yet), for agents too (through the server: upgrade.yml waits
    # for each agent before the next).
    assert "until" in wait and int(str(wait["delay"])) > 0
    assert "k3s_node_role == 'server' or k3s_server_host | length > 0" in wait["when"]
    assert "k3s_server_host" in str(wait["delegate_to"])


def test_gpu_agents_default_to_the_nvidia_runtime(tmp_path: Path) -> None:
    # OSCAR sets no runtimeClassName (grycap/oscar v4.1.2: none in its Go code); k3s only
    # adds the nvidia handler and keeps runc the default unless `default-runtime` is set
    # (k3s-io/k3s issue 9702: "--default-runtime value (agent/runtime)").
    assert VERSIONS["k3s"]["gpu_default_runtime"] == "nvidia"
    gpu = _render_k3s(tmp_path / "gpu", k3s_node_labels=["nvidia.com/gpu.present=true"])
    assert gpu["default-runtime"] == "nvidia"
    cpu = _render_k3s(tmp_path / "cpu")
    assert "default-runtime" not in cpu


# --------------------------------------------------------------------------- MinIO, NFS


def test_minio_data_stays_on_the_front(tmp_path: Path) -> None:
    # k3s labels servers node-role.kubernetes.io/control-plane=true (k3s-io/k3s issue
    # 14028); MinIO chart values.yaml has a top-level nodeSelector. With local-path and no
    # selector, the volume landed on whatever worker the pod was scheduled to.
    code, out = run_role(
        tmp_path,
        "minio",
        {
            "minio_apply": False,
            "minio_manifest_dir": str(tmp_path / "minio"),
            "minio_secret_key": "test-only-minio-key",
        },
    )
    assert code == 0, out
    values = helm_values(tmp_path / "minio" / "minio.yaml")
    assert values["nodeSelector"] == {"node-role.kubernetes.io/control-plane": "true"}


@pytest.mark.parametrize("backend", ["kernel", "ganesha"])
def test_nfs_export_is_for_the_cluster_nodes_only(tmp_path: Path, backend: str) -> None:
    # The export is rw,no_root_squash: it used to be open to all of 10/8, 172.16/12 and
    # 192.168/16. Now: each inventory host's private address (IM's IM_NODE_PRIVATE_IP,
    # else its default-route address).
    defaults = load_yaml(ROLES / "nfs" / "defaults" / "main.yml")
    assert "nfs_allowed_networks" not in defaults
    hosts = {
        "front": {"ansible_default_ipv4": {"address": "192.168.7.10"}},
        "vnode-1": {"IM_NODE_PRIVATE_IP": "10.0.0.11"},
        "vnode-2": {
            "IM_NODE_PRIVATE_IP": "10.0.0.12",
            "ansible_default_ipv4": {"address": "172.16.0.12"},
        },
    }
    template = "exports" if backend == "kernel" else "ganesha.conf"
    text = render_template(tmp_path, "nfs", template, {"nfs_server_host": "front"}, hosts=hosts)
    for address in ("192.168.7.10", "10.0.0.11", "10.0.0.12"):
        assert address in text, text
    for wide in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "172.16.0.12"):
        assert wide not in text, text


def test_deleted_volumes_are_not_archived() -> None:
    # nfs-subdir-external-provisioner values.yaml: storageClass.archiveOnDelete defaults to
    # true (a released volume is renamed archived-* and its data kept for ever).
    values = load_yaml(ROLES / "nfs" / "vars" / "main.yml")["nfs_provisioner_values"]
    assert values["storageClass"]["archiveOnDelete"] is False
