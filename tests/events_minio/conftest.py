"""Fixtures: the OSCAR double for /job calls and a MinIO event source on the real MinIO."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.minio_fixture import MinioServer
from events_minio.oscar_jobs_double import OscarJobsDouble, RunningDouble
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretResolver


@pytest.fixture
def oscar_jobs() -> Iterator[OscarJobsDouble]:
    double = RunningDouble()
    try:
        yield double.state
    finally:
        double.stop()


@pytest.fixture
def oscar_conn(oscar_jobs: OscarJobsDouble) -> OscarConnection:
    return OscarConnection(oscar_jobs.url, oscar_jobs.username, oscar_jobs.password)


@pytest.fixture
def resolver(
    tmp_path: Path, minio_server: MinioServer, monkeypatch: pytest.MonkeyPatch
) -> SecretResolver:
    monkeypatch.setenv("EDGE_MINIO_SECRET", minio_server.secret_key)
    return SecretResolver(tmp_path, tmp_path / "state")
