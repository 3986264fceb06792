"""Shared by the real-OSCAR tests: a test site pointing at the real OSCAR, and what
OSCAR v4.1.2 leaves in the API server and in MinIO for a service."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.real_oscar import RealOscar
from helpers.cli import CliResult

REPO = Path(__file__).resolve().parents[2]
CATALOG = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared")) / "catalog"


def make_site(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    oscar: RealOscar,
    models: list[dict[str, Any]],
    **extra: Any,
) -> Path:
    """The local sample site with the shared catalog and `models`; OSCAR's password in the
    environment (as an operator would export it), the state under tmp_path."""
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("OSCAR_PASSWORD", oscar.password)
    data = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    data["catalog"] = {"source": "folder", "location": str(CATALOG)}
    data["models"] = models
    data.update(extra)
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    (folder / "site.yml").write_text(yaml.safe_dump(data))
    return folder


@contextmanager
def registered_service(
    oscar: RealOscar, tmp_path_factory: pytest.TempPathFactory, module: str
) -> Iterator[dict[str, Any]]:
    """One catalog model registered as an async service the way `oscar-iac models apply`
    does it (registry.apply, the CLI's library), yielded as OSCAR stores it
    (GET /system/services/<name>, with its token); removed again on exit."""
    from oscar_iac import registry
    from oscar_iac.naming import service_name
    from oscar_iac.oscar import OscarConnection
    from oscar_iac.site import load_site

    mp = pytest.MonkeyPatch()
    try:
        site = make_site(
            tmp_path_factory.mktemp("svc"), mp, oscar, [{"module": module, "mode": "async"}]
        )
        conn = OscarConnection(oscar.endpoint, oscar.username, oscar.password)
        registry.apply(conn, load_site(site))
        status, svc = oscar.request("GET", f"/system/services/{service_name(module)}")
        assert status == 200, svc
        try:
            yield svc
        finally:
            registry.apply(conn, load_site(site), remove_all=True)
    finally:
        mp.undo()


def edit_site(site: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load((site / "site.yml").read_text())
    fn(data)
    (site / "site.yml").write_text(yaml.safe_dump(data))


def actions(res: CliResult) -> dict[str, str]:
    """`models plan|apply` table rows: service -> action."""
    rows = [ln.split() for ln in res.out.splitlines()[1:] if ln.strip()]
    return {r[0]: r[1] for r in rows if len(r) >= 2}


def service_objects(oscar: RealOscar, name: str) -> dict[str, bool]:
    """Which of the objects OSCAR v4.1.2 creates for a service exist now
    (pkg/backends/k8s.go KubeBackend.CreateService: a ConfigMap with the FDL and script, and a
    PodTemplate; Knative backend: a ConfigMap and a serving.knative.dev Service)."""
    ns = oscar.services_namespace
    kube = oscar.kube
    found = {
        "configmap": kube.exists("configmap", name, ns),
        "podtemplate": kube.exists("podtemplate", name, ns),
    }
    if kube.kubectl("get", "crd", "services.serving.knative.dev").returncode == 0:
        found["ksvc"] = kube.exists("services.serving.knative.dev", name, ns)
    return found


def bucket_notifications(oscar: RealOscar, bucket: str) -> list[str]:
    """ARNs of the webhook targets MinIO notifies for `bucket` ([] when none or no bucket)."""
    client = oscar.minio.client()
    if not client.bucket_exists(bucket):
        return []
    config = client.get_bucket_notification(bucket)
    return [str(q.queue) for q in config.queue_config_list]


def webhook_targets(oscar: RealOscar) -> dict[str, dict[str, str]]:
    """MinIO's notify_webhook targets: id -> settings (OSCAR adds `notify_webhook:<service>`
    per service with a MinIO input: pkg/utils/minio.go RegisterWebhook)."""
    text = oscar.minio.admin().config_get("notify_webhook")
    found: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = shlex.split(line)
        if fields and fields[0].startswith("notify_webhook:"):
            settings = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
            if settings.get("endpoint"):
                found[fields[0].split(":", 1)[1]] = settings
    return found
