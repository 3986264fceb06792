"""The fixtures themselves: a real API server that validates strictly, and the real OSCAR
installed with the values our oscar role renders, running as the chart's ServiceAccount."""

from __future__ import annotations

import stat

import pytest
import yaml

from components.kube_fixture import KubeCluster
from components.real_oscar import RealOscar
from realoscar.support import REPO

pytestmark = [pytest.mark.real_oscar, pytest.mark.slow]
PINS = yaml.safe_load((REPO / "versions.yml").read_text())["oscar_iac_test_components"]


def test_api_server_rejects_unknown_fields(kube_cluster: KubeCluster) -> None:
    ok = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict-ok, namespace: default}\ndata: {a: b}\n"
    assert kube_cluster.apply(ok).returncode == 0
    bad = ok.replace("data: {a: b}", "data: {a: b}\ndatta: {c: d}")
    res = kube_cluster.apply(bad)
    assert res.returncode != 0 and 'unknown field "datta"' in res.stderr
    version = kube_cluster.kubectl("version", "-o", "json", check=True).stdout
    assert f'"gitVersion": "{PINS["kubernetes"]["version"]}"' in version
    # The admin credentials are owner-only.
    assert stat.S_IMODE(kube_cluster.kubeconfig.stat().st_mode) == 0o600


def test_oscar_runs_with_the_roles_values(real_oscar: RealOscar) -> None:
    kube = real_oscar.kube
    status, info = real_oscar.request("GET", "/system/info")
    assert status == 200 and info["kubernetes_version"] == PINS["kubernetes"]["version"]
    assert real_oscar.request("GET", "/system/config")[0] == 200
    assert (
        real_oscar.request("GET", "/system/config", auth=real_oscar.basic_auth(password="nope"))[0]
        == 401
    )
    # helm installed the chart with the HelmChart's valuesContent our role rendered.
    deployment = kube.get("deployment", "oscar", real_oscar.namespace)
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["OSCAR_SERVICES_NAMESPACE"] == real_oscar.values["servicesNamespace"] == "oscar-svc"
    assert env["MINIO_ENDPOINT"] == real_oscar.minio.url
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "oscar-sa"
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/grycap/oscar:4.1.2"
    assert kube.get("service", "oscar", real_oscar.namespace)["spec"]["type"] == "ClusterIP"
    # OSCAR acts as oscar/oscar-sa: what the chart's RBAC denies, OSCAR is denied.
    sa = f"system:serviceaccount:{real_oscar.namespace}:oscar-sa"
    assert (
        kube.kubectl(
            "auth", "can-i", "create", "configmaps", "-n", "oscar-svc", f"--as={sa}"
        ).stdout.strip()
        == "yes"
    )
    assert kube.kubectl("auth", "can-i", "delete", "nodes", f"--as={sa}").stdout.strip() == "no"
