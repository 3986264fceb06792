"""`oscar-iac models plan|apply|remove` against the real OSCAR v4.1.2: what OSCAR creates
in the API server and in MinIO, and that remove leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from components.real_oscar import RealOscar
from helpers.cli import CliResult
from realoscar.support import (
    actions,
    bucket_notifications,
    edit_site,
    make_site,
    service_objects,
    webhook_targets,
)

pytestmark = [pytest.mark.real_oscar, pytest.mark.slow]


def test_plan_apply_reapply_update_remove(
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    real_oscar: RealOscar,
) -> None:
    site = make_site(
        tmp_path,
        monkeypatch,
        real_oscar,
        [{"module": "ai4os-demo-app"}, {"module": "plants-classification", "mode": "async"}],
    )
    ep = ["--oscar-endpoint", real_oscar.endpoint]
    names = ("ai4os-demo-app", "plants-classification")
    buckets_before = {b.name for b in real_oscar.minio.client().list_buckets()}

    planned = cli("models", "plan", str(site), *ep)
    assert planned.code == 0, planned.err
    assert actions(planned) == {n: "create" for n in names}
    applied = cli("models", "apply", str(site), *ep)
    assert applied.code == 0, applied.err + applied.out
    for name in names:
        assert service_objects(real_oscar, name) == {"configmap": True, "podtemplate": True}, name
    status, listed = real_oscar.request("GET", "/system/services")
    assert status == 200 and set(names) <= {s["name"] for s in listed}
    # The async model's input bucket notifies OSCAR's /job through a MinIO webhook.
    assert "plants-classification" in webhook_targets(real_oscar)
    assert bucket_notifications(real_oscar, "plants-classification")

    versions = {
        n: real_oscar.kube.get("configmap", n, "oscar-svc")["metadata"]["resourceVersion"]
        for n in names
    }
    again = cli("models", "apply", str(site), *ep)
    assert again.code == 0 and set(actions(again).values()) == {"unchanged"}, again.out
    assert versions == {
        n: real_oscar.kube.get("configmap", n, "oscar-svc")["metadata"]["resourceVersion"]
        for n in names
    }

    edit_site(site, lambda d: d["models"][1].update({"overrides": {"memory": "3 GiB"}}))
    assert actions(cli("models", "apply", str(site), *ep))["plants-classification"] == "update"
    status, svc = real_oscar.request("GET", "/system/services/plants-classification")
    assert status == 200 and svc["memory"] == "3072Mi"
    template = real_oscar.kube.get("podtemplate", "plants-classification", "oscar-svc")
    limits = template["template"]["spec"]["containers"][0]["resources"]["limits"]
    # The API server stores quantities in canonical form: 3072Mi is 3Gi.
    assert limits["memory"] == "3Gi"

    removed = cli("models", "remove", str(site), *ep)
    assert removed.code == 0, removed.err
    for name in names:
        assert service_objects(real_oscar, name) == {"configmap": False, "podtemplate": False}, name
    assert "plants-classification" not in webhook_targets(real_oscar)
    assert {b.name for b in real_oscar.minio.client().list_buckets()} == buckets_before


def test_a_field_the_real_oscar_rejects_fails_apply(
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    real_oscar: RealOscar,
) -> None:
    """The tests see what the real OSCAR refuses: an FDL whose `memory` is no Kubernetes
    quantity is answered 500 by OSCAR v4.1.2 (the API server's quantity parser, when OSCAR
    builds the PodTemplate; the swagger-validating double would have accepted it),
    `models apply` fails naming the service and OSCAR's reason, and nothing is left behind
    (OSCAR rolls the service back: pkg/handlers/create.go back.DeleteService)."""
    from oscar_iac.registry import services as registry

    real = registry.service_definition

    def broken(*args: object, **kw: object) -> dict[str, object]:
        svc = real(*args, **kw)  # type: ignore[arg-type]
        return {**svc, "memory": "plenty"}

    monkeypatch.setattr(registry, "service_definition", broken)
    site = make_site(tmp_path, monkeypatch, real_oscar, [{"module": "posenet-tf", "mode": "async"}])
    res = cli("models", "apply", str(site), "--oscar-endpoint", real_oscar.endpoint)
    assert res.code == 1, res.out + res.err
    err = " ".join(res.err.split())
    assert "create service posenet-tf (500)" in err and "quantities must match" in err, err
    assert service_objects(real_oscar, "posenet-tf") == {"configmap": False, "podtemplate": False}
