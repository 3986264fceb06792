"""`oscar-iac events plan|apply|remove SITE` end to end: real MinIO, OSCAR /job double."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.minio_fixture import MinioServer, free_port
from events_minio.oscar_jobs_double import OscarJobsDouble
from helpers.cli import CliResult

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

Cli = Callable[..., CliResult]


def _site(tmp_path: Path, minio_url: str, bucket: str, service: str) -> Path:
    site = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    site["name"] = "evsite"
    # An event feeds a service of the site: one of its models (the catalog is not read here).
    site["models"] = [{"module": service, "mode": "async"}]
    site["events"] = [
        {
            "kind": "minio",
            "name": "edge",
            "endpoint": minio_url,
            "access_key": "oscar-iac-test",
            "secret_key": "env:EDGE_MINIO_SECRET",
            "bucket": bucket,
            "prefix": "in/",
            "service": service,
        }
    ]
    folder = tmp_path / "evsite"
    folder.mkdir()
    (folder / "site.yml").write_text(yaml.safe_dump(site, sort_keys=False))
    return folder


@pytest.fixture
def env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    minio_server: MinioServer,
    oscar_jobs: OscarJobsDouble,
) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("EDGE_MINIO_SECRET", minio_server.secret_key)
    monkeypatch.setenv("OSCAR_PASSWORD", oscar_jobs.password)


@pytest.mark.usefixtures("env")
def test_cli_plan_apply_upload_remove(
    cli: Cli,
    tmp_path: Path,
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_jobs: OscarJobsDouble,
) -> None:
    token = oscar_jobs.add_service("plants")
    site = _site(tmp_path, minio_server.url, minio_bucket, "plants")
    args = ["--oscar-endpoint", oscar_jobs.url]
    before = minio_server.admin().config_get("notify_webhook")

    r = cli("events", "plan", str(site), *args)
    assert r.code == 0, r.out + r.err
    assert "2 create" in r.out
    assert minio_server.admin().config_get("notify_webhook") == before

    r = cli("events", "apply", str(site), *args)
    assert r.code == 0, r.out + r.err
    assert "2 create" in r.out
    assert token not in r.out + r.err and oscar_jobs.password not in r.out + r.err

    data = b'{"leaf": 1}'
    minio_server.client().put_object(minio_bucket, "in/a.json", io.BytesIO(data), len(data))
    deadline = time.monotonic() + 30
    while not oscar_jobs.jobs_for("plants") and time.monotonic() < deadline:
        time.sleep(0.1)
    jobs = oscar_jobs.jobs_for("plants")
    assert len(jobs) == 1 and jobs[0].authorization == f"Bearer {token}"
    assert json.loads(jobs[0].body)["EventName"] == "s3:ObjectCreated:Put"

    r = cli("events", "apply", str(site), *args)
    assert r.code == 0 and "2 unchanged" in r.out, r.out + r.err

    r = cli("events", "remove", str(site), *args)
    assert r.code == 0 and "2 delete" in r.out, r.out + r.err
    assert minio_server.admin().config_get("notify_webhook") == before


@pytest.mark.usefixtures("env")
def test_cli_unknown_bucket_exits_2_naming_file_and_field(
    cli: Cli, tmp_path: Path, minio_server: MinioServer, oscar_jobs: OscarJobsDouble
) -> None:
    oscar_jobs.add_service("plants")
    site = _site(tmp_path, minio_server.url, "no-such-bucket", "plants")
    before = minio_server.admin().config_get("notify_webhook")
    r = cli("events", "apply", str(site), "--oscar-endpoint", oscar_jobs.url)
    assert r.code == 2, r.out + r.err
    text = " ".join((r.out + r.err).split())
    assert "site.yml" in text and "events[0].bucket" in text and "no-such-bucket" in text
    assert minio_server.admin().config_get("notify_webhook") == before


@pytest.mark.usefixtures("env")
def test_cli_unreachable_minio_exits_1(
    cli: Cli, tmp_path: Path, minio_server: MinioServer, oscar_jobs: OscarJobsDouble
) -> None:
    oscar_jobs.add_service("plants")
    site = _site(tmp_path, f"http://127.0.0.1:{free_port()}", "some-bucket", "plants")
    r = cli("events", "apply", str(site), "--oscar-endpoint", oscar_jobs.url)
    assert r.code == 1, r.out + r.err
    assert "unreachable" in r.out + r.err


@pytest.mark.usefixtures("env")
def test_cli_without_endpoint_or_state_exits_1_with_hint(
    cli: Cli, tmp_path: Path, minio_server: MinioServer, oscar_jobs: OscarJobsDouble
) -> None:
    site = _site(tmp_path, minio_server.url, "some-bucket", "plants")
    r = cli("events", "plan", str(site))
    assert r.code == 1, r.out + r.err
    assert "no OSCAR endpoint" in r.out + r.err


@pytest.mark.usefixtures("env")
def test_cli_takes_the_oscar_endpoint_from_the_deployment_state(
    cli: Cli,
    tmp_path: Path,
    minio_server: MinioServer,
    minio_bucket: str,
    oscar_jobs: OscarJobsDouble,
) -> None:
    from oscar_iac import state

    oscar_jobs.add_service("plants")
    site = _site(tmp_path, minio_server.url, minio_bucket, "plants")
    dep = state.Deployment(
        site="evsite", im_url="embedded", outputs={"oscar_endpoint": oscar_jobs.url}
    )
    state.save(dep)
    r = cli("events", "plan", str(site))
    assert r.code == 0, r.out + r.err
    assert "2 create" in r.out  # the token was read from the OSCAR named in the state
