"""An upload to MinIO runs the DEEP demo model as an OSCAR job on the real node.

Everything is real: MinIO, its webhooks to OSCAR v4.1.2, OSCAR's Job, the scheduler, the
kubelet, containerd pulling the model's image from the node's registry (OSCAR's job Pods pull
with policy Always: components.registry_fixture), runc, the DEEPaaS image built here, and
faas-supervisor 1.6.2 in the Pod reading the input from MinIO and writing the model's answer
back (tests/realnode/conftest.py).

One `up` against the running OSCAR (target kind `oscar`) registers the demo model (models),
wires a second bucket of the MinIO to it (events) and calls it once through MinIO (smoke,
the Python API's submit/result); then an upload to the wired bucket and a Python API submit
run it twice more at once, and OSCAR's /system/logs has both jobs' logs.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kube_fixture import wait_until
from components.node_fixture import RealNode
from components.real_oscar import RealOscar
from helpers.cli import CliResult
from oscar_iac.client import Client
from oscar_iac.errors import DeploymentError
from oscar_iac.naming import service_name
from runner.fixtures import DEMO_CATALOG, DEMO_MODULE, EXPECTED_SPECIES, IRIS_SAMPLE

pytestmark = [pytest.mark.real_node, pytest.mark.slow]
SERVICE = service_name(DEMO_MODULE)
SITE = "realnode"
EDGE_BUCKET = "oscar-iac-node-edge"
JOB_DEADLINE = 300  # s: a cold pull of the model image plus one prediction on 2 busy cores


def species(data: bytes) -> list[str]:
    return [row["species"] for row in json.loads(data)["predictions"]]


def site_for(tmp_path: Path, oscar: RealOscar) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(IRIS_SAMPLE, folder / "iris.csv")
    minio = oscar.minio
    doc = {
        "name": SITE,
        "target": {
            "kind": "oscar",
            "endpoint": oscar.endpoint,
            "username": oscar.username,
            "password": "env:NODE_OSCAR_PASSWORD",
        },
        "catalog": {"source": "folder", "location": str(DEMO_CATALOG)},
        "models": [{"module": DEMO_MODULE, "mode": "async"}],
        # A second bucket of the same MinIO as an event source: the supervisor reads an
        # event's object with the service's minio.default credentials (faas-supervisor 1.6.2
        # storage/config.py _get_input_auth_data), which are that MinIO's.
        "events": [
            {
                "kind": "minio",
                "name": "edge",
                "endpoint": minio.url,
                "access_key": minio.access_key,
                "secret_key": "env:NODE_EDGE_SECRET",
                "bucket": EDGE_BUCKET,
                "prefix": "in/",
                "service": SERVICE,
            }
        ],
        "smoke": {"input": "iris.csv", "mode": "async", "timeout": JOB_DEADLINE},
    }
    (folder / "site.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def phases(state: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((state / SITE / "deployment.json").read_text())
    return dict(data.get("phases") or {})


def job_records(oscar: RealOscar) -> dict[str, Any]:
    """OSCAR's jobs of the service (GET /system/logs/{service}: name -> status, times)."""
    status, body = oscar.request("GET", f"/system/logs/{SERVICE}")
    assert status == 200, (status, body)
    return dict(body.get("jobs") or {})


def outputs(oscar: RealOscar, stem: str) -> list[str]:
    client = oscar.minio.client()
    return [
        str(o.object_name)
        for o in client.list_objects(SERVICE, prefix=f"out/{stem}", recursive=True)
    ]


def diagnosis(oscar: RealOscar, node: RealNode) -> str:
    pods = oscar.kube.kubectl("get", "pods", "-A", "-o", "wide").stdout
    events = oscar.kube.kubectl("get", "events", "-n", oscar.services_namespace).stdout
    return f"{pods}\n{events[-3000:]}\nkubelet:\n{node.log('kubelet')[-2000:]}"


@pytest.fixture
def deployed(
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    node_oscar: RealOscar,
    real_node: RealNode,
) -> Iterator[tuple[Path, Path, CliResult]]:
    """`up` on the node's OSCAR (models, events, smoke): (site, state, its result); `down`
    afterwards."""
    state = tmp_path / "state"
    monkeypatch.setenv("OSCAR_IAC_STATE", str(state))
    monkeypatch.setenv("NODE_OSCAR_PASSWORD", node_oscar.password)
    monkeypatch.setenv("NODE_EDGE_SECRET", node_oscar.minio.secret_key)
    client = node_oscar.minio.client()
    if not client.bucket_exists(EDGE_BUCKET):
        client.make_bucket(EDGE_BUCKET)
    site = site_for(tmp_path, node_oscar)
    res = cli("up", str(site))
    try:
        assert res.code == 0, res.out + res.err + diagnosis(node_oscar, real_node)
        yield site, state, res
    finally:
        down = cli("down", str(site), "--yes")
        assert down.code == 0, down.out + down.err


