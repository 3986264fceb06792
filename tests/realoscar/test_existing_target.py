"""The existing-OSCAR target (`target: {kind: oscar}`) against the real OSCAR: `up` runs
platform, models, events and smoke; the platform phase reports what is wrong with the
cluster, and the RBAC rule our oscar role adds is what OSCAR v4.1.2 needs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.minio_fixture import MinioServer
from components.real_oscar import RealOscar
from helpers.cli import CliResult
from realoscar.support import CATALOG, service_objects

pytestmark = [pytest.mark.real_oscar, pytest.mark.slow]
SERVICE = "dogs-breed-detector"
BINDING = "oscar-iac-oscar-nodes"  # roles/oscar/templates/rbac.yaml.j2


def phases(state: Path, site: str) -> dict[str, dict[str, Any]]:
    data = json.loads((state / site / "deployment.json").read_text())
    return dict(data.get("phases") or {})


@pytest.fixture
def without_roles_rbac(real_oscar: RealOscar) -> Iterator[None]:
    """OSCAR as chart 4.1.2 alone installs it: the role's ClusterRoleBinding removed for
    the test, put back (from the role's render) afterwards."""
    kube = real_oscar.kube
    kube.kubectl("delete", "clusterrolebinding", BINDING, check=True)
    try:
        yield
    finally:
        res = kube.apply((real_oscar.manifests / "rbac.yaml").read_text())
        assert res.returncode == 0, res.stderr


def existing_site(tmp_path: Path, oscar: RealOscar, minio: MinioServer, bucket: str) -> Path:
    folder = tmp_path / "existing"
    folder.mkdir()
    doc = {
        "name": "realexisting",
        "target": {
            "kind": "oscar",
            "endpoint": oscar.endpoint,
            "username": oscar.username,
            "password": "env:REAL_OSCAR_PASSWORD",
        },
        "catalog": {"source": "folder", "location": str(CATALOG)},
        "models": [{"module": SERVICE, "mode": "async"}],
        "events": [
            {
                "kind": "minio",
                "name": "edge",
                "endpoint": minio.url,
                "access_key": minio.access_key,
                "secret_key": "env:REAL_EDGE_SECRET",
                "bucket": bucket,
                "prefix": "in/",
                "service": SERVICE,
            }
        ],
    }
    (folder / "site.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def test_the_roles_rule_is_exactly_what_oscar_lists(real_oscar: RealOscar) -> None:
    # OSCAR v4.1.2 only ever lists nodes (pkg/handlers/status.go getNodesInfo,
    # pkg/types/config.go CheckAvailableGPUs/CheckAvailableInterLink,
    # pkg/imagepuller/daemonset.go setWorkingNodes: CoreV1().Nodes().List; getMetricsInfo:
    # NodeMetricses().List): the role grants `list`, and nothing more.
    ns = real_oscar.namespace
    kube = real_oscar.kube

    def can(verb: str, resource: str, group: str = "") -> bool:
        """A SubjectAccessReview for the chart's ServiceAccount (kubectl auth can-i would
        need the metrics.k8s.io API served to resolve that group)."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{ns}:oscar-sa",
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}"],
                "resourceAttributes": {"verb": verb, "resource": resource, "group": group},
            },
        }
        res = kube.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review), check=True)
        return bool(json.loads(res.stdout)["status"].get("allowed"))

    assert can("list", "nodes") and can("list", "nodes", "metrics.k8s.io")
    assert not can("get", "nodes") and not can("watch", "nodes")
    assert not can("patch", "nodes") and not can("get", "nodes", "metrics.k8s.io")
    # With it, /system/status no longer fails on nodes (what is left here: this test
    # cluster serves no metrics.k8s.io; k3s ships metrics-server).
    status, body = real_oscar.request("GET", "/system/status")
    assert "forbidden" not in json.dumps(body), body
    assert status == 200 or "metrics" in json.dumps(body), (status, body)


def test_up_on_the_real_oscar_reports_the_missing_nodes_rule(
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    real_oscar: RealOscar,
    minio_server: MinioServer,
    minio_bucket: str,
    without_roles_rbac: None,
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(state))
    monkeypatch.setenv("REAL_OSCAR_PASSWORD", real_oscar.password)
    monkeypatch.setenv("REAL_EDGE_SECRET", minio_server.secret_key)
    site = existing_site(tmp_path, real_oscar, minio_server, minio_bucket)
    # Chart 4.1.2 alone: OSCAR answers /system/status with 500 "nodes is forbidden".
    status, body = real_oscar.request("GET", "/system/status")
    assert status == 500 and "nodes is forbidden" in json.dumps(body), (status, body)

    res = cli("up", str(site))
    try:
        assert res.code == 0, res.out + res.err
        recorded = phases(state, "realexisting")
        for phase in ("platform", "models", "events", "smoke"):
            assert recorded[phase]["status"] == "done", recorded
        platform = recorded["platform"]["detail"]
        assert "nodes is forbidden" in platform and BINDING in platform, platform
        assert "nodes is forbidden" in " ".join(res.out.split())
        assert service_objects(real_oscar, SERVICE) == {"configmap": True, "podtemplate": True}
        assert SERVICE in recorded["smoke"]["detail"]
        assert minio_server.client().get_bucket_notification(minio_bucket).queue_config_list
        assert real_oscar.password not in res.out + res.err
    finally:
        down = cli("down", str(site), "--yes")
        assert down.code == 0, down.out + down.err
    assert service_objects(real_oscar, SERVICE) == {"configmap": False, "podtemplate": False}
    assert not minio_server.client().get_bucket_notification(minio_bucket).queue_config_list
