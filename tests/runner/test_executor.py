"""The OSCAR double + the local runner: /run answers the real model's prediction, a job's
outputs land in the real MinIO, and OSCAR's job records and logs follow the runs."""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
from typing import Any

import pytest
import requests

from components.minio_fixture import MinioServer
from doubles.oscar_server import OscarTestServer
from oscar_iac.runner.events import minio_event
from runner.fixtures import EXPECTED_SPECIES, IRIS_SAMPLE, register, renamed

pytestmark = pytest.mark.slow


def _species(data: bytes) -> list[str]:
    return [row["species"] for row in json.loads(data)["predictions"]]


def _wait_job(server: OscarTestServer, svc: str, within: float = 120) -> tuple[str, dict[str, str]]:
    auth = (server.username, server.password)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        jobs = requests.get(f"{server.url}/system/logs/{svc}", auth=auth, timeout=10).json()["jobs"]
        done = [(n, j) for n, j in jobs.items() if j["status"] in ("Succeeded", "Failed")]
        if done:
            return done[0]
        time.sleep(0.3)
    raise AssertionError(f"no job of {svc} finished within {within} s")


def test_run_answers_the_real_prediction(
    oscar_runner: OscarTestServer, demo_service: dict[str, Any], minio_server: MinioServer
) -> None:
    name = f"demo-{secrets.token_hex(3)}"
    token = register(oscar_runner, renamed(demo_service, name), minio_server)
    envelope = {
        "oscar-files": [
            {
                "key": "files",
                "file_format": "csv",
                "data": base64.b64encode(IRIS_SAMPLE.read_bytes()).decode(),
            }
        ]
    }
    # What oscar-python sends: the body base64-encoded.
    resp = requests.post(
        f"{oscar_runner.url}/run/{name}",
        data=base64.b64encode(json.dumps(envelope).encode()),
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    assert _species(base64.b64decode(resp.content)) == EXPECTED_SPECIES


def test_job_from_a_minio_event_uploads_the_outputs_to_minio(
    oscar_runner: OscarTestServer, demo_service: dict[str, Any], minio_server: MinioServer
) -> None:
    name = f"demo-{secrets.token_hex(3)}"
    token = register(oscar_runner, renamed(demo_service, name), minio_server)
    data = IRIS_SAMPLE.read_bytes()
    client = minio_server.client()
    client.put_object(name, "in/batch-1.csv", io.BytesIO(data), len(data))
    # The body MinIO's webhook sends to /job when the object lands in the input.
    event = minio_event(name, "in/batch-1.csv", len(data), "2026-01-01T00:00:00.000Z")
    resp = requests.post(
        f"{oscar_runner.url}/job/{name}",
        json=event,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 201 and resp.content == b""
    job, info = _wait_job(oscar_runner, name)
    assert info["status"] == "Succeeded", info
    assert job.startswith(f"{name}-")
    out = client.get_object(name, "out/batch-1.prediction.json")
    try:
        assert _species(out.read()) == EXPECTED_SPECIES
    finally:
        out.close()
        out.release_conn()
    log = requests.get(
        f"{oscar_runner.url}/system/logs/{name}/{job}",
        auth=(oscar_runner.username, oscar_runner.password),
        timeout=10,
    ).text
    assert "predict was called" in log


def test_a_failing_script_makes_a_failed_job_and_uploads_nothing(
    oscar_runner: OscarTestServer, demo_service: dict[str, Any], minio_server: MinioServer
) -> None:
    name = f"demo-{secrets.token_hex(3)}"
    svc = renamed(demo_service, name)
    svc["environment"] = {"variables": {"DEEPAAS_INPUT_ARG": "no_such_argument"}}
    token = register(oscar_runner, svc, minio_server)
    resp = requests.post(
        f"{oscar_runner.url}/job/{name}",
        data=base64.b64encode(IRIS_SAMPLE.read_bytes()),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 201
    _, info = _wait_job(oscar_runner, name)
    assert info["status"] == "Failed"
    assert list(minio_server.client().list_objects(name, prefix="out/", recursive=True)) == []
