"""Fixtures: the project's OSCAR contract double (tests/doubles/oscar_server.py) seen
through the two calls storage events need, and a MinIO event source on the real MinIO.

MinIO's webhook calls `POST /job/<svc>` with the service's token (OSCAR v4.1.2 swagger,
`/job/{serviceName}`); the double enforces that token and records every call with its
headers, so a test reads what MinIO really sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.minio_fixture import MinioServer
from doubles.oscar_server import OscarTestServer
from events_minio.support import OscarJobs
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretResolver


@pytest.fixture
def oscar_jobs() -> Iterator[OscarJobs]:
    server = OscarTestServer().start()
    try:
        yield OscarJobs(server)
    finally:
        server.stop()


@pytest.fixture
def oscar_conn(oscar_jobs: OscarJobs) -> OscarConnection:
    return OscarConnection(oscar_jobs.url, oscar_jobs.username, oscar_jobs.password)


@pytest.fixture
def resolver(
    tmp_path: Path, minio_server: MinioServer, monkeypatch: pytest.MonkeyPatch
) -> SecretResolver:
    monkeypatch.setenv("EDGE_MINIO_SECRET", minio_server.secret_key)
    return SecretResolver(tmp_path, tmp_path / "state")
