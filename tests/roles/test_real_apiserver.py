"""Every object the roles install, applied to a real kube-apiserver v1.37.2 with strict
field validation (issue #19 item 4): `kubectl apply --server-side --validate=strict
--dry-run=server` on the session's control plane (tests/components/kube_fixture.py
`kube_cluster`), namespaces and CRDs applied for real first. An unknown or misplaced field
fails.

What is applied:
- the objects the front's roles render (ingress, minio, oscar, nifi: HelmCharts, HTTPRoutes,
  the BackendTLSPolicy, namespaces, NiFi's StatefulSet/Service/Secret/ConfigMaps), against
  the HelmChart CRD of k3s-io/helm-controller and the Gateway API v1.4.0 CRDs;
- `helm template` of the charts with the values those HelmCharts carry: OSCAR 4.1.2 and
  MinIO 5.4.0 (the published archives in ../shared/vendor) and traefik 39.0.9 (its source
  tree), with the traefik chart's own CRDs (traefik.io Middleware for OSCAR's CORS filter);
- Knative Serving's CRDs and the ConfigMaps the knative role merges settings into;
- the nfs role's HelmChart and `helm template` of nfs-subdir-external-provisioner 4.0.18
  (its source tree) with its values.
Not applied, and why: cert-manager's objects (ClusterIssuer, Certificate) and chart, because
no cert-manager release or CRD source can be had here (charts.jetstack.io and GitHub are out
of reach; the Go proxy serves no CRD YAML for it); ingress-nginx is no longer deployed.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kube_fixture import KubeCluster
from roles.conftest import REPO
from roles.front_render import all_docs, docs, helm_values, render_front
from roles.test_upstream_facts import render_template

pytestmark = pytest.mark.real_k8s

SHARED = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared"))
VENDOR = SHARED / "vendor"
VERSIONS: dict[str, Any] = yaml.safe_load((REPO / "versions.yml").read_text())["oscar_iac_versions"]
# Objects whose CRDs cannot be had here (see the module's docstring).
NO_CRD = {("cert-manager.io/v1", "ClusterIssuer"), ("cert-manager.io/v1", "Certificate")}


def _go_module_dir(spec: str) -> Path:
    """A Go module's files, from the proxy (or the warm module cache)."""
    env = dict(os.environ)
    env.setdefault("GOMODCACHE", str(REPO / ".cache" / "go" / "mod"))
    env["GOFLAGS"] = "-mod=mod"
    res = subprocess.run(
        ["go", "mod", "download", "-json", spec], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return Path(json.loads(res.stdout)["Dir"])


def _module(component: str) -> str:
    return f"{VERSIONS[component]['module']}@{VERSIONS[component]['go_module']}"


def _dump(objs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False)


def _apply(
    cluster: KubeCluster, text: str, *, dry_run: bool = True, namespace: str | None = None
) -> str:
    """Server-side apply with strict field validation (a dry run on the server unless told
    otherwise); returns kubectl's output, raises with it when the server refuses."""
    res = cluster.apply(text, server_side=True, strict=True, dry_run=dry_run, namespace=namespace)
    if res.returncode != 0:
        raise AssertionError(res.stdout + res.stderr)
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("front")
    code, out = render_front(tmp, "self-signed")
    assert code == 0, out
    return tmp


@pytest.fixture(scope="module")
def cluster(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory, rendered: Path
) -> Iterator[KubeCluster]:
    for cp in [kube_cluster]:
        # CRDs first, for real: Gateway API (what the traefik chart installs), traefik's
        # own, k3s' HelmChart.
        crds = [VENDOR / f"gateway-api-{VERSIONS['gateway_api']['version']}-standard-install.yaml"]
        crds += sorted((_traefik_tree(tmp_path_factory) / "crds").glob("traefik.io_*.yaml"))
        helm_controller = _go_module_dir(_module("helm_controller_crds"))
        crds.append(helm_controller / "pkg/crds/yaml/generated/helm.cattle.io_helmcharts.yaml")
        for crd in crds:
            _apply(cp, crd.read_text(), dry_run=False)
        wait = cp.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
        assert wait.returncode == 0, wait.stdout + wait.stderr
        # Namespaces for real, first: the roles' own Namespace objects (strictly
        # validated like the rest), then the ones k3s' Helm controller would create
        # (HelmChart createNamespace) and Knative's.
        own = [d for d in all_docs(rendered) if d["kind"] == "Namespace"]
        _apply(cp, _dump(own), dry_run=False)
        names = {"traefik", "cert-manager", "minio", "oscar", "nifi", "knative-serving"}
        for ns in sorted(names - {d["metadata"]["name"] for d in own}):
            ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            _apply(cp, _dump([ns_obj]), dry_run=False)
        yield cp


_TREES: dict[str, Path] = {}


def _traefik_tree(factory: pytest.TempPathFactory) -> Path:
    if "traefik" not in _TREES:
        dest = factory.mktemp("traefik-src")
        with tarfile.open(VENDOR / "chart-sources" / "traefik-39.0.9-source-b138b95.tar.gz") as t:
            t.extractall(dest, filter="data")
        _TREES["traefik"] = dest / "traefik"
    return _TREES["traefik"]


def _helm_template(
    cluster: KubeCluster,
    chart: Path | str,
    release: str,
    namespace: str,
    values: dict[str, Any],
    work: Path,
) -> list[dict[str, Any]]:
    vfile = work / f"{release}-values.yaml"
    vfile.write_text(yaml.safe_dump(values))
    vfile.chmod(0o600)
    res = cluster.helm(
        "template", release, str(chart), "-n", namespace, "-f", str(vfile),
        "--kube-version", "v1.37.2",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def test_the_roles_objects_are_accepted(cluster: KubeCluster, rendered: Path) -> None:
    objs = [d for d in all_docs(rendered) if (d["apiVersion"], d["kind"]) not in NO_CRD]
    kinds = {d["kind"] for d in objs}
    assert {"HelmChart", "HTTPRoute", "BackendTLSPolicy", "StatefulSet", "Namespace"} <= kinds
    # (The Namespace objects were created, strictly, by the fixture.)
    out = _apply(cluster, _dump([d for d in objs if d["kind"] != "Namespace"]))
    assert "serverside-applied (server dry run)" in out


def test_an_unknown_or_misplaced_field_is_refused(cluster: KubeCluster, rendered: Path) -> None:
    route = next(d for d in docs(rendered / "minio" / "minio-routes.yaml"))
    _apply(cluster, _dump([route]))
    bad = copy.deepcopy(route)
    bad["spec"]["rules"][0]["backendRef"] = bad["spec"]["rules"][0].pop("backendRefs")
    with pytest.raises(
        AssertionError, match=r"\.spec\.rules\[0\]\.backendRef: field not declared in schema"
    ):
        _apply(cluster, _dump([bad]))
    chart = yaml.safe_load((rendered / "oscar" / "oscar.yaml").read_text())
    chart["spec"]["valueContent"] = chart["spec"].pop("valuesContent")
    with pytest.raises(AssertionError, match=r"\.spec\.valueContent: field not declared in schema"):
        _apply(cluster, _dump([chart]))


def test_the_charts_render_objects_the_server_accepts(
    cluster: KubeCluster, rendered: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    charts = {
        "oscar": VENDOR / "oscar-chart-4.1.2.tgz",
        "minio": VENDOR / "minio-chart-5.4.0.tgz",
        "traefik": _traefik_tree(tmp_path_factory),
    }
    files = {
        "oscar": rendered / "oscar" / "oscar.yaml",
        "minio": rendered / "minio" / "minio.yaml",
        "traefik": rendered / "ingress" / "traefik.yaml",
    }
    seen: dict[str, set[str]] = {}
    for name, chart in charts.items():
        helmchart = yaml.safe_load(files[name].read_text())
        namespace = helmchart["spec"]["targetNamespace"]
        objs = _helm_template(
            cluster,
            chart,
            helmchart["metadata"]["name"],
            namespace,
            helm_values(files[name]),
            tmp_path,
        )
        seen[name] = {f"{d['kind']}/{d['metadata']['name']}" for d in objs}
        # As helm install does: the release's namespace unless a template names another
        # (chart 4.1.2's oscar-additional-cm.yaml hard-codes oscar-svc).
        for ns in sorted({d["metadata"].get("namespace", namespace) for d in objs}):
            group = [d for d in objs if d["metadata"].get("namespace", namespace) == ns]
            _apply(cluster, _dump(group), namespace=ns)
    # What the routes and the roles name exists in what the charts render.
    assert {"HTTPRoute/oscar", "Middleware/cors-allow-all", "Service/oscar"} <= seen["oscar"]
    assert not {k for k in seen["oscar"] | seen["minio"] if k.startswith("Ingress/")}
    assert {"Service/minio", "Service/minio-console"} <= seen["minio"]
    assert {"Gateway/traefik-gateway", "GatewayClass/traefik"} <= seen["traefik"]


def test_the_gateway_routes_attach_to_what_traefik_renders(
    cluster: KubeCluster, rendered: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    traefik = rendered / "ingress" / "traefik.yaml"
    objs = _helm_template(
        cluster,
        _traefik_tree(tmp_path_factory),
        "traefik",
        "traefik",
        helm_values(traefik),
        tmp_path,
    )
    gateway = next(d for d in objs if d["kind"] == "Gateway")
    # Created for real, so the routes below are judged against the real Gateway object.
    _apply(cluster, _dump([gateway]), dry_run=False, namespace="traefik")
    listeners = {lis["name"]: lis for lis in gateway["spec"]["listeners"]}
    secrets = {d["spec"]["secretName"] for d in docs(rendered / "ingress" / "certificates.yaml")}
    for lis in listeners.values():
        if lis["protocol"] == "HTTPS":
            assert {r["name"] for r in lis["tls"]["certificateRefs"]} <= secrets
    routes = [d for d in all_docs(rendered) if d["kind"] == "HTTPRoute"]
    for route in routes:
        for ref in route["spec"]["parentRefs"]:
            assert (ref["name"], ref.get("namespace", route["metadata"]["namespace"])) == (
                gateway["metadata"]["name"],
                "traefik",
            )
            if "sectionName" in ref:
                assert ref["sectionName"] in listeners


def test_knative_crds_and_the_configmaps_we_set(cluster: KubeCluster) -> None:
    serving = _go_module_dir(_module("knative_serving_crds"))
    for crd in sorted((serving / "config" / "core" / "300-resources").glob("*.yaml")):
        _apply(cluster, crd.read_text())
    features = yaml.safe_load((serving / "config/core/configmaps/features.yaml").read_text())
    for key, value in VERSIONS["knative_serving"]["features"].items():
        # Flags the knative role sets must be flags Knative knows (its _example documents each).
        assert re.search(rf"^\s*{re.escape(key)}:", features["data"]["_example"], re.M), key
        features["data"][key] = value
    _apply(cluster, _dump([features]))


def test_the_nfs_provisioner_chart_is_accepted(cluster: KubeCluster, tmp_path: Path) -> None:
    text = render_template(tmp_path, "nfs", "provisioner.yaml", {"nfs_server_address": "10.0.0.1"})
    helmchart = yaml.safe_load(text)
    _apply(cluster, text)
    src = tmp_path / "src"
    name = "nfs-subdir-external-provisioner-4.0.18-source-59a3ca2.tar.gz"
    with tarfile.open(VENDOR / "chart-sources" / name) as t:
        t.extractall(src, filter="data")
    (chart,) = [p.parent for p in src.rglob("Chart.yaml")]
    namespace = helmchart["spec"]["targetNamespace"]
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    _apply(cluster, _dump([ns_obj]), dry_run=False)
    values = yaml.safe_load(helmchart["spec"]["valuesContent"])
    objs = _helm_template(
        cluster, chart, helmchart["metadata"]["name"], namespace, values, tmp_path
    )
    assert {"StorageClass", "Deployment"} <= {d["kind"] for d in objs}
    _apply(cluster, _dump(objs), namespace=namespace)
