"""Fixtures for the local runner: the demo image (built when missing) and its FDL.

`runner_image` (session) builds localhost/oscar-iac-runner-demo:<DEEPaaS version>
with tests/images/build-runner-image.sh (which builds the Debian base image first
when needed): a fresh CI machine has neither.
`demo_service` is the OSCAR service definition generated from the demo model's
catalog entry, exactly as `models fdl` / `models apply` generate it.
`oscar_runner` is the OSCAR double executing /run and /job with the local runner,
its default MinIO being the real one (components.minio_fixture).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from components.minio_fixture import MinioServer
from doubles.oscar_server import OscarTestServer
from oscar_iac.catalog import read_folder
from oscar_iac.fdl import fdl_document, service_definition
from oscar_iac.runner.executor import SupervisorExecutor
from oscar_iac.runner.storage import MinioStorage
from oscar_iac.versions import pin

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "tests" / "images"
DEMO_CATALOG = IMAGES / "runner" / "catalog"
DEMO_MODULE = "oscar-iac-demo-model"
IRIS_SAMPLE = IMAGES / "runner" / "iris-sample.csv"
EXPECTED_SPECIES = ["setosa", "versicolor", "virginica"]  # of IRIS_SAMPLE's rows


def runner_image_name() -> str:
    return f"localhost/oscar-iac-runner-demo:{pin('deepaas')}"


@pytest.fixture(scope="session")
def runner_image() -> str:
    image = runner_image_name()
    subprocess.run(["bash", str(IMAGES / "build-runner-image.sh"), image], check=True, cwd=REPO)
    return image


@pytest.fixture
def demo_service() -> dict[str, Any]:
    (model,) = [m for m in read_folder(DEMO_CATALOG) if m.module == DEMO_MODULE]
    return service_definition(model)


@pytest.fixture
def demo_fdl(tmp_path: Path, demo_service: dict[str, Any]) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(fdl_document([demo_service]), sort_keys=False))
    return path


def renamed(service: dict[str, Any], name: str) -> dict[str, Any]:
    """The same service under another name, with its MinIO paths `<name>/in`, `<name>/out`."""
    return {
        **service,
        "name": name,
        "input": [{"storage_provider": "minio.default", "path": f"{name}/in"}],
        "output": [{"storage_provider": "minio.default", "path": f"{name}/out"}],
    }


def minio_provider(minio: MinioServer) -> dict[str, Any]:
    """OSCAR's `types.MinIOProvider` for the test MinIO (what /system/config answers)."""
    return {
        "endpoint": minio.url,
        "access_key": minio.access_key,
        "secret_key": minio.secret_key,
        "region": "",
        "verify": False,
    }


def register(server: OscarTestServer, service: dict[str, Any], minio: MinioServer) -> str:
    """Create the service on the OSCAR double and its buckets on MinIO, as OSCAR does;
    return the service's token."""
    resp = requests.post(
        f"{server.url}/system/services",
        json=service,
        auth=(server.username, server.password),
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    client = minio.client()
    for bucket in {p["path"].split("/")[0] for p in service["input"] + service["output"]}:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    return server.token(service["name"])


@pytest.fixture
def oscar_runner(
    oscar_server: OscarTestServer, runner_image: str, minio_server: MinioServer
) -> OscarTestServer:
    """The OSCAR double whose /run and /job run services in podman through the local
    runner, with the real MinIO as the cluster's default MinIO."""
    mp = minio_provider(minio_server)
    oscar_server.minio_provider = mp
    oscar_server.executor = SupervisorExecutor(
        storage=MinioStorage(mp["endpoint"], mp["access_key"], mp["secret_key"])
    )
    return oscar_server
