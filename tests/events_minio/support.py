"""Helpers shared by this folder's tests."""

from __future__ import annotations

import secrets

from components.minio_fixture import MinioServer
from oscar_iac.secrets import SecretRef
from oscar_iac.site.model import MinioEventSource


def make_source(
    minio_server: MinioServer, bucket: str, service: str, **over: object
) -> MinioEventSource:
    fields: dict[str, object] = {
        "kind": "minio",
        "name": f"edge-{secrets.token_hex(3)}",
        "endpoint": minio_server.url,
        "access_key": minio_server.access_key,
        "secret_key": SecretRef("env:EDGE_MINIO_SECRET"),
        "bucket": bucket,
        "prefix": "in/",
        "suffix": ".txt",
        "service": service,
    }
    fields.update(over)
    return MinioEventSource.model_validate(fields)
