"""A whole small cluster for the API and the notebooks, shared by this folder's tests:
the OSCAR double executing services with the local runner (the real DEEPaaS demo
model in podman), the real MinIO as its default MinIO, the demo model registered as a
service, and the input bucket's uploads wired to OSCAR's /job by a real MinIO webhook
(set up by oscar-iac's own MinIO event backend, as OSCAR wires its services' inputs).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.minio_fixture import MinioServer
from doubles.oscar_server import OscarTestServer
from oscar_iac.catalog import read_folder
from oscar_iac.errors import DeploymentError
from oscar_iac.events import minio as minio_events
from oscar_iac.fdl import service_definition
from oscar_iac.oscar import OscarConnection
from oscar_iac.runner.executor import SupervisorExecutor
from oscar_iac.runner.storage import MinioStorage
from oscar_iac.secrets import SecretRef, SecretResolver
from oscar_iac.site.model import MinioEventSource
from runner.fixtures import DEMO_CATALOG, DEMO_MODULE, minio_provider, register

SECRET_ENV = "OSCAR_IAC_TEST_MINIO_SECRET"


@dataclass(frozen=True)
class Cluster:
    oscar: OscarTestServer
    minio: MinioServer
    model: str
    service: str
    oidc_token: str


@pytest.fixture(scope="package")
def cluster(runner_image: str, minio_server: MinioServer) -> Iterator[Cluster]:
    mp = minio_provider(minio_server)
    # An OIDC access token the double accepts (a JWT without `exp`: never expires).
    oidc = "eyJhbGciOiJub25lIn0." + secrets.token_urlsafe(24) + ".sig"
    server = OscarTestServer(
        oidc_token=oidc,
        minio_provider=mp,
        executor=SupervisorExecutor(
            storage=MinioStorage(mp["endpoint"], mp["access_key"], mp["secret_key"])
        ),
    ).start()
    (model,) = [m for m in read_folder(DEMO_CATALOG) if m.module == DEMO_MODULE]
    svc = service_definition(model)
    register(server, svc, minio_server)
    source = MinioEventSource(
        kind="minio",
        name="api-tests",
        endpoint=minio_server.url,  # type: ignore[arg-type]
        access_key=minio_server.access_key,
        secret_key=SecretRef(f"env:{SECRET_ENV}"),
        bucket=svc["name"],
        prefix="in/",
        service=svc["name"],
    )
    conn = OscarConnection(server.url, server.username, server.password)
    os.environ[SECRET_ENV] = minio_server.secret_key
    state = Path(tempfile.mkdtemp(prefix="oscar-iac-api-"))
    resolver = SecretResolver(state, state / "state")
    for attempt in range(3):  # apply is resumable; a loaded machine may slow MinIO's restart
        try:
            minio_events.apply(source, conn, resolver)
            break
        except DeploymentError:
            if attempt == 2:
                raise
            time.sleep(2)
    try:
        yield Cluster(server, minio_server, DEMO_MODULE, svc["name"], oidc)
    finally:
        try:
            if minio_server.process.poll() is None:
                minio_events.remove(source, conn, resolver)
        finally:
            os.environ.pop(SECRET_ENV, None)
            server.stop()
