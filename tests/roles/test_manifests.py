"""`oscar-iac manifests validate`: offline, strict, against the pinned Kubernetes version."""

from __future__ import annotations

from pathlib import Path

from oscar_iac.kube.validate import kubernetes_version

GOOD = """apiVersion: v1
kind: Namespace
metadata: {name: oscar-svc}
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata: {name: oscar, namespace: kube-system}
spec:
  repo: https://grycap.github.io/helm-charts/
  chart: oscar
  version: "4.1.2"
  targetNamespace: oscar
  valuesContent: |-
    authUser: oscar
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: oscar-iac-selfsigned}
spec: {selfSigned: {}}
"""


def test_valid_objects_pass(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ok.yaml").write_text(GOOD)
    res = cli("manifests", "validate", str(tmp_path))
    assert res.code == 0, res.err
    assert f"3 objects valid for Kubernetes {kubernetes_version()}" in res.out


def test_each_kind_of_mistake_is_named(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: "two"
  selector: {matchLabels: {a: b}}
  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80}], selectr: {a: b}}
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata: {name: h, namespace: kube-system}
spec: {chart: c, valueContent: "a: b"}
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata: {name: v, namespace: kube-system}
spec: {chart: c, valuesContent: "- a list"}
---
apiVersion: example.org/v1
kind: Gadget
metadata: {name: g}
"""
    )
    res = cli("manifests", "validate", str(bad))
    assert res.code == 2
    assert f"{bad}: document 1 (Deployment d): spec.replicas" in res.err
    assert "document 2 (Service s)" in res.err and "selectr" in res.err
    assert "document 3 (HelmChart h)" in res.err and "valueContent" in res.err
    assert "document 4 (HelmChart v): spec.valuesContent: expected a YAML mapping" in res.err
    assert "document 5 (Gadget g): unknown kind Gadget" in res.err


def test_no_file_is_a_user_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("manifests", "validate", str(tmp_path / "nothing"))
    assert res.code == 2