def test_up_an_upload_and_the_python_api_run_the_model_on_the_node(
    deployed: tuple[Path, Path, CliResult], node_oscar: RealOscar, real_node: RealNode
) -> None:
    _, state, up = deployed
    recorded = phases(state)
    for phase in ("platform", "models", "events", "smoke"):
        assert recorded[phase]["status"] == "done", recorded
    # The smoke phase submitted iris.csv through MinIO (oscar_iac.client: submit + result)
    # and printed the model's answer: a real job ran on the node.
    smoke = recorded["smoke"]["detail"]
    assert f"{SERVICE} answered (async)" in smoke and EXPECTED_SPECIES[0] in smoke, smoke
    assert node_oscar.password not in up.out + up.err

    # Two more jobs at once: an upload to the bucket `events apply` wired (MinIO webhook ->
    # OSCAR /job -> Job -> Pod), and the Python API's submit (OSCAR's own input bucket).
    before = set(job_records(node_oscar))
    stem = f"iris-{secrets.token_hex(3)}"
    data = IRIS_SAMPLE.read_bytes()
    node_oscar.minio.client().put_object(EDGE_BUCKET, f"in/{stem}.csv", io.BytesIO(data), len(data))
    api = Client(node_oscar.endpoint, user=node_oscar.username, password=node_oscar.password)
    submitted = api.submit(DEMO_MODULE, IRIS_SAMPLE)
    try:
        wait_until(
            f"an output under {SERVICE}/out/{stem} after an upload to {EDGE_BUCKET}/in/ "
            "(MinIO webhook -> OSCAR -> Job -> Pod on the node -> supervisor -> model)",
            lambda: bool(outputs(node_oscar, stem)),
            JOB_DEADLINE,
        )
        result = submitted.result(timeout=JOB_DEADLINE)
    except (TimeoutError, DeploymentError) as exc:
        raise AssertionError(f"{exc}\n{diagnosis(node_oscar, real_node)}") from exc
    (key,) = outputs(node_oscar, stem)
    obj = node_oscar.minio.client().get_object(SERVICE, key)
    try:
        assert species(obj.read()) == EXPECTED_SPECIES
    finally:
        obj.close()
        obj.release_conn()
    assert [row["species"] for row in result["predictions"]] == EXPECTED_SPECIES

    # OSCAR's records of both jobs, and their logs (through the API server and the kubelet).
    def fresh_succeeded() -> list[str]:
        return [
            n
            for n, j in job_records(node_oscar).items()
            if n not in before and j.get("status") == "Succeeded"
        ]

    wait_until("OSCAR listing both new jobs as Succeeded", lambda: len(fresh_succeeded()) == 2, 60)
    logs = []
    for job in fresh_succeeded():
        status, log = node_oscar.request("GET", f"/system/logs/{SERVICE}/{job}")
        assert status == 200, (status, log)
        logs.append(str(log))
    # The supervisor logs each object it downloads (faas-supervisor 1.6.2
    # storage/providers/s3.py download_file: "Downloading item from bucket '%s' with key '%s'").
    for bucket, name in ((EDGE_BUCKET, f"in/{stem}.csv"), (SERVICE, submitted.input_key)):
        line = f"Downloading item from bucket '{bucket}' with key '{name}'"
        assert any(line in log for log in logs), (line, logs)
    # The Python API reads the same records.
    assert {j.name for j in api.jobs(DEMO_MODULE) if j.status == "Succeeded"} >= set(
        fresh_succeeded()
    )


def set_smoke_timeout(site: Path, seconds: int) -> None:
    doc = yaml.safe_load((site / "site.yml").read_text())
    doc["smoke"]["timeout"] = seconds
    (site / "site.yml").write_text(yaml.safe_dump(doc, sort_keys=False))


def status_line(cli: Callable[..., CliResult], site: Path, phase: str) -> str:
    res = cli("status", str(site))
    assert res.code == 0, res.out + res.err
    (line,) = [ln for ln in res.out.splitlines() if ln.split()[:1] == [phase]]
    return " ".join(line.split())


def test_a_dead_kubelet_fails_the_smoke_truthfully_and_a_rerun_completes(
    deployed: tuple[Path, Path, CliResult],
    cli: Callable[..., CliResult],
    node_oscar: RealOscar,
    real_node: RealNode,
) -> None:
    site, state, _ = deployed
    # The kubelet dies: the smoke's Job gets a Pod that no kubelet starts.
    dead_wait = 20
    set_smoke_timeout(site, dead_wait)
    real_node.kill_kubelet()
    try:
        res = cli("up", str(site), "--only", "smoke")
        assert res.code == 1, res.out + res.err
        smoke = phases(state)["smoke"]
        assert smoke["status"] == "failed", smoke
        # oscar_iac.client.jobs Job.wait: what was waited for, and how long.
        assert "no output for" in smoke["detail"], smoke
        assert f"after {dead_wait} s" in smoke["detail"], smoke
        line = status_line(cli, site, "smoke")
        assert line.startswith("smoke failed no output for"), line
        # The control plane says the same: the node stopped posting its status
        # (node lifecycle controller, --node-monitor-grace-period 20 s in node_fixture).
        wait_until(
            f"node {real_node.name} no longer Ready after its kubelet died",
            lambda: not real_node.ready(),
            60,
        )
    finally:
        real_node.start_kubelet()
    # The kubelet is back: the same smoke run again completes with the model's answer.
    set_smoke_timeout(site, JOB_DEADLINE)
    res = cli("up", str(site), "--only", "smoke")
    assert res.code == 0, res.out + res.err + diagnosis(node_oscar, real_node)
    smoke = phases(state)["smoke"]
    assert smoke["status"] == "done" and EXPECTED_SPECIES[0] in smoke["detail"], smoke
    assert status_line(cli, site, "smoke").startswith(f"smoke done {SERVICE} answered (async)")
