"""Asynchronous calls: a handle on one submitted input, and OSCAR's job records."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from minio import Minio

from oscar_iac.client.envelope import decode_output
from oscar_iac.errors import DeploymentError


@dataclass(frozen=True)
class JobInfo:
    """One Kubernetes job OSCAR ran for a service (GET /system/logs/{service})."""

    name: str
    status: str
    creation_time: str = ""
    start_time: str = ""
    finish_time: str = ""


@dataclass
class Job:
    """An input uploaded to a service's MinIO input; its outputs appear in the output path.

    The script oscar-iac generates names each output after the input, so the outputs
    of this input are the objects under `<output folder>/<input stem>`.
    """

    model: str
    service: str
    input_bucket: str
    input_key: str
    output_bucket: str
    output_prefix: str
    submitted: float
    _minio: Minio = field(repr=False)

    def outputs(self) -> list[str]:
        """The output object keys found so far."""
        return sorted(
            o.object_name
            for o in self._minio.list_objects(
                self.output_bucket, prefix=self.output_prefix, recursive=True
            )
            if o.object_name
        )

    def done(self) -> bool:
        return bool(self.outputs())

    def wait(self, timeout: float = 600.0, poll: float = 1.0) -> Job:
        """Block until the outputs are there; DeploymentError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.done():
            if time.monotonic() >= deadline:
                raise DeploymentError(
                    f"no output for {self.input_bucket}/{self.input_key} in "
                    f"{self.output_bucket}/{self.output_prefix}* after {timeout:g} s",
                    hints=[f"client.jobs({self.model!r}) and client.logs({self.model!r}, JOB)"],
                )
            time.sleep(poll)
        return self

    def result(self, timeout: float = 600.0) -> Any:
        """The prediction (JSON as Python objects); several outputs: {key: prediction}."""
        keys = self.wait(timeout).outputs()
        values = {}
        for key in keys:
            resp = self._minio.get_object(self.output_bucket, key)
            try:
                values[key] = decode_output(resp.read())
            finally:
                resp.close()
                resp.release_conn()
        return values[keys[0]] if len(keys) == 1 else values
