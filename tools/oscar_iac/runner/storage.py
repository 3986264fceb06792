"""The supervisor's data movement on the cluster's default MinIO (`minio.default`):
download a storage event's object as the input, upload the outputs to the service's
output paths (faas-supervisor's key rule: `bucket/folder` + the file's name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error

from oscar_iac.errors import DeploymentError
from oscar_iac.runner.service import Service


@dataclass(frozen=True)
class MinioStorage:
    endpoint: str  # http(s)://host:port
    access_key: str
    secret_key: str = field(repr=False)
    verify: bool = True

    def client(self) -> Minio:
        url = urlsplit(self.endpoint if "://" in self.endpoint else f"http://{self.endpoint}")
        return Minio(
            url.netloc,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=url.scheme == "https",
            cert_check=self.verify,
        )

    def download(self, bucket: str, key: str, dest: Path) -> None:
        try:
            self.client().fget_object(bucket, key, str(dest))
        except S3Error as exc:
            raise DeploymentError(f"cannot download the input {bucket}/{key}: {exc.code}") from exc

    def upload_outputs(self, service: Service, files: dict[str, Path]) -> list[str]:
        """Upload each file to every minio.default output that accepts its name."""
        done = []
        client = self.client()
        for out in service.outputs:
            if out.provider != "minio.default":
                continue  # other providers are not emulated by the local runner
            for name, path in sorted(files.items()):
                if not out.accepts(name):
                    continue
                key = out.key(name)
                try:
                    client.fput_object(out.bucket, key, str(path))
                except S3Error as exc:
                    raise DeploymentError(
                        f"cannot upload the output {out.bucket}/{key}: {exc.code}"
                    ) from exc
                done.append(f"{out.bucket}/{key}")
        return done
