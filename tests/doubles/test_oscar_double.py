"""The OSCAR double refuses what OSCAR's REST contract (v4.1.2) refuses."""

from __future__ import annotations

import requests

from doubles.oscar_server import OscarTestServer

SVC = {"name": "svc", "image": "busybox", "script": "echo hi", "cpu": "1", "memory": "1Gi"}


def test_contract(oscar_server: OscarTestServer) -> None:
    url, auth = oscar_server.url, (oscar_server.username, oscar_server.password)
    assert requests.get(f"{url}/health", timeout=5).status_code == 200
    assert requests.get(f"{url}/system/services", timeout=5).status_code == 401
    assert (
        requests.get(f"{url}/system/services", auth=(auth[0], "wrong"), timeout=5).status_code
        == 401
    )
    assert (
        requests.post(
            f"{url}/system/services", json={**SVC, "cpu": 1}, auth=auth, timeout=5
        ).status_code
        == 400
    )
    assert (
        requests.post(
            f"{url}/system/services", json={"name": "x"}, auth=auth, timeout=5
        ).status_code
        == 400
    )
    long = {**SVC, "name": "n" * 40}
    assert (
        requests.post(f"{url}/system/services", json=long, auth=auth, timeout=5).status_code == 400
    )
    assert (
        requests.post(f"{url}/system/services", json=SVC, auth=auth, timeout=5).status_code == 201
    )
    assert (
        requests.post(f"{url}/system/services", json=SVC, auth=auth, timeout=5).status_code == 400
    )
    token = oscar_server.token("svc")
    assert requests.post(f"{url}/job/svc", data=b"x", timeout=5).status_code == 401
    job = requests.post(
        f"{url}/job/svc", data=b"x", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert job.status_code == 201 and job.content == b""
    assert requests.delete(f"{url}/system/services/svc", auth=auth, timeout=5).status_code == 204
    assert requests.delete(f"{url}/system/services/svc", auth=auth, timeout=5).status_code == 404
