"""The asynchronous notebook (notebooks/async-inference.ipynb), executed by nbclient in a
real Jupyter kernel against the real OSCAR v4.1.2 of the session: its uploads reach OSCAR
through the real MinIO's webhook, and OSCAR creates one Kubernetes Job per upload in the
real API server.

What runs, and what does not:
- RUN, unchanged, in order: the notebook's cells up to and including the submission cell
  (`Client.from_env()`, `oscar.service(MODEL)`, the iris sample, `oscar.submit` x BATCH).
  The Python API reads MinIO's address and keys from the real OSCAR's /system/config, the
  upload goes to the real MinIO, MinIO calls OSCAR's /job/<service> webhook, OSCAR creates
  the Jobs. Then one cell of this test's own, in the same kernel: `oscar.jobs(MODEL)` (the
  API's listing through OSCAR's GET /system/logs/<service>).
- NOT RUN here: the cells after submission (`job.wait().result()`, the job log, the final
  asserts). They need the Job's pod to run the model and write its output, and the control
  plane here has no kubelet or container runtime under OSCAR (tests/components/real_oscar.py).
  Those cells, and the whole synchronous notebook (sync-inference.ipynb, whose /run needs a
  pod behind a Knative Service), run top to bottom in tests/api/test_notebooks.py against
  the OSCAR double plus a local runner and the real MinIO.

Settings reach the kernel the way a user's session gives them: environment variables it
inherits (never its argv: helpers.notebooks.venv_kernel), and the executed notebook is kept
in memory only; the test checks that no credential shows in any output."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.provisioning import LocalProvisioner
from nbclient import NotebookClient

from components.kube_fixture import wait_until
from components.real_oscar import RealOscar
from helpers.notebooks import NOTEBOOKS, outputs_text, venv_kernel
from realoscar.support import registered_service

pytestmark = [pytest.mark.real_oscar, pytest.mark.slow]
SERVICE = "posenet-tf"
BATCH = 2
# Environment a user might have set that would change where the notebook goes.
FOREIGN_ENV = (
    "OSCAR_IAC_SITE",
    "INPUT_FILE",
    "OSCAR_IAC_TOKEN",
    "OSCAR_IAC_MINIO_ENDPOINT",
    "OSCAR_IAC_MINIO_ACCESS_KEY",
    "OSCAR_IAC_MINIO_SECRET_KEY",
)


@pytest.fixture(scope="module")
def service(
    real_oscar: RealOscar, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    with registered_service(real_oscar, tmp_path_factory, SERVICE) as svc:
        yield svc


def oscar_jobs(oscar: RealOscar, service: str) -> dict[str, dict[str, Any]]:
    """The Job objects OSCAR created for `service`, by name. OSCAR v4.1.2 names a Job
    `<service>-<uuid>` and gives it the service's labels, among them
    `oscar_service=<service>` (pkg/handlers/job.go MakeJobHandler; types.ServiceLabel in
    pkg/types/service.go; the labels are set at create: pkg/handlers/create.go)."""
    found = oscar.kube.get("jobs", namespace=oscar.services_namespace)
    return {
        j["metadata"]["name"]: j
        for j in found["items"]
        if j["metadata"].get("labels", {}).get("oscar_service") == service
    }


def event_of(job: dict[str, Any]) -> str:
    """The storage event OSCAR hands the job: the `EVENT` variable of the container it
    runs (types.EventVariable; pkg/handlers/job.go appends it to the service container)."""
    for container in job["spec"]["template"]["spec"]["containers"]:
        for env in container.get("env", []):
            if env.get("name") == "EVENT":
                return str(env.get("value", ""))
    return ""


def test_async_notebook_submission_makes_oscar_create_jobs(
    real_oscar: RealOscar,
    service: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(venv_kernel(tmp_path)))
    monkeypatch.setenv("OSCAR_ENDPOINT", real_oscar.endpoint)
    monkeypatch.setenv("OSCAR_USER", real_oscar.username)
    monkeypatch.setenv("OSCAR_PASSWORD", real_oscar.password)
    monkeypatch.setenv("MODEL", SERVICE)
    monkeypatch.setenv("BATCH", str(BATCH))
    for name in FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()

    nb = nbformat.read(NOTEBOOKS / "async-inference.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    submit = next(i for i, c in enumerate(code) if "oscar.submit(" in c.source)
    # The first cell not run is the one that waits for the pods' output (see the docstring).
    assert ".wait(" in code[submit + 1].source and not any(
        ".wait(" in c.source for c in code[: submit + 1]
    )
    before = set(oscar_jobs(real_oscar, SERVICE))

    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    listing = nbformat.v4.new_code_cell(
        "import json\nprint(json.dumps([j.name for j in oscar.jobs(MODEL)]))"
    )
    with client.setup_kernel():
        # The kernel process got its settings from the environment, never its argv.
        assert client.km is not None
        provisioner = client.km.provisioner
        assert isinstance(provisioner, LocalProvisioner)
        argv = Path(f"/proc/{provisioner.pid}/cmdline").read_bytes().decode()
        assert "ipykernel_launcher" in argv and real_oscar.password not in argv
        for cell in code[: submit + 1]:
            client.execute_cell(cell, nb.cells.index(cell))
        uploaded = re.findall(r"^uploaded (\S+)$", outputs_text(nb), re.MULTILINE)
        assert len(uploaded) == BATCH, outputs_text(nb)
        # OSCAR got each upload from MinIO and created a Job carrying that object's event.
        keys = [u.rsplit("/", 1)[-1] for u in uploaded]

        def one_job_per_upload() -> bool:
            new = [j for n, j in oscar_jobs(real_oscar, SERVICE).items() if n not in before]
            return sorted(k for j in new for k in keys if k in event_of(j)) == sorted(keys)

        wait_until(
            f"a Job for {SERVICE} in the API server for each of the notebook's uploads {uploaded}",
            one_job_per_upload,
            60,
        )
        nb.cells.append(listing)  # in memory only: the notebook file is never written
        client.execute_cell(listing, len(nb.cells) - 1)

    new = {n: j for n, j in oscar_jobs(real_oscar, SERVICE).items() if n not in before}
    assert len(new) == BATCH, sorted(new)
    for name, job in new.items():
        assert name.startswith(f"{SERVICE}-"), name
        assert job["metadata"]["namespace"] == real_oscar.services_namespace
        event = json.loads(event_of(job))
        assert (
            event["Records"][0]["s3"]["bucket"]["name"] == service["input"][0]["path"].split("/")[0]
        )
    # The API's own listing (through OSCAR) names the Jobs the API server holds.
    listed = json.loads(listing.outputs[0]["text"])
    assert set(new) <= set(listed), listed

    text = outputs_text(nb) + json.dumps(nb)
    secrets_ = {
        "OSCAR password": real_oscar.password,
        "service token": str(service["token"]),
        "MinIO secret key": real_oscar.minio.secret_key,
    }
    assert not [what for what, value in secrets_.items() if value in text]
