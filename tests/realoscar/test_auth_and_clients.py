"""Who the real OSCAR v4.1.2 lets in, and the clients that post to it: service tokens,
basic auth, the dCache relay's sink, the NiFi flow's InvokeHTTP request, and the Python
API's asynchronous submission (a Job object appears in the API server)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.kube_fixture import wait_until
from components.real_oscar import RealOscar
from realoscar.support import registered_service
from realoscar.test_events import jobs_of

pytestmark = [pytest.mark.real_oscar, pytest.mark.slow]
SERVICE = "posenet-tf"


@pytest.fixture(scope="module")
def service(
    real_oscar: RealOscar, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One catalog model registered by the CLI's library, as OSCAR stores it."""
    with registered_service(real_oscar, tmp_path_factory, SERVICE) as svc:
        yield svc


def test_job_needs_the_service_token(real_oscar: RealOscar, service: dict[str, Any]) -> None:
    token = service["token"]
    assert isinstance(token, str) and len(token) >= 32
    body = {"hello": "oscar"}
    assert real_oscar.request("POST", f"/job/{SERVICE}", body, auth=False)[0] == 401
    # A Bearer value of a service token's length (64) that is no service's token: 401.
    stale = secrets.token_hex(32)
    assert real_oscar.request("POST", f"/job/{SERVICE}", body, token=stale)[0] == 401
    # Any other Bearer value is taken for an OIDC token, and an unparsable one answers 502
    # (pkg/handlers/job.go MakeJobHandler: len(rawToken) != tokenLength -> GetIssuerFromToken).
    assert real_oscar.request("POST", f"/job/{SERVICE}", body, token="not-a-token")[0] == 502
    other = real_oscar.basic_auth(password="wrong")
    assert real_oscar.request("POST", f"/job/{SERVICE}", body, auth=other)[0] == 401
    before = set(jobs_of(real_oscar, SERVICE))
    status, _ = real_oscar.request("POST", f"/job/{SERVICE}", body, token=token)
    assert status == 201
    assert set(jobs_of(real_oscar, SERVICE)) - before
    # /system/* is basic auth (or OIDC): a service token is not an admin credential.
    assert real_oscar.request("GET", "/system/services", token=token)[0] == 401
    assert real_oscar.request("GET", "/system/services", auth=False)[0] == 401
    assert real_oscar.request("GET", "/system/services", auth=other)[0] == 401
    assert real_oscar.request("GET", "/health", auth=False)[0] == 200


def test_dcache_relay_sink_is_accepted(
    real_oscar: RealOscar, service: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oscar_iac.dcache.listener.config import Sink
    from oscar_iac.dcache.listener.sinks import OscarSink

    monkeypatch.setenv("REAL_RELAY_TOKEN", service["token"])
    sink = OscarSink(
        Sink(
            kind="oscar",
            url=f"{real_oscar.endpoint}/job/{SERVICE}",
            token_env="REAL_RELAY_TOKEN",
            max_attempts=1,
        )
    )
    before = set(jobs_of(real_oscar, SERVICE))
    sink.deliver({"event_id": "e-1", "path": "/data/in/a.jpg", "event": "IN_CLOSE_WRITE"})
    wait_until(
        f"a Job for {SERVICE} from the relay's POST",
        lambda: bool(set(jobs_of(real_oscar, SERVICE)) - before),
        30,
    )
    # A stale token is refused by the real OSCAR, and the relay says so.
    monkeypatch.setenv("REAL_RELAY_TOKEN", secrets.token_hex(32))
    stale = OscarSink(
        Sink(
            kind="oscar",
            url=f"{real_oscar.endpoint}/job/{SERVICE}",
            token_env="REAL_RELAY_TOKEN",
            max_attempts=1,
        )
    )
    with pytest.raises(Exception, match="401"):
        stale.deliver({"event_id": "e-2", "path": "/data/in/b.jpg", "event": "IN_CLOSE_WRITE"})


def test_nifi_invokehttp_request_is_accepted(
    real_oscar: RealOscar, service: dict[str, Any]
) -> None:
    """The flow's InvokeHTTP processor as our flow builder configures it (URL parameter,
    POST, JSON body, Authorization from the sensitive parameter `events apply` sets to
    `Bearer <service token>`: events/dcache.py _secrets), sent as InvokeHTTP sends it."""
    from oscar_iac.events import nifi_flow
    from oscar_iac.events.oscar_service import service_token
    from oscar_iac.oscar import OscarConnection

    inputs = nifi_flow.FlowInputs(
        site="real", source="dc", frontend="https://dcache.invalid:3880",
        webdav="https://dcache.invalid:2880", path="/data/in", recursive=False, auth="oidc",
        username=None, verify_tls=True, oscar_url=real_oscar.endpoint, service=SERVICE,
        nifi_version="2.6.0",
    )  # fmt: skip
    params = nifi_flow.parameters(inputs)
    post = next(
        p for p in _processors(nifi_flow.build_flow(inputs)) if p["type"].endswith("InvokeHTTP")
    )
    props = post["properties"]
    assert props["HTTP Method"] == "POST" and props["Request Content-Type"] == "application/json"
    url = str(params[props["HTTP URL"].removeprefix("#{").removesuffix("}")])
    assert url == f"{real_oscar.endpoint}/job/{SERVICE}"
    conn = OscarConnection(real_oscar.endpoint, real_oscar.username, real_oscar.password)
    sensitive = {"oscar-authorization": f"Bearer {service_token(conn, SERVICE, field='service')}"}
    authorization = sensitive[props["Authorization"].removeprefix("#{").removesuffix("}")]
    before = set(jobs_of(real_oscar, SERVICE))
    event = json.dumps({"path": "/data/in/x.jpg"}).encode()
    status, _ = real_oscar.request(
        "POST", url.removeprefix(real_oscar.endpoint), event, auth=authorization
    )
    assert status == 201
    wait_until(
        f"a Job for {SERVICE} from the NiFi request",
        lambda: bool(set(jobs_of(real_oscar, SERVICE)) - before),
        30,
    )


def _processors(flow: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(group: dict[str, Any]) -> None:
        found.extend(group.get("processors", []))
        for child in group.get("processGroups", []):
            walk(child)

    walk(flow.get("flowContents", flow))
    return found


def test_python_api_async_submission_creates_a_job(
    real_oscar: RealOscar, service: dict[str, Any], tmp_path: Path
) -> None:
    from oscar_iac.client import Client

    client = Client(
        real_oscar.endpoint,
        user=real_oscar.username,
        password=real_oscar.password,
        verify_tls=False,
    )
    sample = tmp_path / "pose.jpg"
    sample.write_bytes(base64.b64decode(b"/9j/4AAQSkZJRgABAQ=="))
    before = set(jobs_of(real_oscar, SERVICE))
    job = client.submit(SERVICE, sample)
    assert job.service == SERVICE and job.input_bucket == SERVICE
    wait_until(
        f"a Job for {SERVICE} after Client.submit",
        lambda: bool(set(jobs_of(real_oscar, SERVICE)) - before),
        60,
    )
    listed = {j.name for j in client.jobs(SERVICE)}
    assert set(jobs_of(real_oscar, SERVICE)) <= listed | before, listed
