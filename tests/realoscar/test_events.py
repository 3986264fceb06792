"""MinIO events into the real OSCAR: an upload makes OSCAR v4.1.2 create a Job object for the
right service, through OSCAR's own input bucket and through an external MinIO wired by
`oscar-iac events apply`; `events remove` undoes the wiring."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from components.kube_fixture import wait_until
from components.minio_fixture import MinioServer
from components.real_oscar import RealOscar
from helpers.cli import CliResult
from realoscar.support import make_site

pytestmark = [pytest.mark.real_oscar, pytest.mark.slow]
SERVICE = "seeds-classification"


def jobs_of(oscar: RealOscar, service: str) -> list[str]:
    """Job objects OSCAR created for `service` (pkg/handlers/job.go labels them
    oscar_service=<service> in the services namespace)."""
    found = oscar.kube.get("jobs", namespace=oscar.services_namespace)
    return [
        j["metadata"]["name"]
        for j in found["items"]
        if j["metadata"].get("labels", {}).get("oscar_service") == service
    ]


def test_uploads_make_oscar_create_jobs(
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    real_oscar: RealOscar,
    minio_server: MinioServer,
    minio_bucket: str,
) -> None:
    monkeypatch.setenv("EDGE_MINIO_SECRET", minio_server.secret_key)
    site = make_site(
        tmp_path,
        monkeypatch,
        real_oscar,
        [{"module": SERVICE, "mode": "async"}],
        events=[
            {
                "kind": "minio",
                "name": "edge",
                "endpoint": minio_server.url,
                "access_key": minio_server.access_key,
                "secret_key": "env:EDGE_MINIO_SECRET",
                "bucket": minio_bucket,
                "prefix": "in/",
                "service": SERVICE,
            }
        ],
    )
    ep = ["--oscar-endpoint", real_oscar.endpoint]
    res = cli("models", "apply", str(site), *ep)
    assert res.code == 0, res.out + res.err
    try:
        # OSCAR's own input bucket (created by OSCAR from the FDL's input) -> its webhook.
        before = set(jobs_of(real_oscar, SERVICE))
        data = b"a seed"
        real_oscar.minio.client().put_object(SERVICE, "in/seed.txt", io.BytesIO(data), len(data))
        wait_until(
            f"a Job for {SERVICE} after an upload to its OSCAR input bucket",
            lambda: bool(set(jobs_of(real_oscar, SERVICE)) - before),
            60,
        )

        # An external MinIO wired by `events apply`: its webhook posts to OSCAR's /job
        # with the service token OSCAR issued, and the real OSCAR accepts it.
        res = cli("events", "apply", str(site), *ep)
        assert res.code == 0, res.out + res.err
        before = set(jobs_of(real_oscar, SERVICE))
        minio_server.client().put_object(minio_bucket, "in/seed.txt", io.BytesIO(data), len(data))
        wait_until(
            f"a Job for {SERVICE} after an upload to the external bucket {minio_bucket}",
            lambda: bool(set(jobs_of(real_oscar, SERVICE)) - before),
            60,
        )
        again = cli("events", "apply", str(site), *ep)
        assert again.code == 0 and "2 unchanged" in again.out, again.out + again.err

        res = cli("events", "remove", str(site), *ep)
        assert res.code == 0 and "2 delete" in res.out, res.out + res.err
        assert "oscar-iac-edge" not in minio_server.admin().config_get("notify_webhook")
        assert not minio_server.client().get_bucket_notification(minio_bucket).queue_config_list
    finally:
        res = cli("models", "remove", str(site), *ep)
        assert res.code == 0, res.out + res.err
    assert not jobs_of(real_oscar, SERVICE)  # OSCAR deletes a service's jobs with it
