"""The local runner as the executor of an OSCAR stand-in (the tests' OSCAR double).

`SupervisorExecutor(storage=...)` is a callable `(service, body, headers) -> (status,
bytes)`: for a synchronous call it answers what OSCAR's /run answers (the output
base64-encoded, or the log); for a job (its JOB_UUID in the `job_header` header) it
also uploads the outputs to the service's MinIO output, and answers the log, with
status 500 when the script failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oscar_iac.errors import OscarIacError
from oscar_iac.runner.podman import Podman
from oscar_iac.runner.service import from_definition
from oscar_iac.runner.storage import MinioStorage
from oscar_iac.runner.supervise import Invocation, run_invocation

JOB_HEADER = "X-Oscar-Job-Uuid"


@dataclass
class SupervisorExecutor:
    storage: MinioStorage | None = None
    image: str | None = None  # run this image instead of each service's
    podman: Podman = field(default_factory=Podman)
    job_header: str = JOB_HEADER
    timeout: float = 900.0

    def __call__(
        self, service: dict[str, Any], body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        job = next((v for k, v in headers.items() if k.lower() == self.job_header.lower()), None)
        try:
            svc = from_definition(service, f"service {service.get('name', '?')}")
            result = run_invocation(
                Invocation(svc, body=body, job_uuid=job, image=self.image, timeout=self.timeout),
                self.podman,
                storage=self.storage,
                upload=job is not None,
            )
        except OscarIacError as exc:
            return 500, str(exc).encode()
        if job is None:
            return 200, result.response()
        return (200 if result.exit_code == 0 else 500), result.log.encode()
