"""Helpers shared by this folder's tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import requests

from components.minio_fixture import MinioServer
from doubles.oscar_server import OscarTestServer
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


@dataclass(frozen=True)
class JobCall:
    service: str
    authorization: str
    content_type: str
    body: bytes


class OscarJobs:
    """The double's services and the /job calls that reached them."""

    def __init__(self, server: OscarTestServer) -> None:
        self.server = server
        self.url, self.username, self.password = server.url, server.username, server.password

    def add_service(self, name: str) -> str:
        """Register `name` (or give it a new token, as OSCAR does when a service is
        re-created) and return its token."""
        if name in self.server.services:
            token = secrets.token_hex(32)
            self.server.services[name]["token"] = token
            return token
        body = {"name": name, "image": "busybox", "script": "true"}
        auth = (self.username, self.password)
        resp = requests.post(f"{self.url}/system/services", json=body, auth=auth, timeout=10)
        assert resp.status_code == 201, resp.text
        return self.server.token(name)

    def jobs_for(self, service: str) -> list[JobCall]:
        return [
            JobCall(
                service,
                c.headers.get("Authorization", ""),
                c.headers.get("Content-Type", ""),
                c.body,
            )
            for c in self.server.calls_to(f"/job/{service}")
            if c.method == "POST" and c.status == 201
        ]

    @property
    def rejected(self) -> list[str]:
        return [f"{c.method} {c.path} -> {c.status}" for c in self.server.calls if c.status >= 400]
