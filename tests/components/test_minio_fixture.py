"""The real MinIO fixture: it serves S3 and the admin API, and keeps secrets off argv."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from components.minio_fixture import MinioServer


@pytest.mark.slow
def test_minio_serves_objects_and_admin_api(minio_server: MinioServer, minio_bucket: str) -> None:
    client = minio_server.client()
    client.put_object(minio_bucket, "in/hello.txt", io.BytesIO(b"hello"), 5)
    got = client.get_object(minio_bucket, "in/hello.txt")
    try:
        assert got.read() == b"hello"
    finally:
        got.close()
        got.release_conn()
    info = json.loads(minio_server.admin().info())
    assert info["mode"] == "online"


@pytest.mark.slow
def test_minio_secret_not_in_process_arguments(minio_server: MinioServer) -> None:
    cmdline = Path(f"/proc/{minio_server.process.pid}/cmdline").read_bytes()
    assert minio_server.secret_key.encode() not in cmdline
    assert minio_server.access_key.encode() not in cmdline
