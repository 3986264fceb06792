"""With SERVERLESS_BACKEND=knative (roles/oscar `oscar_serverless_backend: knative`) and the
Knative Serving CRDs installed, the real OSCAR makes each model a Knative Service.

Its own control plane (a second OSCAR release cannot share the first one's cluster: chart
4.1.2's ClusterRoles have fixed names). The CRDs are the ones of the Knative Serving module
OSCAR v4.1.2 compiles against (its go.mod: knative.dev/serving v0.36.0), from the Go module
cache the OSCAR build filled; no Knative controller runs, so the Services never get Ready."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.kube_fixture import KubeCluster, start_cluster, wait_until
from components.real_oscar import RealOscar, start_real_oscar, stop_real_oscar
from helpers.cli import CliResult
from realoscar.support import REPO, actions, make_site, service_objects

pytestmark = [pytest.mark.real_oscar, pytest.mark.slow]
CACHE = Path(os.path.realpath(REPO / ".cache"))
KNATIVE_CRDS = (
    CACHE / "go" / "mod" / "knative.dev" / "serving@v0.36.0" / "config" / "core" / "300-resources"
)


@pytest.fixture(scope="module")
def knative_oscar() -> Iterator[RealOscar]:
    work = Path(tempfile.mkdtemp(prefix="oscar-iac-knative-"))
    kube: KubeCluster | None = None
    try:
        kube = start_cluster(work / "kube")
        for name in ("service", "configuration", "revision", "route"):
            res = kube.apply((KNATIVE_CRDS / f"{name}.yaml").read_text(), server_side=True)
            assert res.returncode == 0, res.stderr
        wait_until(
            "CRD services.serving.knative.dev Established",
            lambda: (
                kube is not None
                and kube.kubectl(
                    "wait",
                    "--for=condition=Established",
                    "crd/services.serving.knative.dev",
                    "--timeout=5s",
                ).returncode
                == 0
            ),
            60,
        )
        oscar = start_real_oscar(kube, work / "oscar", oscar_serverless_backend="knative")
        try:
            yield oscar
        finally:
            stop_real_oscar(oscar)
    finally:
        if kube is not None:
            kube.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_models_become_knative_services(
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    knative_oscar: RealOscar,
) -> None:
    assert knative_oscar.values["serverlessBackend"] == "knative"
    status, config = knative_oscar.request("GET", "/system/config")
    assert status == 200 and config["config"]["serverless_backend"] == "knative"
    site = make_site(
        tmp_path, monkeypatch, knative_oscar, [{"module": "ai4os-demo-app", "mode": "sync"}]
    )
    ep = ["--oscar-endpoint", knative_oscar.endpoint]
    res = cli("models", "apply", str(site), *ep)
    assert res.code == 0, res.out + res.err
    objects = service_objects(knative_oscar, "ai4os-demo-app")
    assert objects["configmap"] and objects["ksvc"], objects
    ksvc = knative_oscar.kube.get("services.serving.knative.dev", "ai4os-demo-app", "oscar-svc")
    assert ksvc["spec"]["template"]["spec"]["containers"][0]["image"].startswith("ai4oshub/")
    again = cli("models", "apply", str(site), *ep)
    assert again.code == 0 and set(actions(again).values()) == {"unchanged"}, again.out
    res = cli("models", "remove", str(site), *ep)
    assert res.code == 0, res.out + res.err
    assert not any(service_objects(knative_oscar, "ai4os-demo-app").values())
